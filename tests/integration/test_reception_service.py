"""総合窓口 through the real services, on both engines (CTR-2, REG-R3, SEC-2, SEC-3): a reception per life event
with its 受付番号 and checklist; step statuses recorded with their history; a 届出 entered from a step follows
its approval (決裁待ち → 完了, 差戻し); a certificate issued from a step completes it in the issuance's
transaction; closing is refused while a step is open; two clerks on one reception: the second is told to
reload; the 案内文書 names only the persons concerned; the 総合照会 gathers a person's record, pending 届出,
receptions, certificate history and 印鑑登録, masks the 個人番号 outside number-use work, refuses a role
without the right, and is audited."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest

from juki.access.model import Principal
from juki.adapters.pdf.guidance import render_guidance
from juki.domain.certificate_requests import IdentityDocument, request_from_json
from juki.domain.certificates import CertificateKind
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, RuleViolation
from juki.domain.events import ChangeKind, Origin
from juki.domain.intake import FiledBy
from juki.domain.life_events import CHECKLISTS, LifeEvent, Opening, StepStatus
from juki.issuance.proof import normalise, pdf_text
from juki.services.changes import Actor

from ..issuance_support import CHIEF, CLERK, CLERK2, NUMBER, VIEWER, png, principal
from ..unit.registry import address, chiba_address, person

BANGO = principal("bango", "number_use_clerk")
SUPPORT = principal("support", "support_officer")


def step_of(r: Any, code: str) -> Any:
    return next(s for s in r.steps if s.procedure.code == code)


def move_in_for(world, reception_id: int, step_no: int, name: str = "転入　花子") -> int:
    """The 転入届 entered from a reception's step (the counter form does the same)."""
    link = world.reg.receptions.request_link(CLERK, reception_id, step_no, ChangeKind.MOVE_IN)
    submitted = world.reg.changes.submit(
        ChangeKind.MOVE_IN, {"persons": [person(name, "テンニュウ　ハナコ", "1990-02-03", "2")],
                             "address": address(block="5丁目5番5号", town="南五条西"), "prior_address": chiba_address()},
        actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法第22条",
        effective_date=dt.date(2026, 4, 15), notified_date=dt.date(2026, 4, 20), also=link)
    return submitted.request_id


def finish_others(world, r: Any, keep: set[str] = frozenset()) -> Any:
    """Mark every open step that is not in ``keep`` 不要 (as a clerk would for what does not apply)."""
    for s in r.steps:
        if not s.status.finished and s.procedure.code not in keep:
            r = world.reg.receptions.set_status(CLERK, r.reception_id, s.step_no, "not_needed", revision=r.revision)
    return r


def resident_copy(world, subjects: list[str], who: str) -> Any:
    return request_from_json({"kind": "resident_copy", "path": "self", "identity": [{"kind": "drivers_license"}],
                              "subject_ids": subjects, "requester": {"name": who, "person_id": world.ids[who]}})


# --- opening -----------------------------------------------------------------------------------------


def test_a_reception_gets_the_days_next_number_and_its_events_checklist(world):
    first = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    second = world.reg.receptions.open(CLERK2, Opening(LifeEvent.MOVE_WITHIN, person_ids=(world.ids["札幌　太郎"],),
                                                        filed_by=FiledBy.AGENT, visitor_name="代理　人"))
    assert (first.number_text, second.number_text) == ("001", "002")
    assert first.day == second.day == dt.date(2026, 4, 20)
    assert [s.procedure.code for s in first.steps] == list(CHECKLISTS[LifeEvent.MOVE_IN])
    assert all(s.status is StepStatus.NOT_STARTED for s in first.steps) and first.revision == 1 and first.is_open
    assert [(p.person_id, p.name) for p in first.persons] == [(None, "転入　花子")]
    assert [(p.person_id, p.name, p.household_id) for p in second.persons] == [
        (world.ids["札幌　太郎"], "札幌　太郎", world.households["sapporo"])]
    assert (second.filed_by, second.visitor_name) == (FiledBy.AGENT, "代理　人")
    world.clock.advance(days=1)  # a new day starts again at 001
    assert world.reg.receptions.open(CLERK, Opening(LifeEvent.BIRTH, person_ids=(world.ids["札幌　花子"],),
                                                    newcomers=("札幌　三郎",))).number_text == "001"
    opened = world.audit("reception.open")
    assert [e["detail"]["number"] for e in opened] == ["001", "002", "001"]
    assert opened[1]["subject_ids"] == [world.ids["札幌　太郎"]] and opened[0]["subject_ids"] == []
    # the persons concerned were read through the ReadService (audited reads)
    assert any(e["subject_ids"] == [world.ids["札幌　太郎"]] for e in world.audit("person.read"))


