"""Issuing certificates through the real service, on both engines (REG-CERT, SEC-3, SEC-8): the signed PDF
shows the right persons and only the items allowed; every issuance is one log row and one audit entry; every
refusal path refuses, writes nothing but its audit entry; bulk issuance proves each PDF against its envelope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from juki.adapters.pdf.verify import verify_pdf
from juki.adapters.signing_keys import load_public_key
from juki.domain.certificate_requests import IdentityDocument, request_from_json
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, RuleViolation
from juki.domain.events import ChangeKind
from juki.issuance import proof
from juki.issuance.proof import Envelope, pdf_text
from juki.issuance.service import new_request_token

from ..issuance_support import CHIEF, CLERK, NUMBER, OFFENDER, png
from ..unit.registry import chiba_address

LICENSE = [{"kind": "drivers_license"}]
ADDRESS = "北海道札幌市中央区北一条西1丁目1番1号"


def family(world) -> list[str]:
    return [world.ids[n] for n in ("札幌　太郎", "札幌　花子", "札幌　一郎", "札幌　次郎")]


def request(**fields: Any):
    return request_from_json({"kind": "resident_copy", "path": "self", "identity": LICENSE, **fields})


def self_request(world, who: str, subjects: list[str], **fields: Any):
    return request(subject_ids=subjects, requester={"name": who, "person_id": world.ids[who]}, **fields)


def text(pdf: bytes) -> str:
    return proof.normalise(pdf_text(pdf))


def issued_rows(world) -> list[Any]:
    with world.reg.engine.connect() as c:
        return list(c.execute(sa.text("SELECT * FROM certificate_issuances ORDER BY issued_at, certificate_id")).mappings())


def refused(world, call, rule: str) -> JukiError:
    before = (world.count("certificate_issuances"), world.count("certificate_subjects"))
    with pytest.raises(JukiError) as e:
        call()
    assert rule in {p.rule for p in e.value.problems}, e.value
    assert (world.count("certificate_issuances"), world.count("certificate_subjects")) == before
    entry = world.audit("certificate.refuse")[-1]
    assert entry["outcome"] == "denied" and rule in entry["detail"]["rules"]
    return e.value


# --- the counter ------------------------------------------------------------------------------------


def test_one_preview_token_issues_one_certificate(world):
    """CTR-1 (a double click on 交付する): the second issue with the same preview token is refused with the
    certificate already issued, audited as a refusal, and logs nothing; a new token issues again."""
    ids = family(world)
    req = self_request(world, "札幌　太郎", ids)
    token = new_request_token()
    first = world.reg.issuance.issue(CLERK, req, request_token=token)
    assert [r["request_token"] for r in issued_rows(world)] == [token]
    e = refused(world, lambda: world.reg.issuance.issue(CLERK, req, request_token=token), "REG-CERT/issue-once")
    assert isinstance(e, Conflict) and first.certificate_id in e.problems[0].ja and first.certificate_id in e.problems[0].en
    assert len(world.audit("certificate.issue")) == 1
    refused(world, lambda: world.reg.issuance.issue(CLERK, req, request_token="short"), "REG-CERT/issue-once")
    again = world.reg.issuance.issue(CLERK, req, request_token=new_request_token())
    assert again.certificate_id != first.certificate_id and len(issued_rows(world)) == 2
    world.reg.issuance.issue(CLERK, req)  # API and mail issuance carry no token
    assert [r["request_token"] is None for r in issued_rows(world)].count(True) == 1


def test_a_racing_second_submit_of_one_preview_loses_at_the_log(world):
    """Two submits of one preview that both pass the first check (both render before either commits):
    the token is claimed by the log row's unique index, so the later commit is rolled back (no log row,
    no issue audit entry) and refused like a sequential double click."""
    ids = family(world)
    req = self_request(world, "札幌　太郎", ids)
    token = new_request_token()
    service = world.reg.issuance
    make_issuer = service._issuer
    inner: list[Any] = []
    started: list[bool] = []

    def racing_issuer():
        issuer = make_issuer()

        def render(document, issued_by):
            if not started:  # while the first submit renders, the second one runs to its end and commits
                started.append(True)
                inner.append(service.issue(CLERK, req, request_token=token))
            return issuer(document, issued_by)
        return render

    service._issuer = racing_issuer
    try:
        with pytest.raises(Conflict) as e:
            service.issue(CLERK, req, request_token=token)
    finally:
        service._issuer = make_issuer
    [winner] = inner
    assert winner.certificate_id in e.value.problems[0].ja
    assert [r["certificate_id"] for r in issued_rows(world)] == [winner.certificate_id]
    assert world.count("certificate_subjects") == len(ids)
    assert [x["detail"]["certificate_id"] for x in world.audit("certificate.issue")] == [winner.certificate_id]
    assert "REG-CERT/issue-once" in world.audit("certificate.refuse")[-1]["detail"]["rules"]


def test_household_copy_for_the_head_is_signed_logged_and_audited(world):
    ids = family(world)
    issued = world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", ids, purpose="児童手当の申請"))
    body = text(issued.pdf)
    for name in ("札幌太郎", "札幌花子", "札幌一郎", "札幌次郎", proof.normalise(ADDRESS), "世帯全員", "令和8年4月20日"):
        assert name in body
    for absent in (NUMBER, "個人番号", "本籍", "続柄", "住民票コード"):
        assert absent not in body  # omitted unless asked (12条5項)
    check = verify_pdf(issued.pdf, load_public_key(world.reg.certificate_signer.public_key_pem()))
    assert check.ok, check
    [row] = issued_rows(world)
    assert row["certificate_id"] == issued.certificate_id and json.loads(row["subject_ids"]) == ids
    assert (row["kind"], row["path"], row["channel"], row["requester_relation"]) == ("resident_copy", "self", "counter", "household")
    assert row["requester_person_id"] == ids[0] and row["issued_by"] == "clerk" and row["terminal"] == "T001"
    assert row["purpose"] == "児童手当の申請" and json.loads(row["items"]) == []
    assert json.loads(row["request_detail"])["identity"] == ["drivers_license"]
    assert row["content_sha256"] == issued.content_sha256 == check.payload["content"]
    assert world.count("certificate_subjects") == 4
    [entry] = world.audit("certificate.issue")
    assert entry["subject_ids"] == sorted(ids) and entry["user_id"] == "clerk"
    assert entry["detail"]["certificate_id"] == issued.certificate_id and entry["detail"]["path"] == "self"


def test_the_individual_number_is_printed_only_when_the_person_asks(world):
    taro = world.ids["札幌　太郎"]
    asked = world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", [taro],
                                                         items={"individual_number": True, "domicile": True}))
    assert NUMBER in text(asked.pdf) and "北海道札幌市中央区北一条西二丁目" in text(asked.pdf)
    plain = world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", [taro], layout="individual"))
    assert NUMBER not in text(plain.pdf)
    # the number never goes to anyone else: a third party asking for it is refused
    third = request(subject_ids=[taro], path="third_party", requester={"name": "債権　者", "address": "東京都千代田区1-1"},
                    reason="own_rights", reason_detail="貸金返還請求", purpose="訴訟", items={"individual_number": True})
    refused(world, lambda: world.reg.issuance.issue(CLERK, third), "REG-CERT/number-self-only")


def test_wrong_relation_and_no_reason_are_refused_with_nothing_written(world):
    taro = world.ids["札幌　太郎"]
    stranger = self_request(world, "函館　三郎", [taro])
    refused(world, lambda: world.reg.issuance.issue(CLERK, stranger), "REG-CERT/relation")
    no_reason = request(subject_ids=[taro], path="third_party", requester={"name": "函館　三郎"}, purpose="確認")
    refused(world, lambda: world.reg.issuance.issue(CLERK, no_reason), "REG-CERT/third-party-reason")
    with pytest.raises(NotFound):
        world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", ["0000009999"]))
    with pytest.raises(Forbidden):  # no certificate.issue
        world.reg.issuance.issue(CHIEF.__class__.build(user_id="v", terminal_id="T", session_id="s", section="市民課",
                                                       grants={("viewer", "市民課")}), self_request(world, "札幌　太郎", [taro]))
    assert world.audit("certificate.refuse")[-1]["detail"]["rules"] == ["SEC-2/certificate.issue"]


def test_third_party_with_a_reason_gets_the_basic_items(world):
    taro = world.ids["札幌　太郎"]
    r = request(subject_ids=[taro], path="third_party", identity=[{"kind": "professional_id"}],
                requester={"name": "弁護　士", "organisation": "札幌法律事務所", "address": "北海道札幌市中央区大通西1丁目"},
                reason="professional", reason_detail="貸金返還請求訴訟の提起", purpose="訴状への添付（札幌地方裁判所）",
                professional={"qualification": "弁護士", "registration_number": "12345", "form_number": "A-001",
                              "client": "依頼　者"}, on_behalf_of={"name": "依頼　者"})
    issued = world.reg.issuance.issue(CLERK, r)
    assert "札幌太郎" in text(issued.pdf) and "札幌花子" not in text(issued.pdf)
    [row] = issued_rows(world)
    assert (row["path"], row["reason"], row["requester_relation"]) == ("third_party", "professional", "third_party")
    assert json.loads(row["request_detail"])["professional"]["form_number"] == "A-001"


def test_dv_offender_is_refused_whoever_asks_for_them_and_a_protected_subject_needs_the_supervisor(world):
    victim = world.ids["被害　さくら"]
    offender = {"name": OFFENDER["name"], "birth_date": OFFENDER["birth_date"].isoformat(), "address": "東京都"}
    base = dict(subject_ids=[victim], path="third_party", reason="own_rights", reason_detail="養育費の請求", purpose="調停")
    refused(world, lambda: world.reg.issuance.issue(CLERK, request(requester=offender, **base)), "SEC-8/withheld")
    lawyer = {"name": "弁護　士", "address": "東京都"}
    for_offender = request(requester=lawyer, on_behalf_of=offender, **base)
    refused(world, lambda: world.reg.issuance.issue(CHIEF, for_offender), "SEC-8/withheld")
    own = self_request(world, "被害　さくら", [victim])
    refused(world, lambda: world.reg.issuance.issue(CLERK, own), "SEC-8/manual-handling")
    issued = world.reg.issuance.issue(CHIEF, own)  # the supervisor checked who is asking
    assert "被害さくら" in text(issued.pdf) and world.count("certificate_issuances") == 1


def test_mailed_certificate_goes_to_the_requesters_registered_address_only(world):
    taro = world.ids["札幌　太郎"]
    r = self_request(world, "札幌　太郎", [taro], channel="mail", identity=[{"kind": "health_insurance"}])
    wrong = Envelope("札幌　太郎", "東京都千代田区千代田1番1号")
    refused(world, lambda: world.reg.issuance.issue(CLERK, r, envelope=wrong), "REG-CERT/envelope")
    with pytest.raises(InvalidInput):
        world.reg.issuance.issue(CLERK, r)
    issued = world.reg.issuance.issue(CLERK, r, envelope=Envelope("札幌 太郎", ADDRESS))
    [row] = issued_rows(world)
    assert (row["channel"], row["envelope_addressee"], row["envelope_address"]) == ("mail", "札幌 太郎", ADDRESS)
    assert issued.envelope is not None
    # an agent's request with the 個人番号 goes to the person, not to the agent
    agent = self_request(world, "札幌　太郎", [taro], channel="mail", agent={"name": "代理　人"}, proxy_letter=True,
                         items={"individual_number": True})
    refused(world, lambda: world.reg.issuance.issue(CLERK, agent, envelope=Envelope("代理　人", "東京都")),
            "REG-CERT/envelope")


def test_removed_copy_and_move_out_certificate_for_who_moved_out(world):
    saburo = world.ids["函館　三郎"]
    world.change(ChangeKind.MOVE_OUT, {"household_id": world.households["hakodate"], "person_ids": [saburo],
                                       "destination": chiba_address()}, effective="2026-04-15")
    me = {"name": "函館　三郎", "person_id": saburo}
    copy = world.reg.issuance.issue(CLERK, request(kind="removed_copy", subject_ids=[saburo], requester=me))
    assert "除票" in text(copy.pdf) and "千葉県千葉市中央区千葉港" in text(copy.pdf)
    move_out = world.reg.issuance.issue(CLERK, request(kind="move_out", subject_ids=[saburo], requester=me))
    assert "転出証明書" in text(move_out.pdf) and "令和8年4月15日" in text(move_out.pdf)
    refused(world, lambda: world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", [saburo], kind="move_out")),
            "REG-CERT/relation")
    # a removed person gets no 住民票の写し (the content model refuses it; audited like any refusal)
    refused(world, lambda: world.reg.issuance.issue(CLERK, request(subject_ids=[saburo], requester=me)), "REG-CERT/status")


def test_seal_certificate_with_the_card_shows_the_imprint_and_never_the_number(world):
    taro = world.ids["札幌　太郎"]
    seal = world.reg.seals.register(CLERK, taro, png(), 15, identity=(IdentityDocument("passport"),))
    r = request(kind="seal", subject_ids=[taro], requester={"name": "代理　人"}, agent={"name": "代理　人"},
                identity=[], seal_card_number=seal.card_number)
    issued = world.reg.issuance.issue(CLERK, r)
    body = text(issued.pdf)
    assert "印鑑登録証明書" in body and "札幌太郎" in body and NUMBER not in body
    [row] = issued_rows(world)
    assert row["seal_registration_number"] == seal.registration_number and row["requester_relation"] == "agent"
    wrong = dataclasses.replace(r, seal_card_number="00000000")
    refused(world, lambda: world.reg.issuance.issue(CLERK, wrong), "REG-CERT/seal-card")
    world.reg.seals.abolish(CLERK, seal.registration_number, reason="card_lost")
    refused(world, lambda: world.reg.issuance.issue(CLERK, r), "REG-CERT/seal-card")


def test_the_residence_does_not_issue_a_wide_area_copy_itself(world):
    """12条の4: the 交付地's mayor issues a 広域交付 copy (juki.net.wide_area, tests/net); the 住所地 never
    prints another municipality's mayor on a copy of its own."""
    taro = world.ids["札幌　太郎"]
    r = self_request(world, "札幌　太郎", [taro], path="wide_area", wide_area_from="121002",
                     identity=[{"kind": "individual_number_card"}], items={"relationship": True})
    e = refused(world, lambda: world.reg.issuance.issue(CLERK, r), "REG-CERT/wide-area")
    assert [p.field for p in e.problems] == ["path"]
    bad = dataclasses.replace(r, items=dataclasses.replace(r.items, domicile=True))
    e = refused(world, lambda: world.reg.issuance.issue(CLERK, bad), "REG-CERT/wide-area")
    assert [p.field for p in e.problems] == ["path"]
    assert world.audit("certificate.refuse")[-1]["subject_ids"] == [taro]


