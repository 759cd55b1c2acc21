"""Tables of the 住基ネット services (net-svc): 個人番号 generation, 特例転入, deliveries to peers.

Their own :data:`metadata` and migration branch (``0006_netsvc``, branch label ``netsvc``); the
migration is a frozen copy of this module and ``tests/contract/test_netsvc_schema.py`` checks that they
agree.  Every node has every table (a node uses those of its role; the others stay empty).

National server (全国サーバ, 機構):

* ``individual_number_assignments`` -- insert-only: one row per 個人番号 ever given (NET-7).  It holds
  **no 個人番号**: the number is re-derived from the national secret, the 住民票コード and ``attempt``;
  ``number_digest`` (HMAC of the number under the national index key) enforces uniqueness, retired
  numbers included.  A person's current number is the row with the highest attempt for the code.

* ``number_notice_receipts`` -- insert-only: which 送付先情報 the card management system received (NET-8),
  without its content (the content is 機構's to print and mail; juki keeps no copy);
* ``card_registry`` -- the card management system's current state of each 個人番号カード (NET-9);
  ``card_events`` -- insert-only log of every card event reported, idempotent by ``dedupe_key``.

Prefecture (都道府県サーバ / 附票都道府県サーバ):

* ``provision_use_sets`` -- insert-only: each configuration of the 別表 uses loaded (the newest rules);
* ``provision_log`` + ``provision_log_subjects`` -- every provision, transfer, 開示 and refusal (PRF-6),
  kept 7 years: the database refuses UPDATE, and DELETE except of rows older than the cutoff named by
  a ``provision_purge_active`` marker, which only the retention purge writes (and removes) in its own
  transaction;
* ``provision_approvals`` -- prior approvals of large outputs (PRF-5);
* ``fuhyo_number_temp`` -- the separate temporary area for the 個人番号 of a 国外転出者 provided with
  附票本人確認情報 (PRF-8), encrypted, deleted after its keeping period;
* ``correction_requests`` -- 訂正等の申出 after a 開示 (住基法30条の35, PRF-7) and their investigation.

Municipality (市町村CS):

* ``individual_number_requests`` -- the 生成要求 / 変更要求 the CS sent (or will send) to 機構 and what
  came of them (pending → designated / failed), and when its 送付先情報 was spooled (NET-8).  No 個人番号 stored (the current number of a 変更要求 is
  read from the register when it is sent).
* ``peer_deliveries`` -- messages to other nodes that must arrive (転入通知, 継続利用, card events), with
  retries; idempotent at the receiver by ``dedupe_key``.  Never a 個人番号 in ``payload``.
* ``moveout_certificates_received`` -- 転出証明書情報 received for a 特例転入; the certificate (which
  carries 個人番号) is AES-GCM encrypted with the register's key ring; deleted when unused 30 days after
  the planned move-out date (NET-6).
* ``move_in_notices_received`` -- 転入通知 received from new municipalities (idempotency).
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import ID, Json, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

LG = sa.String(6)  # 地方公共団体コード
CODE = sa.String(11)  # 住民票コード
REF = sa.String(32)  # 依頼管理番号 and other references

REQUEST_STATUSES = ("pending", "designated", "failed")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
CERTIFICATE_STATUSES = ("received", "submitted", "used")

individual_number_assignments = sa.Table(
    "individual_number_assignments",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("number_digest", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("request_ref", REF, nullable=False),
    sa.Column("lg_code", LG, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("number_digest"),
    sa.UniqueConstraint("request_ref"),
    sa.UniqueConstraint("juminhyo_code", "attempt"),
    sa.CheckConstraint("kind IN ('generate', 'change')", name="kind"),
    sqlite_autoincrement=True,
)

individual_number_requests = sa.Table(
    "individual_number_requests",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
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
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("event_seq", sa.BigInteger(), nullable=True),
    sa.Column("sending_spooled_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("request_ref"),
    sa.Index(None, "status"),
    sa.Index(None, "person_id"),
    sa.CheckConstraint("kind IN ('generate', 'change')", name="kind"),
    sa.CheckConstraint("status IN ('pending', 'designated', 'failed')", name="status"),
    sqlite_autoincrement=True,
)

peer_deliveries = sa.Table(
    "peer_deliveries",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("peer", sa.String(64), nullable=False),
    sa.Column("dedupe_key", sa.String(128), nullable=False),
    sa.Column("payload", Json(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("dedupe_key"),
    sa.Index(None, "status", "next_attempt_at"),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    sqlite_autoincrement=True,
)

moveout_certificates_received = sa.Table(
    "moveout_certificates_received",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("from_lg_code", LG, nullable=False),
    sa.Column("planned_move_out", sa.Date(), nullable=False),
    sa.Column("delete_on", sa.Date(), nullable=False),
    sa.Column("certificate_ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("card_serial", sa.String(32), nullable=False, server_default=""),
    sa.Column("case_ref", REF, nullable=False, server_default=""),
    sa.Column("received_by", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("change_request_id", sa.BigInteger(), nullable=True),
    sa.Column("event_seq", sa.BigInteger(), nullable=True),
    sa.Column("used_at", UTCDateTime(), nullable=True),
    sa.Index(None, "juminhyo_code"),
    sa.Index(None, "delete_on"),
    sa.CheckConstraint("status IN ('received', 'submitted', 'used')", name="status"),
    sqlite_autoincrement=True,
)

move_in_notices_received = sa.Table(
    "move_in_notices_received",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("from_lg_code", LG, nullable=False),
    sa.Column("event_ref", REF, nullable=False),
    sa.Column("juminhyo_codes", Json(), nullable=False),
    sa.Column("event_seqs", Json(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("from_lg_code", "event_ref"),
    sqlite_autoincrement=True,
)

card_registry = sa.Table(
    "card_registry",
    metadata,
    sa.Column("card_serial", sa.String(12), primary_key=True),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("lg_code", LG, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("expires_on", sa.Date(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "juminhyo_code"),
    sa.CheckConstraint("state IN ('active', 'suspended', 'abolished', 'collected', 'returned')", name="state"),
)

card_events = sa.Table(
    "card_events",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("card_serial", sa.String(12), nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("lg_code", LG, nullable=False),
    sa.Column("event_date", sa.Date(), nullable=False),
    sa.Column("dedupe_key", sa.String(128), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("dedupe_key"),
    sa.Index(None, "card_serial"),
    sqlite_autoincrement=True,
)

provision_use_sets = sa.Table(
    "provision_use_sets",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("loaded_at", UTCDateTime(), nullable=False),
    sa.Column("loaded_by", sa.String(64), nullable=False),
    sa.Column("definition", Json(), nullable=False),
    sqlite_autoincrement=True,
)

provision_log = sa.Table(
    "provision_log",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
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
    sa.Column("subjects", Json(), nullable=False),
    sa.Column("items", Json(), nullable=False),
    sa.Column("number_included", sa.Boolean(), nullable=False),
    sa.Column("media", sa.String(16), nullable=False),
    sa.Index(None, "at"),
    sa.Index(None, "recipient", "at"),
    sa.CheckConstraint("outcome IN ('provided', 'not_found', 'multiple', 'refused', 'error')", name="outcome"),
    sqlite_autoincrement=True,
)

provision_log_subjects = sa.Table(
    "provision_log_subjects",
    metadata,
    sa.Column("log_id", Serial(), primary_key=True, autoincrement=False),
    sa.Column("juminhyo_code", CODE, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index(None, "juminhyo_code", "at"),
)

provision_purge_active = sa.Table(
    "provision_purge_active",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("cutoff", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

provision_approvals = sa.Table(
    "provision_approvals",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("recipient", sa.String(64), nullable=False),
    sa.Column("use_code", sa.String(64), nullable=False),
    sa.Column("max_rows", sa.Integer(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("approved_by", sa.String(64), nullable=True),
    sa.Column("approved_at", UTCDateTime(), nullable=True),
    sa.Column("used_at", UTCDateTime(), nullable=True),
    sqlite_autoincrement=True,
)

fuhyo_number_temp = sa.Table(
    "fuhyo_number_temp",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("provision_log_id", sa.BigInteger(), nullable=False),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("number_ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delete_after", UTCDateTime(), nullable=False),
    sa.Index(None, "delete_after"),
    sqlite_autoincrement=True,
)

correction_requests = sa.Table(
    "correction_requests",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("received_by", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("closed_by", sa.String(64), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Index(None, "juminhyo_code"),
    sa.CheckConstraint("status IN ('received', 'corrected', 'no_error')", name="status"),
    sqlite_autoincrement=True,
)

number_notice_receipts = sa.Table(
    "number_notice_receipts",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("lg_code", LG, nullable=False),
    sa.Column("sending_ref", REF, nullable=False),
    sa.Column("juminhyo_code", CODE, nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("lg_code", "sending_ref"),
    sqlite_autoincrement=True,
)

APPEND_ONLY_TABLES: tuple[str, ...] = ("individual_number_assignments", "move_in_notices_received", "card_events",
                                       "provision_use_sets", "number_notice_receipts")
"""Insert-only tables of this branch (the database refuses UPDATE and DELETE)."""

TABLES: tuple[str, ...] = tuple(metadata.tables)
"""Every table of this branch."""
