"""Contract (PRF-4, transport copies and the municipality's CS file), on both engines: the retention run
redacts the inbox's and the outgoing stream's notices and sealed 個人番号 once they are no longer needed
(``transport_keep_days`` after decided / acknowledged), keeps what idempotency and gap detection need,
never touches a pending, an unresolved refused or an unacknowledged row; the database refuses the same
change outside a run; at a municipality the daily housekeeping purges the CS's 消除者 past 150 years and
keeps a living resident's record.  Clocks are moved by hand (no timed assertion)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from juki.domain.events import ChangeKind
from juki.domain.identifiers import new_juminhyo_code
from juki.domain.identity import IdentityUpdate, RecordFile, RecordState
from juki.net import housekeeping
from juki.net.node import Node, NodeConfig
from juki.net.notices import Entry, notice_to_json, split_number
from juki.net.operations import status
from juki.net.pki import Tier
from juki.net.relay import MAX_DELAY, Relay
from juki.net.retention import NodeRetention, _replaced_on
from juki.net.retention_tables import net_retention_active, net_retention_runs
from juki.net.tables import net_history, net_inbox, net_outbound, net_records

from ..clock import Clock
from .test_net_retention import HOKKAIDO, NUMBER, SAPPORO, jst

_rng = random.Random(14)
A, B, C = (new_juminhyo_code(_rng) for _ in range(3))
NATIONAL = "000000"
DAY = jst(2026, 4, 1, 9)


def notice(seq: int, code: str, reason: ChangeKind, *, old: str = "",
           address: str = "北海道札幌市中央区北一条西二丁目1番地") -> Entry:
    """Entry ``seq`` of 札幌市's stream (its 更新順番号), as the prefecture receives it."""
    n = IdentityUpdate(
        origin=SAPPORO, seq=seq, juminhyo_code=code, name="古川　一", name_kana="フルカワ　ハジメ",
        birth_date=dt.date(1968, 2, 1), sex="1", address=address, lg_code=SAPPORO, town_code="001",
        individual_number=NUMBER, reason=reason, change_date=dt.date(2026, 3, 31), state=RecordState.CURRENT,
        operator="op1", terminal="T1", recorded_at=DAY, old_juminhyo_code=old)
    payload, number = split_number(notice_to_json(n))
    return Entry(seq, SAPPORO, seq, "identity", payload, number)


def receive(node: Node, *entries: Entry) -> int:
    with node.engine.begin() as conn:
        through = node.store.receive(conn, SAPPORO, list(entries))
    node.applier.drain()
    return through


def acknowledge(node: Node, destination: str, through: int) -> None:
    """What the relay records when ``destination`` answers ``received_through``."""
    with node.engine.begin() as conn:
        node.store.delivery(conn, destination)
        node.store.update_delivery(conn, destination, acked_through=through)


def inbox(node: Node) -> dict[int, Any]:
    with node.engine.connect() as c:
        return {int(r.source_seq): r for r in c.execute(sa.select(net_inbox).order_by(net_inbox.c.source_seq))}


def outbound(node: Node) -> dict[int, Any]:
    with node.engine.connect() as c:
        return {int(r.seq): r for r in c.execute(sa.select(net_outbound).order_by(net_outbound.c.seq))}


def whole(row: Any) -> bool:
    return "redacted" not in row.payload and row.number_ciphertext is not None and row.number_key_id is not None


def redacted(row: Any) -> bool:
    return set(row.payload) <= {"redacted", "juminhyo_code", "old_juminhyo_code"} and "redacted" in row.payload \
        and row.number_ciphertext is None and row.number_key_id is None


def retention(node: Node) -> NodeRetention:
    return NodeRetention(node.store, audit=node.audit, terminal=node.code, keep_days=node.config.transport_keep_days)


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY)


