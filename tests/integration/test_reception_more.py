"""総合窓口, continued, through the real services on both engines (CTR-2, SEC-2, SEC-3, REG-R5's purge pattern):

* **reopening** a closed 受付: allowed once closed and with a reason, refused while open, on a stale
  revision or without a reason; audited; the reception then takes writes again and closes again;
* **庁内連携 hand-offs**: created with the steps of procedures other sections handle (opening, a step
  added); pulled only by their own section's integration account, without 個人番号 and audited as a read
  of the persons; acknowledged once (completing the step), refused for another section, withdrawn when
  the counter marks the step 不要;
* **retention** of the reception tables: nothing is listed before the period has run from the last write,
  everything of an expired reception is purged after a second person approved, a reception written
  since the request stops the purge, and the database refuses a DELETE outside an approved run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from juki.access.model import Principal
from juki.domain.errors import Conflict, Forbidden, InvalidInput
from juki.domain.life_events import (
    CHILD_SECTION,
    INSURANCE_SECTION,
    PROCEDURES,
    HandoffStatus,
    LifeEvent,
    Opening,
    StepStatus,
)
from juki.services.reception_retention import ReceptionRetention

from ..issuance_support import CLERK, CLERK2, NUMBER

TABLES = ("receptions", "reception_persons", "reception_steps", "reception_updates", "reception_handoffs",
          "reception_handoff_acks")


def liaison(user: str, section: str) -> Principal:
    """A section's integration account (庁内連携): the right granted in its own section."""
    return Principal.build(user_id=user, terminal_id="T-RENKEI", session_id=f"s-{user}", section=section,
                           grants={("section_liaison", section)})


KOKUHO = liaison("kokuho-system", INSURANCE_SECTION)
KODOMO = liaison("kodomo-system", CHILD_SECTION)


def step_of(r: Any, code: str) -> Any:
    return next(s for s in r.steps if s.procedure.code == code)


def settle(world, r: Any, done: set[str] = frozenset()) -> Any:
    """Mark every open step 不要 (or 完了 for ``done``): what a clerk does before closing."""
    for s in r.steps:
        if not s.status.finished:
            status = "done" if s.procedure.code in done else "not_needed"
            r = world.reg.receptions.set_status(CLERK, r.reception_id, s.step_no, status, revision=r.revision)
    return r


def move_within(world) -> Any:
    return world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_WITHIN, person_ids=(world.ids["札幌　太郎"],
                                                                                         world.ids["札幌　一郎"])))


# --- reopening -----------------------------------------------------------------------------------------


def test_a_closed_reception_is_reopened_with_a_reason(world):
    r = move_within(world)
    with pytest.raises(Conflict) as e:  # refused while open
        world.reg.receptions.reopen(CLERK, r.reception_id, reason="再来庁", revision=r.revision)
    assert [(p.field, p.rule) for p in e.value.problems] == [("reception", "CTR-2/reopen")]
    r = settle(world, r)
    closed = world.reg.receptions.close(CLERK, r.reception_id, revision=r.revision)
    assert not closed.is_open
    with pytest.raises(Conflict) as e:  # a page opened before the closing
        world.reg.receptions.reopen(CLERK2, r.reception_id, reason="再来庁", revision=r.revision)
    assert e.value.problems[0].rule == "CTR-2/revision"
    with pytest.raises(InvalidInput) as e:
        world.reg.receptions.reopen(CLERK2, r.reception_id, reason="  ", revision=closed.revision)
    assert [(p.field, p.rule) for p in e.value.problems] == [("reason", "CTR-2/reopen")]
    with pytest.raises(Forbidden):
        world.reg.receptions.reopen(KOKUHO, r.reception_id, reason="再来庁", revision=closed.revision)
    assert world.count("reception_updates") == closed.revision  # none of the refusals wrote anything

    world.clock.advance(minutes=30)
    reopened = world.reg.receptions.reopen(CLERK2, r.reception_id, reason="児童手当の手続に再来庁",
                                           revision=closed.revision)
    assert reopened.is_open and reopened.closed_at is None and reopened.revision == closed.revision + 1
    last = reopened.history[-1]
    assert (last.action, last.action_ja, last.note, last.by_user) == ("reopen", "受付の再開", "児童手当の手続に再来庁",
                                                                      "clerk2")
    assert [s.status for s in reopened.steps] == [s.status for s in closed.steps]  # the steps as they were
    entry = world.audit("reception.reopen")[-1]
    assert entry["user_id"] == "clerk2" and entry["detail"]["reason"] == "児童手当の手続に再来庁"
    assert set(entry["subject_ids"]) == {world.ids["札幌　太郎"], world.ids["札幌　一郎"]}
    # open again: a reopened reception takes writes, and closes again; reopening it twice in a row is refused
    child = step_of(reopened, "child_allowance")
    again = world.reg.receptions.set_status(CLERK, r.reception_id, child.step_no, "in_progress",
                                            revision=reopened.revision)
    with pytest.raises(Conflict):
        world.reg.receptions.reopen(CLERK, r.reception_id, reason="二重", revision=again.revision)
    again = world.reg.receptions.set_status(CLERK, r.reception_id, child.step_no, "done", revision=again.revision)
    assert not world.reg.receptions.close(CLERK, r.reception_id, revision=again.revision).is_open


