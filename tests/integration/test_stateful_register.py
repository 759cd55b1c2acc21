"""Random sequences of changes through the real service and storage keep the register's invariants
(issue 2, "How it is proven"):

* each current resident is in exactly one household, and every non-empty household has exactly one
  世帯主, who is its first member (REG-E4);
* replaying the history (the versions, in 更新順番号 order) gives the current state (REG-R4);
* a recorded version (a 除票 included) never changes afterwards;
* random invalid changes are refused and leave no trace in any table.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from juki.adapters.db.migrate import upgrade
from juki.config import Register, Settings
from juki.domain import identifiers
from juki.domain.errors import JukiError
from juki.domain.events import Origin
from juki.domain.model import person_from_json
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address

CLERK, CHIEF = Actor("clerk", "T1"), Actor("chief", "T2")
START = dt.date(2026, 1, 5)
TABLES = ("change_requests", "change_decisions", "events", "person_versions", "household_versions", "persons",
          "households", "outbox")
SURNAMES = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("髙橋", "タカハシ"), ("𠮷田", "ヨシダ"), ("渡邊", "ワタナベ")]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("翔", "ショウ"), ("美咲", "ミサキ")]

class Databases:
    """A fresh migrated database per example: a copied SQLite file, or a PostgreSQL database cloned
    from a migrated template (CREATE DATABASE … TEMPLATE), dropped afterwards."""

    def __init__(self, pg_admin: sa.Engine | None) -> None:
        self.pg_admin = pg_admin
        self.dir = Path(tempfile.mkdtemp(prefix="juki-stateful-"))
        if pg_admin is None:
            self.template = f"sqlite:///{self.dir / 'template.db'}"
        else:
            self.template_name = f"juki_t_tpl_{uuid.uuid4().hex[:10]}"
            with pg_admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{self.template_name}" TEMPLATE template0 ENCODING \'UTF8\''))
            self.template = pg_admin.url.set(database=self.template_name).render_as_string(hide_password=False)
        upgrade(self.template)

    def new(self) -> tuple[str, Callable[[], None]]:
        if self.pg_admin is None:
            path = self.dir / f"{uuid.uuid4().hex}.db"
            shutil.copy(self.dir / "template.db", path)
            return f"sqlite:///{path}", lambda: path.unlink()
        name = f"juki_t_{uuid.uuid4().hex[:12]}"
        admin = self.pg_admin
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_name}"'))

        def drop() -> None:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        return admin.url.set(database=name).render_as_string(hide_password=False), drop

    def close(self) -> None:
        if self.pg_admin is not None:
            with self.pg_admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.template_name}" WITH (FORCE)'))
        shutil.rmtree(self.dir, ignore_errors=True)


class RegisterMachine(RuleBasedStateMachine):
    databases: Databases

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="juki-sm-"))
        url, self.drop = self.databases.new()
        self.reg = Register(Settings(database_url=url, key_file=self.dir / "k.json", lg_code="011002"))
        self.reg.changes.clock = lambda: dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        self.day = START
        self.seen_versions: dict[tuple[str, int], object] = {}
        self.numbers = 0
        self.events: list[int] = []
        self.cancelled: list[int] = []

    def teardown(self) -> None:
        self.reg.engine.dispose()
        self.drop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------------

    def submit_and_approve(self, kind: str, change: dict) -> bool:
        self.day += dt.timedelta(days=1)
        try:
            sub = self.reg.changes.submit(kind, change, actor=CLERK, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                                          effective_date=self.day, notified_date=self.day)
        except JukiError as e:
            self.last_refusal = e  # shown when an assertion on a valid change fails
            return False
        approved = self.reg.changes.approve(sub.request_id, actor=CHIEF)
        if kind == "cancellation":
            self.cancelled.append(approved.event_seq)  # a 取消 is itself a change, but not cancellable
        else:
            self.events.append(approved.event_seq)
        return True

    def refused_without_trace(self, kind: str, change: dict, effective: dt.date | None = None) -> None:
        before = self.counts()
        day = effective or self.day + dt.timedelta(days=1)
        try:
            self.reg.changes.submit(kind, change, actor=CLERK, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                                    effective_date=day, notified_date=max(day, self.day))
        except JukiError as e:
            assert all(p.ja and p.en and p.rule for p in e.problems)
        else:
            raise AssertionError(f"{kind} should have been refused: {change}")
        assert self.counts() == before

    def counts(self) -> dict[str, int]:
        with self.reg.engine.connect() as c:
            return {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}

    def households(self) -> list[dict]:
        with self.reg.engine.connect() as c:
            rows = c.execute(sa.text("SELECT snapshot FROM households WHERE member_count > 0 ORDER BY household_id")).all()
        import json

        return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]

    def residents(self) -> list[str]:
        with self.reg.engine.connect() as c:
            return [r[0] for r in c.execute(sa.text("SELECT person_id FROM persons WHERE status = 'resident' ORDER BY person_id"))]

    def new_person(self, data, rel: str, birth_after: dt.date | None = None) -> dict:
        (s, sk), (g, gk) = data.draw(st.sampled_from(SURNAMES)), data.draw(st.sampled_from(GIVEN))
        lo = birth_after or dt.date(1930, 1, 1)
        birth = data.draw(st.dates(min_value=lo, max_value=max(lo, dt.date(2024, 12, 31))))
        self.numbers += 1
        first11 = f"{self.numbers:011d}"
        return {"name": f"{s}　{g}", "name_kana": f"{sk}　{gk}", "furigana_status": "confirmed", "birth_date": birth.isoformat(),
                "sex": data.draw(st.sampled_from(["1", "2"])), "relationship": rel,
                "individual_number": first11 + identifiers.individual_number_check_digit(first11)}

    # --- valid changes -------------------------------------------------------------------------

    @initialize(data=st.data())
    def first_household(self, data) -> None:
        self.move_in(data)

    @rule(data=st.data())
    def move_in(self, data) -> None:
        n = data.draw(st.integers(1, 3))
        people = [self.new_person(data, "世帯主")] + [self.new_person(data, data.draw(st.sampled_from(["妻", "子", "同居人"]))) for _ in range(n - 1)]
        block = f"{data.draw(st.integers(1, 9999))}番"
        assert self.submit_and_approve("move_in", {"persons": people, "address": address(block=block), "prior_address": chiba_address()})

    @precondition(lambda self: self.households())
    @rule(data=st.data())
    def birth(self, data) -> None:
        h = data.draw(st.sampled_from(self.households()))
        child = self.new_person(data, "子")
        child.pop("individual_number")
        child["birth_date"] = (self.day + dt.timedelta(days=1)).isoformat()
        assert self.submit_and_approve("birth", {"household_id": h["household_id"], "child": child})

    @precondition(lambda self: self.households())
    @rule(data=st.data())
    def move_within(self, data) -> None:
        h = data.draw(st.sampled_from(self.households()))
        self.numbers += 1  # a block never used before: a 転居 to the current address is (rightly) refused
        block = f"{data.draw(st.integers(1, 99))}-{self.numbers}番"
        assert self.submit_and_approve("move_within", {"household_id": h["household_id"], "person_ids": h["member_ids"],
                                                       "address": address(block=block)})

    @precondition(lambda self: any(len(h["member_ids"]) > 1 for h in self.households()))
    @rule(data=st.data())
    def split(self, data) -> None:
        h = data.draw(st.sampled_from([h for h in self.households() if len(h["member_ids"]) > 1]))
        leaver = data.draw(st.sampled_from(h["member_ids"][1:]))
        assert self.submit_and_approve("household_split", {"household_id": h["household_id"], "person_ids": [leaver], "new_head_id": leaver})

    @precondition(lambda self: any(len(h["member_ids"]) > 1 for h in self.households()))
    @rule(data=st.data())
    def head_change(self, data) -> None:
        h = data.draw(st.sampled_from([h for h in self.households() if len(h["member_ids"]) > 1]))
        new_head = data.draw(st.sampled_from(h["member_ids"][1:]))
        ms = [{"person_id": m, "relationship": "同居人"} for m in h["member_ids"] if m != new_head]
        assert self.submit_and_approve("head_change", {"household_id": h["household_id"], "new_head_id": new_head, "memberships": ms})

    @precondition(lambda self: self.households())
    @rule(data=st.data())
    def death(self, data) -> None:
        h = data.draw(st.sampled_from(self.households()))
        who = data.draw(st.sampled_from(h["member_ids"]))
        change: dict = {"person_id": who, "household_id": h["household_id"]}
        rest = [m for m in h["member_ids"] if m != who]
        if who == h["head_id"] and len(rest) > 1:
            change["remaining_head_id"] = rest[0]
            change["remaining_memberships"] = [{"person_id": m, "relationship": "同居人"} for m in rest[1:]]
        assert self.submit_and_approve("death", change)

    @precondition(lambda self: self.households())
    @rule(data=st.data())
    def move_out(self, data) -> None:
        h = data.draw(st.sampled_from(self.households()))
        assert self.submit_and_approve("move_out", {"household_id": h["household_id"], "person_ids": h["member_ids"],
                                                    "destination": chiba_address()})

    @precondition(lambda self: self.events)
    @rule()
    def cancel_latest(self) -> None:
        seq = self.events.pop()
        assert self.submit_and_approve("cancellation", {"event_seq": seq, "reason": "誤入力"})

    @precondition(lambda self: self.cancelled)
    @rule()
    def cancel_a_cancellation(self) -> None:
        self.refused_without_trace("cancellation", {"event_seq": self.cancelled[-1], "reason": "取消の取消"})

    # --- invalid changes -----------------------------------------------------------------------

    @precondition(lambda self: self.residents())
    @rule(data=st.data())
    def move_in_of_a_current_resident(self, data) -> None:
        pid = data.draw(st.sampled_from(self.residents()))
        p = self.reg.store.person_current(pid)
        person = self.new_person(data, "世帯主")
        person["juminhyo_code"] = p.juminhyo_code
        self.refused_without_trace("move_in", {"persons": [person], "address": address(block="1番"), "prior_address": chiba_address()})

    @precondition(lambda self: self.residents())
    @rule(data=st.data())
    def death_before_birth(self, data) -> None:
        pid = data.draw(st.sampled_from(self.residents()))
        p = self.reg.store.person_current(pid)
        self.refused_without_trace("death", {"person_id": pid, "household_id": p.household_id},
                                   effective=p.birth_date - dt.timedelta(days=1))

    @precondition(lambda self: len(self.households()) > 1)
    @rule(data=st.data())
    def head_from_another_household(self, data) -> None:
        a, b = data.draw(st.lists(st.sampled_from(self.households()), min_size=2, max_size=2, unique_by=lambda h: h["household_id"]))
        ms = [{"person_id": m, "relationship": "同居人"} for m in a["member_ids"]]
        self.refused_without_trace("head_change", {"household_id": a["household_id"], "new_head_id": b["head_id"], "memberships": ms})

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def one_household_one_head(self) -> None:
        members: dict[str, str] = {}
        for h in self.households():
            assert h["member_ids"][0] == h["head_id"]
            for m in h["member_ids"]:
                assert m not in members, f"{m} in two households"
                members[m] = h["household_id"]
            people = self.reg.store.household_members(h["household_id"])
            assert [p.relationship == "世帯主" for p in people].count(True) == 1
            assert all(p.household_id == h["household_id"] and p.head_name == people[0].name for p in people)
        assert sorted(members) == self.residents()

    @invariant()
    def replay_gives_the_current_state_and_versions_never_change(self) -> None:
        with self.reg.engine.connect() as c:
            rows = c.execute(sa.text("SELECT v.person_id, v.version_no, v.snapshot, v.event_seq FROM person_versions v "
                                     "ORDER BY v.event_seq, v.person_id")).all()
            current = {r[0]: r[1] for r in c.execute(sa.text("SELECT person_id, snapshot FROM persons"))}
        import json

        def load(x):
            return x if isinstance(x, dict) else json.loads(x)

        replayed: dict[str, dict] = {}
        for pid, version, snap, _seq in rows:
            snap = load(snap)
            replayed[pid] = snap
            key = (pid, version)
            if key in self.seen_versions:
                assert self.seen_versions[key] == snap, f"version {key} changed"
            self.seen_versions[key] = snap
        assert replayed == {k: load(v) for k, v in current.items()}
        for pid, snap in list(replayed.items())[:5]:
            assert self.reg.store.person_current(pid) == person_from_json(snap, self.reg.store.person_current(pid).individual_number)


SETTINGS = settings(max_examples=40, stateful_step_count=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_random_changes_keep_the_invariants(engine: str, request: pytest.FixtureRequest) -> None:
    admin = request.getfixturevalue("pg_admin_engine") if engine == "postgresql" else None
    databases = Databases(admin)
    machine = type("Machine", (RegisterMachine,), {"databases": databases})
    try:
        run_state_machine_as_test(machine, settings=SETTINGS)
    finally:
        databases.close()