def test_history_lines_show_only_the_subjects_own_changes(world):
    ids = family(world)
    world.change(ChangeKind.MOVE_WITHIN, {"household_id": world.households["sapporo"], "person_ids": ids,
                                          "address": {"prefecture": "北海道", "city": "札幌市中央区", "town": "南一条西",
                                                      "block": "5丁目5番5号", "postcode": "0600061", "lg_code": "011011"}},
                 effective="2026-04-18")
    issued = world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", [ids[0]], items={"history": True},
                                                          layout="individual"))
    body = text(issued.pdf)
    assert "転居" in body and "南一条西5丁目5番5号" in body and "札幌花子" not in body


# --- the log --------------------------------------------------------------------------------------------


def test_counts_by_type_and_the_log_for_the_supervisor_only(world):
    taro, hanako = world.ids["札幌　太郎"], world.ids["札幌　花子"]
    world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", [taro]))
    world.reg.issuance.issue(CLERK, self_request(world, "札幌　太郎", [taro, hanako], kind="entry_certificate"))
    world.clock.advance(days=1)
    world.reg.issuance.issue(CLERK, self_request(world, "札幌　花子", [hanako]))
    day = dt.date(2026, 4, 20)
    counts = world.reg.issuance.counts(CHIEF, since=day, until=day)
    assert counts["by_kind"] == {"entry_certificate": 1, "resident_copy": 1} and counts["total"] == 2
    assert {(r["kind"], r["persons"]) for r in counts["rows"]} == {("entry_certificate", 2), ("resident_copy", 1)}
    assert world.reg.issuance.counts(CHIEF, since=day, until=day + dt.timedelta(days=1))["total"] == 3
    with pytest.raises(InvalidInput):
        world.reg.issuance.counts(CHIEF, since=day, until=day - dt.timedelta(days=1))
    with pytest.raises(Forbidden):
        world.reg.issuance.counts(CLERK, since=day, until=day)
    rows = world.reg.issuance.log(CHIEF, person_id=hanako)
    assert [r["kind"] for r in rows] == ["resident_copy", "entry_certificate"]
    assert world.audit("certificate.log.read")[-1]["subject_ids"] == sorted({taro, hanako})


