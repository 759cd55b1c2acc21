"""Contract (REG-R5): the register's 150-year purge on both engines -- list and count, approval by a
second person, then one transaction that deletes exactly the approved list; the database refuses any
other deletion of history; every step is in the audit log."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.adapters.db.retention_tables import register_purge_active, register_purge_items, register_purges
from juki.adapters.db.store import SearchCriteria, Store
from juki.audit.log import AuditLog, AuditPolicy
from juki.audit.verify import verify
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from juki.domain.events import ChangeKind
from juki.domain.model import Status
from juki.services.retention import RegisterRetention

from .test_store_support import D, addr, household, make_store, move_in, outcome, person, pid, prov

TODAY = D(2026, 11, 23)  # cutoff: 1876-11-23
NOW = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)


def change(store: Store, kind: ChangeKind, day: dt.date, people: tuple, households: tuple = ()) -> None:
    with store.transaction() as tx:
        tx.persons([p.person_id for p in people])
        tx.households([h.household_id for h in households])
        tx.apply(outcome(kind, day, people, households), prov(day), approved_by="chief1", request_id=None,
                 expected_versions={})


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Store:
    """1: moved in 1850, moved out 1870 (a 除票 past retention); 2: moved in 1850, 転居 1860, still here
    (its first version is past retention); 3: moved in 1850, moved out 1900 (not yet); 4: moved in 2000."""
    store = make_store(database_url, tmp_path)
    for n, name in ((1, "古川 一"), (2, "古川 二"), (3, "古川 三"), (4, "新田 四")):
        since = D(2000, 4, 1) if n == 4 else D(1850, 4, 1)
        move_in(store, [person(n, 10 * n, name=name, since=since)], 10 * n, since)
    for n, day in ((1, D(1870, 6, 1)), (3, D(1900, 6, 1))):
        gone = dataclasses.replace(store.person_current(pid(n)), status=Status.REMOVED)
        change(store, ChangeKind.MOVE_OUT, day, (gone,))
    moved = dataclasses.replace(store.person_current(pid(2)), address=addr(block="9-9"))
    change(store, ChangeKind.MOVE_WITHIN, D(1860, 1, 1), (moved,))
    yield store
    store.engine.dispose()


def retention(store: Store) -> RegisterRetention:
    return RegisterRetention(store.engine, audit=AuditLog(AuditPolicy(enabled=False), clock=lambda: NOW),
                             clock=lambda: NOW)


def versions(store: Store) -> dict[str, list[int]]:
    with store.engine.connect() as c:
        out: dict[str, list[int]] = {}
        for pid_, v in c.execute(sa.text("SELECT person_id, version_no FROM person_versions ORDER BY 1, 2")):
            out.setdefault(pid_, []).append(v)
        return out


def audit_actions(store: Store) -> list[tuple[str, str, dict]]:
    with store.engine.connect() as c:
        return [(a, o, json.loads(d)) for a, o, d in c.execute(sa.text(
            "SELECT action, outcome, detail FROM audit_entries WHERE action LIKE 'register.purge%' "
            "OR action = 'access.denied' ORDER BY seq"))]


def test_plan_lists_and_counts_what_has_expired_and_writes_nothing(city: Store) -> None:
    before = versions(city)
    plan = retention(city).plan(TODAY)
    assert plan.cutoff == D(1876, 11, 23)
    assert {(i.person_id, i.upto_version, i.whole) for i in plan.items} == {(pid(1), 2, True), (pid(2), 1, False)}
    assert (plan.person_count, plan.version_count, plan.whole_count) == (2, 3, 1)
    assert versions(city) == before


def test_an_expired_removed_record_is_hidden_from_searches_until_the_purge(city: Store) -> None:
    """REG-R5: past retention, a 除票 is out of normal work -- even a search that includes 除票 skips it --
    while a 除票 still within retention and a resident whose old versions expired are found."""
    at_now = Store(city.engine, city.keyring, clock=lambda: NOW)
    found = {h.person_id for h in at_now.search(SearchCriteria(name="古川", include_removed=True))}
    assert found == {pid(2), pid(3)}
    assert {h.person_id for h in at_now.search(SearchCriteria(name="古川"))} == {pid(2)}
    a_century_earlier = Store(city.engine, city.keyring, clock=lambda: NOW.replace(year=1950))
    assert {h.person_id for h in a_century_earlier.search(
        SearchCriteria(name="古川", include_removed=True))} == {pid(1), pid(2), pid(3)}


def test_request_approve_execute_deletes_exactly_the_approved_list(city: Store) -> None:
    r = retention(city)
    req = r.request("clerk", terminal="T1", reason="令和8年度 年次消去", today=TODAY)
    assert (req.person_count, req.version_count, req.status) == (2, 3, "requested")
    with pytest.raises(Forbidden) as four_eyes:  # the requester cannot approve
        r.approve(req.request_id, "clerk")
    assert four_eyes.value.problems[0].rule == "SEC-3/four-eyes"
    with pytest.raises(Forbidden):  # not approved yet
        r.execute(req.request_id, "chief")
    assert r.approve(req.request_id, "chief").status == "approved"
    with pytest.raises(Conflict):
        r.approve(req.request_id, "chief2")
    done = r.execute(req.request_id, "chief", terminal="T2")
    assert (done.person_count, done.version_count, done.status) == (2, 3, "executed")
    left = versions(city)
    assert pid(1) not in left and city.person_current(pid(1)) is None  # the 除票 is gone entirely
    assert left[pid(2)] == [2] and city.person_current(pid(2)).address == addr(block="9-9")  # current kept
    assert left[pid(3)] == [1, 2] and left[pid(4)] == [1]  # not yet / never
    with pytest.raises(Conflict):
        r.execute(req.request_id, "chief")
    assert [x.status for x in r.requests()] == ["executed"]
    with city.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(register_purge_active)).scalar_one() == 0
    actions = audit_actions(city)
    assert [(a, o) for a, o, _ in actions] == [("register.purge.request", "allowed"), ("access.denied", "denied"),
                                               ("register.purge.approve", "allowed"), ("register.purge", "allowed")]
    assert actions[-1][2]["versions"] == 3 and actions[-1][2]["removed_records"] == 1
    assert verify(city.engine).ok
    # the next year there is nothing left to purge from these four
    with pytest.raises(InvalidInput) as nothing:
        r.request("clerk", today=TODAY)
    assert nothing.value.problems[0].rule == "REG-R5/retention"


def test_a_record_changed_after_the_request_stops_the_whole_purge(city: Store) -> None:
    r = retention(city)
    req = r.request("clerk", today=TODAY)
    r.approve(req.request_id, "chief")
    # 職権回復: the 除票 of person 1 is restored after the request was approved
    back = dataclasses.replace(city.person_current(pid(1)), status=Status.RESIDENT)
    change(city, ChangeKind.EX_OFFICIO_CORRECTION, D(2026, 11, 20), (back,),
           (household(10, [back]),))
    before = versions(city)
    with pytest.raises(Conflict) as err:
        r.execute(req.request_id, "chief")
    assert pid(1) in err.value.problems[0].ja
    assert versions(city) == before  # nothing deleted, not even person 2's listed version


def test_the_database_refuses_deleting_history_outside_an_approved_purge(city: Store) -> None:
    r = retention(city)
    req = r.request("clerk", today=TODAY)
    eng = city.engine
    # a marker for a request that is not approved does not open the guard
    with pytest.raises(sa.exc.DBAPIError, match="juki: person_versions is append-only"):
        with eng.begin() as c:
            c.execute(register_purge_active.insert().values(request_id=req.request_id))
            c.execute(sa.text("DELETE FROM person_versions WHERE person_id = :p"), {"p": pid(1)})
    r.approve(req.request_id, "chief")
    # approved, marker set, but a person or a version not on the list stays protected
    for stmt, params in (("DELETE FROM person_versions WHERE person_id = :p", {"p": pid(4)}),
                         ("DELETE FROM person_versions WHERE person_id = :p AND version_no = 2", {"p": pid(2)}),
                         ("UPDATE person_versions SET status = 'void' WHERE person_id = :p", {"p": pid(1)})):
        with pytest.raises(sa.exc.DBAPIError, match="juki: person_versions is append-only"):
            with eng.begin() as c:
                c.execute(register_purge_active.insert().values(request_id=req.request_id))
                c.execute(sa.text(stmt), params)
    # the purge's own records are insert-only
    for table in (register_purges, register_purge_items):
        with pytest.raises(sa.exc.DBAPIError, match=f"juki: {table.name} is append-only"):
            with eng.begin() as c:
                c.execute(sa.delete(table))
    assert versions(city)[pid(1)] == [1, 2]


def test_unknown_request_is_not_found(city: Store) -> None:
    with pytest.raises(NotFound):
        retention(city).approve(999, "chief")


def test_the_cli_runs_the_four_eyes_purge(city: Store, database_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from juki.cli.main import main

    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    assert main(["retention", "plan", "--today", "2026-11-23", "--list"]) == 0
    out = capsys.readouterr().out
    assert "2 人, 3 版 (うち除票 1 件)" in out and f"{pid(1)}\t除票" in out and f"{pid(2)}\t改製前" in out
    assert main(["retention", "request", "--today", "2026-11-23", "--user", "clerk", "--terminal", "T1"]) == 0
    rid = capsys.readouterr().out.split("申請 ")[1].split(",")[0]
    assert main(["retention", "approve", rid, "--user", "clerk", "--terminal", "T1"]) == 3  # four-eyes: refused
    assert "SEC-3/four-eyes" in capsys.readouterr().err
    assert main(["retention", "approve", rid, "--user", "chief", "--terminal", "T2"]) == 0
    assert main(["retention", "execute", rid, "--user", "chief", "--terminal", "T2"]) == 0
    assert "2 人 3 版" in capsys.readouterr().out
    assert main(["retention", "list"]) == 0
    assert capsys.readouterr().out.startswith(f"{rid}\texecuted\t1876-11-23\t2\t3\tclerk")
    assert city.person_current(pid(1)) is None
