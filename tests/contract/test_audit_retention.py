"""Contract: the retention purge -- four-eyes, only through an approved request, only beyond the
retention period, logged, and the chain still verifies afterwards."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.audit.log import AuditLog, AuditPolicy
from juki.audit.retention import AuditRetention, approve_purge, execute_purge, purge_requests, request_purge
from juki.audit.schema import audit_entries, audit_purge_active, audit_subjects
from juki.audit.verify import verify
from juki.domain.errors import Conflict, Forbidden, InvalidInput

from .test_audit_support import JST, engine_fixture, pid  # noqa: F401  (fixture)

NOW = dt.datetime(2032, 1, 15, 10, 0, tzinfo=JST)
RET = AuditRetention(7)


def old_and_new(engine: Engine) -> AuditLog:
    """20 entries in 2023 (beyond 7 years by NOW) and 10 in 2026."""
    audit = AuditLog(AuditPolicy(enabled=False))
    for i in range(20):
        audit.record_now(engine, user_id="clerk", terminal="T1", action="person.read", subject_ids=[pid(i % 4 + 1)],
                         at=dt.datetime(2023, 3, 1, 9, 0, tzinfo=JST) + dt.timedelta(days=i))
    for i in range(10):
        audit.record_now(engine, user_id="clerk", terminal="T1", action="person.read", subject_ids=[pid(1)],
                         at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=JST) + dt.timedelta(days=i))
    return audit


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_purge_needs_a_different_approver_and_then_keeps_the_chain_verifiable(engine: Engine) -> None:
    old_and_new(engine)
    with pytest.raises(InvalidInput):  # within the retention period
        request_purge(engine, dt.date(2025, 6, 1), "admin1", retention=RET, now=NOW)
    req = request_purge(engine, dt.date(2024, 1, 1), "admin1", retention=RET, now=NOW)
    assert (req.upto_seq, req.entry_count) == (20, 20)

    with pytest.raises(Forbidden):  # not approved yet
        execute_purge(engine, req.request_id, "admin1", now=NOW)
    with pytest.raises(Forbidden):  # the requester cannot approve
        approve_purge(engine, req.request_id, "admin1", now=NOW)
    assert count(engine, audit_entries) == 32  # 30 + request + the logged denial
    approve_purge(engine, req.request_id, "chief", now=NOW)
    with pytest.raises(Conflict):
        approve_purge(engine, req.request_id, "chief2", now=NOW)

    done = execute_purge(engine, req.request_id, "admin1", now=NOW)
    assert done.entry_count == 20 and done.status == "executed"
    with engine.connect() as conn:
        seqs = conn.execute(sa.select(audit_entries.c.seq).order_by(audit_entries.c.seq)).scalars().all()
        actions = conn.execute(sa.select(audit_entries.c.action).order_by(audit_entries.c.seq)).scalars().all()
        assert conn.execute(sa.select(sa.func.min(audit_subjects.c.seq))).scalar_one() == 21
    assert seqs == list(range(21, 35))
    assert actions[-4:] == ["audit.purge.request", "access.denied", "audit.purge.approve", "audit.purge"]
    assert count(engine, audit_purge_active) == 0
    result = verify(engine)
    assert result.ok and result.checked == 14, result.reason
    assert [r.status for r in purge_requests(engine)] == ["executed"]
    with pytest.raises(Conflict):
        execute_purge(engine, req.request_id, "admin1", now=NOW)

    # afterwards the database still refuses any direct delete
    for stmt in ("DELETE FROM audit_entries WHERE seq = 21", "DELETE FROM audit_subjects"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(stmt))
    # ... also with a marker of the (executed) request: it covers only seq <= 20
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(audit_purge_active.insert().values(request_id=req.request_id))
            conn.execute(sa.text("DELETE FROM audit_entries WHERE seq = 21"))


def test_a_marker_without_approval_does_not_unlock_deletion(engine: Engine) -> None:
    old_and_new(engine)
    req = request_purge(engine, dt.date(2024, 1, 1), "admin1", retention=RET, now=NOW)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(audit_purge_active.insert().values(request_id=req.request_id))
            conn.execute(sa.text("DELETE FROM audit_entries WHERE seq = 1"))
    assert count(engine, audit_entries) == 31


def test_purge_stops_at_the_first_recent_entry_so_the_chain_stays_a_suffix(engine: Engine) -> None:
    audit = old_and_new(engine)
    # an entry with an old timestamp written late (a skewed clock) does not punch a hole
    audit.record_now(engine, user_id="x", terminal="T", action="login", at=dt.datetime(2023, 1, 1, tzinfo=JST))
    req = request_purge(engine, dt.date(2024, 1, 1), "admin1", retention=RET, now=NOW)
    assert req.upto_seq == 20
    approve_purge(engine, req.request_id, "chief", now=NOW)
    execute_purge(engine, req.request_id, "admin1", now=NOW)
    assert verify(engine).ok
    # a second purge later continues from the checkpoint
    later = dt.datetime(2034, 6, 1, tzinfo=JST)
    req2 = request_purge(engine, dt.date(2027, 1, 1), "admin1", retention=RET, now=later)
    assert req2.upto_seq == 31  # the 10 entries of 2026 and the late 2023 one; not the 2032 purge entries
    approve_purge(engine, req2.request_id, "chief", now=later)
    execute_purge(engine, req2.request_id, "admin1", now=later)
    result = verify(engine)
    assert result.ok, result.reason


def test_retention_cutoff() -> None:
    assert AuditRetention(7).cutoff(dt.date(2031, 2, 28)) == dt.date(2024, 2, 28)
    assert AuditRetention(4).cutoff(dt.date(2028, 2, 29)) == dt.date(2024, 2, 29)
    assert AuditRetention(1).cutoff(dt.date(2028, 2, 29)) == dt.date(2027, 2, 28)
