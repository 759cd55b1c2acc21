"""A node's periodic jobs (the yearly 整合性確認 in :mod:`juki.net.schedule`, the daily housekeeping in
:mod:`juki.net.housekeeping`): where each keeps its last run.

Each job's worker calls :func:`step`.  A job has one row in ``net_cursors`` named ``<job>:last_run``: ``value`` is the audit entry (``seq``) that
recorded the last run (0: never run), ``updated_at`` when it ran, or when the node first started the
timer (the anchor the first run is counted from).  What the run did is that audit entry's detail.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .node import SYSTEM_USER, Node
from .tables import net_cursors

__all__ = ["MAX_SLEEP", "RETRY_AFTER", "SYSTEM_USER", "anchor", "cursor", "last_run", "record_run", "step"]

RETRY_AFTER = dt.timedelta(hours=1)
"""A run that failed (a peer down, a task that raised) is tried again this long after."""
MAX_SLEEP = 60.0
"""A job's worker looks again at least this often (s), so a changed clock or configuration is seen."""


def cursor(conn: Connection, name: str) -> Any:
    """The job's cursor row (``value``, ``updated_at``), or None before the timer started."""
    return conn.execute(sa.select(net_cursors.c.value, net_cursors.c.updated_at)
                        .where(net_cursors.c.name == name)).first()


def anchor(node: Node, conn: Connection, name: str) -> Any:
    """The cursor row, created (value 0: never run, updated_at: when the timer started) if missing."""
    row = cursor(conn, name)
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(net_cursors.insert().values(name=name, value=0, updated_at=node.clock()))
        except sa.exc.IntegrityError:  # another worker started it at the same moment
            pass
        row = cursor(conn, name)
    return row


def last_run(node: Node, name: str, conn: Connection | None = None) -> dict[str, Any] | None:
    """The job's last run (its audit entry's detail, with ``audit_seq``), or None."""
    if conn is None:
        with node.engine.connect() as c:
            return last_run(node, name, c)
    row = cursor(conn, name)
    if row is None or not row.value:
        return None
    detail = conn.execute(sa.text("SELECT detail FROM audit_entries WHERE seq = :s"), {"s": int(row.value)}).scalar()
    out: dict[str, Any] = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
    return {**out, "audit_seq": int(row.value)}


def record_run(node: Node, conn: Connection, name: str, audit_seq: int, at: dt.datetime) -> None:
    """Point the job's cursor at the audit entry of the run that just happened (in that run's transaction)."""
    anchor(node, conn, name)
    conn.execute(net_cursors.update().where(net_cursors.c.name == name).values(value=audit_seq, updated_at=at))


def step(node: Node, next_due: Callable[[Connection], dt.datetime | None], run: Callable[[dt.datetime], Any]) -> float:
    """A job worker's round: ``run(now)`` when ``next_due`` has come; else sleep until then, at most
    :data:`MAX_SLEEP` s (None: the job is off)."""
    with node.engine.begin() as conn:
        due = next_due(conn)
    if due is None:
        return MAX_SLEEP
    now = node.clock()
    if now >= due:
        run(now)
        return 0.0
    return max(min((due - now).total_seconds(), MAX_SLEEP), node.config.poll_seconds)
