"""広域交付 (住基法12条の4, REG-CERT) as messages: what the 交付地 checks before it asks, what the 住所地 sends
(never 本籍・筆頭者, 住民票コード, 個人番号 or 宛名番号), and whether an answer answers the request."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from juki.domain.certificate_requests import IdentityDocument, Relation
from juki.domain.certificates import Items, Layout, content
from juki.domain.errors import InvalidInput, JukiError, RuleViolation
from juki.domain.model import ForeignResidentItems, to_json
from juki.domain.wide_area import PersonKey, WideAreaAnswer, WideAreaRequest, wide_area_person

from ..certificate_samples import HOME, person

SAPPORO, CHIBA = "011002", "121002"
PHOTO = {"kind": "individual_number_card"}
TARO = {"name": "髙橋　一郎", "birth_date": "1975-03-14", "address": "北海道札幌市中央区北一条西2丁目1番地"}


def request(**fields: Any) -> WideAreaRequest:
    data: dict[str, Any] = {"residence_lg_code": SAPPORO, "requester": TARO, "identity": [PHOTO]}
    data.update(fields)
    return WideAreaRequest.from_json(data)


def refused(r: WideAreaRequest, issuing: str = CHIBA) -> tuple[type[JukiError], set[tuple[str, str]]]:
    with pytest.raises(JukiError) as e:
        r.check(issuing)
    return type(e.value), {(p.field, p.rule) for p in e.value.problems}


def test_the_issuing_municipality_checks_12jo_no_4_before_it_asks() -> None:
    ok = request(items={"relationship": True, "head_of_household": True, "history": True})
    assert ok.check(CHIBA) is ok
    assert refused(request(identity=[{"kind": "health_insurance"}, {"kind": "pension_book"}])) == (
        RuleViolation, {("identity", "REG-CERT/identity")})
    kind, problems = refused(request(items={"domicile": True, "juminhyo_code": True, "individual_number": True}))
    assert kind is RuleViolation and {("items.domicile", "REG-CERT/wide-area"), ("items.juminhyo_code", "REG-CERT/wide-area"),
                                      ("items.individual_number", "REG-CERT/wide-area")} <= problems
    # asked at the 住所地 itself: not 広域交付
    assert refused(request(), issuing=SAPPORO) == (RuleViolation, {("residence_lg_code", "REG-CERT/wide-area")})


def test_persons_are_named_by_the_minimum_keys() -> None:
    """NET-4: a 住民票コード, or 氏名 + 生年月日 + 住所; the requester's 氏名, 生年月日 and 住所 are always stated."""
    kind, problems = refused(request(requester={"juminhyo_code": "24727059608"},
                                     subjects=[{"name": "髙橋　美﨑"}, {"juminhyo_code": "24727059609"}]))
    assert kind is InvalidInput
    assert problems == {("requester.name", "NET-4/minimum"), ("requester.birth_date", "NET-4/minimum"),
                        ("requester.address", "NET-4/minimum"), ("subjects[0].birth_date", "NET-4/minimum"),
                        ("subjects[0].address", "NET-4/minimum"),
                        ("subjects[1].juminhyo_code", "ID-JUMINHYO-CODE/check-digit")}
    assert ("residence_lg_code", "ID-LG-CODE/check-digit") in refused(request(residence_lg_code="011003"))[1]
    assert ("subjects", "REG-CERT/wide-area") in refused(request(whole_household=True, subjects=[TARO]))[1]
    with pytest.raises(InvalidInput) as e:  # no 代理人 on this path: the request has no place for one
        request(agent={"name": "代理　人"})
    assert e.value.problems[0].field == "agent"
    # a subject by name and birth date: the address is the requester's (same 世帯)
    by_code = request(subjects=[{"juminhyo_code": "24727059608"}, {"name": "髙橋　美﨑", "birth_date": "1979-08-02"}])
    sent = by_code.sent(request_id="r" * 20, issuing_lg_code=CHIBA, operator="clerk")
    assert sent.subjects[1].address == TARO["address"] and sent.subjects[0].address == ""
    sent.check(CHIBA)
    assert sent.message_problems() == []
    assert {p.field for p in by_code.message_problems()} == {"request_id", "issuing_lg_code", "subjects[1].address"}


def test_the_digest_names_the_request_not_the_clerk() -> None:
    a = request().sent(request_id="r" * 20, issuing_lg_code=CHIBA, operator="clerk")
    assert a.digest() == dataclasses.replace(a, operator="chief").digest()
    assert a.digest() != dataclasses.replace(a, purpose="年金").digest()
    assert WideAreaRequest.from_json(a.to_json()) == a


