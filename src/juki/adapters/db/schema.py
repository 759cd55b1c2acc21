"""The register's tables (SQLAlchemy 2 Core), one schema for SQLite and PostgreSQL.

Insert-only tables (the database itself refuses UPDATE, DELETE and, on PostgreSQL, TRUNCATE; see
:mod:`juki.adapters.db.append_only`): ``change_requests``, ``change_decisions``, ``events`` (the 異動
log; ``seq`` is the 更新順番号), ``person_versions``, ``household_versions``, ``outbox``.

Mutable *current projections* for fast reads and search: ``persons``, ``households`` (with
``row_version`` for optimistic concurrency) and ``id_counters``.

This module describes the *current* schema; the Alembic migrations under ``migrations/versions`` are
frozen copies that create it (a contract test checks that they agree).  Change both together.

Notes on types:

* Search keys (``name_key``, ``kana_key``, ``address_key``) use ``COLLATE "C"`` on PostgreSQL so that a
  btree range scan ``key >= :lo AND key < :hi`` serves prefix search whatever the database locale is.
  SQLite's default BINARY collation already compares UTF-8 bytes, i.e. code points.
* Timestamps are UTC; on SQLite they are stored as naive UTC text and come back as aware UTC datetimes
  (:class:`UTCDateTime`).
* JSON is JSONB on PostgreSQL, text on SQLite.  The 個人番号 is never inside any JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime on both engines (naive values are taken to be UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def Serial() -> sa.types.TypeEngine[int]:
    """BIGINT identity on PostgreSQL; INTEGER (the rowid alias) on SQLite."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def Key() -> sa.types.TypeEngine[str]:
    """A search key column: ``COLLATE "C"`` on PostgreSQL (byte order = code point order)."""
    return sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


ID = sa.String(16)  # 宛名番号 / 世帯番号 (10 digits today)

