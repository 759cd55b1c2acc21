"""Access control: staff accounts, terminals, sessions, rights with approvals and revocations, DV 支援措置.

Revision ID: 0003_access
Revises: 0001
Branch: access

Frozen copy of juki.access.tables as of this revision (tests/contract/test_access_schema.py checks
that migrating to the heads yields exactly those tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.access.tables import drop_no_delete_ddl, no_delete_ddl
from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0003_access"
down_revision = "0001"
branch_labels = ("access",)
depends_on = None

APPEND_ONLY = ("rights", "right_approvals", "right_revocations", "support_measures", "support_measure_ends")
NO_DELETE = ("staff", "terminals", "sessions")


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


USER = sa.String(64)
SECTION = sa.String(64)
ID = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("user_id", USER, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("section", SECTION, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("password_changed_at", _ts(), nullable=False),
        sa.Column("password_expires_at", _ts(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_reason", sa.Text(), nullable=True),
        sa.Column("locked_at", _ts(), nullable=True),
        sa.Column("totp_secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("totp_key_id", sa.String(32), nullable=False),
        sa.Column("last_totp_step", sa.BigInteger(), nullable=True),
        sa.Column("last_login_at", _ts(), nullable=True),
        sa.Column("created_by", USER, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("disabled_by", USER, nullable=True),
        sa.Column("disabled_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff"),
        sa.CheckConstraint("kind IN ('staff', 'contractor')", name="ck_staff_kind"),
        sa.CheckConstraint("status IN ('active', 'disabled', 'locked')", name="ck_staff_status"),
    )
    op.create_table(
        "terminals",
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("section", SECTION, nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("registered_by", USER, nullable=False),
        sa.Column("registered_at", _ts(), nullable=False),
        sa.Column("revoked_by", USER, nullable=True),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("terminal_id", name="pk_terminals"),
    )
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_seen_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["staff.user_id"], name="fk_sessions_user_id_staff"),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.terminal_id"], name="fk_sessions_terminal_id_terminals"
        ),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "rights",
        sa.Column("grant_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("section", SECTION, nullable=False),
        sa.Column("requested_by", USER, nullable=False),
        sa.Column("requested_at", _ts(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("grant_id", name="pk_rights"),
        sa.ForeignKeyConstraint(["user_id"], ["staff.user_id"], name="fk_rights_user_id_staff"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rights_user_id", "rights", ["user_id"])
    op.create_table(
        "right_approvals",
        sa.Column("grant_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("approved_by", USER, nullable=False),
        sa.Column("approved_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", name="pk_right_approvals"),
        sa.ForeignKeyConstraint(["grant_id"], ["rights.grant_id"], name="fk_right_approvals_grant_id_rights"),
    )
    op.create_table(
        "right_revocations",
        sa.Column("grant_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("revoked_by", USER, nullable=False),
        sa.Column("revoked_at", _ts(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("grant_id", name="pk_right_revocations"),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["rights.grant_id"], name="fk_right_revocations_grant_id_rights"
        ),
    )
    op.create_table(
        "support_measures",
        sa.Column("measure_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("offender_name", sa.Text(), nullable=False),
        sa.Column("offender_name_kana", sa.Text(), nullable=True),
        sa.Column("offender_birth_date", sa.Date(), nullable=True),
        sa.Column("offender_person_id", ID, nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("case_ref", sa.String(64), nullable=False, server_default=""),
        sa.Column("registered_by", USER, nullable=False),
        sa.Column("approved_by", USER, nullable=False),
        sa.Column("registered_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("measure_id", name="pk_support_measures"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_support_measures_person_id", "support_measures", ["person_id"])
    op.create_index("ix_support_measures_offender_person_id", "support_measures", ["offender_person_id"])
    op.create_table(
        "support_measure_ends",
        sa.Column("measure_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("ended_by", USER, nullable=False),
        sa.Column("ended_at", _ts(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("measure_id", name="pk_support_measure_ends"),
        sa.ForeignKeyConstraint(
            ["measure_id"],
            ["support_measures.measure_id"],
            name="fk_support_measure_ends_measure_id_support_measures",
        ),
    )
    dialect = op.get_bind().dialect.name
    for stmt in append_only_ddl(dialect, APPEND_ONLY):
        op.execute(stmt)
    for stmt in no_delete_ddl(dialect, NO_DELETE):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Keep juki_refuse_change(): the register's own tables (0001) still use it.
    for stmt in drop_append_only_ddl(dialect, APPEND_ONLY):
        if not stmt.startswith("DROP FUNCTION"):
            op.execute(stmt)
    for stmt in drop_no_delete_ddl(dialect, NO_DELETE):
        op.execute(stmt)
    for table in (
        "support_measure_ends",
        "support_measures",
        "right_revocations",
        "right_approvals",
        "rights",
        "sessions",
        "terminals",
        "staff",
    ):
        op.drop_table(table)
