"""WebAuthn (生体認証 / FIDO2) second factor: registered authenticators and ceremonies in progress.

Revision ID: 0008_webauthn
Revises: 0001
Branch: webauthn

Frozen copy of juki.access.authenticator_tables as of this revision (tests/contract/
test_authenticator_schema.py checks that migrating to the heads yields exactly those tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.access.tables import drop_no_delete_ddl, no_delete_ddl

revision = "0008_webauthn"
down_revision = "0001"
branch_labels = ("webauthn",)
depends_on = None

NO_DELETE = ("webauthn_credentials",)
GUARD = "juki_webauthn_refuse_delete"  # its own PostgreSQL function: either branch can be downgraded alone
USER = sa.String(64)


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webauthn_credentials",
        sa.Column("credential_id", sa.String(1400), nullable=False),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("rp_id", sa.String(253), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("transports", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("multi_device", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("registered_at", _ts(), nullable=False),
        sa.Column("registered_terminal", sa.String(64), nullable=False),
        sa.Column("last_used_at", _ts(), nullable=True),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("revoked_by", USER, nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("credential_id", name="pk_webauthn_credentials"),
    )
    op.create_index("ix_webauthn_credentials_user_id", "webauthn_credentials", ["user_id"])
    op.create_table(
        "webauthn_ceremonies",
        sa.Column("ceremony_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("user_id", USER, nullable=False),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("rp_id", sa.String(253), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("used_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("ceremony_id", name="pk_webauthn_ceremonies"),
        sa.CheckConstraint("purpose IN ('login', 'register')", name="ck_webauthn_ceremonies_purpose"),
    )
    for stmt in no_delete_ddl(op.get_bind().dialect.name, NO_DELETE, function=GUARD,
                              hint="revoke the credential instead (it stays as evidence, SEC-1)"):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_no_delete_ddl(op.get_bind().dialect.name, NO_DELETE, function=GUARD):
        op.execute(stmt)
    op.drop_table("webauthn_ceremonies")
    op.drop_index("ix_webauthn_credentials_user_id", table_name="webauthn_credentials")
    op.drop_table("webauthn_credentials")
