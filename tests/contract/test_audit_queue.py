"""Read entries through the batching queue (juki.audit.queue): same chain, same subjects index, same
bulk-read alert as synchronous appends; bad entries refused at once; nothing dropped when the database
fails for a while."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import upgrade
from juki.audit.log import AuditLog, AuditPolicy
from juki.audit.queue import AuditQueue
from juki.audit.verify import verify
from juki.domain.errors import InvalidInput


def entries(engine):
    with engine.connect() as c:
        return c.execute(sa.text("SELECT seq, user_id, action, subject_ids FROM audit_entries ORDER BY seq")).all()


def test_queued_reads_are_written_in_order_and_chained(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    audit = AuditLog()
    queue = AuditQueue(audit, engine, max_delay=0.05)
    audit.record_now(engine, user_id="clerk", terminal="T1", action="change.submit")
    for i in range(120):
        queue.submit(user_id=f"u{i % 3}", terminal="T1", action="search", subject_ids=[f"{i:010d}"])
    queue.flush()
    rows = entries(engine)
    assert [r.seq for r in rows] == list(range(1, 122))
    assert [r.user_id for r in rows[1:]] == [f"u{i % 3}" for i in range(120)]
    assert verify(engine).ok
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM audit_subjects WHERE is_read")).scalar() == 120
    queue.close()
    engine.dispose()


def test_a_bad_entry_is_refused_at_submit(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    queue = AuditQueue(AuditLog(), engine, max_delay=0.05)
    with pytest.raises(InvalidInput):
        queue.submit(user_id="clerk", terminal="T1", action="search", detail={"q": "123456789018"})
    queue.flush()
    assert entries(engine) == []
    queue.close()
    engine.dispose()


def test_bulk_read_alert_fires_through_the_queue(database_url):
    upgrade(database_url)
    engine = make_engine(database_url)
    queue = AuditQueue(AuditLog(AuditPolicy(bulk_read_persons=5, bulk_read_minutes=10)), engine, max_delay=0.05)
    for i in range(8):
        queue.submit(user_id="contractor", terminal="T9", action="person.read", subject_ids=[f"{i:010d}"])
    queue.submit(user_id="clerk", terminal="T1", action="person.read", subject_ids=["0000000001"])
    queue.flush()
    with engine.connect() as c:
        alerts = c.execute(sa.text("SELECT user_id FROM audit_alerts")).all()
    assert [a.user_id for a in alerts] == ["contractor"]
    queue.close()
    engine.dispose()


def test_nothing_is_dropped_while_the_database_is_unavailable(tmp_path):
    url = f"sqlite:///{tmp_path}/late.db"
    engine = make_engine(url)  # not migrated yet: every append fails
    queue = AuditQueue(AuditLog(), engine, max_delay=0.02)
    for i in range(5):
        queue.submit(user_id="clerk", terminal="T1", action="person.read", subject_ids=[f"{i:010d}"])
    time.sleep(0.3)  # the writer has failed and is retrying
    with pytest.raises(TimeoutError):
        queue.flush(timeout=0.2)
    upgrade(url)
    queue.flush(timeout=20)
    assert [r.seq for r in entries(engine)] == [1, 2, 3, 4, 5]
    assert verify(engine).ok
    queue.close()
    engine.dispose()
