"""Tables and database guards of the register's retention purge (REG-R5, 保存期間経過後の消去).

* ``register_purges`` (insert-only): one row per step of a purge: ``request`` (the cutoff and counts),
  ``approve`` (by another person) and ``execute`` (what was deleted).  Steps name their request in
  ``request_id``; the request row's own ``request_id`` is NULL.
* ``register_purge_items`` (insert-only): the list the approver approved: per person, the versions up to
  ``upto_version`` and, if ``whole``, the current row (the 除票) as well.
* ``register_purge_active``: a marker that :func:`juki.services.retention.RegisterRetention.execute`
  writes and removes again inside its one transaction.

``person_versions`` is append-only (house rule 2); the migration of this branch narrows its DELETE
guard: a row may be deleted only while a marker names an *approved* request whose list covers that
person and version.  Every other DELETE, and every UPDATE and TRUNCATE, is still refused with the same
``juki: person_versions is append-only`` error.  Revision ``0010_retention`` creates this (frozen copy
there; the schema contract test compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa

from .append_only import append_only_ddl, pg_guard_function
from .schema import ID, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)
USER = sa.String(64)

register_purges = sa.Table(
    "register_purges",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer(), nullable=True),
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("cutoff", sa.Date(), nullable=False),
    sa.Column("person_count", sa.Integer(), nullable=False),
    sa.Column("version_count", sa.Integer(), nullable=False),
    sa.Column("actor", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.CheckConstraint("step IN ('request', 'approve', 'execute')", name="step"),
    sa.Index("ix_register_purges_request_id", "request_id"),
)

register_purge_items = sa.Table(
    "register_purge_items",
    metadata,
    sa.Column("request_id", sa.Integer(), primary_key=True),
    sa.Column("person_id", ID, primary_key=True),
    sa.Column("upto_version", sa.Integer(), nullable=False),
    sa.Column("whole", sa.Boolean(), nullable=False),
)

register_purge_active = sa.Table(
    "register_purge_active",
    metadata,
    sa.Column("request_id", sa.Integer(), primary_key=True),
)

TABLES: tuple[str, ...] = ("register_purges", "register_purge_items", "register_purge_active")
INSERT_ONLY: tuple[str, ...] = ("register_purges", "register_purge_items")

_APPROVED_PURGE_COVERS_OLD = (
    "EXISTS (SELECT 1 FROM register_purge_active a "
    "JOIN register_purges p ON p.request_id = a.request_id AND p.step = 'approve' "
    "JOIN register_purge_items i ON i.request_id = a.request_id "
    "WHERE i.person_id = OLD.person_id AND OLD.version_no <= i.upto_version)"
)

PG_GUARD_FUNCTION = pg_guard_function(
    "juki_person_versions_guard", _APPROVED_PURGE_COVERS_OLD,
    "the register never updates or deletes recorded rows; only an approved retention purge deletes")


def retention_guard_ddl(dialect: str) -> list[str]:
    """Install the guards: insert-only purge tables, and ``person_versions``' narrowed DELETE guard."""
    stmts = append_only_ddl(dialect, INSERT_ONLY)
    if dialect == "sqlite":
        stmts += [
            "DROP TRIGGER IF EXISTS person_versions_no_delete",
            "CREATE TRIGGER person_versions_no_delete BEFORE DELETE ON person_versions "
            f"WHEN NOT {_APPROVED_PURGE_COVERS_OLD} "
            "BEGIN SELECT RAISE(ABORT, 'juki: person_versions is append-only'); END",
        ]
    elif dialect == "postgresql":
        stmts += [
            PG_GUARD_FUNCTION,
            "DROP TRIGGER IF EXISTS person_versions_no_update_delete ON person_versions",
            "CREATE TRIGGER person_versions_no_update_delete BEFORE UPDATE OR DELETE ON person_versions "
            "FOR EACH ROW EXECUTE FUNCTION juki_person_versions_guard()",
        ]
    else:
        raise ValueError(f"no retention guards for dialect {dialect!r}")
    return stmts


def drop_retention_guard_ddl(dialect: str) -> list[str]:
    """Undo :func:`retention_guard_ddl`: ``person_versions`` refuses every DELETE again (downgrade)."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS person_versions_no_delete",
            "CREATE TRIGGER person_versions_no_delete BEFORE DELETE ON person_versions "
            "BEGIN SELECT RAISE(ABORT, 'juki: person_versions is append-only'); END",
        ] + [f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in INSERT_ONLY for op in ("update", "delete")]
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS person_versions_no_update_delete ON person_versions",
            "CREATE TRIGGER person_versions_no_update_delete BEFORE UPDATE OR DELETE ON person_versions "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
            "DROP FUNCTION IF EXISTS juki_person_versions_guard()",
        ] + [f"DROP TRIGGER IF EXISTS {t}_{s} ON {t}" for t in INSERT_ONLY for s in ("no_update_delete", "no_truncate")]
    raise ValueError(f"no retention guards for dialect {dialect!r}")