# --- bulk -----------------------------------------------------------------------------------------------


def mailed(world, who: str) -> tuple[Any, Envelope]:
    pid = world.ids[who]
    r = self_request(world, who, [pid], channel="mail", identity=[{"kind": "health_insurance"}])
    address = world.reg.store.person_current(pid).address.text
    return r, Envelope(who, address)


def test_bulk_issues_one_subject_per_envelope_after_reading_every_pdf_back(world):
    items = [mailed(world, "札幌　太郎"), mailed(world, "函館　三郎")]
    batch_id, issued = world.reg.issuance.issue_bulk(CLERK, items)
    assert [c.subject_ids for c in issued] == [(world.ids["札幌　太郎"],), (world.ids["函館　三郎"],)]
    rows = issued_rows(world)
    assert {r["batch_id"] for r in rows} == {batch_id} and len(rows) == 2
    assert {r["envelope_addressee"] for r in rows} == {"札幌　太郎", "函館　三郎"}
    assert {e["detail"]["batch_id"] for e in world.audit("certificate.issue")} == {batch_id}


def test_bulk_with_a_swapped_envelope_stops_and_logs_nothing(world):
    (a, env_a), (b, env_b) = mailed(world, "札幌　太郎"), mailed(world, "函館　三郎")
    error = refused(world, lambda: world.reg.issuance.issue_bulk(CLERK, [(a, env_b), (b, env_a)]), "REG-CERT/envelope")
    assert error.problems[0].field.startswith("items[0]")
    with pytest.raises(InvalidInput):  # two subjects on one certificate cannot be matched with one envelope
        world.reg.issuance.issue_bulk(CLERK, [(self_request(world, "札幌　太郎", family(world)[:2], channel="mail",
                                                            identity=LICENSE), env_a)])
    assert world.count("certificate_issuances") == 0