def test_what_the_residence_sends_of_a_person() -> None:
    p = person(0)
    sent = wide_area_person(p, "W0000000000A-1", Relation.SELF, Items())
    data = to_json(sent)
    for never in ("honseki", "hittosha", "juminhyo_code", "individual_number", "person_id", "household_id"):
        assert never not in data
    assert p.honseki not in str(data) and p.juminhyo_code not in str(data) and p.individual_number not in str(data)
    assert sent.relationship == "" and sent.head_name == ""  # only when asked
    asked = wide_area_person(p, "W0000000000A-1", Relation.SELF, Items(relationship=True, head_of_household=True))
    assert (asked.relationship, asked.head_name) == ("世帯主", p.head_name)
    record = asked.record("W0000000000A")
    assert (record.juminhyo_code, record.individual_number, record.honseki, record.hittosha) == ("", None, "", "")
    foreigner = p.replace(foreign=ForeignResidentItems("ベトナム", "中長期在留者", "技術・人文知識・国際業務", "3年",
                                                       dt.date(2027, 1, 1), "AB12345678CD", "NGUYEN VAN A"))
    assert wide_area_person(foreigner, "W0000000000A-1", Relation.SELF, Items()).foreign is None
    only_nationality = wide_area_person(foreigner, "W0000000000A-1", Relation.SELF, Items(nationality=True)).foreign
    assert only_nationality == ForeignResidentItems("ベトナム", "")
    status = wide_area_person(foreigner, "W0000000000A-1", Relation.SELF, Items(residence_status=True)).foreign
    assert status is not None and status.nationality == "" and status.residence_card_number == "AB12345678CD"
    assert status.roman_name == ""


def answer_for(r: WideAreaRequest, **changes: Any) -> WideAreaAnswer:
    ref = "W0000000000A"
    persons = tuple(wide_area_person(person(i), f"{ref}-{i + 1}", Relation.SELF if i == 0 else Relation.HOUSEHOLD, r.items)
                    for i in range(2))
    a = WideAreaAnswer(answer_ref=ref, request_id=r.request_id, residence_lg_code=SAPPORO, residence_name="札幌市",
                       issuing_lg_code=CHIBA, as_of=dt.date(2026, 5, 1), items=r.items, layout=Layout.HOUSEHOLD,
                       whole_household=False, household_address=HOME, persons=persons)
    return dataclasses.replace(a, **changes)


def test_an_answer_must_answer_the_request() -> None:
    r = request(subjects=[TARO, {"name": "髙橋　美﨑", "birth_date": "1979-08-02"}]).sent(
        request_id="r" * 20, issuing_lg_code=CHIBA, operator="clerk")
    good = answer_for(r)
    assert good.problems(r, SAPPORO) == []
    assert WideAreaAnswer.from_json(good.to_json()) == good
    assert {p.field for p in good.problems(r, "012025")} == {"residence_lg_code"}
    assert {p.field for p in answer_for(r, request_id="x" * 20).problems(r, SAPPORO)} == {"request_id"}
    assert {p.field for p in answer_for(r, items=Items(domicile=True)).problems(r, SAPPORO)} == {"items"}
    assert {p.field for p in answer_for(r, persons=good.persons[:1]).problems(r, SAPPORO)} == {"persons"}
    stranger = dataclasses.replace(good.persons[1], relation=Relation.NONE)
    assert {p.field for p in answer_for(r, persons=(good.persons[0], stranger)).problems(r, SAPPORO)} == {"persons"}
    # NET-12: an answer from the 住所地's buffer says so, and as of when; nothing else is a source
    synced = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)
    buffered = answer_for(r, source="buffer", synced_at=synced)
    assert buffered.problems(r, SAPPORO) == [] and WideAreaAnswer.from_json(buffered.to_json()) == buffered
    for bad in ({"source": "buffer"}, {"synced_at": synced}, {"source": "cache", "synced_at": synced}):
        assert {p.field for p in answer_for(r, **bad).problems(r, SAPPORO)} == {"source"}
    # a 住民票コード or 個人番号 in an answer is refused before anything is printed
    data = good.to_json()
    data["persons"][0]["juminhyo_code"] = "24727059608"
    with pytest.raises(InvalidInput) as e:
        WideAreaAnswer.from_json(data)
    assert e.value.problems[0].field == "answer.persons[0].juminhyo_code"


def test_the_copy_is_the_issuing_municipalitys_and_shows_no_domicile_code_or_number() -> None:
    r = request(subjects=[TARO, {"name": "髙橋　美﨑", "birth_date": "1979-08-02"}],
                items={"relationship": True}).sent(request_id="r" * 20, issuing_lg_code=CHIBA, operator="clerk")
    doc = answer_for(r).document(municipality="千葉市", lg_code=CHIBA, mayor="千葉市長　千葉　一郎",
                                 issued_on=dt.date(2026, 5, 1), certificate_id="121002-20260501-0000000000",
                                 purpose="年金の手続")
    printed = content(doc)
    keys = {line.key for sheet in printed.sheets for block in sheet.blocks for line in block.lines}
    assert not keys & {"honseki", "hittosha", "juminhyo_code", "individual_number"}
    assert printed.issuer == "千葉市長　千葉　一郎" and printed.mark == "世帯の一部" and doc.lg_code == CHIBA
    assert "relationship" in keys
    whole = answer_for(r, whole_household=True).document(
        municipality="千葉市", lg_code=CHIBA, mayor="千葉市長", issued_on=dt.date(2026, 5, 1),
        certificate_id="121002-20260501-0000000000", purpose="")
    assert content(whole).mark == "世帯全員"


def test_person_key_labels_never_show_the_code() -> None:
    assert PersonKey(juminhyo_code="24727059608").label() == "（住民票コードで指定）"
    assert IdentityDocument("individual_number_card").photo
