"""A node's periodic jobs (the yearly 整合性確認 in :mod:`juki.net.schedule`, the daily housekeeping in
:mod:`juki.net.housekeeping`): where each keeps its last run.

A job has one row in ``net_cursors`` named ``<job>:last_run``: ``value`` is the audit entry (``seq``) that
recorded the last run (0: never run), ``updated_at`` when it ran, or when the node first started the
timer (the anchor the first run is counted from).  What the run did is that audit entry's detail.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .node import Node
from .tables import net_cursors


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
