"""The tables of the 住基ネット nodes (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Own :class:`~sqlalchemy.MetaData` and own migration branch (``0005_net``, branch label ``net``, then
``0011_net_retention``: the index on ``net_history.recorded_at``); the migrations are a frozen copy of
this module and ``tests/contract/test_net_schema.py`` checks that they
agree.  Every node role migrates to the same heads, so every node database has every table; a table a
role does not use stays empty (a prefecture has empty register tables, a municipality an empty inbox).
That keeps one migration path and lets one database be inspected the same way on every tier.

=========================  =========================================================================
table                      what
=========================  =========================================================================
``net_records``            the node's file, current state: one row per (file, 住民票コード); ``file`` is
                           ``identity`` (本人確認情報: the CS's 40 items at a municipality, the 28 items at
                           a prefecture or the national server) or ``fuhyo`` (附票本人確認情報, 18 items).
                           ``notice`` is the last accepted notice (what the checks compare with),
                           ``record`` the file's items; the 個人番号 only encrypted (AES-GCM, AAD = the
                           row's file and 住民票コード) plus its blind index.  Search keys as the register's.
``net_history``            insert-only: every accepted notice and the record it left (PRF-4 history,
                           150 years), including those kept as history only; only a retention run
                           deletes what has expired (:mod:`juki.net.retention`, ``0011_net_retention``)
``net_outbound``           insert-only: the node's outgoing stream, ``seq`` dense from 1.  At a
                           municipality ``seq`` is the 更新順番号; a prefecture forwards each applied
                           notice to the national server under its own ``seq``, keeping ``origin`` and
                           ``origin_seq`` (the municipality's 更新順番号).  A retention run redacts an
                           acknowledged entry's payload and sealed 個人番号 ``transport_keep_days`` later
                           (PRF-4, :mod:`juki.net.transport`, ``0014_net_transport``)
``net_inbox``              every notice received, by (source, source seq); ``status`` pending → applied /
                           refused → (operator) forced / skipped; or duplicate.  Key and content are
                           guarded: only a retention run redacts a decided row's payload and sealed
                           個人番号 (``0014_net_transport``)
``net_cursors``            named counters: ``outbound`` (last seq written), ``received:<source>``
                           (all received up to here), ``applied:<origin>`` (applied up to this 更新順番号)
``net_deliveries``         per destination: acknowledged up to, attempts, back-off, last error, and what
                           the receiver reported (halts)
``cs_intake``              insert-only, municipality: which register events (changes with their outbox
                           row, bulk loads) the CS has taken in (``applied``, or ``skipped`` by an
                           operator), and the 更新順番号 they became
``net_alerts``             insert-only: operator alerts (a refused update halts a stream: ``blocking``)
``net_alert_resolutions``  insert-only: how an operator resolved an alert (retry, force, skip)
=========================  =========================================================================
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import Json, Key, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

CODE = sa.String(16)  # 地方公共団体コード (or 000000 for 機構)
FILE = sa.String(16)

net_records = sa.Table(
    "net_records",
    metadata,
    sa.Column("file", FILE, primary_key=True),
    sa.Column("juminhyo_code", sa.String(11), primary_key=True),
    sa.Column("origin", CODE, nullable=False),
    sa.Column("origin_seq", sa.BigInteger(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("lg_code", sa.String(6), nullable=False),
    sa.Column("name_key", Key(), nullable=False),
    sa.Column("kana_key", Key(), nullable=False),
    sa.Column("birth_date", sa.Date(), nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("address_key", Key(), nullable=False),
    sa.Column("number_index", sa.String(64), nullable=True),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("number_key_id", sa.String(32), nullable=True),
    sa.Column("notice", Json(), nullable=False),
    sa.Column("record", Json(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "file", "kana_key", "birth_date"),
    sa.Index(None, "file", "name_key", "birth_date"),
    sa.Index(None, "file", "address_key"),
    sa.Index(None, "number_index"),
    sa.Index(None, "origin", "file"),
)

net_history = sa.Table(
    "net_history",
    metadata,
    sa.Column("history_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("file", FILE, nullable=False),
    sa.Column("juminhyo_code", sa.String(11), nullable=False),
    sa.Column("origin", CODE, nullable=False),
    sa.Column("origin_seq", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("change_date", sa.Date(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("current", sa.Boolean(), nullable=False),
    sa.Column("record", Json(), nullable=False),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("number_key_id", sa.String(32), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Index(None, "file", "juminhyo_code"),
    sa.Index(None, "origin", "origin_seq"),
    sa.Index(None, "recorded_at"),  # 0011_net_retention: what may have expired (PRF-4)
    sqlite_autoincrement=True,
)

net_outbound = sa.Table(
    "net_outbound",
    metadata,
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("origin", CODE, nullable=False),
    sa.Column("origin_seq", sa.BigInteger(), nullable=False),
    sa.Column("file", FILE, nullable=False),
    sa.Column("payload", Json(), nullable=False),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("number_key_id", sa.String(32), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("origin", "origin_seq"),
)

net_inbox = sa.Table(
    "net_inbox",
    metadata,
    sa.Column("source", CODE, primary_key=True),
    sa.Column("source_seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("origin", CODE, nullable=False),
    sa.Column("origin_seq", sa.BigInteger(), nullable=False),
    sa.Column("file", FILE, nullable=False),
    sa.Column("payload", Json(), nullable=False),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=True),
    sa.Column("number_key_id", sa.String(32), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'applied', 'refused', 'forced', 'skipped', 'duplicate')", name="status"),
    sa.Index(None, "origin", "origin_seq"),
    sa.Index(None, "status", "origin"),
)

net_cursors = sa.Table(
    "net_cursors",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

net_deliveries = sa.Table(
    "net_deliveries",
    metadata,
    sa.Column("destination", CODE, primary_key=True),
    sa.Column("acked_through", sa.BigInteger(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("last_success_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("remote", Json(), nullable=True),
)

cs_intake = sa.Table(
    "cs_intake",
    metadata,
    sa.Column("event_seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("first_seq", sa.BigInteger(), nullable=True),
    sa.Column("last_seq", sa.BigInteger(), nullable=True),
    sa.Column("processed_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("outcome IN ('applied', 'skipped')", name="outcome"),
)

net_alerts = sa.Table(
    "net_alerts",
    metadata,
    sa.Column("alert_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("blocking", sa.Boolean(), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("message_ja", sa.Text(), nullable=False),
    sa.Column("message_en", sa.Text(), nullable=False),
    sa.Column("detail", Json(), nullable=False),
    sa.Index(None, "scope", "ref"),
    sqlite_autoincrement=True,
)

net_alert_resolutions = sa.Table(
    "net_alert_resolutions",
    metadata,
    sa.Column("alert_id", Serial(), sa.ForeignKey("net_alerts.alert_id"), primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("resolved_by", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.CheckConstraint("action IN ('retry', 'force', 'skip', 'acknowledge')", name="action"),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)

APPEND_ONLY_TABLES: tuple[str, ...] = ("net_history", "net_outbound", "cs_intake", "net_alerts", "net_alert_resolutions")
"""Tables the database refuses to UPDATE or DELETE (house rule 2); narrowed for retention runs:
``net_history``'s DELETE (``0011_net_retention``), ``net_outbound``'s redaction (``0014_net_transport``)."""
