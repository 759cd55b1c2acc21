"""総合窓口 (CTR-2): the life events' checklists, the rules of a reception and its steps, and the content of
the 案内文書 -- pure domain, no storage."""

from __future__ import annotations

import datetime as dt

import pytest

from juki.domain.certificates import CertificateKind
from juki.domain.events import ChangeKind
from juki.domain.intake import FiledBy
from juki.domain.life_events import (
    CHECKLISTS,
    PROCEDURES,
    LifeEvent,
    Opening,
    StepKind,
    StepState,
    StepStatus,
    check_certificate_link,
    check_close,
    check_opening,
    check_request_link,
    check_status_change,
    checklist,
    guidance_letter,
    number_text,
    procedure,
    status_label,
    step_status,
)


def rules(problems) -> list[tuple[str, str]]:
    return [(p.field, p.rule) for p in problems.items]


# --- the catalogue -----------------------------------------------------------------------------------


def test_every_event_has_a_checklist_of_known_procedures_led_by_its_register_step():
    assert set(CHECKLISTS) == set(LifeEvent)
    for event, codes in CHECKLISTS.items():
        assert codes and all(c in PROCEDURES for c in codes), event
        assert len(set(codes)) == len(codes), event
        first = PROCEDURES[codes[0]]
        # the 届出 (or, for 婚姻・離婚, the 戸籍の届出) comes first
        assert first.kind is StepKind.REGISTER or event in (LifeEvent.MARRIAGE, LifeEvent.DIVORCE), event
    assert [p.code for p in checklist(LifeEvent.MOVE_IN)][:2] == ["move_in_notice", "card_address"]
    # the related procedures the 総合窓口 routes for a move-in
    assert {"health_insurance", "pension", "child_allowance", "seal_registration", "card_address",
            "care_insurance"} <= set(CHECKLISTS[LifeEvent.MOVE_IN])


def test_each_procedure_names_its_desk_and_what_to_bring_and_links_only_its_own_kind():
    for p in PROCEDURES.values():
        assert p.desk and p.name, p.code
        assert p.bring, p.code
        assert bool(p.change_kinds) == (p.kind is StepKind.REGISTER), p.code
        assert bool(p.certificate_kinds) == (p.kind is StepKind.CERTIFICATE), p.code
    assert PROCEDURES["move_in_notice"].change_kinds == (ChangeKind.MOVE_IN,)
    assert ChangeKind.HOUSEHOLD_SPLIT in PROCEDURES["household_notice"].change_kinds
    assert PROCEDURES["move_out_certificate"].certificate_kinds == (CertificateKind.MOVE_OUT,)


def test_an_unknown_procedure_code_is_shown_as_recorded():
    p = procedure("retired_procedure")
    assert p.name == "retired_procedure" and p.kind is StepKind.RELATED


def test_the_reception_number_is_three_digits():
    assert number_text(7) == "007" and number_text(123) == "123" and number_text(1234) == "1234"


# --- opening ------------------------------------------------------------------------------------------


def test_a_move_in_may_name_newcomers_only():
    assert not check_opening(Opening(LifeEvent.MOVE_IN, newcomers=("札幌　花子",)))


def test_opening_needs_someone_and_registered_persons_outside_a_move_in():
    assert rules(check_opening(Opening(LifeEvent.MOVE_IN))) == [("persons", "CTR-2/persons")]
    assert ("person_ids", "CTR-2/registered") in rules(check_opening(Opening(LifeEvent.DEATH)))
    # a birth: the household the child joins is named by a registered person; the child is a newcomer
    assert ("person_ids", "CTR-2/registered") in rules(check_opening(Opening(LifeEvent.BIRTH, newcomers=("子",))))
    assert not check_opening(Opening(LifeEvent.BIRTH, person_ids=("0000000001",), newcomers=("子",)))


def test_newcomers_only_for_a_move_in_or_a_birth():
    got = rules(check_opening(Opening(LifeEvent.MOVE_WITHIN, person_ids=("0000000001",), newcomers=("誰か",))))
    assert got == [("newcomers", "CTR-2/newcomer")]


