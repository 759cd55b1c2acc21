"""住基ネット nodes: the node's file (本人確認情報 / 附票本人確認情報) and its history, the outgoing stream,
the inbox, cursors, deliveries, the CS intake of the register's events, operator alerts.

Revision ID: 0005_net
Revises: 0001
Branch: net

Frozen copy of juki.net.tables as of this revision (tests/contract/test_net_schema.py checks that
migrating yields exactly those tables).  Every node role runs the same migrations (see juki.net.tables).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from juki.adapters.db.append_only import append_only_ddl, drop_append_only_ddl

revision = "0005_net"
down_revision = "0001"
branch_labels = ("net",)
depends_on = None

APPEND_ONLY = ("net_history", "net_outbound", "cs_intake", "net_alerts", "net_alert_resolutions")


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _key() -> sa.types.TypeEngine[Any]:
    return sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


CODE = sa.String(16)
FILE = sa.String(16)


def upgrade() -> None:
    op.create_table(
        "net_records",
        sa.Column("file", FILE, nullable=False),
        sa.Column("juminhyo_code", sa.String(11), nullable=False),
        sa.Column("origin", CODE, nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lg_code", sa.String(6), nullable=False),
        sa.Column("name_key", _key(), nullable=False),
        sa.Column("kana_key", _key(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("address_key", _key(), nullable=False),
        sa.Column("number_index", sa.String(64), nullable=True),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("number_key_id", sa.String(32), nullable=True),
        sa.Column("notice", _json(), nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("file", "juminhyo_code", name="pk_net_records"),
    )
    op.create_index("ix_net_records_file_kana_key_birth_date", "net_records", ["file", "kana_key", "birth_date"])
    op.create_index("ix_net_records_file_name_key_birth_date", "net_records", ["file", "name_key", "birth_date"])
    op.create_index("ix_net_records_file_address_key", "net_records", ["file", "address_key"])
    op.create_index("ix_net_records_number_index", "net_records", ["number_index"])
    op.create_index("ix_net_records_origin_file", "net_records", ["origin", "file"])

    op.create_table(
        "net_history",
        sa.Column("history_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("file", FILE, nullable=False),
        sa.Column("juminhyo_code", sa.String(11), nullable=False),
        sa.Column("origin", CODE, nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("change_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("number_key_id", sa.String(32), nullable=True),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("history_id", name="pk_net_history"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_net_history_file_juminhyo_code", "net_history", ["file", "juminhyo_code"])
    op.create_index("ix_net_history_origin_origin_seq", "net_history", ["origin", "origin_seq"])

    op.create_table(
        "net_outbound",
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("origin", CODE, nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.Column("file", FILE, nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("number_key_id", sa.String(32), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_net_outbound"),
        sa.UniqueConstraint("origin", "origin_seq", name="uq_net_outbound_origin_origin_seq"),
    )

    op.create_table(
        "net_inbox",
        sa.Column("source", CODE, nullable=False),
        sa.Column("source_seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("origin", CODE, nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.Column("file", FILE, nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("number_key_id", sa.String(32), nullable=True),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("source", "source_seq", name="pk_net_inbox"),
        sa.CheckConstraint("status IN ('pending', 'applied', 'refused', 'forced', 'skipped', 'duplicate')",
                           name="ck_net_inbox_status"),
    )
    op.create_index("ix_net_inbox_origin_origin_seq", "net_inbox", ["origin", "origin_seq"])
    op.create_index("ix_net_inbox_status_origin", "net_inbox", ["status", "origin"])

    op.create_table(
        "net_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_net_cursors"),
    )

    op.create_table(
        "net_deliveries",
        sa.Column("destination", CODE, nullable=False),
        sa.Column("acked_through", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", _ts(), nullable=True),
        sa.Column("next_attempt_at", _ts(), nullable=True),
        sa.Column("last_success_at", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("remote", _json(), nullable=True),
        sa.PrimaryKeyConstraint("destination", name="pk_net_deliveries"),
    )

    op.create_table(
        "cs_intake",
        sa.Column("event_seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("processed_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("event_seq", name="pk_cs_intake"),
        sa.CheckConstraint("outcome IN ('applied', 'skipped')", name="ck_cs_intake_outcome"),
    )

    op.create_table(
        "net_alerts",
        sa.Column("alert_id", _serial(), nullable=False, autoincrement=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("message_ja", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_net_alerts"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_net_alerts_scope_ref", "net_alerts", ["scope", "ref"])

    op.create_table(
        "net_alert_resolutions",
        sa.Column("alert_id", _serial(), nullable=False, autoincrement=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_net_alert_resolutions"),
        sa.ForeignKeyConstraint(["alert_id"], ["net_alerts.alert_id"],
                                name="fk_net_alert_resolutions_alert_id_net_alerts"),
        sa.CheckConstraint("action IN ('retry', 'force', 'skip', 'acknowledge')", name="ck_net_alert_resolutions_action"),
    )

    for stmt in append_only_ddl(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Keep juki_refuse_change(): the register's own tables (0001) still use it.
    for stmt in drop_append_only_ddl(dialect, APPEND_ONLY):
        if not stmt.startswith("DROP FUNCTION"):
            op.execute(stmt)
    for table in ("net_alert_resolutions", "net_alerts", "cs_intake", "net_deliveries", "net_cursors", "net_inbox",
                  "net_outbound", "net_history", "net_records"):
        op.drop_table(table)
