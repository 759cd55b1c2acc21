"""The stored copies of certificates are deleted a week after they were stored, by a logged purge: the
purge log and its marker, and ``certificate_copies``' DELETE guard narrowed to a purge's cutoff (SEC-8).

Revision ID: 0018_cert_copy_purge
Revises: 0017_mail_requests
Branch: certificates

Frozen copy of ``certificate_copy_purges`` and ``certificate_copy_purge_active`` in juki.issuance.tables
as of this revision (tests/contract/test_issuance_schema.py compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl
from juki.issuance.tables import copy_purge_guard_ddl, drop_copy_purge_guard_ddl

revision = "0018_cert_copy_purge"
down_revision = "0017_mail_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_copy_purges",
        sa.Column("purge_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("purge_id", name="pk_certificate_copy_purges"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "certificate_copy_purge_active",
        sa.Column("purge_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("purge_id", name="pk_certificate_copy_purge_active"),
    )
    op.create_index("ix_certificate_copies_stored_at", "certificate_copies", ["stored_at"])
    dialect = op.get_bind().dialect.name
    for stmt in append_only_ddl(dialect, ("certificate_copy_purges",)) + copy_purge_guard_ddl(dialect):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in drop_copy_purge_guard_ddl(dialect) + drop_append_only_ddl(dialect, ("certificate_copy_purges",)):
        if not stmt.startswith("DROP FUNCTION IF EXISTS juki_refuse_change"):  # other tables still use it
            op.execute(stmt)
    op.drop_index("ix_certificate_copies_stored_at", table_name="certificate_copies")
    op.drop_table("certificate_copy_purge_active")
    op.drop_table("certificate_copy_purges")
