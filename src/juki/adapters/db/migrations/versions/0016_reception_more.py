"""総合窓口 (CTR-2), continued: reopening, 庁内連携 hand-offs and the retention purge of the reception tables.

Revision ID: 0016_reception_more
Revises: 0012_counter_intake
Branch: counter_intake

* ``reception_updates.action`` also takes ``reopen`` (a closed reception reopened, with its reason) and
  ``handoff`` (a step completed by another section's acknowledgement).  PostgreSQL replaces the CHECK
  constraint; SQLite cannot alter one, so the table is rebuilt (copy, drop, rename) and its indexes and
  guards are made again.
* ``reception_handoffs`` and ``reception_handoff_acks`` (insert-only).
* ``reception_purges``, ``reception_purge_items`` (insert-only) and ``reception_purge_active`` (the marker),
  and every 総合受付 table's DELETE guard narrowed to an approved purge that lists the row's reception.

Frozen copy of juki.adapters.db.reception_tables as of this revision (tests/contract/test_reception_schema.py
checks that migrating to the heads yields exactly those tables).  The guard statements come from
``reception_tables.reception_guard_ddl``; if that function changes, freeze the old statements here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl
from juki.adapters.db.reception_tables import drop_reception_guard_ddl, reception_guard_ddl

revision = "0016_reception_more"
down_revision = "0012_counter_intake"
branch_labels = None
depends_on = None

OLD_TABLES = ("receptions", "reception_persons", "reception_steps", "reception_updates")
RECORD_TABLES = (*OLD_TABLES, "reception_handoffs", "reception_handoff_acks")
PURGE_LOG = ("reception_purges", "reception_purge_items")
OLD_ACTIONS = "action IN ('open', 'status', 'request', 'certificate', 'add_step', 'close')"
NEW_ACTIONS = "action IN ('open', 'status', 'request', 'certificate', 'add_step', 'close', 'reopen', 'handoff')"
USER = sa.String(64)


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _updates_columns(actions: str) -> list[Any]:
    return [
        sa.Column("reception_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("revision", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("step_no", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("request_id", _serial(), nullable=True),
        sa.Column("certificate_id", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("by_user", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("reception_id", "revision", name="pk_reception_updates"),
        sa.ForeignKeyConstraint(["reception_id"], ["receptions.reception_id"],
                                name="fk_reception_updates_reception_id_receptions"),
        sa.CheckConstraint(actions, name=op.f("ck_reception_updates_action")),
        sa.CheckConstraint("status IS NULL OR status IN ('not_started', 'in_progress', 'done', 'not_needed')",
                           name=op.f("ck_reception_updates_status")),
        sa.CheckConstraint("revision > 0", name=op.f("ck_reception_updates_revision")),
    ]


def _actions(actions: str) -> None:
    """Replace ``reception_updates``' CHECK on ``action``; on SQLite by rebuilding the table (its guards
    go with the old table and are made again by the caller)."""
    if op.get_bind().dialect.name == "postgresql":
        # 0012 named it through the naming convention (doubled prefix); either name is dropped
        for name in ("ck_reception_updates_ck_reception_updates_action", "ck_reception_updates_action"):
            op.execute(f"ALTER TABLE reception_updates DROP CONSTRAINT IF EXISTS {name}")
        op.execute(f"ALTER TABLE reception_updates ADD CONSTRAINT ck_reception_updates_action CHECK ({actions})")
        return
    op.create_table("reception_updates_rebuilt", *_updates_columns(actions))
    op.execute("INSERT INTO reception_updates_rebuilt SELECT reception_id, revision, action, step_no, status, "
               "request_id, certificate_id, note, by_user, terminal, at FROM reception_updates")
    op.drop_table("reception_updates")  # with its indexes and triggers (SQLite's DROP fires no trigger)
    op.rename_table("reception_updates_rebuilt", "reception_updates")
    op.create_index("ix_reception_updates_request_id", "reception_updates", ["request_id"])
    op.create_index("ix_reception_updates_certificate_id", "reception_updates", ["certificate_id"])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _actions(NEW_ACTIONS)
    op.create_table(
        "reception_handoffs",
        sa.Column("handoff_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("reception_id", _serial(), nullable=False),
        sa.Column("step_no", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(64), nullable=False),
        sa.Column("procedure", sa.String(40), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("handoff_id", name="pk_reception_handoffs"),
        sa.ForeignKeyConstraint(["reception_id"], ["receptions.reception_id"],
                                name="fk_reception_handoffs_reception_id_receptions"),
        sa.UniqueConstraint("reception_id", "step_no", name="uq_reception_handoffs_reception_id_step_no"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_reception_handoffs_section_handoff_id", "reception_handoffs", ["section", "handoff_id"])
    op.create_table(
        "reception_handoff_acks",
        sa.Column("handoff_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("reception_id", _serial(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("by_user", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("handoff_id", name="pk_reception_handoff_acks"),
        sa.ForeignKeyConstraint(["handoff_id"], ["reception_handoffs.handoff_id"],
                                name="fk_reception_handoff_acks_handoff_id_reception_handoffs"),
    )
    op.create_table(
        "reception_purges",
        sa.Column("id", _serial(), nullable=False, autoincrement=True),
        sa.Column("request_id", _serial(), nullable=True),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("reception_count", sa.Integer(), nullable=False),
        sa.Column("actor", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_reception_purges"),
        sa.CheckConstraint("step IN ('request', 'approve', 'execute')", name=op.f("ck_reception_purges_step")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_reception_purges_request_id", "reception_purges", ["request_id"])
    op.create_table(
        "reception_purge_items",
        sa.Column("request_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("reception_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "reception_id", name="pk_reception_purge_items"),
    )
    op.create_table(
        "reception_purge_active",
        sa.Column("request_id", _serial(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_reception_purge_active"),
    )
    for stmt in reception_guard_ddl(dialect, RECORD_TABLES):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in drop_append_only_ddl(dialect, ("reception_handoffs", "reception_handoff_acks", *PURGE_LOG)):
        if not stmt.startswith("DROP FUNCTION"):  # juki_refuse_change() stays: the register's tables use it
            op.execute(stmt)
    for stmt in drop_reception_guard_ddl(dialect, OLD_TABLES):  # after the new tables' triggers: the function goes
        op.execute(stmt)
    for table in ("reception_purge_active", "reception_purge_items", "reception_purges", "reception_handoff_acks",
                  "reception_handoffs"):
        op.drop_table(table)
    _actions(OLD_ACTIONS)
    if dialect == "sqlite":  # the rebuilt table's guards (on PostgreSQL they stayed with the table)
        for stmt in append_only_ddl(dialect, ("reception_updates",)):
            op.execute(stmt)
