"""広域交付 (住基法12条の4) between two registers without the network, the 住所地's storage on both engines:
札幌市 (011002, the test's database) answers as the 住所地, 千葉市 (121002, its own SQLite file) issues as the
交付地.  Every message crosses as JSON, as over the wire (tests/net covers the nodes and mutual TLS)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import sqlalchemy as sa

from juki.adapters.pdf.verify import verify_pdf
from juki.domain.errors import Conflict, JukiError, NotFound, RuleViolation
from juki.domain.events import ChangeKind
from juki.domain.wide_area import WideAreaAnswer, WideAreaRequest
from juki.issuance.proof import normalise, pdf_text
from juki.net.wide_area import WideAreaService
from juki.net.wide_area_tables import wide_area_sends

from ..issuance_support import CLERK, NUMBER, principal
from ..unit.registry import address, chiba_address, person

ADDRESS = "北海道札幌市中央区北一条西1丁目1番1号"
TARO = {"name": "札幌　太郎", "birth_date": "1980-05-01", "address": ADDRESS}


def residence_of(world: Any) -> Any:
    """札幌市 answering 千葉市, the messages through JSON both ways."""
    service = WideAreaService(world.reg.store, world.reg.reads, world.reg.jurisdiction, clock=world.clock,
                              audit=world.reg.audit)

    def ask(request: WideAreaRequest) -> WideAreaAnswer:
        received = WideAreaRequest.from_json(json.loads(json.dumps(request.to_json())))
        answer = service.answer(received, caller_lg_code="121002", user=f"{received.operator}@municipality:121002")
        return WideAreaAnswer.from_json(json.loads(json.dumps(answer.to_json())))
    return ask


def wide(**fields: Any) -> WideAreaRequest:
    return WideAreaRequest.from_json({"residence_lg_code": "011002", "requester": TARO,
                                      "identity": [{"kind": "individual_number_card"}], **fields})


def sends(world: Any) -> list[Any]:
    with world.reg.engine.connect() as c:
        return c.execute(sa.select(wide_area_sends).order_by(wide_area_sends.c.sent_at)).all()


def test_the_issuing_municipality_issues_from_the_residences_answer(world, chiba):
    ids = [world.ids[n] for n in ("札幌　太郎", "札幌　花子", "札幌　一郎", "札幌　次郎")]
    world.change(ChangeKind.MOVE_WITHIN, {"household_id": world.households["sapporo"], "person_ids": ids,
                                          "address": address(block="5丁目5番5号", town="南一条西")}, effective="2026-04-18")
    moved = "北海道札幌市中央区南一条西5丁目5番5号"
    taro = world.reg.store.person_current(ids[0])
    request = wide(requester={**TARO, "address": moved, "juminhyo_code": taro.juminhyo_code}, whole_household=True,
                   items={"relationship": True, "history": True}, purpose="年金の手続")
    issued = chiba.issuance.issue_wide_area(CLERK, request, residence_of(world))
    text = normalise(pdf_text(issued.pdf))
    assert "千葉市長千葉花子" in text and "札幌市長" not in text and "世帯全員" in text
    assert "札幌太郎" in text and "札幌次郎" in text and "南一条西5丁目5番5号" in text and "転居" in text
    for never in ("北海道札幌市中央区北一条西二丁目", taro.juminhyo_code, NUMBER):
        assert never not in text
    assert verify_pdf(issued.pdf, chiba.certificate_signer.public_key).ok
    assert not verify_pdf(issued.pdf, world.reg.certificate_signer.public_key).ok

    (row,) = sends(world)
    assert row.issuing_lg_code == "121002" and row.person_ids == ids and row.whole_household is True
    assert row.requester["by"] == "juminhyo_code" and row.requester["relations"] == ["self", "household", "household", "household"]
    assert row.items == ["relationship", "history"] and row.operator == "clerk"
    stored = WideAreaAnswer.from_json(json.loads(world.reg.keyring.decrypt(
        row.answer_ciphertext, row.key_id, f"wide-area:121002:{row.request_id}")))
    assert stored.digest() == row.answer_sha256 and [p.ref for p in stored.persons] == list(issued.subject_ids)
    assert taro.juminhyo_code not in json.dumps(stored.to_json(), ensure_ascii=False)
    (provided,) = world.audit("wide_area.provide")
    assert provided["user_id"] == "clerk@municipality:121002" and sorted(provided["subject_ids"]) == sorted(ids)
    with chiba.engine.connect() as c:
        log = c.execute(sa.text("SELECT path, subject_ids, request_detail FROM certificate_issuances")).one()
    assert log.path == "wide_area" and json.loads(log.request_detail)["answer_ref"] == row.answer_ref
    # the 住所地's record is insert-only
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), world.reg.engine.begin() as c:
        c.execute(sa.update(wide_area_sends).values(operator="x"))


def test_a_request_id_is_answered_once(world):
    ask = residence_of(world)
    sent = wide().sent(request_id="idem" + "0" * 20, issuing_lg_code="121002", operator="clerk")
    first = ask(sent)
    assert ask(dataclasses.replace(sent, operator="chief")) == first  # a colleague retrying: the same answer
    assert len(sends(world)) == 1
    assert [e["detail"].get("repeat", False) for e in world.audit("wide_area.provide")] == [False, True]
    with pytest.raises(Conflict):
        ask(dataclasses.replace(sent, whole_household=True))
    assert len(sends(world)) == 1


def refused(world: Any, request: WideAreaRequest, kind: type[JukiError], rule: str) -> JukiError:
    sent = request.sent(request_id="ref" + "0" * 20 + str(len(world.audit())), issuing_lg_code="121002",
                        operator="clerk")
    with pytest.raises(kind) as e:
        residence_of(world)(sent)
    assert rule in {p.rule for p in e.value.problems}, e.value
    assert sends(world) == []
    assert world.audit("wide_area.provide")[-1]["outcome"] == "denied"
    return e.value


def test_the_residence_refuses_on_its_own_register(world):
    # 函館　三郎 lives elsewhere in 札幌市: not 札幌　太郎's 世帯
    saburo = {"name": "函館　三郎", "birth_date": "1975-01-15", "address": "北海道札幌市中央区南二条東2丁目2番2号"}
    e = refused(world, wide(requester=saburo, subjects=[{"name": "札幌　太郎", "birth_date": "1980-05-01",
                                                         "address": ADDRESS}]), RuleViolation, "REG-CERT/relation")
    assert e.problems[0].field == "subjects[0]"
    # a 支援措置: refused, referring the resident to 札幌市's counter, and nothing about why
    sakura = {"name": "ヒガイ　サクラ", "birth_date": "1990-09-09", "address": "北海道札幌市中央区北三条西3丁目3番3号"}
    e = refused(world, wide(requester=sakura), RuleViolation, "SEC-8/wide-area")
    assert "札幌市" in e.problems[0].ja and "さくら" not in e.problems[0].ja
    # the 住民票コード read from the card is someone else's than the name stated
    other = world.reg.store.person_current(world.ids["函館　三郎"]).juminhyo_code
    refused(world, wide(requester={**TARO, "juminhyo_code": other}), NotFound, "REG-CERT/wide-area-person")
    # asked of the wrong 住所地
    refused(world, wide(residence_lg_code="012025"), RuleViolation, "REG-CERT/wide-area-residence")
    # two residents with the same name, birth date and address: named by 住民票コード only
    twin = world.change(ChangeKind.MOVE_IN, {"persons": [person(rel="世帯主")], "address": address(katagaki="別棟"),
                                             "prior_address": chiba_address()})
    refused(world, wide(), RuleViolation, "REG-CERT/wide-area-person")
    code = twin.outcome.persons[0].juminhyo_code
    answer = residence_of(world)(wide(requester={**TARO, "juminhyo_code": code}).sent(
        request_id="twin" + "0" * 20, issuing_lg_code="121002", operator="clerk"))
    assert [p.relation.value for p in answer.persons] == ["self"]
    assert sends(world)[0].person_ids == [twin.outcome.persons[0].person_id]


def test_the_issuing_municipality_refuses_before_asking(world, chiba):
    asked: list[Any] = []

    def residence(request: WideAreaRequest) -> WideAreaAnswer:
        asked.append(request)
        raise AssertionError("not asked")

    for request, rule in ((wide(identity=[{"kind": "health_insurance"}, {"kind": "pension_book"}]), "REG-CERT/identity"),
                          (wide(items={"domicile": True}), "REG-CERT/wide-area"),
                          (wide(residence_lg_code="121002"), "REG-CERT/wide-area")):
        with pytest.raises(JukiError) as e:
            chiba.issuance.issue_wide_area(CLERK, request, residence)
        assert rule in {p.rule for p in e.value.problems}
    assert asked == []
    with pytest.raises(JukiError) as e:  # a viewer may not issue at all
        chiba.issuance.issue_wide_area(principal("viewer", "viewer"), wide(), residence)
    assert e.value.problems[0].rule.startswith("SEC-2/")
    with chiba.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM certificate_issuances")).scalar() == 0
