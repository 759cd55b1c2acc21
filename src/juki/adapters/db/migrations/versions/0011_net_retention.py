"""Retention at the prefecture and national servers (PRF-4): the run log, the run marker and its
targets, an index on ``net_history.recorded_at``, and ``net_history``'s DELETE guard narrowed to the
rows a logged run in progress lists.

Revision ID: 0011_net_retention
Revises: 0005_net
Branch: net

Frozen copy of juki.net.retention_tables as of this revision (tests/contract/test_net_retention.py and
tests/contract/test_store_schema.py check that migrating to the heads yields exactly those tables), and
of the index added to juki.net.tables.  The guard statements come from
``retention_tables.net_retention_guard_ddl``; if that function changes, freeze the old statements here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from juki.net.retention_tables import drop_net_retention_guard_ddl, net_retention_guard_ddl

revision = "0011_net_retention"
down_revision = "0005_net"
branch_labels = None
depends_on = None


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_index("ix_net_history_recorded_at", "net_history", ["recorded_at"])
    op.create_table(
        "net_retention_runs",
        sa.Column("run_id", _serial(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_on", sa.Date(), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("history_rows", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("counts", _json(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_net_retention_runs"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "net_retention_active",
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_net_retention_active"),
    )
    op.create_table(
        "net_retention_targets",
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("history_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "history_id", name="pk_net_retention_targets"),
    )
    for stmt in net_retention_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_net_retention_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)
    op.drop_table("net_retention_targets")
    op.drop_table("net_retention_active")
    op.drop_table("net_retention_runs")
    op.drop_index("ix_net_history_recorded_at", table_name="net_history")