def test_opening_refuses_bad_ids_duplicates_too_many_and_an_unnamed_agent():
    o = Opening(LifeEvent.MOVE_WITHIN, person_ids=("12a", "0000000001", "0000000001"), filed_by=FiledBy.AGENT)
    got = rules(check_opening(o))
    assert ("person_ids[0]", "CTR-2/persons") in got
    assert ("persons", "CTR-2/persons") in got
    assert ("visitor_name", "CTR-2/visitor") in got
    many = Opening(LifeEvent.MOVE_IN, newcomers=tuple(f"人{i}" for i in range(11)))
    assert ("persons", "CTR-2/persons") in rules(check_opening(many))
    assert not check_opening(Opening(LifeEvent.MOVE_WITHIN, person_ids=("0000000001",), filed_by=FiledBy.AGENT,
                                     visitor_name="代理　人"))


# --- steps --------------------------------------------------------------------------------------------


def test_a_linked_request_drives_the_step():
    assert step_status(StepStatus.IN_PROGRESS, None, linked=True) is StepStatus.IN_PROGRESS
    assert step_status(StepStatus.IN_PROGRESS, "approved", linked=True) is StepStatus.DONE
    assert step_status(StepStatus.IN_PROGRESS, "returned", linked=True) is StepStatus.RETURNED
    assert step_status(StepStatus.IN_PROGRESS, "rejected", linked=True) is StepStatus.RETURNED
    assert step_status(StepStatus.NOT_NEEDED, "approved", linked=False) is StepStatus.NOT_NEEDED
    assert status_label(StepStatus.IN_PROGRESS, linked=True) == "処理中（決裁待ち）"
    assert status_label(StepStatus.DONE, linked=True) == "完了（決裁済み）"
    assert status_label(StepStatus.DONE, linked=False) == "完了"


def test_register_and_certificate_steps_are_not_completed_by_hand():
    notice, copy, insurance = PROCEDURES["move_in_notice"], PROCEDURES["resident_copy"], PROCEDURES["health_insurance"]
    assert rules(check_status_change(notice, StepStatus.NOT_STARTED, StepStatus.DONE)) == [("status", "CTR-2/linked")]
    assert rules(check_status_change(copy, StepStatus.NOT_STARTED, StepStatus.DONE)) == [("status", "CTR-2/linked")]
    assert rules(check_status_change(notice, StepStatus.NOT_STARTED, StepStatus.IN_PROGRESS)) == [("status", "CTR-2/linked")]
    assert not check_status_change(notice, StepStatus.NOT_STARTED, StepStatus.NOT_NEEDED)
    assert not check_status_change(insurance, StepStatus.NOT_STARTED, StepStatus.DONE)
    assert not check_status_change(insurance, StepStatus.DONE, StepStatus.IN_PROGRESS)
    # 差戻し is derived, never recorded; a step waiting for its decision cannot be changed
    assert rules(check_status_change(insurance, StepStatus.DONE, StepStatus.RETURNED)) == [("status", "CTR-2/status")]
    assert rules(check_status_change(notice, StepStatus.IN_PROGRESS, StepStatus.NOT_NEEDED, pending_request=True)) == [
        ("status", "CTR-2/pending")]
    # completed by its approved 届出 or its certificate: final
    assert rules(check_status_change(notice, StepStatus.DONE, StepStatus.NOT_NEEDED)) == [("status", "CTR-2/linked")]
    assert rules(check_status_change(copy, StepStatus.DONE, StepStatus.NOT_STARTED)) == [("status", "CTR-2/linked")]