# --- 庁内連携 hand-offs ------------------------------------------------------------------------------------


def test_hand_offs_are_created_with_the_steps_of_other_sections_procedures(world):
    r = move_within(world)
    handed = {s.procedure.code: s.handoff.section for s in r.steps if s.handoff is not None}
    assert handed == {code: PROCEDURES[code].section for code in
                      ("health_insurance", "elderly_medical", "care_insurance", "child_allowance", "school")}
    assert all(s.handoff is None for s in r.steps if s.procedure.code in ("move_within_notice", "card_address",
                                                                          "resident_copy"))
    assert all(s.handoff.status is HandoffStatus.PENDING for s in r.steps if s.handoff is not None)
    added = world.reg.receptions.add_step(CLERK, r.reception_id, "child_medical", revision=r.revision)
    assert step_of(added, "child_medical").handoff.section == CHILD_SECTION
    assert world.count("reception_handoffs") == 6


def test_a_section_pulls_only_its_own_pending_hand_offs_without_the_number(world):
    r = move_within(world)
    world.reg.receptions.open(CLERK, Opening(LifeEvent.MOVE_IN, newcomers=("転入　花子",)))
    pulled = world.reg.receptions.handoffs(KOKUHO)
    assert {x["section"] for x in pulled} == {INSURANCE_SECTION}
    first = [x for x in pulled if x["reception_id"] == r.reception_id]
    assert [x["procedure"] for x in first] == ["health_insurance", "elderly_medical"]
    x = first[0]
    assert (x["reception_number"], x["event"], x["status"]) == ("001", "move_within", "pending")
    assert [(p["person_id"], p["name"], p["name_kana"], p["birth_date"]) for p in x["persons"]] == [
        (world.ids["札幌　太郎"], "札幌　太郎", "サッポロ　タロウ", "1980-05-01"),
        (world.ids["札幌　一郎"], "札幌　一郎", "サッポロ　イチロウ", "2010-04-01")]
    assert NUMBER not in str(pulled) and "individual_number" not in str(pulled)  # no 個人番号 (SEC-2)
    newcomer = next(x for x in pulled if x["event"] == "move_in" and x["procedure"] == "health_insurance")
    assert newcomer["persons"] == [{"person_id": None, "name": "転入　花子", "name_kana": None, "birth_date": None,
                                    "new_to_register": True, "entered_by_notice": False, "manual_handling": False}]
    kodomo = world.reg.receptions.handoffs(KODOMO)
    assert {x["procedure"] for x in kodomo} == {"child_allowance", "child_medical"}
    with pytest.raises(Forbidden):
        world.reg.receptions.handoffs(CLERK)  # the counter does not pull (reception.handoff)
    # every pull is a read of the persons it names (SEC-3)
    reads = world.audit("reception.handoff.read")
    assert [e["user_id"] for e in reads] == ["kokuho-system", "kodomo-system"]
    assert set(reads[0]["subject_ids"]) == {world.ids["札幌　太郎"], world.ids["札幌　一郎"]}
    assert reads[0]["detail"]["section"] == INSURANCE_SECTION
    assert reads[0]["detail"]["handoffs"] == [x["handoff_id"] for x in pulled]


