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

Revision ``0014_net_transport`` (the transport copies, :mod:`juki.domain.transport_retention`) adds to the
run log ``outbound_through`` (the highest seq of the outgoing stream the run may redact) and
``transport`` (what it redacted per table, the keeping period, and the acknowledgements it saw), and
narrows two guards to the redaction, nothing more:

* ``net_outbound`` (insert-only): an UPDATE is let through only while the marker of a logged run exists,
  of a row at or below that run's ``outbound_through``, that keeps seq, origin, 更新順番号, file and
  creation time, sets the sealed 個人番号 and its key id to NULL and leaves a payload of the redacted form
  (``{"redacted": {...}}``, optionally the two 住民票コード of a code change, no other key).  DELETE and
  TRUNCATE stay refused (``juki: net_outbound is append-only``).
* ``net_inbox`` (updated by the applier: status, decided_at) gets a guard it did not have: its key,
  origin, file, time of receipt, payload and sealed 個人番号 cannot change at all, except the same
  redaction of a row that is not ``pending`` (status unchanged) while a run's marker exists
  (``juki: net_inbox keeps the notices it received``).
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
    sa.Column("outbound_through", sa.BigInteger(), nullable=True),  # 0014_net_transport
    sa.Column("transport", Json(), nullable=True),  # 0014_net_transport
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


# --- 0014_net_transport: the transport copies' redaction (PRF-4) --------------------------------------

_RUN_ACTIVE = ("EXISTS (SELECT 1 FROM net_retention_active a JOIN net_retention_runs r ON r.run_id = a.run_id{where})")
_KEPT = ", ".join(f"'{k}'" for k in ("redacted", "juminhyo_code", "old_juminhyo_code"))


def _redacted_form(dialect: str) -> str:
    """SQL: ``NEW`` is a redacted row -- no sealed 個人番号, a payload ``{"redacted": {...}}`` with at most
    the two 住民票コード beside it."""
    if dialect == "sqlite":
        payload = ("json_type(NEW.payload, '$.redacted') IS 'object' AND NOT EXISTS "
                   f"(SELECT 1 FROM json_each(NEW.payload) WHERE key NOT IN ({_KEPT}))")
    else:
        payload = ("jsonb_typeof(NEW.payload -> 'redacted') IS NOT DISTINCT FROM 'object' AND "
                   "(NEW.payload - 'redacted' - 'juminhyo_code' - 'old_juminhyo_code') = '{}'::jsonb")
    return f"NEW.number_ciphertext IS NULL AND NEW.number_key_id IS NULL AND {payload}"


def _never_null(condition: str, dialect: str) -> str:
    """``condition`` with NULL read as false: a trigger's ``WHEN NOT (NULL)`` would let the change through."""
    return f"COALESCE({condition}, {'0' if dialect == 'sqlite' else 'FALSE'})"


def _same(columns: tuple[str, ...], dialect: str) -> str:
    op = "IS" if dialect == "sqlite" else "IS NOT DISTINCT FROM"
    return " AND ".join(f"NEW.{c} {op} OLD.{c}" for c in columns)


_OUTBOUND_KEYS = ("seq", "origin", "origin_seq", "file", "created_at")
_INBOX_KEYS = ("source", "source_seq", "origin", "origin_seq", "file", "received_at", "status", "decided_at")
_INBOX_CONTENT = ("payload", "number_ciphertext", "number_key_id")
_INBOX_COLUMNS = ", ".join(_INBOX_KEYS[:6] + _INBOX_CONTENT)  # the columns status updates never set


def outbound_redaction_allowed(dialect: str) -> str:
    """SQL over OLD/NEW: the one UPDATE of ``net_outbound`` a retention run makes."""
    run = _RUN_ACTIVE.format(where=" WHERE OLD.seq <= r.outbound_through")
    return _never_null(f"({run} AND {_same(_OUTBOUND_KEYS, dialect)} AND {_redacted_form(dialect)})", dialect)


