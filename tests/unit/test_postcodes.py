"""郵便番号 and 市区町村 names → 地方公共団体コード from Japan Post's data (offline), as the counter's address
fields and the 転入通知's addressee use them (CTR-1, REG-E1)."""

from __future__ import annotations

import pytest

from juki.adapters.postcodes import lookup, municipality_code, normalise
from juki.domain.model import Address
from juki.net.movein import former_municipality


@pytest.mark.parametrize(("typed", "expected"), [
    ("0600001", "0600001"), ("060-0001", "0600001"), ("〒０６０－０００１", "0600001"), (" 0600001 ", "0600001"),
    ("060000", None), ("06000011", None), ("abcdefg", None), ("", None),
])
def test_a_postcode_is_read_as_seven_digits(typed: str, expected: str | None) -> None:
    assert normalise(typed) == expected


def test_lookup_gives_each_town_of_a_postcode() -> None:
    (one,) = lookup("0600001")
    assert (one.lg_code, one.prefecture, one.city, one.town, one.note) == ("011011", "北海道", "札幌市中央区", "北一条西", "1〜19丁目")
    assert [a.town for a in lookup("0680546")] == ["南部青葉町", "南部菊水町"]  # one postcode, two 町域
    catch_all = lookup("0600000")  # 「以下に掲載がない場合」: the city is known, the town is not
    assert [(a.city, a.town) for a in catch_all] == [("札幌市中央区", "")]
    assert lookup("9999999") == ()


@pytest.mark.parametrize(("prefecture", "city", "expected"), [
    ("北海道", "札幌市中央区", "011011"),
    ("千葉県", "千葉市中央区", "121011"),
    ("神奈川県", "足柄上郡大井町", "143626"),
    ("神奈川県", "大井町", "143626"),  # without its 郡
    ("神奈川県", "大井 町", "143626"),  # spaces ignored
    ("東京都", "府中市", "132063"), ("広島県", "府中市", "342084"),  # the prefecture decides
    ("北海道", "中央区", None),  # a ward without its city is not a 郡's town
    ("北海道", "存在しない市", None), ("", "札幌市中央区", None),
])
def test_a_municipality_is_found_by_its_names(prefecture: str, city: str, expected: str | None) -> None:
    assert municipality_code(prefecture, city) == expected


def test_the_former_municipality_of_a_move_in() -> None:
    entered = Address(prefecture="北海道", city="札幌市中央区", town="北一条西", postcode="0600001", lg_code="011011")
    assert former_municipality(entered) == "011011"
    assert former_municipality(Address(prefecture="北海道", city="札幌市北区", town="北七条西")) == "011029"
    assert former_municipality(Address(prefecture="北海道", city="札晃市", town="北一条西", postcode="0600001")) == "011011"
    assert former_municipality(Address(prefecture="北海道", city="札晃市", town="北一条西")) is None
    assert former_municipality(Address(prefecture="北海道", city="札晃市", postcode="0040000")) is None  # two wards
