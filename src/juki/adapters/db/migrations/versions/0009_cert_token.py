"""The counter preview's one-time token on the issuance log: a certificate is issued once per preview
(a double click on 交付する logs one certificate, not two) (REG-CERT, CTR-1).

Revision ID: 0009_cert_token
Revises: 0004_certificates
Branch: certificates

Frozen: adds ``certificate_issuances.request_token`` (nullable: API, mail, batch and kiosk issuance have
none) with a unique index; the table stays insert-only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_cert_token"
down_revision = "0004_certificates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("certificate_issuances", sa.Column("request_token", sa.String(64), nullable=True))
    op.create_index("ix_certificate_issuances_request_token", "certificate_issuances", ["request_token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_certificate_issuances_request_token", table_name="certificate_issuances")
    op.drop_column("certificate_issuances", "request_token")
