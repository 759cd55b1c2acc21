"""The register's retention purge (REG-R5): purge steps, the approved list, the active marker, and
``person_versions``' DELETE guard narrowed to approved purges.

Revision ID: 0010_retention
Revises: 0001
Branch: retention

Frozen copy of juki.adapters.db.retention_tables as of this revision (tests/contract/test_store_schema.py
checks that migrating to the heads yields exactly those tables).  The guard statements come from
``retention_tables.retention_guard_ddl``; if that function changes, freeze the old statements here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.retention_tables import drop_retention_guard_ddl, retention_guard_ddl
from juki.adapters.db.schema import ID, UTCDateTime

revision = "0010_retention"
down_revision = "0001"
branch_labels = ("retention",)
depends_on = None

USER = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "register_purges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("person_count", sa.Integer(), nullable=False),
        sa.Column("version_count", sa.Integer(), nullable=False),
        sa.Column("actor", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.CheckConstraint("step IN ('request', 'approve', 'execute')", name="ck_register_purges_step"),
        sa.PrimaryKeyConstraint("id", name="pk_register_purges"),
    )
    op.create_index("ix_register_purges_request_id", "register_purges", ["request_id"])
    op.create_table(
        "register_purge_items",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("upto_version", sa.Integer(), nullable=False),
        sa.Column("whole", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "person_id", name="pk_register_purge_items"),
    )
    op.create_table(
        "register_purge_active",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_register_purge_active"),
    )
    for stmt in retention_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_retention_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)
    op.drop_table("register_purge_active")
    op.drop_table("register_purge_items")
    op.drop_index("ix_register_purges_request_id", table_name="register_purges")
    op.drop_table("register_purges")