@pytest.fixture
def prefecture(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    """北海道 on 2026-04-01: 札幌市's notices 1 (転入 A), 2 (転入 B), 3 (B's 住民票コード → C) applied and
    forwarded to the national server; 4 (a second 転入 of A) refused, its alert open; 5 (転居 of A) pending
    behind it.  The national server has acknowledged the forwarded 1 and 2."""
    config = NodeConfig(dir=tmp_path / "p", role=Tier.PREFECTURE, code=HOKKAIDO, database_url=database_url)
    config.save()
    node = Node(config, clock=clock)
    node.migrate()
    assert receive(node, notice(1, A, ChangeKind.MOVE_IN), notice(2, B, ChangeKind.MOVE_IN),
                   notice(3, C, ChangeKind.JUMINHYO_CODE_CHANGE, old=B), notice(4, A, ChangeKind.MOVE_IN),
                   notice(5, A, ChangeKind.MOVE_WITHIN, address="北海道札幌市中央区北三条西一丁目")) == 5
    assert {s: r.status for s, r in inbox(node).items()} == {1: "applied", 2: "applied", 3: "applied", 4: "refused",
                                                             5: "pending"}
    assert sorted(outbound(node)) == [1, 2, 3]
    acknowledge(node, NATIONAL, 2)
    yield node
    node.close()


def test_settled_copies_are_redacted_a_keeping_period_after_decided_or_acknowledged(
        prefecture: Node, clock: Clock) -> None:
    node = prefecture
    clock.now = jst(2026, 4, 2, 2)
    first = retention(node).run()  # nothing old enough; logs the acknowledgement it saw (1 and 2)
    assert first.redacted == {"net_inbox": 0, "net_outbound": 0} and first.transport["acked"] == {NATIONAL: 2}
    assert all(whole(r) for r in inbox(node).values()) and all(whole(r) for r in outbound(node).values())

    clock.now = jst(2026, 5, 4, 9)
    acknowledge(node, NATIONAL, 3)  # 3 arrives at the national server a month late
    clock.now = jst(2026, 5, 6, 2)  # 35 days after the notices were applied
    assert retention(node).plan().transport == {"net_inbox": 3, "net_outbound": 2}
    run = retention(node).run()
    assert run.redacted == {"net_inbox": 3, "net_outbound": 2}
    rows = inbox(node)
    # decided notices: the notice and the sealed 個人番号 are gone; key, origin, 更新順番号, status, times kept
    for seq in (1, 2, 3):
        r = rows[seq]
        assert redacted(r) and (r.source, r.origin, r.origin_seq, r.status) == (SAPPORO, SAPPORO, seq, "applied")
        assert r.payload["redacted"] == {"run_id": run.run_id, "on": "2026-05-06"} and r.received_at and r.decided_at
    assert rows[3].payload == {"redacted": {"run_id": run.run_id, "on": "2026-05-06"}, "juminhyo_code": C,
                               "old_juminhyo_code": B}  # a code change keeps its two codes
    assert NUMBER not in json.dumps([r.payload for r in rows.values() if redacted(r)], ensure_ascii=False)
    assert "古川" not in json.dumps([r.payload for r in rows.values() if redacted(r)], ensure_ascii=False)
    # the refused notice (its alert open) and the one pending behind it are untouched
    assert whole(rows[4]) and rows[4].status == "refused" and whole(rows[5]) and rows[5].status == "pending"
    # the forwarded copies: 1 and 2 acknowledged by the run a keeping period ago; 3 acknowledged 2 days ago
    out = outbound(node)
    assert redacted(out[1]) and redacted(out[2]) and whole(out[3])
    # the file is not touched: A's and C's current records, 個人番号 included
    for code in (A, C):
        kept = node.store.record_of(RecordFile.IDENTITY, code)
        assert kept is not None and kept.individual_number == NUMBER
    # the file's retention still knows when B was replaced by C (from the redacted row's two codes)
    with node.engine.connect() as conn:
        assert _replaced_on(conn, "identity", [B]) == {B: dt.date(2026, 4, 1)}
    # logged and audited: counts per table, no personal data
    (logged, *_) = retention(node).runs()
    assert logged.redacted == {"net_inbox": 3, "net_outbound": 2} and logged.transport["outbound_through"] == 2
    with node.engine.connect() as c:
        detail = json.loads(c.execute(sa.text("SELECT detail FROM audit_entries WHERE action = 'net.retention.purge' "
                                              "ORDER BY seq DESC LIMIT 1")).scalar_one())
    assert detail["transport"] == {"net_inbox": 3, "net_outbound": 2}

    # idempotent: a second run the same day redacts nothing more
    assert retention(node).run().redacted == {"net_inbox": 0, "net_outbound": 0}


def test_a_redacted_seq_is_still_a_duplicate_and_a_gap_is_still_a_gap(prefecture: Node, clock: Clock) -> None:
    node = prefecture
    for at in (jst(2026, 4, 2, 2), jst(2026, 5, 6, 2)):
        clock.now = at
        retention(node).run()
    assert redacted(inbox(node)[1])
    # 札幌市 sends 1 again (it never saw the acknowledgement): recognised, not stored again, not applied again
    assert receive(node, notice(1, A, ChangeKind.MOVE_IN)) == 5
    rows = inbox(node)
    assert len(rows) == 5 and redacted(rows[1]) and rows[1].status == "applied"
    assert node.store.record_of(RecordFile.IDENTITY, A) is not None and not node.store.alerts()[1:]  # one alert: 4's
    # a gap after the redacted rows: 7 without 6 is stored, the acknowledgement stays at 5 until 6 arrives
    assert receive(node, notice(7, A, ChangeKind.MOVE_WITHIN, address="北海道札幌市中央区北五条西一丁目")) == 5
    assert receive(node, notice(6, A, ChangeKind.MOVE_WITHIN, address="北海道札幌市中央区北四条西一丁目")) == 7


def test_a_refusal_once_resolved_is_redacted_a_keeping_period_later(prefecture: Node, clock: Clock) -> None:
    from juki.net.operations import resolve

    node = prefecture
    (alert,) = node.store.alerts()
    clock.now = jst(2026, 4, 10, 9)
    resolve(node, alert.alert_id, action="skip", actor="op1", reason="二重の転入通知")
    assert {s: r.status for s, r in inbox(node).items() if s >= 4} == {4: "skipped", 5: "applied"}
    clock.now = jst(2026, 5, 6, 2)  # 35 days after 1..3, 26 after 4 and 5 were decided
    assert retention(node).run().redacted["net_inbox"] == 3
    assert whole(inbox(node)[4]) and whole(inbox(node)[5])
    clock.now = jst(2026, 5, 11, 2)
    assert retention(node).run().redacted["net_inbox"] == 2
    assert all(redacted(r) for r in inbox(node).values())


def test_a_receiver_asking_again_for_a_redacted_entry_gets_nothing_and_an_alert(
        prefecture: Node, clock: Clock) -> None:
    node = prefecture
    for at in (jst(2026, 4, 2, 2), jst(2026, 5, 6, 2)):
        clock.now = at
        retention(node).run()
    acknowledge(node, NATIONAL, 0)  # the national server was restored from a backup older than a month

    class NoClient:
        def post(self, *a: Any, **kw: Any) -> Any:
            raise AssertionError("a redacted entry was sent")

        def close(self) -> None:
            pass

    relay = Relay(node.store, source=HOKKAIDO, destination=NATIONAL, client=lambda: NoClient())  # type: ignore[arg-type,return-value]
    assert relay.step() == MAX_DELAY and relay.step() == MAX_DELAY
    (alert,) = [a for a in node.store.alerts() if a.kind == "resend_redacted"]  # raised once
    assert (alert.scope, alert.ref, alert.blocking, alert.rule) == (f"resend:{NATIONAL}", "1", False, "PRF-4/transport")


# --- the guards ---------------------------------------------------------------------------------


def _log_run(conn: sa.Connection, run_id: int, through: int) -> None:
    conn.execute(net_retention_runs.insert().values(
        run_id=run_id, at=DAY, run_on=DAY.date(), cutoff=dt.date(1876, 1, 1), years=150, actor="x", terminal="x",
        history_rows=0, records=0, counts={}, outbound_through=through, transport={}))


def test_the_database_refuses_the_redaction_outside_a_run_and_anything_else_inside_one(prefecture: Node) -> None:
    engine = prefecture.engine
    stub = {"redacted": {"run_id": 90, "on": "2026-04-01"}}
    o = net_outbound.c
    redact3 = sa.update(net_outbound).where(o.seq == 3).values(payload=stub, number_ciphertext=None, number_key_id=None)
    # outside a run: refused (no marker), also with a logged run that has no marker
    for marker in (False, True):
        with pytest.raises(sa.exc.DBAPIError, match="net_outbound is append-only"), engine.begin() as conn:
            _log_run(conn, 90, 3)
            if marker:
                conn.execute(net_retention_active.insert().values(run_id=91))  # a marker of no logged run
            conn.execute(redact3)
    # inside a run: only entries up to its outbound_through, only the redacted form, nothing else changed
    bad = [
        ("beyond the run's mark", 2, redact3),
        ("another key kept", 3, sa.update(net_outbound).where(o.seq == 3).values(
            payload={**stub, "name": "古川　一"}, number_ciphertext=None, number_key_id=None)),
        ("the number kept", 3, sa.update(net_outbound).where(o.seq == 3).values(payload=stub, number_key_id=None)),
        ("not the redacted form", 3, sa.update(net_outbound).where(o.seq == 3).values(
            payload={"juminhyo_code": A}, number_ciphertext=None, number_key_id=None)),
        ("its 更新順番号 changed", 3, sa.update(net_outbound).where(o.seq == 3).values(
            payload=stub, number_ciphertext=None, number_key_id=None, origin_seq=33)),
        ("a delete", 3, sa.delete(net_outbound).where(o.seq == 3)),
    ]
    for why, through, stmt in bad:
        with pytest.raises(sa.exc.DBAPIError, match="net_outbound is append-only"), engine.begin() as conn:
            _log_run(conn, 90, through)
            conn.execute(net_retention_active.insert().values(run_id=90))
            conn.execute(stmt)
            pytest.fail(why)
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE net_outbound"))
    # the inbox: its notice and number never change outside a run; inside one, never of a pending row
    i = net_inbox.c
    for seq, marker in ((1, False), (5, True)):
        with pytest.raises(sa.exc.DBAPIError, match="net_inbox keeps the notices it received"), engine.begin() as conn:
            if marker:
                _log_run(conn, 90, 0)
                conn.execute(net_retention_active.insert().values(run_id=90))
            conn.execute(sa.update(net_inbox).where(i.source == SAPPORO, i.source_seq == seq)
                         .values(payload=stub, number_ciphertext=None, number_key_id=None))
    with pytest.raises(sa.exc.DBAPIError, match="net_inbox keeps the notices it received"), engine.begin() as conn:
        conn.execute(sa.update(net_inbox).where(i.source_seq == 1).values(origin_seq=9))
    # the applier's own update (status, time of decision) is not affected
    with engine.begin() as conn:
        conn.execute(sa.update(net_inbox).where(i.source_seq == 5).values(status="pending", decided_at=DAY))
    assert all(whole(r) for r in inbox(prefecture).values()) and all(whole(r) for r in outbound(prefecture).values())


# --- the municipality's CS --------------------------------------------------------------------------


def test_a_municipality_purges_its_cs_file_past_150_years_and_redacts_what_the_prefecture_acknowledged(
        database_url: str, tmp_path: Path) -> None:
    """札幌市's CS (seeds 000, 001, 003: 施行令34条2項): a 消除者 whose death the CS took in on 2026-04-20 is
    purged on 2176-04-20 by the daily housekeeping, a living resident's current record is not; the CS's
    outgoing notices stay whole until the prefecture acknowledged them, and a keeping period after."""
    from ..net.changes import death, move_in
    from ..unit.registry import person

    clock = Clock(jst(2026, 4, 20, 10))
    config = NodeConfig(dir=tmp_path / "m", role=Tier.MUNICIPALITY, code=SAPPORO, database_url=database_url)
    config.save()
    node = Node(config, clock=clock)
    node.migrate()
    try:
        day = dt.date(2026, 4, 20)
        gone = move_in(node.register, day, person("消除　太郎", "ショウジョ　タロウ", "1940-01-01", individual_number=NUMBER,
                                                    honseki="北海道札幌市中央区北一条西二丁目1番地", hittosha="消除　太郎"))
        kept = move_in(node.register, day, person("現存　花子", "ゲンゾン　ハナコ", "1980-02-02", "2"))
        (dead,) = gone.outcome.persons
        (living,) = kept.outcome.persons
        death(node.register, dead.person_id, gone.outcome.households[0].household_id, day)
        node.intake.run()
        before = {f: node.store.record_of(f, dead.juminhyo_code) for f in RecordFile}
        assert all(r is not None and r.state == "removed" for r in before.values())
        head = max(outbound(node))

        def step_at(*at: int) -> dict[str, Any]:
            clock.now = jst(*at)
            assert housekeeping.step(node) == 0.0  # ran
            return status(node)["housekeeping"]["last_run"]["tasks"]["retention"]

        clock.now = jst(2176, 4, 19, 12)
        assert housekeeping.step(node) > 0  # the timer starts: the first run is at 02:00
        clock.now = jst(2176, 4, 20, 1, 59, 59)
        assert housekeeping.step(node) > 0  # not due before 02:00
        done = step_at(2176, 4, 20, 2)
        assert (done["records"], done["counts"]["identity"]["records"], done["counts"]["fuhyo"]["records"]) == (2, 1, 1)
        assert all(node.store.record_of(f, dead.juminhyo_code) is None for f in RecordFile)
        with node.engine.connect() as c:
            codes = set(c.execute(sa.select(net_history.c.juminhyo_code)).scalars())
            assert dead.juminhyo_code not in codes and living.juminhyo_code in codes
            assert set(c.execute(sa.select(net_records.c.juminhyo_code)).scalars()) == {living.juminhyo_code}
        alive = node.store.record_of(RecordFile.IDENTITY, living.juminhyo_code)
        assert alive is not None and alive.state == "current"
        # never acknowledged (the prefecture was never reached): every notice stays whole, 150 years on
        assert done["redacted"] == {"net_inbox": 0, "net_outbound": 0}
        assert all("redacted" not in r.payload for r in outbound(node).values())
        assert any(r.number_ciphertext is not None for r in outbound(node).values())  # the deceased's 個人番号

        acknowledge(node, HOKKAIDO, head)
        assert step_at(2176, 4, 21, 2)["redacted"] == {"net_inbox": 0, "net_outbound": 0}  # acknowledged today
        assert step_at(2176, 5, 22, 2)["redacted"] == {"net_inbox": 0, "net_outbound": head}
        assert all(redacted(r) for r in outbound(node).values())
        assert "消除" not in json.dumps([r.payload for r in outbound(node).values()], ensure_ascii=False)
    finally:
        node.close()
