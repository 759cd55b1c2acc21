"""The counter (窓口): intakes, the 引越しワンストップ queue (online applications and their steps), screen locks.

Revision ID: 0007_web
Revises: 0001
Branch: web

Frozen copy of juki.adapters.db.counter as of this revision (tests/contract/test_web_schema.py checks that
migrating to the heads yields exactly those tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0007_web"
down_revision = "0001"
branch_labels = ("web",)
depends_on = None

TABLES = ("counter_intakes", "online_applications", "online_application_steps", "screen_locks")


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


USER = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "counter_intakes",
        sa.Column("request_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("filed_by", sa.String(16), nullable=False),
        sa.Column("identity_documents", sa.Text(), nullable=False),
        sa.Column("agent_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("agent_address", sa.Text(), nullable=False, server_default=""),
        sa.Column("power_of_attorney", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("recorded_by", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_counter_intakes"),
        sa.CheckConstraint("filed_by IN ('self', 'household', 'agent')", name="ck_counter_intakes_filed_by"),
    )
    op.create_table(
        "online_applications",
        sa.Column("application_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("applicant_name", sa.Text(), nullable=False),
        sa.Column("applicant_kana", sa.Text(), nullable=False),
        sa.Column("applicant_birth_date", sa.Date(), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_by", USER, nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name="pk_online_applications"),
        sa.UniqueConstraint("reference", name="uq_online_applications_reference"),
        sa.CheckConstraint("kind IN ('move_out', 'move_in_reservation', 'move_within_reservation')",
                           name="ck_online_applications_kind"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "online_application_steps",
        sa.Column("step_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("application_id", _serial(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_id", _serial(), nullable=True),
        sa.Column("person_id", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("by_user", USER, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("step_id", name="pk_online_application_steps"),
        sa.ForeignKeyConstraint(["application_id"], ["online_applications.application_id"],
                                name="fk_online_application_steps_application_id_online_applications"),
        sa.CheckConstraint("status IN ('received', 'in_progress', 'completed', 'withdrawn', 'refused')",
                           name="ck_online_application_steps_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_online_application_steps_application_id", "online_application_steps", ["application_id"])
    op.create_table(
        "screen_locks",
        sa.Column("lock_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("lock_id", name="pk_screen_locks"),
        sa.CheckConstraint("action IN ('lock', 'unlock')", name="ck_screen_locks_action"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_screen_locks_session_id", "screen_locks", ["session_id"])
    for stmt in append_only_ddl(op.get_bind().dialect.name, TABLES):
        op.execute(stmt)


def downgrade() -> None:
    # Keep juki_refuse_change(): the register's own tables (0001) still use it.
    for stmt in drop_append_only_ddl(op.get_bind().dialect.name, TABLES):
        if not stmt.startswith("DROP FUNCTION"):
            op.execute(stmt)
    for table in reversed(TABLES):
        op.drop_table(table)
