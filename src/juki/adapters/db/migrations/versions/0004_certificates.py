"""Certificate issuance log, コンビニ交付 cards and kiosks, 印鑑登録 (REG-CERT, REG-LINK5, SEC-3).

Revision ID: 0004_certificates
Revises: 0001
Branch: certificates

Frozen copy of juki.issuance.tables as of this revision (tests/contract/test_issuance_schema.py checks
that migrating to the heads yields exactly those tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl
from juki.issuance.tables import drop_no_delete_ddl, no_delete_ddl

revision = "0004_certificates"
down_revision = "0001"
branch_labels = ("certificates",)
depends_on = None

APPEND_ONLY = ("certificate_issuances", "certificate_subjects", "seal_registrations", "seal_confirmations",
               "seal_abolitions")
NO_DELETE = ("resident_cards", "kiosks", "kiosk_challenges", "kiosk_transactions")


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


USER = sa.String(64)
ID = sa.String(16)
CERT_ID = sa.String(40)
DIGEST = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "certificate_issuances",
        sa.Column("certificate_id", CERT_ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("layout", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("path", sa.String(24), nullable=False),
        sa.Column("subject_ids", sa.Text(), nullable=False),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("requester_person_id", ID, nullable=True),
        sa.Column("requester_name", sa.Text(), nullable=False),
        sa.Column("requester_address", sa.Text(), nullable=False, server_default=""),
        sa.Column("requester_relation", sa.String(24), nullable=False),
        sa.Column("requester_organisation", sa.Text(), nullable=False, server_default=""),
        sa.Column("agent_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("reason", sa.String(32), nullable=False, server_default=""),
        sa.Column("purpose", sa.Text(), nullable=False, server_default=""),
        sa.Column("legal_basis", sa.Text(), nullable=False, server_default=""),
        sa.Column("request_detail", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("issued_by", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("kiosk_transaction_id", sa.String(40), nullable=True),
        sa.Column("card_id", sa.String(40), nullable=True),
        sa.Column("batch_id", sa.String(40), nullable=True),
        sa.Column("issued_at", _ts(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("content_sha256", DIGEST, nullable=False),
        sa.Column("pdf_sha256", DIGEST, nullable=False),
        sa.Column("envelope_addressee", sa.Text(), nullable=True),
        sa.Column("envelope_address", sa.Text(), nullable=True),
        sa.Column("seal_registration_number", _serial(), nullable=True),
        sa.PrimaryKeyConstraint("certificate_id", name="pk_certificate_issuances"),
        sa.CheckConstraint("channel IN ('counter', 'mail', 'kiosk')", name="ck_certificate_issuances_channel"),
    )
    op.create_index("ix_certificate_issuances_issued_on_kind", "certificate_issuances", ["issued_on", "kind"])
    op.create_index("ix_certificate_issuances_issued_by_issued_at", "certificate_issuances",
                    ["issued_by", "issued_at"])
    op.create_index("ix_certificate_issuances_batch_id", "certificate_issuances", ["batch_id"])
    op.create_table(
        "certificate_subjects",
        sa.Column("certificate_id", CERT_ID, nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("issued_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("certificate_id", "person_id", name="pk_certificate_subjects"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate_issuances.certificate_id"],
                                name="fk_certificate_subjects_certificate_id_certificate_issuances"),
    )
    op.create_index("ix_certificate_subjects_person_id_issued_at", "certificate_subjects",
                    ["person_id", "issued_at"])
    op.create_table(
        "resident_cards",
        sa.Column("card_id", sa.String(40), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("pin_hash", sa.Text(), nullable=False),
        sa.Column("failed_pins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_by", USER, nullable=False),
        sa.Column("issued_at", _ts(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("locked_at", _ts(), nullable=True),
        sa.Column("unlocked_by", USER, nullable=True),
        sa.Column("unlocked_at", _ts(), nullable=True),
        sa.Column("revoked_by", USER, nullable=True),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("card_id", name="pk_resident_cards"),
        sa.CheckConstraint("status IN ('active', 'locked', 'revoked')", name="ck_resident_cards_status"),
        sa.CheckConstraint("algorithm IN ('ed25519', 'ecdsa-p256')", name="ck_resident_cards_algorithm"),
    )
    op.create_index("ix_resident_cards_person_id", "resident_cards", ["person_id"])
    op.create_table(
        "kiosks",
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False, server_default=""),
        sa.Column("credential_hash", DIGEST, nullable=False),
        sa.Column("registered_by", USER, nullable=False),
        sa.Column("registered_at", _ts(), nullable=False),
        sa.Column("revoked_by", USER, nullable=True),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("kiosk_id", name="pk_kiosks"),
    )
    op.create_table(
        "kiosk_challenges",
        sa.Column("challenge", DIGEST, nullable=False),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("issued_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("used_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("challenge", name="pk_kiosk_challenges"),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.kiosk_id"], name="fk_kiosk_challenges_kiosk_id_kiosks"),
    )
    op.create_table(
        "kiosk_transactions",
        sa.Column("transaction_id", sa.String(40), nullable=False),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("card_id", sa.String(40), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("token_hash", DIGEST, nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("certificates", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("transaction_id", name="pk_kiosk_transactions"),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.kiosk_id"], name="fk_kiosk_transactions_kiosk_id_kiosks"),
        sa.ForeignKeyConstraint(["card_id"], ["resident_cards.card_id"],
                                name="fk_kiosk_transactions_card_id_resident_cards"),
    )
    op.create_index("ix_kiosk_transactions_card_id", "kiosk_transactions", ["card_id"])
    op.create_table(
        "seal_registrations",
        sa.Column("registration_number", _serial(), nullable=False, autoincrement=True),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("registered_name", sa.Text(), nullable=False),
        sa.Column("imprint_png", sa.LargeBinary(), nullable=False),
        sa.Column("imprint_sha256", DIGEST, nullable=False),
        sa.Column("imprint_size_mm", sa.Integer(), nullable=False),
        sa.Column("card_number", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("applicant", sa.Text(), nullable=False, server_default=""),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("entered_by", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("entered_at", _ts(), nullable=False),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("registration_number", name="pk_seal_registrations"),
        sa.UniqueConstraint("card_number", name="uq_seal_registrations_card_number"),
        sa.CheckConstraint("method IN ('immediate', 'inquiry')", name="ck_seal_registrations_method"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_seal_registrations_person_id", "seal_registrations", ["person_id"])
    op.create_table(
        "seal_confirmations",
        sa.Column("registration_number", _serial(), nullable=False, autoincrement=False),
        sa.Column("confirmed_by", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("confirmed_at", _ts(), nullable=False),
        sa.Column("confirmed_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("registration_number", name="pk_seal_confirmations"),
        sa.ForeignKeyConstraint(["registration_number"], ["seal_registrations.registration_number"],
                                name="fk_seal_confirmations_registration_number_seal_registrations"),
    )
    op.create_table(
        "seal_abolitions",
        sa.Column("registration_number", _serial(), nullable=False, autoincrement=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("abolished_by", USER, nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("abolished_at", _ts(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("registration_number", name="pk_seal_abolitions"),
        sa.ForeignKeyConstraint(["registration_number"], ["seal_registrations.registration_number"],
                                name="fk_seal_abolitions_registration_number_seal_registrations"),
        sa.CheckConstraint(
            "reason IN ('request', 'card_lost', 'moved_out', 'died', 'removed', 'name_changed')",
            name="ck_seal_abolitions_reason",
        ),
    )
    dialect = op.get_bind().dialect.name
    for stmt in append_only_ddl(dialect, APPEND_ONLY):
        op.execute(stmt)
    for stmt in no_delete_ddl(dialect, NO_DELETE):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Keep juki_refuse_change(): the register's own tables (0001) still use it.
    for stmt in drop_append_only_ddl(dialect, APPEND_ONLY):
        if not stmt.startswith("DROP FUNCTION"):
            op.execute(stmt)
    for stmt in drop_no_delete_ddl(dialect, NO_DELETE):
        op.execute(stmt)
    for table in ("seal_abolitions", "seal_confirmations", "seal_registrations", "kiosk_transactions",
                  "kiosk_challenges", "kiosks", "resident_cards", "certificate_subjects", "certificate_issuances"):
        op.drop_table(table)