def inbox_change_allowed(dialect: str) -> str:
    """SQL over OLD/NEW: an UPDATE of ``net_inbox`` touching its key or content either leaves them as they
    were, or is a retention run's redaction of a decided row."""
    run = _RUN_ACTIVE.format(where="")
    redaction = f"{run} AND OLD.status <> 'pending' AND {_same(_INBOX_KEYS, dialect)} AND {_redacted_form(dialect)}"
    return _never_null(f"(({_same(_INBOX_KEYS + _INBOX_CONTENT, dialect)}) OR ({redaction}))", dialect)


INBOX_MESSAGE = "juki: net_inbox keeps the notices it received"
PG_OUTBOUND_GUARD = pg_guard_function(
    "juki_net_outbound_guard", outbound_redaction_allowed("postgresql"),
    "a node never changes its outgoing stream; only a retention run redacts an acknowledged entry (PRF-4)",
    operation="UPDATE")
PG_INBOX_GUARD = pg_guard_function(
    "juki_net_inbox_guard", inbox_change_allowed("postgresql"),
    "only the status of a received notice changes; only a retention run redacts a decided one (PRF-4)",
    INBOX_MESSAGE.replace("net_inbox", "%"), operation="UPDATE")


def net_transport_guard_ddl(dialect: str) -> list[str]:
    """Install the transport guards of ``0014_net_transport`` (see the module docstring)."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS net_outbound_no_update",
            "CREATE TRIGGER net_outbound_no_update BEFORE UPDATE ON net_outbound "
            f"WHEN NOT {outbound_redaction_allowed(dialect)} "
            "BEGIN SELECT RAISE(ABORT, 'juki: net_outbound is append-only'); END",
            "DROP TRIGGER IF EXISTS net_inbox_content",
            f"CREATE TRIGGER net_inbox_content BEFORE UPDATE OF {_INBOX_COLUMNS} ON net_inbox "
            f"WHEN NOT {inbox_change_allowed(dialect)} "
            f"BEGIN SELECT RAISE(ABORT, '{INBOX_MESSAGE}'); END",
        ]
    if dialect == "postgresql":
        return [
            PG_OUTBOUND_GUARD,
            "DROP TRIGGER IF EXISTS net_outbound_no_update_delete ON net_outbound",
            "CREATE TRIGGER net_outbound_no_update_delete BEFORE UPDATE OR DELETE ON net_outbound "
            "FOR EACH ROW EXECUTE FUNCTION juki_net_outbound_guard()",
            PG_INBOX_GUARD,
            "DROP TRIGGER IF EXISTS net_inbox_content ON net_inbox",
            f"CREATE TRIGGER net_inbox_content BEFORE UPDATE OF {_INBOX_COLUMNS} ON net_inbox "
            "FOR EACH ROW EXECUTE FUNCTION juki_net_inbox_guard()",
        ]
    raise ValueError(f"no transport guards for dialect {dialect!r}")


def drop_net_transport_guard_ddl(dialect: str) -> list[str]:
    """Undo :func:`net_transport_guard_ddl`: ``net_outbound`` refuses every UPDATE again, the inbox is
    unguarded as before (downgrade)."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS net_inbox_content",
            "DROP TRIGGER IF EXISTS net_outbound_no_update",
            "CREATE TRIGGER net_outbound_no_update BEFORE UPDATE ON net_outbound "
            "BEGIN SELECT RAISE(ABORT, 'juki: net_outbound is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS net_inbox_content ON net_inbox",
            "DROP FUNCTION IF EXISTS juki_net_inbox_guard()",
            "DROP TRIGGER IF EXISTS net_outbound_no_update_delete ON net_outbound",
            "CREATE TRIGGER net_outbound_no_update_delete BEFORE UPDATE OR DELETE ON net_outbound "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
            "DROP FUNCTION IF EXISTS juki_net_outbound_guard()",
        ]
    raise ValueError(f"no transport guards for dialect {dialect!r}")
