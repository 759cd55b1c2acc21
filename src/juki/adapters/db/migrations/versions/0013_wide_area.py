"""広域交付 at the 住所地 (住基法12条の4): the insert-only record of each 広域交付住民票情報 sent.

Revision ID: 0013_wide_area
Revises: 0001
Branch: widearea

Frozen copy of juki.net.wide_area_tables as of this revision (tests/contract/test_wide_area_schema.py
checks that migrating to the heads yields exactly that table, and that the database refuses UPDATE,
DELETE and TRUNCATE on it).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0013_wide_area"
down_revision = "0001"
branch_labels = ("widearea",)
depends_on = None

APPEND_ONLY = ("wide_area_sends",)


def _json() -> sa.types.TypeEngine[Any]:
    from sqlalchemy.dialects import postgresql

    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "wide_area_sends",
        sa.Column("answer_ref", sa.String(12), nullable=False),
        sa.Column("issuing_lg_code", sa.String(6), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("person_ids", _json(), nullable=False),
        sa.Column("requester", _json(), nullable=False),
        sa.Column("whole_household", sa.Boolean(), nullable=False),
        sa.Column("items", _json(), nullable=False),
        sa.Column("answer_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("answer_sha256", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("answer_ref", name="pk_wide_area_sends"),
        sa.UniqueConstraint("issuing_lg_code", "request_id", name="uq_wide_area_sends_issuing_lg_code_request_id"),
    )
    op.create_index("ix_wide_area_sends_sent_at", "wide_area_sends", ["sent_at"])
    for stmt in append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        if not stmt.startswith("DROP FUNCTION"):  # the register's own tables (0001) still use it
            op.execute(stmt)
    op.drop_index("ix_wide_area_sends_sent_at", table_name="wide_area_sends")
    op.drop_table("wide_area_sends")