def test_proof_detects_b_certificate_in_a_envelope(world):
    """The incident itself: real PDFs of A and B, B's put in A's envelope."""
    (a, env_a), (b, env_b) = mailed(world, "札幌　太郎"), mailed(world, "函館　三郎")
    _, [pdf_a, pdf_b] = world.reg.issuance.issue_bulk(CLERK, [(a, env_a), (b, env_b)])
    taro, saburo = (world.reg.store.person_current(world.ids[n]) for n in ("札幌　太郎", "函館　三郎"))
    assert proof.check_output(pdf_a.pdf, taro, [taro, saburo], env_a, env_a) == []
    swapped = proof.check_output(pdf_b.pdf, taro, [taro, saburo], env_a, env_a)
    assert {p.rule for p in swapped} == {"REG-CERT/bulk-mismatch"} and len(swapped) == 2  # A missing, B present
    wrong_envelope = proof.check_output(pdf_a.pdf, taro, [taro, saburo], env_b, env_a)
    assert [p.field for p in wrong_envelope] == ["envelope"]


def test_refusal_rules_are_bilingual(world):
    with pytest.raises(RuleViolation) as e:
        world.reg.issuance.issue(CLERK, self_request(world, "函館　三郎", [world.ids["札幌　太郎"]]))
    assert all(p.ja and p.en and p.field for p in e.value.problems)
