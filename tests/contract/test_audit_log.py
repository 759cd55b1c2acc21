"""Contract: the audit migration, the database guards, the writer (contiguous chain, same transaction
as the caller, concurrency) and the real-time bulk-read alert -- on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from juki.audit.log import AuditLog, AuditPolicy, head
from juki.audit.schema import AUDIT_TABLES, GENESIS_HASH, audit_alerts, audit_entries, metadata
from juki.audit.verify import verify
from juki.domain.errors import InvalidInput
from juki.domain.identifiers import individual_number_check_digit

from .test_audit_support import Clock, build_log, engine_fixture, pid  # noqa: F401  (fixture)


def test_migration_creates_exactly_the_audit_schema(engine: Engine) -> None:
    assert set(AUDIT_TABLES) <= set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, type_, parent: type_ != "table" or name in AUDIT_TABLES,
        })
        diff = compare_metadata(ctx, metadata)
        assert diff == [], f"0002_audit and juki.audit.schema disagree: {diff}"
    assert head(engine) == (0, GENESIS_HASH)


@pytest.mark.parametrize("table", ["audit_entries", "audit_subjects", "audit_alerts", "audit_anchors", "audit_purges"])
def test_update_delete_truncate_are_refused(
    engine: Engine, table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_log(engine, 10)
    audit = AuditLog(AuditPolicy(bulk_read_persons=1), clock=Clock())
    for _ in range(2):  # an alert row
        audit.record_now(engine, user_id="u", terminal="T", action="search", subject_ids=[pid(1), pid(2), pid(3)])
    from juki.audit.anchors import export_anchor
    from juki.audit.retention import AuditRetention, request_purge

    monkeypatch.setenv("JUKI_AUDIT_KEY_FILE", str(tmp_path / "audit-key.pem"))
    export_anchor(engine, tmp_path / "anchors")
    request_purge(engine, dt.date(2030, 1, 1), "u", retention=AuditRetention(0), now=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    with engine.connect() as conn:
        before = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    assert before > 0
    statements = [f"UPDATE {table} SET at = at", f"DELETE FROM {table}"]
    if engine.dialect.name == "postgresql":
        statements.append(f"TRUNCATE {table} CASCADE")
    for stmt in statements:
        with pytest.raises(sa.exc.DBAPIError, match=f"juki: {table} is append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(stmt))
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == before


def test_head_row_cannot_be_deleted_or_duplicated(engine: Engine) -> None:
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_head"))
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO audit_head (id, last_seq, last_hash) VALUES (2, 0, 'x')"))
    assert head(engine) == (0, GENESIS_HASH)


def test_entries_are_contiguous_and_chained(engine: Engine) -> None:
    build_log(engine, 20)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_entries).order_by(audit_entries.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, 21))
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert head(engine) == (20, rows[-1].hash)
    assert json.loads(rows[1].detail) == {"i": 1, "q": "ヤマダ"}  # stored readable, canonical
    assert verify(engine).ok


def test_entry_commits_with_the_callers_transaction_or_not_at_all(engine: Engine) -> None:
    audit = AuditLog()
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            audit.record(conn, user_id="clerk", terminal="T1", action="change.approve", subject_ids=[pid(1)])
            raise RuntimeError("the change failed")
    assert head(engine) == (0, GENESIS_HASH)
    with engine.begin() as conn:
        assert audit.record(conn, user_id="clerk", terminal="T1", action="change.approve", subject_ids=[pid(1)]) == 1
    assert head(engine)[0] == 1 and verify(engine).ok


def test_individual_number_and_bad_fields_are_refused(engine: Engine) -> None:
    audit = AuditLog()
    first = "12345678901"
    number = first + individual_number_check_digit(first)
    for kw in (
        {"detail": {"q": number}},
        {"detail": {"query": {"individual_number": "x"}}},
        {"detail": {"note": f"番号 {number} で検索"}},
        {"subject_ids": [number]},
        {"outcome": "maybe"},
        {"action": "Person Read"},
        {"user_id": ""},
    ):
        args = {"user_id": "u", "terminal": "T", "action": "search", **kw}
        with pytest.raises(InvalidInput):
            audit.record_now(engine, **args)
    assert head(engine) == (0, GENESIS_HASH)
    # 10- and 11-digit ids (宛名番号, 住民票コード) are fine
    audit.record_now(engine, user_id="u", terminal="T", action="search", subject_ids=[pid(7)],
                     detail={"juminhyo_code": "12345678901"})
    assert head(engine)[0] == 1


def test_concurrent_appenders_keep_one_contiguous_chain(engine: Engine) -> None:
    audit = AuditLog(AuditPolicy(enabled=False))
    errors: list[BaseException] = []
    threads_n, per_thread = 6, 15

    def work(t: int) -> None:
        try:
            for i in range(per_thread):
                audit.record_now(engine, user_id=f"user{t}", terminal=f"T{t}", action="person.read",
                                 subject_ids=[pid(t * 100 + i)], detail={"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with engine.connect() as conn:
        seqs = conn.execute(sa.select(audit_entries.c.seq).order_by(audit_entries.c.seq)).scalars().all()
    assert seqs == list(range(1, threads_n * per_thread + 1))
    result = verify(engine)
    assert result.ok, result.reason


def test_bulk_read_alert_fires_once_per_window_and_only_for_that_user(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    fired: list[dict] = []
    audit = AuditLog(AuditPolicy(bulk_read_persons=20, bulk_read_minutes=10), clock=clock, on_alert=fired.append)
    # another user reads the same 15 persons twice a minute apart: never crosses 20 distinct
    for _ in range(2):
        audit.record_now(engine, user_id="clerk", terminal="T1", action="search",
                         subject_ids=[pid(n) for n in range(1, 16)])
        clock.advance(minutes=1)
    # the contractor reads 5 new persons per minute: crosses 20 at the 5th read (25 > 20)
    with caplog.at_level(logging.WARNING, logger="juki.audit"):
        for k in range(8):
            audit.record_now(engine, user_id="contractor", terminal="T9", action="person.read",
                             subject_ids=[pid(1000 + 5 * k + j) for j in range(5)])
            clock.advance(minutes=1)
    # writes do not count
    audit.record_now(engine, user_id="clerk", terminal="T1", action="change.submit",
                     subject_ids=[pid(n) for n in range(100, 150)])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_alerts)).all()
    assert [(r.user_id, r.count) for r in rows] == [("contractor", 21)]
    assert len(fired) == 1 and fired[0]["user_id"] == "contractor"
    assert any("大量閲覧" in m for m in caplog.messages)
    # after the window has passed, a new crossing raises a new alert
    clock.advance(minutes=15)
    for k in range(5):
        audit.record_now(engine, user_id="contractor", terminal="T9", action="person.read",
                         subject_ids=[pid(5000 + 5 * k + j) for j in range(5)])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_alerts)).scalar_one() == 2
    assert verify(engine).ok
