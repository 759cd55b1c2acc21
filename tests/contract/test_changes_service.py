"""The change service on real storage, SQLite and PostgreSQL: four-eyes approval, one transaction per
届出, optimistic concurrency, history and as-of reads (REG-R3, REG-R4, storage item 9 of issue 2)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from juki.adapters.db.migrate import upgrade
from juki.config import Register, Settings
from juki.domain.errors import Conflict, Forbidden, InvalidInput, RuleViolation
from juki.domain.events import Origin
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address, person

CLERK = Actor("clerk1", "T001")
APPROVER = Actor("chief1", "T002")
NOW = dt.datetime(2026, 4, 20, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def reg(database_url, tmp_path):
    upgrade(database_url)
    r = Register(Settings(database_url=database_url, key_file=tmp_path / "keys.json", lg_code="011002"))
    r.changes.clock = lambda: NOW
    yield r
    r.engine.dispose()


def submit(reg, kind, change, *, effective="2026-04-10", notified="2026-04-12", actor=CLERK, key=None):
    return reg.changes.submit(kind, change, actor=actor, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                              effective_date=dt.date.fromisoformat(effective), notified_date=dt.date.fromisoformat(notified),
                              idempotency_key=key)


def table_counts(reg):
    with reg.engine.connect() as c:
        return {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in
                ("change_requests", "change_decisions", "events", "person_versions", "household_versions", "persons", "households", "outbox")}


def move_in(reg, **kw):
    sub = submit(reg, "move_in", {"persons": [person(individual_number="123456789018"), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
                                  "address": address(), "prior_address": chiba_address()}, **kw)
    approved = reg.changes.approve(sub.request_id, actor=APPROVER)
    ids = [p.person_id for p in approved.outcome.persons]
    return ids, approved.outcome.households[0].household_id, approved


def test_change_takes_effect_only_on_approval_by_another_user(reg):
    sub = submit(reg, "move_in", {"persons": [person()], "address": address(), "prior_address": chiba_address()})
    assert reg.store.counts().residents == 0
    with pytest.raises(Forbidden) as e:
        reg.changes.approve(sub.request_id, actor=CLERK)
    assert e.value.problems[0].rule == "REG-R3/four-eyes"
    approved = reg.changes.approve(sub.request_id, actor=APPROVER)
    p = reg.store.person_current(approved.outcome.persons[0].person_id)
    assert p.name == "札幌　太郎" and p.is_resident
    history = reg.store.person_history(p.person_id)
    (event, _), = history
    assert (event.entered_by, event.approved_by, event.terminal, event.kind.value) == ("clerk1", "chief1", "T001", "move_in")
    with pytest.raises(Conflict) as again:
        reg.changes.approve(sub.request_id, actor=APPROVER)
    assert again.value.problems[0].ja.endswith("（決裁済み、chief1）。")
    assert "approved by chief1" in again.value.problems[0].en


def test_refused_submission_writes_nothing(reg):
    move_in(reg)
    before = table_counts(reg)
    with pytest.raises(RuleViolation):
        submit(reg, "move_in", {"persons": [person("別人", "ベツジン", individual_number="123456789018")],
                                "address": address(block="2番"), "prior_address": chiba_address()})
    with pytest.raises(InvalidInput):
        submit(reg, "move_in", {"persons": [person(birth="2026-02-30")], "address": address(), "prior_address": chiba_address()})
    assert table_counts(reg) == before


def test_return_and_reject_need_a_reason_and_close_the_request(reg):
    sub = submit(reg, "move_in", {"persons": [person()], "address": address(), "prior_address": chiba_address()})
    with pytest.raises(InvalidInput):
        reg.changes.return_request(sub.request_id, actor=APPROVER, reason=" ")
    reg.changes.return_request(sub.request_id, actor=APPROVER, reason="本人確認書類の不足")
    row = reg.store.request(sub.request_id)
    assert row.decision.decision == "returned" and row.decision.reason == "本人確認書類の不足"
    with pytest.raises(Conflict):
        reg.changes.approve(sub.request_id, actor=APPROVER)
    assert reg.store.counts().residents == 0


def test_duplicate_request_with_the_same_key_is_one_request(reg):
    change = {"persons": [person()], "address": address(), "prior_address": chiba_address()}
    a = submit(reg, "move_in", change, key="受付-0001")
    b = submit(reg, "move_in", change, key="受付-0001")
    assert b.duplicate and a.request_id == b.request_id
    with pytest.raises(Conflict):
        submit(reg, "move_in", {**change, "persons": [person("別人　二郎", "ベツジン　ジロウ")]}, key="受付-0001")


def test_two_clerks_changing_one_household_one_wins_and_nothing_is_lost(reg):
    ids, hid, _ = move_in(reg)
    a = submit(reg, "move_within", {"household_id": hid, "person_ids": ids, "address": address(block="3番")}, effective="2026-04-15", notified="2026-04-15")
    b = submit(reg, "household_split", {"household_id": hid, "person_ids": [ids[1]], "new_head_id": ids[1]},
               effective="2026-04-15", notified="2026-04-15", actor=Actor("clerk2", "T003"))
    reg.changes.approve(a.request_id, actor=APPROVER)
    before = table_counts(reg)
    with pytest.raises(Conflict) as e:
        reg.changes.approve(b.request_id, actor=APPROVER)
    assert e.value.problems[0].rule == "REG-CONCURRENCY"
    assert table_counts(reg) == before
    assert reg.store.person_current(ids[1]).address.block == "3番"


def test_concurrent_approvals_of_one_household_serialise(reg):
    ids, hid, _ = move_in(reg)
    reqs = [submit(reg, "move_within", {"household_id": hid, "person_ids": ids, "address": address(block=f"{n}番")},
                   effective="2026-04-15", notified="2026-04-15") for n in (11, 12)]
    results: list[object] = []

    def approve(rid):
        try:
            results.append(reg.changes.approve(rid, actor=APPROVER))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=approve, args=(r.request_id,)) for r in reqs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(x).__name__ for x in results) == ["Approved", "Conflict"]
    winner = next(x for x in results if not isinstance(x, Conflict))
    assert reg.store.person_current(ids[0]).address.block == winner.outcome.persons[0].address.block


def test_history_and_as_of(reg):
    ids, hid, _ = move_in(reg)
    sub = submit(reg, "move_within", {"household_id": hid, "person_ids": ids, "address": address(block="4番")}, effective="2026-04-15", notified="2026-04-16")
    reg.changes.approve(sub.request_id, actor=APPROVER)
    assert reg.store.person_as_of(ids[0], dt.date(2026, 4, 14)).address.block == "1丁目1番1号"
    assert reg.store.person_as_of(ids[0], dt.date(2026, 4, 15)).address.block == "4番"
    assert reg.store.person_as_of(ids[0], dt.date(2026, 4, 9)) is None
    assert [e.kind.value for e, _ in reg.store.person_history(ids[0])] == ["move_in", "move_within"]
    h = reg.queries.household(hid, as_of=dt.date(2026, 4, 12))
    assert [m["address"]["block"] for m in h["members"]] == ["1丁目1番1号"] * 2


def test_cancellation_through_storage_restores_and_keeps_history(reg):
    ids, hid, _ = move_in(reg)
    sub = submit(reg, "move_out", {"household_id": hid, "person_ids": [ids[1]], "destination": chiba_address()}, effective="2026-04-16", notified="2026-04-16")
    moved = reg.changes.approve(sub.request_id, actor=APPROVER)
    assert not reg.store.person_current(ids[1]).is_resident
    cancel = reg.changes.submit("cancellation", {"event_seq": moved.event_seq, "reason": "転出取消"}, actor=CLERK,
                                origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法第24条", effective_date=dt.date(2026, 4, 17),
                                notified_date=dt.date(2026, 4, 17))
    done = reg.changes.approve(cancel.request_id, actor=APPROVER)
    assert done.outcome.cancels_event == moved.event_seq
    wife = reg.store.person_current(ids[1])
    assert wife.is_resident and wife.household_id == hid
    assert reg.store.person_as_of(ids[1], dt.date(2026, 4, 20)).is_resident
    assert [e.kind.value for e, _ in reg.store.person_history(ids[1])] == ["move_in", "move_out", "cancellation"]
    with pytest.raises(RuleViolation):
        reg.changes.submit("cancellation", {"event_seq": moved.event_seq, "reason": "again"}, actor=CLERK,
                           origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法", effective_date=dt.date(2026, 4, 17),
                           notified_date=dt.date(2026, 4, 17))


def test_search_tells_same_name_people_apart(reg):
    move_in(reg)
    sub = submit(reg, "move_in", {"persons": [person(birth="1990-01-01", juminhyo_code="24727059608")], "address": address(block="8番"),
                                  "prior_address": chiba_address()})
    reg.changes.approve(sub.request_id, actor=APPROVER)
    from juki.adapters.db.store import SearchCriteria

    hits = reg.queries.search(SearchCriteria(kana="さっぽろ　た"))
    assert len(hits) == 2 and {h["birth_date"] for h in hits} == {"1980-05-01", "1990-01-01"}
    assert all(h["address_text"] for h in hits)
    assert len(reg.queries.search(SearchCriteria(name="札幌太郎", birth_date=dt.date(1990, 1, 1)))) == 1
    assert reg.queries.search(SearchCriteria(individual_number="123456789018"))[0]["birth_date"] == "1980-05-01"
