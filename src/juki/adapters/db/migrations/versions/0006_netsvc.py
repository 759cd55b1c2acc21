"""住基ネット services: 個人番号 generation and requests, 特例転入 and deliveries to peers, the card system and
送付先情報 receipts, the prefecture's provision log, approvals, 附票 temporary area and 訂正等の申出
(NET-6..NET-9, PRF-5..PRF-8).

Revision ID: 0006_netsvc
Revises: 0001
Branch: netsvc

Frozen copy of juki.net.svc_tables as of this revision (tests/contract/test_netsvc_schema.py checks
that migrating to the heads yields exactly those tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl
from juki.net.svc_ddl import drop_provision_guard_ddl, provision_guard_ddl

revision = "0006_netsvc"
down_revision = "0001"
branch_labels = ("netsvc",)
depends_on = None

APPEND_ONLY = ("individual_number_assignments", "move_in_notices_received", "card_events", "provision_use_sets",
               "number_notice_receipts")


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    from sqlalchemy.dialects import postgresql

    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


LG = sa.String(6)
CODE = sa.String(11)
REF = sa.String(32)
ID = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "individual_number_assignments",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("number_digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_ref", REF, nullable=False),
        sa.Column("lg_code", LG, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("number_digest", name="uq_individual_number_assignments_number_digest"),
        sa.UniqueConstraint("request_ref", name="uq_individual_number_assignments_request_ref"),
        sa.UniqueConstraint("juminhyo_code", "attempt", name="uq_individual_number_assignments_juminhyo_code_attempt"),
        sa.CheckConstraint("kind IN ('generate', 'change')", name="ck_individual_number_assignments_kind"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "individual_number_requests",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("request_ref", REF, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("source_event_seq", sa.BigInteger(), nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("answered_at", _ts(), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("sending_spooled_at", _ts(), nullable=True),
        sa.UniqueConstraint("request_ref", name="uq_individual_number_requests_request_ref"),
        sa.CheckConstraint("kind IN ('generate', 'change')", name="ck_individual_number_requests_kind"),
        sa.CheckConstraint("status IN ('pending', 'designated', 'failed')", name="ck_individual_number_requests_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_individual_number_requests_status", "individual_number_requests", ["status"])
    op.create_index("ix_individual_number_requests_person_id", "individual_number_requests", ["person_id"])
    op.create_table(
        "peer_deliveries",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("delivered_at", _ts(), nullable=True),
        sa.UniqueConstraint("dedupe_key", name="uq_peer_deliveries_dedupe_key"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="ck_peer_deliveries_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_peer_deliveries_status_next_attempt_at", "peer_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "moveout_certificates_received",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("from_lg_code", LG, nullable=False),
        sa.Column("planned_move_out", sa.Date(), nullable=False),
        sa.Column("delete_on", sa.Date(), nullable=False),
        sa.Column("certificate_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("card_serial", sa.String(32), nullable=False, server_default=""),
        sa.Column("case_ref", REF, nullable=False, server_default=""),
        sa.Column("received_by", sa.String(64), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("change_request_id", sa.BigInteger(), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=True),
        sa.Column("used_at", _ts(), nullable=True),
        sa.CheckConstraint("status IN ('received', 'submitted', 'used')", name="ck_moveout_certificates_received_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_moveout_certificates_received_juminhyo_code", "moveout_certificates_received", ["juminhyo_code"])
    op.create_index("ix_moveout_certificates_received_delete_on", "moveout_certificates_received", ["delete_on"])
    op.create_table(
        "move_in_notices_received",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("from_lg_code", LG, nullable=False),
        sa.Column("event_ref", REF, nullable=False),
        sa.Column("juminhyo_codes", _json(), nullable=False),
        sa.Column("event_seqs", _json(), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.UniqueConstraint("from_lg_code", "event_ref", name="uq_move_in_notices_received_from_lg_code_event_ref"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "card_registry",
        sa.Column("card_serial", sa.String(12), nullable=False),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("lg_code", LG, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("card_serial", name="pk_card_registry"),
        sa.CheckConstraint("state IN ('active', 'suspended', 'abolished', 'collected', 'returned')",
                           name="ck_card_registry_state"),
    )
    op.create_index("ix_card_registry_juminhyo_code", "card_registry", ["juminhyo_code"])
    op.create_table(
        "card_events",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("card_serial", sa.String(12), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("lg_code", LG, nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("dedupe_key", sa.String(128), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_card_events_dedupe_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_card_events_card_serial", "card_events", ["card_serial"])
    op.create_table(
        "provision_use_sets",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("loaded_at", _ts(), nullable=False),
        sa.Column("loaded_by", sa.String(64), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "provision_log",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("use_code", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("batch_ref", REF, nullable=True),
        sa.Column("line", sa.String(32), nullable=True),
        sa.Column("query_key", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(64), nullable=True),
        sa.Column("subjects", _json(), nullable=False),
        sa.Column("items", _json(), nullable=False),
        sa.Column("number_included", sa.Boolean(), nullable=False),
        sa.Column("media", sa.String(16), nullable=False),
        sa.CheckConstraint("outcome IN ('provided', 'not_found', 'multiple', 'refused', 'error')",
                           name="ck_provision_log_outcome"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_provision_log_at", "provision_log", ["at"])
    op.create_index("ix_provision_log_recipient_at", "provision_log", ["recipient", "at"])
    op.create_table(
        "provision_log_subjects",
        sa.Column("log_id", _serial(), nullable=False),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "juminhyo_code", name="pk_provision_log_subjects"),
    )
    op.create_index("ix_provision_log_subjects_juminhyo_code_at", "provision_log_subjects", ["juminhyo_code", "at"])
    op.create_table(
        "provision_purge_active",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("cutoff", _ts(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "provision_approvals",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("use_code", sa.String(64), nullable=False),
        sa.Column("max_rows", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", _ts(), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_at", _ts(), nullable=True),
        sa.Column("used_at", _ts(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "fuhyo_number_temp",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("provision_log_id", sa.BigInteger(), nullable=False),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("delete_after", _ts(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_fuhyo_number_temp_delete_after", "fuhyo_number_temp", ["delete_after"])
    op.create_table(
        "correction_requests",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("received_by", sa.String(64), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.CheckConstraint("status IN ('received', 'corrected', 'no_error')", name="ck_correction_requests_status"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_correction_requests_juminhyo_code", "correction_requests", ["juminhyo_code"])
    op.create_table(
        "number_notice_receipts",
        sa.Column("id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("lg_code", LG, nullable=False),
        sa.Column("sending_ref", REF, nullable=False),
        sa.Column("juminhyo_code", CODE, nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.UniqueConstraint("lg_code", "sending_ref", name="uq_number_notice_receipts_lg_code_sending_ref"),
        sqlite_autoincrement=True,
    )
    dialect = op.get_bind().dialect.name
    for stmt in append_only_ddl(dialect, APPEND_ONLY):
        op.execute(stmt)
    for stmt in provision_guard_ddl(dialect):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in drop_append_only_ddl(dialect, APPEND_ONLY):
        if not stmt.startswith("DROP FUNCTION"):  # the register's own tables (0001) still use it
            op.execute(stmt)
    for stmt in drop_provision_guard_ddl(dialect):
        op.execute(stmt)
    for table in ("number_notice_receipts", "correction_requests", "fuhyo_number_temp", "provision_approvals", "provision_purge_active",
                  "provision_log_subjects", "provision_log", "provision_use_sets", "card_events", "card_registry", "move_in_notices_received", "moveout_certificates_received", "peer_deliveries",
                  "individual_number_requests", "individual_number_assignments"):
        op.drop_table(table)