change_requests = sa.Table(
    "change_requests",
    metadata,
    sa.Column("request_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("payload", Json(), nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),
    sa.Column("legal_basis", sa.Text(), nullable=False),
    sa.Column("effective_date", sa.Date(), nullable=False),
    sa.Column("notified_date", sa.Date(), nullable=False),
    sa.Column("entered_by", sa.String(64), nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("case_ref", sa.String(64), nullable=False, server_default=""),
    sa.Column("agent", sa.Text(), nullable=False, server_default=""),
    sa.Column("entered_at", UTCDateTime(), nullable=False),
    sa.Column("household_ids", Json(), nullable=False),
    sa.Column("expected_versions", Json(), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False, server_default=""),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.UniqueConstraint("idempotency_key"),
    sqlite_autoincrement=True,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", Serial(), primary_key=True, autoincrement=True),  # 更新順番号
    sa.Column("request_id", Serial(), sa.ForeignKey("change_requests.request_id"), nullable=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),
    sa.Column("legal_basis", sa.Text(), nullable=False),
    sa.Column("effective_date", sa.Date(), nullable=False),  # 異動日
    sa.Column("notified_date", sa.Date(), nullable=False),  # 届出日
    sa.Column("entered_by", sa.String(64), nullable=False),
    sa.Column("approved_by", sa.String(64), nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("case_ref", sa.String(64), nullable=False, server_default=""),
    sa.Column("agent", sa.Text(), nullable=False, server_default=""),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("corrects_seq", Serial(), sa.ForeignKey("events.seq"), nullable=True),
    sa.Column("cancels_seq", Serial(), sa.ForeignKey("events.seq"), nullable=True),
    sa.Column("summary", sa.Text(), nullable=False, server_default=""),
    sa.Column("details", Json(), nullable=False),
    sa.Index(None, "request_id"),
    sa.Index(None, "effective_date"),
    sqlite_autoincrement=True,
)

change_decisions = sa.Table(
    "change_decisions",
    metadata,
    sa.Column("decision_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("request_id", Serial(), sa.ForeignKey("change_requests.request_id"), nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("decided_by", sa.String(64), nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Column("decided_at", UTCDateTime(), nullable=False),
    sa.Column("event_seq", Serial(), sa.ForeignKey("events.seq"), nullable=True),
    sa.UniqueConstraint("request_id"),
    sa.CheckConstraint("decision IN ('approved', 'returned', 'rejected')", name="decision"),
    sqlite_autoincrement=True,
)

person_versions = sa.Table(
    "person_versions",
    metadata,
    sa.Column("person_id", ID, primary_key=True),
    sa.Column("version_no", sa.Integer(), primary_key=True),
    sa.Column("event_seq", Serial(), sa.ForeignKey("events.seq"), nullable=False),
    sa.Column("valid_from", sa.Date(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("snapshot", Json(), nullable=False),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("number_key_id", sa.String(32), nullable=True),
    sa.Column("number_index", sa.String(64), nullable=True),
    sa.Index(None, "person_id", "valid_from"),
    sa.Index(None, "event_seq"),
)

household_versions = sa.Table(
    "household_versions",
    metadata,
    sa.Column("household_id", ID, primary_key=True),
    sa.Column("version_no", sa.Integer(), primary_key=True),
    sa.Column("event_seq", Serial(), sa.ForeignKey("events.seq"), nullable=False),
    sa.Column("valid_from", sa.Date(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("snapshot", Json(), nullable=False),
    sa.Index(None, "household_id", "valid_from"),
    sa.Index(None, "event_seq"),
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("person_id", ID, primary_key=True),
    sa.Column("household_id", ID, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version_no", sa.Integer(), nullable=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("name_kana", sa.Text(), nullable=True),
    sa.Column("name_key", Key(), nullable=False),
    sa.Column("kana_key", Key(), nullable=False),
    sa.Column("birth_date", sa.Date(), nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("address_text", sa.Text(), nullable=False),
    sa.Column("address_key", Key(), nullable=False),
    sa.Column("juminhyo_code", sa.String(11), nullable=False),
    sa.Column("number_index", sa.String(64), nullable=True),
    sa.Column("snapshot", Json(), nullable=False),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("number_key_id", sa.String(32), nullable=True),
    # The search orders by (kana_key, birth_date, person_id): with the same columns in the index,
    # PostgreSQL walks a prefix range in order and stops at LIMIT instead of sorting every match.
    sa.Index(None, "kana_key", "birth_date", "person_id"),
    sa.Index(None, "name_key", "birth_date", "person_id"),
    sa.Index(None, "birth_date"),
    sa.Index(None, "address_key"),
    sa.Index(None, "household_id"),
    sa.Index(None, "number_index"),
    sa.Index(None, "juminhyo_code"),
    # A 住民票コード belongs to one person for life, but the same person can have a 除票 (old 宛名番号)
    # and, after moving back, a new 住民票: so it is unique among *current residents* only.
    sa.Index(
        "uq_persons_juminhyo_code_resident",
        "juminhyo_code",
        unique=True,
        sqlite_where=sa.text("status = 'resident'"),
        postgresql_where=sa.text("status = 'resident'"),
    ),
)

households = sa.Table(
    "households",
    metadata,
    sa.Column("household_id", ID, primary_key=True),
    sa.Column("row_version", sa.Integer(), nullable=False),
    sa.Column("head_id", ID, nullable=True),
    sa.Column("member_count", sa.Integer(), nullable=False),
    sa.Column("address_text", sa.Text(), nullable=False),
    sa.Column("snapshot", Json(), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("outbox_seq", Serial(), primary_key=True, autoincrement=True),
    sa.Column("event_seq", Serial(), sa.ForeignKey("events.seq"), nullable=False),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("payload", Json(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "event_seq"),
    sqlite_autoincrement=True,
)

id_counters = sa.Table(
    "id_counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("next_value", sa.BigInteger(), nullable=False),
)

APPEND_ONLY_TABLES: tuple[str, ...] = (
    "change_requests",
    "change_decisions",
    "events",
    "person_versions",
    "household_versions",
    "outbox",
)
"""Tables the database refuses to UPDATE, DELETE or TRUNCATE (house rule 2)."""

ID_COUNTERS: tuple[str, ...] = ("person", "household")
"""Counters seeded by the initial migration (宛名番号, 世帯番号)."""