def test_a_hand_off_is_acknowledged_once_by_its_own_section(world):
    r = move_within(world)
    ins = step_of(r, "health_insurance")
    hid = ins.handoff.handoff_id
    with pytest.raises(Forbidden) as e:  # another section's system
        world.reg.receptions.acknowledge(KODOMO, hid)
    assert e.value.problems[0].rule == "SEC-2/section"
    with pytest.raises(Forbidden):
        world.reg.receptions.acknowledge(CLERK, hid)
    world.clock.advance(minutes=10)
    done = world.reg.receptions.acknowledge(KOKUHO, hid, note="国保資格取得 処理済み")
    step = step_of(done, "health_insurance")
    assert step.status is StepStatus.DONE and step.handoff.status is HandoffStatus.ACKNOWLEDGED
    assert (step.handoff.acknowledged_by, step.handoff.note) == ("kokuho-system", "国保資格取得 処理済み")
    assert done.revision == r.revision + 1 and done.history[-1].action == "handoff"
    with pytest.raises(Conflict) as e:
        world.reg.receptions.acknowledge(KOKUHO, hid)
    assert e.value.problems[0].rule == "CTR-2/handoff"
    assert world.count("reception_handoff_acks") == 1
    assert hid not in [x["handoff_id"] for x in world.reg.receptions.handoffs(KOKUHO)]
    entry = world.audit("reception.handoff.acknowledge")[-1]
    assert (entry["user_id"], entry["detail"]["handoff_id"], entry["detail"]["section"]) == (
        "kokuho-system", hid, INSURANCE_SECTION)
    # the clerk's page, read before the acknowledgement, is told to reload
    with pytest.raises(Conflict) as e:
        world.reg.receptions.set_status(CLERK, r.reception_id, step_of(r, "school").step_no, "not_needed",
                                        revision=r.revision)
    assert e.value.problems[0].rule == "CTR-2/revision"


def test_a_step_marked_not_needed_withdraws_its_hand_off(world):
    r = move_within(world)
    elderly = step_of(r, "elderly_medical")
    r = world.reg.receptions.set_status(CLERK, r.reception_id, elderly.step_no, "not_needed", revision=r.revision)
    assert step_of(r, "elderly_medical").handoff.status is HandoffStatus.WITHDRAWN
    assert [x["procedure"] for x in world.reg.receptions.handoffs(KOKUHO)] == ["health_insurance"]
    with pytest.raises(Conflict) as e:
        world.reg.receptions.acknowledge(KOKUHO, elderly.handoff.handoff_id)
    assert e.value.problems[0].rule == "CTR-2/handoff"
    # set to be done again: pending again
    r = world.reg.receptions.set_status(CLERK, r.reception_id, elderly.step_no, "not_started", revision=r.revision)
    assert [x["procedure"] for x in world.reg.receptions.handoffs(KOKUHO)] == ["health_insurance", "elderly_medical"]


# --- retention -------------------------------------------------------------------------------------------


def closed_reception(world) -> Any:
    r = move_within(world)
    world.reg.receptions.acknowledge(KOKUHO, step_of(r, "health_insurance").handoff.handoff_id)
    r = world.reg.receptions.get(CLERK, r.reception_id)
    r = settle(world, r)
    return world.reg.receptions.close(CLERK, r.reception_id, revision=r.revision)


def rows(world) -> dict[str, int]:
    return {t: world.count(t) for t in TABLES}


def test_receptions_are_purged_after_the_period_not_before(world):
    old = closed_reception(world)
    world.clock.advance(days=400)
    recent = closed_reception(world)
    retention = ReceptionRetention(world.reg.engine, audit=world.reg.audit, clock=world.clock, years=5)
    five_years_on = dt.date(2031, 4, 19)  # the day before the 5th anniversary of the old one's closing
    assert retention.plan(five_years_on).count == 0
    with pytest.raises(InvalidInput):
        retention.request("clerk", today=five_years_on)
    plan = retention.plan(dt.date(2031, 4, 20))
    assert [i.reception_id for i in plan.items] == [old.reception_id] and plan.cutoff == dt.date(2026, 4, 20)
    before = rows(world)
    req = retention.request("clerk", reason="年次消去", today=dt.date(2031, 4, 20))
    with pytest.raises(Forbidden):  # four eyes: not the requester, and the refusal is logged
        retention.approve(req.request_id, "clerk")
    assert world.audit("access.denied")[-1]["detail"]["attempt"] == "reception.purge.approve"
    with pytest.raises(Forbidden):  # not before approval
        retention.execute(req.request_id, "chief")
    retention.approve(req.request_id, "chief")
    done = retention.execute(req.request_id, "chief")
    assert (done.reception_count, done.status) == (1, "executed")
    after = rows(world)
    assert all(after[t] < before[t] for t in ("receptions", "reception_persons", "reception_steps",
                                              "reception_updates", "reception_handoffs", "reception_handoff_acks"))
    with world.reg.engine.connect() as c:
        for t in TABLES:
            assert c.execute(sa.text(f"SELECT count(*) FROM {t} WHERE reception_id = :r"),
                             {"r": old.reception_id}).scalar() == 0, t
    assert world.reg.receptions.get(CLERK, recent.reception_id).reception_id == recent.reception_id  # kept
    purge = world.audit("reception.purge")[-1]
    assert set(purge["subject_ids"]) == {world.ids["札幌　太郎"], world.ids["札幌　一郎"]}
    assert purge["detail"]["reception_ids"] == [old.reception_id]
    with pytest.raises(Conflict):
        retention.execute(req.request_id, "chief")
    assert [p.status for p in retention.requests()] == ["executed"]


