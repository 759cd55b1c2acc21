"""Initial register schema: request workflow, event log, versions, projections, outbox, id counters,
and the append-only guards.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Frozen copy of juki.adapters.db.schema as of this revision (tests/contract/test_store_schema.py checks
that migrating to head yields exactly the tables of schema.py).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "change_requests",
    "change_decisions",
    "events",
    "person_versions",
    "household_versions",
    "outbox",
)


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _key() -> sa.types.TypeEngine[Any]:
    return sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


ID = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "change_requests",
        sa.Column("request_id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("notified_date", sa.Date(), nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False, server_default=""),
        sa.Column("agent", sa.Text(), nullable=False, server_default=""),
        sa.Column("entered_at", _ts(), nullable=False),
        sa.Column("household_ids", _json(), nullable=False),
        sa.Column("expected_versions", _json(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="pk_change_requests"),
        sa.UniqueConstraint("idempotency_key", name="uq_change_requests_idempotency_key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "events",
        sa.Column("seq", _serial(), primary_key=True, autoincrement=True),
        sa.Column("request_id", _serial(), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("notified_date", sa.Date(), nullable=False),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("case_ref", sa.String(64), nullable=False, server_default=""),
        sa.Column("agent", sa.Text(), nullable=False, server_default=""),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("corrects_seq", _serial(), nullable=True),
        sa.Column("cancels_seq", _serial(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["change_requests.request_id"], name="fk_events_request_id_change_requests"
        ),
        sa.ForeignKeyConstraint(["corrects_seq"], ["events.seq"], name="fk_events_corrects_seq_events"),
        sa.ForeignKeyConstraint(["cancels_seq"], ["events.seq"], name="fk_events_cancels_seq_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_request_id", "events", ["request_id"])
    op.create_index("ix_events_effective_date", "events", ["effective_date"])

    op.create_table(
        "change_decisions",
        sa.Column("decision_id", _serial(), primary_key=True, autoincrement=True),
        sa.Column("request_id", _serial(), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("terminal", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("decided_at", _ts(), nullable=False),
        sa.Column("event_seq", _serial(), nullable=True),
        sa.PrimaryKeyConstraint("decision_id", name="pk_change_decisions"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["change_requests.request_id"],
            name="fk_change_decisions_request_id_change_requests",
        ),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], name="fk_change_decisions_event_seq_events"),
        sa.UniqueConstraint("request_id", name="uq_change_decisions_request_id"),
        sa.CheckConstraint(
            "decision IN ('approved', 'returned', 'rejected')", name="ck_change_decisions_decision"
        ),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "person_versions",
        sa.Column("person_id", ID, nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("event_seq", _serial(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("snapshot", _json(), nullable=False),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("number_key_id", sa.String(32), nullable=True),
        sa.Column("number_index", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("person_id", "version_no", name="pk_person_versions"),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], name="fk_person_versions_event_seq_events"),
    )
    op.create_index("ix_person_versions_person_id_valid_from", "person_versions", ["person_id", "valid_from"])
    op.create_index("ix_person_versions_event_seq", "person_versions", ["event_seq"])

    op.create_table(
        "household_versions",
        sa.Column("household_id", ID, nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("event_seq", _serial(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("snapshot", _json(), nullable=False),
        sa.PrimaryKeyConstraint("household_id", "version_no", name="pk_household_versions"),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], name="fk_household_versions_event_seq_events"),
    )
    op.create_index(
        "ix_household_versions_household_id_valid_from", "household_versions", ["household_id", "valid_from"]
    )
    op.create_index("ix_household_versions_event_seq", "household_versions", ["event_seq"])

    op.create_table(
        "persons",
        sa.Column("person_id", ID, nullable=False),
        sa.Column("household_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_kana", sa.Text(), nullable=True),
        sa.Column("name_key", _key(), nullable=False),
        sa.Column("kana_key", _key(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("address_text", sa.Text(), nullable=False),
        sa.Column("address_key", _key(), nullable=False),
        sa.Column("juminhyo_code", sa.String(11), nullable=False),
        sa.Column("number_index", sa.String(64), nullable=True),
        sa.Column("snapshot", _json(), nullable=False),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("number_key_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("person_id", name="pk_persons"),
    )
    op.create_index("ix_persons_kana_key_birth_date_person_id", "persons", ["kana_key", "birth_date", "person_id"])
    op.create_index("ix_persons_name_key_birth_date_person_id", "persons", ["name_key", "birth_date", "person_id"])
    op.create_index("ix_persons_birth_date", "persons", ["birth_date"])
    op.create_index("ix_persons_address_key", "persons", ["address_key"])
    op.create_index("ix_persons_household_id", "persons", ["household_id"])
    op.create_index("ix_persons_number_index", "persons", ["number_index"])
    op.create_index("ix_persons_juminhyo_code", "persons", ["juminhyo_code"])
    op.create_index(
        "uq_persons_juminhyo_code_resident",
        "persons",
        ["juminhyo_code"],
        unique=True,
        sqlite_where=sa.text("status = 'resident'"),
        postgresql_where=sa.text("status = 'resident'"),
    )

    op.create_table(
        "households",
        sa.Column("household_id", ID, nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("head_id", ID, nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("address_text", sa.Text(), nullable=False),
        sa.Column("snapshot", _json(), nullable=False),
        sa.PrimaryKeyConstraint("household_id", name="pk_households"),
    )

    op.create_table(
        "outbox",
        sa.Column("outbox_seq", _serial(), primary_key=True, autoincrement=True),
        sa.Column("event_seq", _serial(), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("outbox_seq", name="pk_outbox"),
        sa.ForeignKeyConstraint(["event_seq"], ["events.seq"], name="fk_outbox_event_seq_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_event_seq", "outbox", ["event_seq"])

    counters = op.create_table(
        "id_counters",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_id_counters"),
    )
    op.bulk_insert(counters, [{"name": "person", "next_value": 1}, {"name": "household", "next_value": 1}])

    for stmt in append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in drop_append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(stmt)
    for table in (
        "id_counters",
        "outbox",
        "households",
        "persons",
        "household_versions",
        "person_versions",
        "change_decisions",
        "events",
        "change_requests",
    ):
        op.drop_table(table)
