"""Tables of the WebAuthn second factor (SEC-1 生体認証 / FIDO2), one schema for both engines.

They live in their own :data:`metadata` (the register's naming convention) because they own a migration
branch (``0008_webauthn``, branch label ``webauthn``); the migration is a frozen copy of this module and
``tests/contract/test_authenticator_schema.py`` checks that they agree.

* ``webauthn_credentials`` -- one registered authenticator (認証器: a platform authenticator with a
  fingerprint or face sensor, or a security key) of one staff account: its public key (COSE), the RP ID
  it was made for, the signature counter last seen, and when and from where it was registered.  Mutable
  (counter, last use, revocation) but never deleted: a revoked credential stays as evidence.
* ``webauthn_ceremonies`` -- one login or registration in progress: its random challenge, bound to the
  account, the terminal (and for a registration the session) that started it, the origin and RP ID it
  expects, its expiry, and when it was used (each is used at most once).  Keyed by the SHA-256 of the
  ceremony token that only the browser holds.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

USER = sa.String(64)

webauthn_credentials = sa.Table(
    "webauthn_credentials",
    metadata,
    sa.Column("credential_id", sa.String(1400), primary_key=True),  # base64url of the raw id (≤ 1023 bytes)
    sa.Column("user_id", USER, nullable=False),  # staff.user_id
    sa.Column("label", sa.Text(), nullable=False),  # what the user called it (「窓口3の指紋センサー」)
    sa.Column("rp_id", sa.String(253), nullable=False),  # the RP ID (domain) it was made for
    sa.Column("public_key", sa.LargeBinary(), nullable=False),  # COSE_Key
    sa.Column("sign_count", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("aaguid", sa.String(36), nullable=False),
    sa.Column("transports", sa.Text(), nullable=False, server_default="[]"),  # JSON list
    sa.Column("multi_device", sa.Boolean(), nullable=False, server_default=sa.false()),  # a synced passkey
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("registered_terminal", sa.String(64), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_by", USER, nullable=True),
    sa.Column("revoke_reason", sa.Text(), nullable=True),
    sa.Index(None, "user_id"),
)

webauthn_ceremonies = sa.Table(
    "webauthn_ceremonies",
    metadata,
    sa.Column("ceremony_id", sa.String(64), primary_key=True),  # SHA-256 (hex) of the ceremony token
    sa.Column("purpose", sa.String(16), nullable=False),  # login | register
    sa.Column("user_id", USER, nullable=False),
    sa.Column("terminal_id", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),  # the session a registration is made in
    sa.Column("origin", sa.Text(), nullable=False),
    sa.Column("rp_id", sa.String(253), nullable=False),
    sa.Column("challenge", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('login', 'register')", name="purpose"),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)
NO_DELETE_TABLES: tuple[str, ...] = ("webauthn_credentials",)
"""A credential is revoked, never deleted."""