def test_a_reception_written_since_the_request_stops_the_purge(world):
    r = closed_reception(world)
    retention = ReceptionRetention(world.reg.engine, audit=world.reg.audit, clock=world.clock, years=1)
    req = retention.request("clerk", today=dt.date(2027, 5, 1))
    world.reg.receptions.reopen(CLERK, r.reception_id, reason="再来庁", revision=r.revision)
    retention.approve(req.request_id, "chief")
    with pytest.raises(Conflict) as e:
        retention.execute(req.request_id, "chief")
    assert e.value.problems[0].rule == "CTR-2/retention"
    assert world.count("receptions") == 1


def test_the_database_refuses_a_delete_outside_an_approved_purge(world):
    r = closed_reception(world)
    retention = ReceptionRetention(world.reg.engine, audit=world.reg.audit, clock=world.clock, years=1)
    for t in TABLES:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), world.reg.engine.begin() as c:
            c.execute(sa.text(f"DELETE FROM {t} WHERE reception_id = :r"), {"r": r.reception_id})
    # a marker of a request that is not approved lets nothing through either
    req = retention.request("clerk", today=dt.date(2027, 5, 1))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), world.reg.engine.begin() as c:
        c.execute(sa.text("INSERT INTO reception_purge_active (request_id) VALUES (:q)"), {"q": req.request_id})
        c.execute(sa.text("DELETE FROM reception_updates WHERE reception_id = :r"), {"r": r.reception_id})
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), world.reg.engine.begin() as c:
        c.execute(sa.text("UPDATE receptions SET visitor_name = 'x' WHERE reception_id = :r"), {"r": r.reception_id})
    for t in ("reception_purges", "reception_purge_items"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), world.reg.engine.begin() as c:
            c.execute(sa.text(f"DELETE FROM {t}"))
    assert world.count("reception_updates") == r.revision


def test_the_cli_runs_the_four_eyes_purge_with_the_configured_period(world, database_url, tmp_path, monkeypatch,
                                                                     capsys):
    from juki.cli.main import main

    r = closed_reception(world)
    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("JUKI_RECEPTION_RETENTION_YEARS", "2")
    assert main(["reception-retention", "plan", "--today", "2028-04-19", "--list"]) == 0
    assert "総合受付 0 件" in capsys.readouterr().out  # 2 years from 2026-04-20 have not passed
    assert main(["reception-retention", "plan", "--today", "2028-04-20", "--list"]) == 0
    out = capsys.readouterr().out
    assert "(last written on or before; 2 年)" in out and f"{r.reception_id}\t版 {r.revision}\t2026-04-20" in out
    assert main(["reception-retention", "request", "--today", "2028-04-20", "--user", "clerk", "--terminal", "T1"]) == 0
    rid = capsys.readouterr().out.split("申請 ")[1].split(",")[0]
    assert main(["reception-retention", "approve", rid, "--user", "clerk", "--terminal", "T1"]) == 3  # four-eyes
    assert "SEC-3/four-eyes" in capsys.readouterr().err
    assert main(["reception-retention", "approve", rid, "--user", "chief", "--terminal", "T2"]) == 0
    assert main(["reception-retention", "execute", rid, "--user", "chief", "--terminal", "T2"]) == 0
    assert "総合受付 1 件" in capsys.readouterr().out
    assert main(["reception-retention", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"{rid}\texecuted\t2026-04-20\t1\tclerk")
    assert world.count("receptions") == 0
