"""Tables and database guards of the nodes' retention runs (PRF-4, 保存期間経過後の自動消去).

* ``net_retention_runs`` (insert-only): one row per run -- when (the node's clock), the day judged on,
  the cutoff, the retention years, who ran it (``system:jukinet`` for the node's daily housekeeping, or
  the operator of ``juki net retention run``), and what it deleted: history rows and whole records, in
  total and per file (``counts``: ``{"identity": {"history": n, "records": m}, "fuhyo": {…}}``).
* ``net_retention_active``: the marker of the run in progress, written and removed again inside the
  run's one transaction (:meth:`juki.net.retention.NodeRetention.run`).
* ``net_retention_targets``: the ``net_history`` rows the run in progress deletes, written and removed
  in the same transaction (so nothing of a run's list outlives it; the run's audit entry names the
  persons).

``net_history`` is append-only (house rule 2); revision ``0011_net_retention`` narrows its DELETE guard:
a row may be deleted only while the marker of a logged run exists and that run's targets list the row.
Every other DELETE, every UPDATE and (on PostgreSQL) TRUNCATE is still refused with the same ``juki:
net_history is append-only`` error.  ``net_records`` (the current file) was never guarded: the applier
replaces and moves its rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.append_only import append_only_ddl, pg_guard_function
from juki.adapters.db.schema import Json, Serial, UTCDateTime

from .tables import metadata as net_metadata

metadata = sa.MetaData(naming_convention=net_metadata.naming_convention)

net_retention_runs = sa.Table(
    "net_retention_runs",
    metadata,
    sa.Column("run_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("run_on", sa.Date(), nullable=False),
    sa.Column("cutoff", sa.Date(), nullable=False),
    sa.Column("years", sa.Integer(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("history_rows", sa.Integer(), nullable=False),
    sa.Column("records", sa.Integer(), nullable=False),
    sa.Column("counts", Json(), nullable=False),
    sqlite_autoincrement=True,
)

net_retention_active = sa.Table(
    "net_retention_active",
    metadata,
    sa.Column("run_id", sa.BigInteger(), primary_key=True, autoincrement=False),
)

net_retention_targets = sa.Table(
    "net_retention_targets",
    metadata,
    sa.Column("run_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("history_id", sa.BigInteger(), primary_key=True, autoincrement=False),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)
INSERT_ONLY: tuple[str, ...] = ("net_retention_runs",)

_RUN_COVERS_OLD = (
    "EXISTS (SELECT 1 FROM net_retention_active a "
    "JOIN net_retention_runs r ON r.run_id = a.run_id "
    "JOIN net_retention_targets t ON t.run_id = a.run_id "
    "WHERE t.history_id = OLD.history_id)"
)

PG_GUARD_FUNCTION = pg_guard_function(
    "juki_net_history_guard", _RUN_COVERS_OLD,
    "a node never updates or deletes its history; only a retention run deletes what has expired (PRF-4)")


def net_retention_guard_ddl(dialect: str) -> list[str]:
    """Install the guards: the insert-only run log, and ``net_history``'s narrowed DELETE guard."""
    stmts = append_only_ddl(dialect, INSERT_ONLY)
    if dialect == "sqlite":
        stmts += [
            "DROP TRIGGER IF EXISTS net_history_no_delete",
            "CREATE TRIGGER net_history_no_delete BEFORE DELETE ON net_history "
            f"WHEN NOT {_RUN_COVERS_OLD} "
            "BEGIN SELECT RAISE(ABORT, 'juki: net_history is append-only'); END",
        ]
    elif dialect == "postgresql":
        stmts += [
            PG_GUARD_FUNCTION,
            "DROP TRIGGER IF EXISTS net_history_no_update_delete ON net_history",
            "CREATE TRIGGER net_history_no_update_delete BEFORE UPDATE OR DELETE ON net_history "
            "FOR EACH ROW EXECUTE FUNCTION juki_net_history_guard()",
        ]
    else:
        raise ValueError(f"no retention guards for dialect {dialect!r}")
    return stmts


def drop_net_retention_guard_ddl(dialect: str) -> list[str]:
    """Undo :func:`net_retention_guard_ddl`: ``net_history`` refuses every DELETE again (downgrade)."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS net_history_no_delete",
            "CREATE TRIGGER net_history_no_delete BEFORE DELETE ON net_history "
            "BEGIN SELECT RAISE(ABORT, 'juki: net_history is append-only'); END",
        ] + [f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in INSERT_ONLY for op in ("update", "delete")]
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS net_history_no_update_delete ON net_history",
            "CREATE TRIGGER net_history_no_update_delete BEFORE UPDATE OR DELETE ON net_history "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
            "DROP FUNCTION IF EXISTS juki_net_history_guard()",
        ] + [f"DROP TRIGGER IF EXISTS {t}_{s} ON {t}" for t in INSERT_ONLY for s in ("no_update_delete", "no_truncate")]
    raise ValueError(f"no retention guards for dialect {dialect!r}")
