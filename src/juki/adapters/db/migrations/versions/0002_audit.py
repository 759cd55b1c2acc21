"""Audit log (SEC-3, SEC-7, NET-11): hash-chained insert-only entries, their subject index, the head,
alerts, exported anchors, retention purges; and the database guards.

Revision ID: 0002_audit
Revises: 0001
Branch: audit

Frozen copy of juki.audit.schema as of this revision (tests/contract/test_audit_log.py checks that
migrating yields exactly those tables).  The guards come from juki.audit.ddl.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.audit.ddl import audit_guard_ddl, drop_audit_guard_ddl

revision = "0002_audit"
down_revision = "0001"
branch_labels = ("audit",)
depends_on = None

GENESIS_HASH = "0" * 64


def _big() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


USER = sa.String(64)
ID = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", _big(), autoincrement=False, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("subject_ids", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
        sa.CheckConstraint("outcome IN ('allowed', 'denied')", name="ck_audit_entries_outcome"),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"])
    op.create_index("ix_audit_entries_user_id_at", "audit_entries", ["user_id", "at"])
    op.create_index("ix_audit_entries_session_id", "audit_entries", ["session_id"])

    op.create_table(
        "audit_subjects",
        sa.Column("seq", _big(), autoincrement=False, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("is_read", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "person_id", name="pk_audit_subjects"),
    )
    op.create_index("ix_audit_subjects_person_id_seq", "audit_subjects", ["person_id", "seq"])
    op.create_index("ix_audit_subjects_user_id_at", "audit_subjects", ["user_id", "at"])

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", _big(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}])

    op.create_table(
        "audit_alerts",
        sa.Column("alert_id", _big(), autoincrement=True, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("seq", _big(), nullable=False),
        sa.Column("window_start", _ts(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_audit_alerts"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_alerts_user_id_at", "audit_alerts", ["user_id", "at"])
    op.create_index("ix_audit_alerts_at", "audit_alerts", ["at"])

    op.create_table(
        "audit_anchors",
        sa.Column("anchor_id", _big(), autoincrement=True, nullable=False),
        sa.Column("seq", _big(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("anchor_id", name="pk_audit_anchors"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "audit_purges",
        sa.Column("id", _big(), autoincrement=True, nullable=False),
        sa.Column("request_id", _big(), nullable=True),
        sa.Column("step", sa.String(10), nullable=False),
        sa.Column("before_at", _ts(), nullable=False),
        sa.Column("upto_seq", _big(), nullable=False),
        sa.Column("upto_hash", sa.String(64), nullable=True),
        sa.Column("entry_count", _big(), nullable=False),
        sa.Column("actor", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_audit_purges"),
        sa.ForeignKeyConstraint(["request_id"], ["audit_purges.id"], name="fk_audit_purges_request_id_audit_purges"),
        sa.CheckConstraint("step IN ('request', 'approve', 'execute')", name="ck_audit_purges_step"),
        sa.UniqueConstraint("request_id", "step", name="uq_audit_purges_request_id_step"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "audit_purge_active",
        sa.Column("request_id", _big(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_audit_purge_active"),
    )

    for stmt in audit_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_audit_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)
    for t in ("audit_purge_active", "audit_purges", "audit_anchors", "audit_alerts", "audit_head",
              "audit_subjects", "audit_entries"):
        op.drop_table(t)
