"""本人確認情報検索の条件 (NET-4): one key, or 氏名 + 住所 / 氏名 + 生年月日; 性別 never counts."""

import datetime as dt

import pytest

from juki.domain.errors import InvalidInput
from juki.domain.identity_search import IdentityQuery, QueryKey, Scope, scope_order

B = dt.date(1980, 5, 1)


@pytest.mark.parametrize("query,key", [
    (IdentityQuery(juminhyo_code="24727059608"), QueryKey.JUMINHYO_CODE),
    (IdentityQuery(individual_number="123456789018"), QueryKey.INDIVIDUAL_NUMBER),
    (IdentityQuery(card_serial="AB1234567890"), QueryKey.CARD),
    (IdentityQuery(name="札幌　太郎", address="北海道札幌市"), QueryKey.FOUR_ITEMS),
    (IdentityQuery(name="サッポロ　タロウ", birth_date=B, sex="1"), QueryKey.FOUR_ITEMS),
])
def test_enough_criteria(query, key):
    assert query.check().key is key


@pytest.mark.parametrize("query,field,rule", [
    (IdentityQuery(), "name", "NET-4/minimum"),
    (IdentityQuery(name="札幌　太郎"), "address", "NET-4/minimum"),
    (IdentityQuery(name="札幌　太郎", sex="1"), "address", "NET-4/minimum"),  # sex does not count
    (IdentityQuery(address="北海道札幌市", birth_date=B, sex="1"), "name", "NET-4/minimum"),
    (IdentityQuery(juminhyo_code="24727059608", individual_number="123456789018"), "individual_number", "NET-4/one-key"),
    (IdentityQuery(juminhyo_code="24727059608", name="札幌　太郎"), "name", "NET-4/one-key"),
    (IdentityQuery(juminhyo_code="24727059609"), "juminhyo_code", "ID-JUMINHYO-CODE/check-digit"),
    (IdentityQuery(individual_number="123456789017"), "individual_number", "ID-INDIVIDUAL-NUMBER/check-digit"),
    (IdentityQuery(name="札幌　太郎", birth_date=B, sex="3"), "sex", "NET-4/sex"),
])
def test_refused_criteria_name_the_field_and_rule(query, field, rule):
    with pytest.raises(InvalidInput) as e:
        query.check()
    assert (field, rule) in {(p.field, p.rule) for p in e.value.problems}
    assert all(p.ja and p.en for p in e.value.problems)


def test_scope_order():
    assert scope_order(Scope.NATIONAL) == (Scope.LOCAL, Scope.PREFECTURE, Scope.NATIONAL)
    assert scope_order(Scope.LOCAL) == (Scope.LOCAL,)
