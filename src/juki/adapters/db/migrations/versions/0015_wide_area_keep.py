"""広域交付 at the 住所地: keeping the send records (NET-11: 7 years; the answer itself a short time) and
NET-12's buffer intake: ``wide_area_sends.source``, the purge run log and marker, the buffer's intake
marks, and ``wide_area_sends``' guard narrowed to the purge run.

Revision ID: 0015_wide_area_keep
Revises: 0013_wide_area
Branch: widearea

Frozen copy of the additions to juki.net.wide_area_tables as of this revision
(tests/contract/test_wide_area_schema.py checks that migrating to the heads yields exactly those tables).
The guard statements come from ``wide_area_tables.wide_area_guard_ddl``; if that function changes,
freeze the old statements here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.schema import UTCDateTime
from juki.net.wide_area_tables import drop_wide_area_guard_ddl, wide_area_guard_ddl

revision = "0015_wide_area_keep"
down_revision = "0013_wide_area"
branch_labels = None
depends_on = None


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("wide_area_sends", sa.Column("source", sa.String(8), nullable=False, server_default="register"))
    op.create_table(
        "wide_area_purge_runs",
        sa.Column("run_id", _serial(), autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("answer_cutoff", UTCDateTime(), nullable=False),
        sa.Column("record_cutoff", UTCDateTime(), nullable=False),
        sa.Column("keep_days", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_wide_area_purge_runs"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "wide_area_purge_active",
        sa.Column("run_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("answer_cutoff", UTCDateTime(), nullable=False),
        sa.Column("record_cutoff", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_wide_area_purge_active"),
    )
    op.create_table(
        "wide_area_buffer_intake",
        sa.Column("buffer_id", sa.String(32), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("buffer_id", "event_seq", name="pk_wide_area_buffer_intake"),
    )
    for stmt in wide_area_guard_ddl(dialect):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_wide_area_guard_ddl(op.get_bind().dialect.name):
        op.execute(stmt)
    op.drop_table("wide_area_buffer_intake")
    op.drop_table("wide_area_purge_active")
    op.drop_table("wide_area_purge_runs")
    op.drop_column("wide_area_sends", "source")
