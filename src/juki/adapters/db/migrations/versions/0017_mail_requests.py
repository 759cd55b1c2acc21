"""郵送請求 queued for the day's 一括交付, and the stored copy of a certificate issued from a counter preview
or a mail request (so that a double submit gets the same certificate again) (REG-CERT, CTR-1).

Revision ID: 0017_mail_requests
Revises: 0009_cert_token
Branch: certificates

Frozen copy of ``certificate_copies``, ``mail_requests`` and ``mail_request_outcomes`` in
juki.issuance.tables as of this revision (tests/contract/test_issuance_schema.py checks that migrating to
the heads yields exactly the branch's tables, and that the database refuses UPDATE, DELETE and TRUNCATE
on these three).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0017_mail_requests"
down_revision = "0009_cert_token"
branch_labels = None
depends_on = None

APPEND_ONLY = ("certificate_copies", "mail_requests", "mail_request_outcomes")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "certificate_copies",
        sa.Column("certificate_id", sa.String(40), nullable=False),
        sa.Column("pdf_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("stored_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate_issuances.certificate_id"],
                                name="fk_certificate_copies_certificate_id_certificate_issuances"),
        sa.PrimaryKeyConstraint("certificate_id", name="pk_certificate_copies"),
    )
    op.create_table(
        "mail_requests",
        sa.Column("request_id", sa.String(24), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("subject_ids", sa.Text(), nullable=False),
        sa.Column("requester_person_id", sa.String(16), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("envelope_addressee", sa.Text(), nullable=False),
        sa.Column("envelope_address", sa.Text(), nullable=False),
        sa.Column("fee_method", sa.String(16), nullable=False),
        sa.Column("fee_yen", sa.Integer(), nullable=False),
        sa.Column("form_token", sa.String(64), nullable=True),
        sa.CheckConstraint("fee_method IN ('postal_order', 'cash_registered', 'exempt')",
                           name="ck_mail_requests_fee_method"),
        sa.CheckConstraint("fee_yen >= 0", name="ck_mail_requests_fee_yen"),
        sa.PrimaryKeyConstraint("request_id", name="pk_mail_requests"),
    )
    op.create_index("ix_mail_requests_received_on", "mail_requests", ["received_on"])
    op.create_index("ix_mail_requests_form_token", "mail_requests", ["form_token"], unique=True)
    op.create_table(
        "mail_request_outcomes",
        sa.Column("request_id", sa.String(24), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("certificate_id", sa.String(40), nullable=True),
        sa.Column("batch_id", sa.String(40), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("decided_at", _ts(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("outcome IN ('issued', 'returned')", name="ck_mail_request_outcomes_outcome"),
        sa.CheckConstraint("outcome <> 'issued' OR certificate_id IS NOT NULL",
                           name="ck_mail_request_outcomes_issued_certificate"),
        sa.ForeignKeyConstraint(["request_id"], ["mail_requests.request_id"],
                                name="fk_mail_request_outcomes_request_id_mail_requests"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate_issuances.certificate_id"],
                                name="fk_mail_request_outcomes_certificate_id_certificate_issuances"),
        sa.PrimaryKeyConstraint("request_id", name="pk_mail_request_outcomes"),
    )
    op.create_index("ix_mail_request_outcomes_batch_id", "mail_request_outcomes", ["batch_id"])
    for stmt in append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        if not stmt.startswith("DROP FUNCTION"):  # the register's own tables (0001) still use it
            op.execute(stmt)
    op.drop_index("ix_mail_request_outcomes_batch_id", table_name="mail_request_outcomes")
    op.drop_table("mail_request_outcomes")
    op.drop_index("ix_mail_requests_form_token", table_name="mail_requests")
    op.drop_index("ix_mail_requests_received_on", table_name="mail_requests")
    op.drop_table("mail_requests")
    op.drop_table("certificate_copies")