def test_a_request_links_only_to_a_register_step_of_its_kind_and_not_twice():
    notice = PROCEDURES["move_in_notice"]
    assert not check_request_link(notice, ChangeKind.MOVE_IN, StepStatus.NOT_STARTED)
    assert not check_request_link(notice, ChangeKind.MOVE_IN, StepStatus.RETURNED)  # entered again
    assert rules(check_request_link(notice, ChangeKind.MOVE_WITHIN, StepStatus.NOT_STARTED)) == [("step", "CTR-2/link")]
    assert rules(check_request_link(notice, ChangeKind.MOVE_IN, StepStatus.IN_PROGRESS)) == [("step", "CTR-2/link")]
    assert rules(check_request_link(notice, ChangeKind.MOVE_IN, StepStatus.DONE)) == [("step", "CTR-2/link")]
    assert rules(check_request_link(PROCEDURES["pension"], ChangeKind.MOVE_IN, StepStatus.NOT_STARTED)) == [
        ("step", "CTR-2/link")]
    assert not check_request_link(PROCEDURES["household_notice"], ChangeKind.HEAD_CHANGE, StepStatus.NOT_STARTED)


def test_a_certificate_links_only_to_a_certificate_step_that_issues_its_kind():
    assert not check_certificate_link(PROCEDURES["resident_copy"], CertificateKind.RESIDENT_COPY)
    assert rules(check_certificate_link(PROCEDURES["resident_copy"], CertificateKind.MOVE_OUT)) == [("step", "CTR-2/link")]
    assert rules(check_certificate_link(PROCEDURES["pension"], CertificateKind.RESIDENT_COPY)) == [("step", "CTR-2/link")]


def test_closing_names_every_step_neither_done_nor_unneeded():
    steps = [StepState(1, PROCEDURES["move_in_notice"], StepStatus.DONE, linked=True),
             StepState(2, PROCEDURES["card_address"], StepStatus.NOT_STARTED),
             StepState(3, PROCEDURES["health_insurance"], StepStatus.NOT_NEEDED),
             StepState(4, PROCEDURES["pension"], StepStatus.IN_PROGRESS),
             StepState(5, PROCEDURES["resident_copy"], StepStatus.RETURNED)]
    problems = check_close(steps)
    assert rules(problems) == [("steps[2]", "CTR-2/open-steps"), ("steps[4]", "CTR-2/open-steps"),
                               ("steps[5]", "CTR-2/open-steps")]
    assert "マイナンバーカードの住所変更（券面記載）が未着手です" in problems.items[0].ja
    assert not check_close([s for s in steps if s.status.finished])


# --- the guidance letter ------------------------------------------------------------------------------


def test_the_letter_sorts_steps_into_done_accepted_and_remaining_and_leaves_out_the_unneeded():
    steps = [StepState(1, PROCEDURES["move_in_notice"], StepStatus.IN_PROGRESS, linked=True),
             StepState(2, PROCEDURES["card_address"], StepStatus.NOT_STARTED),
             StepState(3, PROCEDURES["health_insurance"], StepStatus.DONE),
             StepState(4, PROCEDURES["pension"], StepStatus.NOT_NEEDED),
             StepState(5, PROCEDURES["child_allowance"], StepStatus.IN_PROGRESS),
             StepState(6, PROCEDURES["resident_copy"], StepStatus.RETURNED)]
    letter = guidance_letter(municipality="札幌市", number=7, day=dt.date(2026, 4, 20), event=LifeEvent.MOVE_IN,
                             persons=["札幌　花子"], steps=steps, printed_at=dt.datetime(2026, 4, 20, 10, 35))
    assert (letter.number, letter.date, letter.event, letter.persons) == ("007", "令和8年4月20日", "転入", ("札幌　花子",))
    assert [i.name for i in letter.done] == ["国民健康保険（加入・脱退・変更）"]
    assert [i.name for i in letter.accepted] == ["転入届"]
    assert [i.name for i in letter.remaining] == ["マイナンバーカードの住所変更（券面記載）", "児童手当（認定請求・住所変更・消滅）",
                                                  "住民票の写しの交付"]
    assert all(i.desk and i.bring for i in letter.remaining)
    assert "国民年金" not in repr(letter)  # 不要: not mentioned at all
    assert letter.printed_at == "令和8年4月20日 10:35"


@pytest.mark.parametrize("event", list(LifeEvent))
def test_every_event_has_a_japanese_name(event):
    assert event.ja and not event.ja.isascii()