def test_opening_refuses_unknown_persons_and_unfit_input_at_their_fields(world):
    with pytest.raises(InvalidInput) as e:
        world.reg.receptions.open(CLERK, Opening(LifeEvent.DEATH, person_ids=("9999999999",)))
    assert [(p.field, p.rule) for p in e.value.problems] == [("person_ids[0]", "CTR-2/registered")]
    with pytest.raises(InvalidInput) as e:
        world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_OUT, newcomers=("誰か",)))
    assert {p.rule for p in e.value.problems} == {"CTR-2/newcomer", "CTR-2/registered"}
    with pytest.raises(Forbidden):
        world.reg.receptions.open(VIEWER, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    assert world.count("receptions") == 0


# --- progress ----------------------------------------------------------------------------------------


def test_step_statuses_are_recorded_with_their_history(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    ins = step_of(r, "health_insurance")
    r = world.reg.receptions.set_status(CLERK, r.reception_id, ins.step_no, "in_progress", note="保険年金課へ案内", revision=1)
    world.clock.advance(minutes=20)
    r = world.reg.receptions.set_status(CLERK2, r.reception_id, ins.step_no, "done", revision=2)
    now = step_of(r, "health_insurance")
    assert (now.status, now.updated_by, r.revision) == (StepStatus.DONE, "clerk2", 3)
    history = [(h.revision, h.action, h.procedure, h.status_ja, h.note, h.by_user) for h in r.history]
    assert history == [(1, "open", "", "", "", "clerk"),
                       (2, "status", ins.procedure.name, "処理中", "保険年金課へ案内", "clerk"),
                       (3, "status", ins.procedure.name, "完了", "", "clerk2")]
    # a register step is not completed by hand, and 差戻し is not a status one records
    notice = step_of(r, "move_in_notice")
    with pytest.raises(RuleViolation) as e:
        world.reg.receptions.set_status(CLERK, r.reception_id, notice.step_no, "done", revision=3)
    assert e.value.problems[0].rule == "CTR-2/linked"
    with pytest.raises(RuleViolation):
        world.reg.receptions.set_status(CLERK, r.reception_id, ins.step_no, "returned", revision=3)
    assert world.count("reception_updates") == 3
    entries = world.audit("reception.update")
    assert [(e["detail"]["step"], e["detail"]["status"]) for e in entries] == [(ins.step_no, "in_progress"),
                                                                                (ins.step_no, "done")]


def test_a_move_in_entered_from_its_step_follows_the_approval(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    notice = step_of(r, "move_in_notice")
    request_id = move_in_for(world, r.reception_id, notice.step_no)
    r = world.reg.receptions.get(CLERK, r.reception_id)
    step = step_of(r, "move_in_notice")
    assert (step.status, step.label, step.request_id, step.linked) == (StepStatus.IN_PROGRESS, "処理中（決裁待ち）",
                                                                       request_id, True)
    assert r.revision == 2 and r.history[-1].action == "request"
    # waiting for the decision: not changeable by hand, not linkable twice
    with pytest.raises(RuleViolation) as e:
        world.reg.receptions.set_status(CLERK, r.reception_id, step.step_no, "not_needed", revision=2)
    assert e.value.problems[0].rule == "CTR-2/pending"
    with pytest.raises(RuleViolation):
        world.reg.receptions.request_link(CLERK, r.reception_id, step.step_no, ChangeKind.MOVE_IN)
    approved = world.reg.changes.approve(request_id, actor=Actor("chief", "T002"))
    r = world.reg.receptions.get(CLERK, r.reception_id)
    step = step_of(r, "move_in_notice")
    assert (step.status, step.label) == (StepStatus.DONE, "完了（決裁済み）")
    assert r.revision == 2  # nothing was written to the reception: the status follows the decision
    new_id = approved.outcome.persons[0].person_id
    assert [(p.person_id, p.name) for p in r.entered] == [(new_id, "転入　花子")]
    assert r.household_id() == approved.outcome.households[0].household_id
    with pytest.raises(RuleViolation) as e:  # completed by its approval: final
        world.reg.receptions.set_status(CLERK, r.reception_id, step.step_no, "not_needed", revision=r.revision)
    assert e.value.problems[0].rule == "CTR-2/linked"


def test_a_returned_request_sends_the_step_back_to_be_entered_again(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    notice = step_of(r, "move_in_notice")
    first = move_in_for(world, r.reception_id, notice.step_no)
    world.reg.changes.return_request(first, actor=Actor("chief", "T002"), reason="転出証明書の写しが不鮮明")
    r = world.reg.receptions.get(CLERK, r.reception_id)
    assert step_of(r, "move_in_notice").status is StepStatus.RETURNED
    second = move_in_for(world, r.reception_id, notice.step_no)
    r = world.reg.receptions.get(CLERK, r.reception_id)
    assert (step_of(r, "move_in_notice").status, step_of(r, "move_in_notice").request_id) == (StepStatus.IN_PROGRESS, second)


def test_a_request_of_another_kind_is_not_linked_and_nothing_is_submitted(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    with pytest.raises(RuleViolation) as e:
        world.reg.receptions.request_link(CLERK, r.reception_id, step_of(r, "move_in_notice").step_no,
                                          ChangeKind.MOVE_WITHIN)
    assert e.value.problems[0].rule == "CTR-2/link" and "転入" in e.value.problems[0].ja
    # a link checked at the form but refused in the submission's transaction rolls the 届出 back
    link = world.reg.receptions.request_link(CLERK, r.reception_id, step_of(r, "move_in_notice").step_no,
                                             ChangeKind.MOVE_IN)
    r = finish_others(world, r, keep={"move_in_notice"})
    r = world.reg.receptions.set_status(CLERK, r.reception_id, step_of(r, "move_in_notice").step_no, "not_needed",
                                        revision=r.revision)
    world.reg.receptions.close(CLERK, r.reception_id, revision=r.revision)
    before = world.count("change_requests")
    with pytest.raises(Conflict) as e:
        world.reg.changes.submit(ChangeKind.MOVE_IN, {"persons": [person("転入　花子", "テンニュウ　ハナコ", "1990-02-03", "2")],
                                                      "address": address(), "prior_address": chiba_address()},
                                 actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION, legal_basis="住基法22条",
                                 effective_date=dt.date(2026, 4, 15), notified_date=dt.date(2026, 4, 20), also=link)
    assert e.value.problems[0].rule == "CTR-2/closed"
    assert world.count("change_requests") == before


def test_a_certificate_issued_from_its_step_completes_it_in_the_same_transaction(world):
    taro = world.ids["札幌　太郎"]
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_WITHIN, person_ids=(taro,)))
    copy = step_of(r, "resident_copy")
    wrong = request_from_json({"kind": "code_notice", "path": "self", "identity": [{"kind": "drivers_license"}],
                               "subject_ids": [taro], "requester": {"name": "札幌　太郎", "person_id": taro}})
    with pytest.raises(RuleViolation):
        world.reg.receptions.certificate_link(CLERK, r.reception_id, copy.step_no, wrong.kind)
    issued = world.reg.issuance.issue(CLERK, resident_copy(world, [taro], "札幌　太郎"),
                                      also=world.reg.receptions.certificate_link(CLERK, r.reception_id, copy.step_no,
                                                                                 CertificateKind.RESIDENT_COPY))
    r = world.reg.receptions.get(CLERK, r.reception_id)
    step = step_of(r, "resident_copy")
    assert (step.status, step.certificate_ids) == (StepStatus.DONE, (issued.certificate_id,))
    assert r.history[-1].action == "certificate" and r.history[-1].certificate_id == issued.certificate_id
    # the reception closed meanwhile: the certificate is not logged either
    r = finish_others(world, r)
    world.reg.receptions.close(CLERK, r.reception_id, revision=r.revision)
    before = world.count("certificate_issuances")
    link = world.reg.receptions.certificate_link
    with pytest.raises(Conflict):
        world.reg.issuance.issue(CLERK, resident_copy(world, [taro], "札幌　太郎"),
                                 also=lambda conn, i: link(CLERK, r.reception_id, copy.step_no,
                                                           CertificateKind.RESIDENT_COPY)(conn, i))
    assert world.count("certificate_issuances") == before


# --- closing and concurrency -------------------------------------------------------------------------


def test_closing_is_refused_while_a_step_is_open_and_closed_is_final(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    with pytest.raises(RuleViolation) as e:
        world.reg.receptions.close(CLERK, r.reception_id, revision=1)
    assert {p.rule for p in e.value.problems} == {"CTR-2/open-steps"}
    assert len(e.value.problems) == len(r.steps)  # every open step is named
    assert any("転入届が未着手です" in p.ja for p in e.value.problems)
    notice = step_of(r, "move_in_notice")
    move_in_for(world, r.reception_id, notice.step_no)
    r = finish_others(world, world.reg.receptions.get(CLERK, r.reception_id), keep={"move_in_notice"})
    with pytest.raises(RuleViolation) as e:  # the 届出 still waits for its decision
        world.reg.receptions.close(CLERK, r.reception_id, revision=r.revision)
    assert [p.field for p in e.value.problems] == [f"steps[{notice.step_no}]"]
    assert "処理中（決裁待ち）" in e.value.problems[0].ja
    world.reg.changes.approve(step_of(r, "move_in_notice").request_id, actor=Actor("chief", "T002"))
    closed = world.reg.receptions.close(CLERK, r.reception_id, revision=r.revision)
    assert not closed.is_open and closed.closed_by == "clerk" and closed.history[-1].action == "close"
    with pytest.raises(Conflict) as e:
        world.reg.receptions.set_status(CLERK, r.reception_id, 2, "not_started", revision=closed.revision)
    assert e.value.problems[0].rule == "CTR-2/closed"
    with pytest.raises(Conflict):
        world.reg.receptions.add_step(CLERK, r.reception_id, "school", revision=closed.revision)
    assert world.audit("reception.close")[-1]["detail"]["steps"]["move_in_notice"] == "done"


def test_two_clerks_on_one_reception_the_second_is_told_to_reload(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    seen = r.revision  # both pages show revision 1
    world.reg.receptions.set_status(CLERK, r.reception_id, step_of(r, "pension").step_no, "not_needed", revision=seen)
    with pytest.raises(Conflict) as e:
        world.reg.receptions.set_status(CLERK2, r.reception_id, step_of(r, "school").step_no, "not_needed",
                                        revision=seen)
    assert e.value.problems[0].rule == "CTR-2/revision" and "開き直し" in e.value.problems[0].ja
    with pytest.raises(Conflict):
        world.reg.receptions.close(CLERK2, r.reception_id, revision=seen)
    with pytest.raises(Conflict):
        world.reg.receptions.add_step(CLERK2, r.reception_id, "single_parent", revision=seen)
    assert world.count("reception_updates") == 2
    # a link made in a submission's transaction does not depend on a page: it takes the next revision
    move_in_for(world, r.reception_id, step_of(r, "move_in_notice").step_no)
    assert world.reg.receptions.get(CLERK, r.reception_id).revision == 3


def test_two_clerks_at_the_same_moment_one_wins(world):
    """The same race from two threads: each writes on revision 1; exactly one write is stored, the other is
    refused with CTR-2/revision (SQLite: BEGIN IMMEDIATE queues them; PostgreSQL: the primary key decides)."""
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    steps = [step_of(r, "pension").step_no, step_of(r, "school").step_no]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def clerk(who: Principal, step_no: int) -> None:
        barrier.wait()
        try:
            world.reg.receptions.set_status(who, r.reception_id, step_no, "not_needed", revision=1)
            outcomes.append("ok")
        except JukiError as e:
            outcomes.append(e.problems[0].rule)

    threads = [threading.Thread(target=clerk, args=(who, n)) for who, n in zip((CLERK, CLERK2), steps, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["CTR-2/revision", "ok"]
    assert world.reg.receptions.get(CLERK, r.reception_id).revision == 2


def test_two_receptions_opened_at_once_get_two_numbers(world):
    barrier = threading.Barrier(2)
    numbers: list[str] = []

    def open_one(who: Principal) -> None:
        barrier.wait()
        numbers.append(world.reg.receptions.open(who, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",))).number_text)

    threads = [threading.Thread(target=open_one, args=(who,)) for who in (CLERK, CLERK2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == ["001", "002"]


# --- the queue and the letter ------------------------------------------------------------------------


def test_the_queue_shows_todays_receptions_filtered_and_audited(world):
    a = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    b = world.reg.receptions.open(CLERK, Opening(LifeEvent.DEATH, person_ids=(world.ids["函館　三郎"],)))
    b = finish_others(world, b)
    world.reg.receptions.close(CLERK, b.reception_id, revision=b.revision)
    assert [x.number_text for x in world.reg.receptions.queue(CLERK)] == ["001"]
    assert [x.number_text for x in world.reg.receptions.queue(CLERK, state="all")] == ["001", "002"]
    assert [x.number_text for x in world.reg.receptions.queue(CLERK, state="closed")] == ["002"]
    assert world.reg.receptions.queue(CLERK, state="all", event=LifeEvent.BIRTH) == []
    assert [x.reception_id for x in world.reg.receptions.queue(CLERK, desk="教育委員会 学事課")] == [a.reception_id]
    assert world.reg.receptions.queue(CLERK, day=dt.date(2026, 4, 19), state="all") == []
    reads = world.audit("reception.read")
    assert reads[1]["subject_ids"] == [world.ids["函館　三郎"]]  # the state=all queue showed him
    with pytest.raises(Forbidden):
        world.reg.receptions.queue(CHIEF)


def test_the_guidance_letter_names_only_the_persons_concerned_and_no_number(world):
    hanako, taro = world.ids["札幌　花子"], world.ids["札幌　太郎"]
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_WITHIN, person_ids=(hanako,)))
    r = world.reg.receptions.set_status(CLERK, r.reception_id, step_of(r, "health_insurance").step_no, "done",
                                        revision=r.revision)
    r = world.reg.receptions.set_status(CLERK, r.reception_id, step_of(r, "school").step_no, "not_needed",
                                        revision=r.revision)
    letter = world.reg.receptions.guidance(CLERK, r.reception_id)
    pdf = render_guidance(letter)
    text = normalise(pdf_text(pdf))
    for wanted in ("お手続きのご案内", "受付番号", "001", "令和8年4月20日", "転居", normalise("札幌　花子"), "様",
                   "本日お済みのお手続き", "国民健康保険", "これから必要なお手続き", "転居届", "市民課 住民異動窓口",
                   "マイナンバーカードの住所変更", "暗証番号", "この案内は証明書ではありません"):
        assert normalise(wanted) in text, wanted
    assert "小・中学校" not in text  # 不要: not printed
    for other in ("札幌　太郎", "札幌　一郎", "札幌　次郎"):  # the household's other members are not named
        assert normalise(other) not in text
    assert NUMBER not in text and not re.search(r"\d{11,}", text) and hanako not in text and taro not in text
    assert "北一条西" not in text  # no address either
    entry = world.audit("reception.guidance")[-1]
    assert entry["subject_ids"] == [hanako] and entry["detail"]["reception_id"] == r.reception_id


# --- 総合照会 -----------------------------------------------------------------------------------------


def test_the_inquiry_gathers_one_persons_record_and_history(world):
    taro = world.ids["札幌　太郎"]
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_WITHIN, person_ids=(taro,)))
    issued = world.reg.issuance.issue(CLERK, resident_copy(world, [taro], "札幌　太郎"),
                                      also=world.reg.receptions.certificate_link(
                                          CLERK, r.reception_id, step_of(r, "resident_copy").step_no,
                                          CertificateKind.RESIDENT_COPY))
    other = world.reg.issuance.issue(CLERK, resident_copy(world, [world.ids["札幌　花子"]], "札幌　花子"))
    world.reg.seals.register(CLERK, taro, png(), 15, identity=(IdentityDocument("drivers_license"),))
    pending = world.reg.changes.submit(
        ChangeKind.HEAD_CHANGE, {"household_id": world.households["sapporo"], "new_head_id": world.ids["札幌　花子"],
                                 "memberships": [{"person_id": taro, "relationship": "夫"},
                                                 {"person_id": world.ids["札幌　花子"], "relationship": "世帯主"},
                                                 {"person_id": world.ids["札幌　一郎"], "relationship": "子"},
                                                 {"person_id": world.ids["札幌　次郎"], "relationship": "子"}]},
        actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION, legal_basis="住基法25条",
        effective_date=dt.date(2026, 4, 20), notified_date=dt.date(2026, 4, 20))
    view = world.reg.inquiry.person(CLERK, taro)
    assert view["person"]["name"] == "札幌　太郎" and view["person"]["individual_number"] == "************"
    assert {m["person_id"] for m in view["household"]["members"]} == {world.ids[n] for n in (
        "札幌　太郎", "札幌　花子", "札幌　一郎", "札幌　次郎")}
    assert [q.request_id for q in view["pending"]] == [pending.request_id]
    assert [x.reception_id for x in view["receptions"]] == [r.reception_id]
    assert [(c["certificate_id"], c["kind_ja"], c["channel_ja"], c["relation_ja"], c["issued_by"])
            for c in view["certificates"]] == [(issued.certificate_id, "住民票の写し", "窓口", "本人", "clerk")]
    assert other.certificate_id not in {c["certificate_id"] for c in view["certificates"]}  # 花子's alone
    assert "本人等の請求" in view["certificates"][0]["path_ja"]
    assert [s["status"] for s in view["seals"]] == ["effective"] and "imprint_png" not in view["seals"][0]
    entry = world.audit("inquiry.read")[-1]
    assert entry["subject_ids"] == [taro] and entry["detail"]["certificates"] == 1 and entry["detail"]["seals"] == 1
    # number-use work sees the number; a role without the right is refused
    assert world.reg.inquiry.person(BANGO, taro)["person"]["individual_number"] == NUMBER
    for who in (VIEWER, SUPPORT):
        with pytest.raises(Forbidden):
            world.reg.inquiry.person(who, taro)
    assert world.reg.inquiry.person(CHIEF, taro)["person"]["individual_number"] == "************"


def test_the_inquiry_of_a_new_resident_shows_the_reception_that_entered_them(world):
    r = world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    request_id = move_in_for(world, r.reception_id, step_of(r, "move_in_notice").step_no)
    new_id = world.reg.changes.approve(request_id, actor=Actor("chief", "T002")).outcome.persons[0].person_id
    view = world.reg.inquiry.person(CLERK, new_id)
    assert [x.number_text for x in view["receptions"]] == ["001"]
    assert view["pending"] == [] and view["certificates"] == [] and view["seals"] == []


def test_the_inquiry_lists_the_persons_online_applications(world):
    from juki.services.onestop import OneStopService

    onestop = OneStopService(world.reg.engine, world.reg.now, world.reg.audit)
    onestop.receive({"reference": "MP-1", "kind": "move_out", "planned_date": "2026-04-30",
                     "applicant": {"name": "函館　三郎", "name_kana": "ハコダテ　サブロウ", "birth_date": "1975-01-15"},
                     "persons": [{"name": "函館　三郎", "name_kana": "ハコダテ　サブロウ", "birth_date": "1975-01-15",
                                  "sex": "1"}],
                     "destination": chiba_address()}, actor=Actor("relay", "T001"))
    onestop.receive({"reference": "MP-2", "kind": "move_out", "planned_date": "2026-04-30",
                     "applicant": {"name": "別人", "name_kana": "ハコダテ　サブロウ", "birth_date": "1975-01-16"},
                     "persons": [{"name": "別人", "name_kana": "ハコダテ　サブロウ", "birth_date": "1975-01-16", "sex": "1"}],
                     "destination": chiba_address()}, actor=Actor("relay", "T001"))
    view = world.reg.inquiry.person(CLERK, world.ids["函館　三郎"])
    assert [a["reference"] for a in view["onestop"]] == ["MP-1"]  # the namesake born a day later is not him
