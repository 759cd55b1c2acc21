"""Shared helpers for the audit contract tests (test_audit_*.py).  No tests here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import upgrade
from juki.audit.ddl import audit_guard_ddl, drop_audit_guard_ddl
from juki.audit.log import AuditLog, AuditPolicy

from ..clock import Clock as _Clock

JST = dt.timezone(dt.timedelta(hours=9))
T0 = dt.datetime(2024, 6, 3, 10, 0, tzinfo=JST)  # a Monday, 10:00 JST



def Clock(start: dt.datetime = T0) -> _Clock:
    return _Clock(start)

@pytest.fixture(name="engine")
def engine_fixture(database_url: str) -> Iterator[Engine]:
    """A migrated database (on both engines, via ``database_url``); import ``engine_fixture`` to use it."""
    upgrade(database_url)
    e = make_engine(database_url)
    yield e
    e.dispose()


def pid(n: int) -> str:
    return f"{n:010d}"


def build_log(engine: Engine, n: int = 50, *, clock: _Clock | None = None,
              policy: AuditPolicy | None = None) -> AuditLog:
    """``n`` entries by a few users about a few persons, one minute apart."""
    clock = clock or Clock()
    audit = AuditLog(policy or AuditPolicy(enabled=False), clock=clock)
    actions = ["login", "search", "person.read", "change.submit", "change.approve", "certificate.issue", "logout"]
    for i in range(n):
        audit.record_now(
            engine,
            user_id=f"user{i % 3}",
            terminal=f"T{i % 2}",
            session_id=f"s{i // 7}",
            action=actions[i % len(actions)],
            subject_ids=[pid(i % 5 + 1)] if i % 7 not in (0, 6) else [],
            detail={"i": i, "q": "ヤマダ"},
        )
        clock.advance(minutes=1)
    return audit


def as_attacker(engine: Engine, *statements: str) -> None:
    """Run ``statements`` with the audit guards dropped (a database superuser), then restore the guards."""
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for s in drop_audit_guard_ddl(dialect):
            conn.execute(sa.text(s))
        for s in statements:  # raw SQL, not parsed for :binds (JSON text contains colons)
            conn.exec_driver_sql(s)
        for s in audit_guard_ddl(dialect):
            conn.execute(sa.text(s))
