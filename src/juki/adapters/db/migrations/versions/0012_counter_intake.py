"""総合窓口 (CTR-2): receptions per life event, their persons, steps and history (all insert-only).

Revision ID: 0012_counter_intake
Revises: 0001
Branch: counter_intake

Frozen copy of juki.adapters.db.reception_tables as of this revision (tests/contract/test_reception_schema.py
checks that migrating to the heads yields exactly those tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0012_counter_intake"
down_revision = "0001"
branch_labels = ("counter_intake",)
depends_on = None

TABLES = ("receptions", "reception_persons", "reception_steps", "reception_updates")


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


USER = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "receptions",
        sa.Column("reception_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("reception_date", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("filed_by", sa.String(16), nullable=False),
        sa.Column("visitor_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("opened_by", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("reception_id", name="pk_receptions"),
        sa.UniqueConstraint("reception_date", "number", name="uq_receptions_reception_date_number"),
        sa.CheckConstraint("filed_by IN ('self', 'household', 'agent')", name="ck_receptions_filed_by"),
        sa.CheckConstraint("number > 0", name="ck_receptions_number"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "reception_persons",
        sa.Column("reception_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("person_id", sa.String(16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("reception_id", "position", name="pk_reception_persons"),
        sa.ForeignKeyConstraint(["reception_id"], ["receptions.reception_id"],
                                name="fk_reception_persons_reception_id_receptions"),
        sa.CheckConstraint("person_id IS NOT NULL OR name <> ''", name="ck_reception_persons_who"),
    )
    op.create_index("ix_reception_persons_person_id", "reception_persons", ["person_id"])
    op.create_table(
        "reception_steps",
        sa.Column("reception_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("step_no", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("procedure", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("reception_id", "step_no", name="pk_reception_steps"),
        sa.ForeignKeyConstraint(["reception_id"], ["receptions.reception_id"],
                                name="fk_reception_steps_reception_id_receptions"),
    )
    op.create_table(
        "reception_updates",
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
        sa.CheckConstraint("action IN ('open', 'status', 'request', 'certificate', 'add_step', 'close')",
                           name="ck_reception_updates_action"),
        sa.CheckConstraint("status IS NULL OR status IN ('not_started', 'in_progress', 'done', 'not_needed')",
                           name="ck_reception_updates_status"),
        sa.CheckConstraint("revision > 0", name="ck_reception_updates_revision"),
    )
    op.create_index("ix_reception_updates_request_id", "reception_updates", ["request_id"])
    op.create_index("ix_reception_updates_certificate_id", "reception_updates", ["certificate_id"])
    for stmt in append_only_ddl(op.get_bind().dialect.name, TABLES):
        op.execute(stmt)


def downgrade() -> None:
    # Keep juki_refuse_change(): the register's own tables (0001) still use it.
    for stmt in drop_append_only_ddl(op.get_bind().dialect.name, TABLES):
        if not stmt.startswith("DROP FUNCTION"):
            op.execute(stmt)
    for table in reversed(TABLES):
        op.drop_table(table)
