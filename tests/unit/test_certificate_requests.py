"""Who may get which certificate (REG-CERT, 住基法12条, 12条の2, 12条の3, 12条の4): every path grants what the
law allows and refuses the rest, each refusal naming the field and the rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from juki.domain.certificate_requests import (
    CARD_AUTHENTICATION,
    Channel,
    Facts,
    IdentityDocument,
    Path,
    Person,
    Relation,
    SubjectFacts,
    check,
    request_from_json,
    summary,
)
from juki.domain.certificates import CertificateKind, Items, Layout
from juki.domain.errors import InvalidInput, JukiError, RuleViolation
from juki.domain.model import RemovalReason, Status

LG = "011002"
LICENSE = {"kind": "drivers_license"}


def facts(*relations: Relation, status: Status = Status.RESIDENT, seal: bool = False,
          removal: RemovalReason | None = None) -> Facts:
    subjects = tuple(SubjectFacts(f"000000000{i + 1}", status, rel, removal) for i, rel in enumerate(relations))
    return Facts(subjects, LG, seal_card_valid=seal)


def req(**fields: Any) -> Any:
    data: dict[str, Any] = {"kind": "resident_copy", "subject_ids": ["0000000001"], "path": "self",
                            "requester": {"name": "札幌　太郎", "person_id": "0000000001"}, "identity": [LICENSE]}
    data.update(fields)
    return request_from_json(data)


def refused(request: Any, f: Facts) -> set[tuple[str, str]]:
    with pytest.raises(JukiError) as e:
        check(request, f)
    return {(p.field, p.rule) for p in e.value.problems}


# --- 本人・同一世帯 (12条) ---------------------------------------------------------------------------


def test_the_person_and_the_household_get_a_copy_with_every_item_they_ask_for() -> None:
    r = req(subject_ids=["0000000001", "0000000002"],
            items={"domicile": True, "relationship": True, "head_of_household": True, "juminhyo_code": True,
                   "individual_number": True})
    out = check(r, facts(Relation.SELF, Relation.HOUSEHOLD))
    assert out.items.names() == ("domicile", "head_of_household", "relationship", "juminhyo_code", "individual_number")
    assert out.layout is Layout.HOUSEHOLD and out.relations == (Relation.SELF, Relation.HOUSEHOLD)
    assert not out.mail_to_subject


def test_default_omits_every_optional_item() -> None:
    assert check(req(), facts(Relation.SELF)).items == Items()


def test_someone_outside_the_household_is_refused_on_the_self_path() -> None:
    assert ("subject_ids[1]", "REG-CERT/relation") in refused(
        req(subject_ids=["0000000001", "0000000002"]), facts(Relation.SELF, Relation.NONE))


def test_identity_must_be_shown_one_photo_or_two_others() -> None:
    assert ("identity", "REG-CERT/identity") in refused(req(identity=[]), facts(Relation.SELF))
    assert ("identity", "REG-CERT/identity") in refused(req(identity=[{"kind": "health_insurance"}]), facts(Relation.SELF))
    check(req(identity=[{"kind": "health_insurance"}, {"kind": "pension_book"}]), facts(Relation.SELF))
    # a mailed request encloses a copy of one document
    check(req(identity=[{"kind": "health_insurance"}], channel="mail"), facts(Relation.SELF))


def test_an_unknown_identity_document_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as e:
        check(req(identity=[{"kind": "library_card"}]), facts(Relation.SELF))
    assert e.value.problems[0].field == "identity[0].kind"


def test_an_agent_needs_a_proxy_letter_and_a_number_copy_goes_by_mail_to_the_person() -> None:
    agent = {"name": "代理　人"}
    assert ("proxy_letter", "REG-CERT/agent") in refused(req(agent=agent), facts(Relation.SELF))
    check(req(agent=agent, proxy_letter=True), facts(Relation.SELF))
    number = {"individual_number": True}
    assert ("channel", "REG-CERT/number-agent") in refused(
        req(agent=agent, proxy_letter=True, items=number), facts(Relation.SELF))
    out = check(req(agent=agent, proxy_letter=True, items=number, channel="mail"), facts(Relation.SELF))
    assert out.mail_to_subject


def test_code_notice_only_for_the_person() -> None:
    r = req(kind="code_notice")
    check(r, facts(Relation.SELF))
    assert ("subject_ids[0]", "REG-CERT/relation") in refused(r, facts(Relation.HOUSEHOLD))


def test_move_out_certificate_only_to_who_moved_out() -> None:
    r = req(kind="move_out")
    check(r, facts(Relation.SELF, status=Status.REMOVED, removal=RemovalReason.MOVE_OUT))
    assert ("subject_ids[0]", "REG-CERT/relation") in refused(
        r, facts(Relation.NONE, status=Status.REMOVED, removal=RemovalReason.MOVE_OUT))
    assert ("kind", "REG-CERT/third-party") in refused(
        req(kind="move_out", path="third_party", reason="own_rights", reason_detail="x", purpose="x"),
        facts(Relation.NONE, status=Status.REMOVED, removal=RemovalReason.MOVE_OUT))


def test_seal_certificate_needs_the_card_of_the_effective_registration_and_an_agent_needs_nothing_else() -> None:
    r = req(kind="seal", seal_card_number="12345678", identity=[], agent={"name": "代理　人"})
    check(r, facts(Relation.NONE, seal=True))  # the card is what entitles, not the relation
    assert ("seal_card_number", "REG-CERT/seal-card") in refused(r, facts(Relation.SELF, seal=False))
    assert ("seal_card_number", "REG-CERT/seal-card") in refused(req(kind="seal", identity=[]), facts(Relation.SELF, seal=True))
    assert ("items", "REG-CERT/seal") in refused(
        req(kind="seal", seal_card_number="1", items={"juminhyo_code": True}), facts(Relation.SELF, seal=True))
    assert ("seal_card_number", "REG-CERT/seal") in refused(req(seal_card_number="1"), facts(Relation.SELF))


# --- 国・地方公共団体 (12条の2) ------------------------------------------------------------------------

BODY = {"office": "北海道札幌方面中央警察署", "officer": "署長　警察　太郎", "statute": "刑事訴訟法第197条第2項"}


def test_public_body_states_office_officer_statute_and_purpose_and_never_gets_numbers() -> None:
    base = {"path": "public_body", "requester": {"name": "", "organisation": "中央警察署"}, "identity": []}
    check(req(**base, public_body=BODY, purpose="捜査のため", items={"relationship": True}), facts(Relation.NONE))
    problems = refused(req(**base, public_body={**BODY, "statute": " "}), facts(Relation.NONE))
    assert {("public_body.statute", "REG-CERT/public-body"), ("purpose", "REG-CERT/public-body")} <= problems
    assert ("public_body", "REG-CERT/public-body") in refused(req(**base, purpose="x"), facts(Relation.NONE))
    problems = refused(req(**base, public_body=BODY, purpose="x", items={"individual_number": True, "juminhyo_code": True}),
                       facts(Relation.NONE))
    assert {("items.individual_number", "REG-CERT/number-self-only"),
            ("items.juminhyo_code", "REG-CERT/code-self-only")} <= problems


# --- 第三者 (12条の3) ----------------------------------------------------------------------------------

THIRD = {"path": "third_party", "requester": {"name": "債権　者", "address": "札幌市中央区北1条西2丁目"},
         "purpose": "貸金返還請求訴訟の提起のため（札幌地方裁判所）"}


def test_third_party_without_a_reason_is_refused() -> None:
    assert ("reason", "REG-CERT/third-party-reason") in refused(req(**THIRD), facts(Relation.NONE))


def test_third_party_with_a_reason_gets_the_basic_items_only_unless_a_need_is_stated() -> None:
    ok = {**THIRD, "reason": "own_rights", "reason_detail": "令和7年の貸金の返還を求めるため、債務者の現住所を確認する"}
    check(req(**ok), facts(Relation.NONE))
    assert ("reason_detail", "REG-CERT/third-party-reason") in refused(
        req(**{**ok, "reason_detail": ""}), facts(Relation.NONE))
    assert ("items.domicile", "REG-CERT/third-party-items") in refused(
        req(**ok, items={"domicile": True}), facts(Relation.NONE))
    check(req(**ok, items={"domicile": True}, items_reason="相続登記のため本籍が必要"), facts(Relation.NONE))


def test_third_party_never_gets_the_individual_number_or_the_code() -> None:
    ok = {**THIRD, "reason": "own_rights", "reason_detail": "x"}
    problems = refused(req(**ok, items={"individual_number": True, "juminhyo_code": True}, items_reason="x"),
                       facts(Relation.NONE))
    assert {("items.individual_number", "REG-CERT/number-self-only"),
            ("items.juminhyo_code", "REG-CERT/code-self-only")} <= problems


def test_professional_request_needs_a_listed_qualification_and_the_form_number() -> None:
    pro = {"qualification": "司法書士", "registration_number": "札幌第123号", "form_number": "A-0001234",
           "client": "依頼　者"}
    ok = {**THIRD, "reason": "professional", "reason_detail": "不動産登記申請（相続）のため", "professional": pro,
          "identity": [{"kind": "professional_id"}]}
    check(req(**ok), facts(Relation.NONE))
    assert ("professional.form_number", "REG-CERT/professional") in refused(
        req(**{**ok, "professional": {**pro, "form_number": ""}}), facts(Relation.NONE))
    assert ("professional.qualification", "REG-CERT/professional") in refused(
        req(**{**ok, "professional": {**pro, "qualification": "探偵"}}), facts(Relation.NONE))
    assert ("professional", "REG-CERT/professional") in refused(
        req(**{**ok, "professional": None}), facts(Relation.NONE))
    # a 職務上請求書 on another reason or path is refused
    assert ("professional", "REG-CERT/path") in refused(req(**{**ok, "reason": "own_rights"}), facts(Relation.NONE))
    assert ("professional", "REG-CERT/path") in refused(req(professional=pro), facts(Relation.SELF))


# --- 広域交付 (12条の4) ---------------------------------------------------------------------------------

WIDE = {"path": "wide_area", "wide_area_from": "131016", "identity": [{"kind": "individual_number_card"}]}


def test_wide_area_copy_for_the_person_or_household_in_person_with_photo_id() -> None:
    check(req(**WIDE, items={"relationship": True, "head_of_household": True}), facts(Relation.SELF))
    assert ("identity", "REG-CERT/identity") in refused(
        req(**{**WIDE, "identity": [{"kind": "health_insurance"}, {"kind": "pension_book"}]}), facts(Relation.SELF))
    assert ("subject_ids[0]", "REG-CERT/relation") in refused(req(**WIDE), facts(Relation.NONE))
    assert ("agent", "REG-CERT/wide-area") in refused(req(**WIDE, agent={"name": "代理　人"}, proxy_letter=True),
                                                      facts(Relation.SELF))
    assert ("channel", "REG-CERT/wide-area") in refused(req(**WIDE, channel="mail"), facts(Relation.SELF))
    assert ("kind", "REG-CERT/wide-area") in refused(req(**WIDE, kind="entry_certificate"), facts(Relation.SELF))
    assert ("wide_area_from", "REG-CERT/wide-area") in refused(req(**{**WIDE, "wide_area_from": LG}),
                                                               facts(Relation.SELF))


def test_wide_area_never_prints_domicile_code_or_number() -> None:
    problems = refused(req(**WIDE, items={"domicile": True, "juminhyo_code": True, "individual_number": True}),
                       facts(Relation.SELF))
    assert {("items.domicile", "REG-CERT/wide-area"), ("items.juminhyo_code", "REG-CERT/wide-area"),
            ("items.individual_number", "REG-CERT/wide-area")} <= problems


# --- コンビニ交付 -----------------------------------------------------------------------------------------

KIOSK = {"channel": "kiosk", "identity": [{"kind": CARD_AUTHENTICATION}]}


def test_kiosk_offers_copies_and_seal_certificates_without_numbers() -> None:
    check(req(**KIOSK, items={"relationship": True}), facts(Relation.SELF))
    assert ("items.individual_number", "REG-CERT/kiosk") in refused(req(**KIOSK, items={"individual_number": True}),
                                                                    facts(Relation.SELF))
    assert ("kind", "REG-CERT/kiosk") in refused(req(**KIOSK, kind="code_notice"), facts(Relation.SELF))
    assert ("identity", "REG-CERT/kiosk") in refused(req(channel="kiosk"), facts(Relation.SELF))
    assert ("identity", "REG-CERT/identity") in refused(req(identity=[{"kind": CARD_AUTHENTICATION}]), facts(Relation.SELF))
    check(req(**KIOSK, kind="seal", seal_card_number="(card)"), facts(Relation.SELF, seal=True))
    assert ("kind", "REG-CERT/seal-card") in refused(req(**KIOSK, kind="seal", seal_card_number="(card)"),
                                                     facts(Relation.SELF, seal=False))


# --- parsing and the record --------------------------------------------------------------------------


def test_unknown_and_missing_fields_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as e:
        request_from_json({"kind": "resident_copy", "subject_ids": [], "path": "self", "requester": {"name": "x"},
                           "colour": "red"})
    assert [(p.field, p.rule) for p in e.value.problems] == [("colour", "REG-CERT/request")]
    with pytest.raises(InvalidInput) as e:
        request_from_json({"kind": "resident_copy", "subject_ids": ["1"], "requester": {"name": "x"}})
    assert e.value.problems[0].field == "path"
    with pytest.raises(InvalidInput) as e:
        request_from_json({"kind": "juminhyo", "subject_ids": ["1"], "path": "self", "requester": {"name": "x"}})
    assert e.value.problems[0].field == "kind"
    with pytest.raises(InvalidInput):
        check(req(subject_ids=[]), Facts((), LG))


def test_a_requester_without_name_and_a_layout_the_kind_has_not_are_refused() -> None:
    problems = refused(req(requester={"name": " "}, kind="removed_copy", layout="household"),
                       facts(Relation.SELF, status=Status.REMOVED))
    assert {("requester.name", "REG-CERT/requester"), ("layout", "REG-CERT/layout")} <= problems


def test_a_refusal_names_every_problem_at_once() -> None:
    with pytest.raises(RuleViolation) as e:
        check(req(**THIRD, items={"individual_number": True}), facts(Relation.NONE))
    assert {p.rule for p in e.value.problems} >= {"REG-CERT/third-party-reason", "REG-CERT/number-self-only"}
    assert all(p.ja and p.en for p in e.value.problems)


def test_the_screened_persons_and_the_summary_for_the_log() -> None:
    pro = {"qualification": "弁護士", "registration_number": "12345", "form_number": "B-1", "client": "依頼　者"}
    r = req(**THIRD, reason="professional", reason_detail="訴訟", professional=pro,
            on_behalf_of={"name": "依頼　者", "birth_date": "1980-01-02"}, agent={"name": "事務　員"}, proxy_letter=True)
    assert [p.name for p in r.screened_persons()] == ["債権　者", "事務　員", "依頼　者"]
    s = summary(r)
    assert s["professional"]["form_number"] == "B-1" and s["on_behalf_of"]["birth_date"] == "1980-01-02"
    assert s["identity"] == ["drivers_license"] and s["proxy_letter"] is True
    assert isinstance(dataclasses.replace(r, channel=Channel.MAIL).channel, Channel)
    assert Path("wide_area").ja.startswith("広域交付") and IdentityDocument("passport").photo
    assert Person("x").organisation == "" and CertificateKind.SEAL.ja == "印鑑登録証明書"
