"""Tables of the counter (窓口) and its online-application queue (CTR-1, CTR-3), one schema for both engines.

They live in their own :data:`metadata` (the register's naming convention) because the counter owns
its migration branch (``0007_web``, branch label ``web``); the migration is a frozen copy of this module
and ``tests/contract/test_web_schema.py`` checks that they agree.  Every table is insert-only (the
database refuses UPDATE, DELETE and TRUNCATE): a status is the latest of its steps.

* ``counter_intakes`` -- 本人確認 and 代理人 of one 届出 entered at the counter (one row per change
  request, written in the submission's transaction): who filed it, which identity documents were
  checked, and for an agent the 委任状.
* ``online_applications`` -- 引越しワンストップ (CTR-3): an online 転出届 or 転入予約 / 転居予約 as it
  arrived from マイナポータル through the API, with the applicant's 4情報 and what they asked for.
* ``online_application_steps`` -- each step of an application (受付, 処理中 with the change request the
  clerk entered, 完了, 取下げ …), who took it and when.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import ID, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

USER = sa.String(64)

counter_intakes = sa.Table(
    "counter_intakes",
    metadata,
    sa.Column("request_id", Serial(), primary_key=True, autoincrement=False),  # change_requests.request_id
    sa.Column("filed_by", sa.String(16), nullable=False),  # self | household | agent
    sa.Column("identity_documents", sa.Text(), nullable=False),  # JSON list of document codes
    sa.Column("agent_name", sa.Text(), nullable=False, server_default=""),
    sa.Column("agent_address", sa.Text(), nullable=False, server_default=""),
    sa.Column("power_of_attorney", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("recorded_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("filed_by IN ('self', 'household', 'agent')", name="filed_by"),
)

online_applications = sa.Table(
    "online_applications",
    metadata,
    sa.Column("application_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),  # move_out | move_in_reservation | move_within_reservation
    sa.Column("reference", sa.String(64), nullable=False, unique=True),  # the portal's 申請番号
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("applicant_name", sa.Text(), nullable=False),
    sa.Column("applicant_kana", sa.Text(), nullable=False),
    sa.Column("applicant_birth_date", sa.Date(), nullable=False),
    sa.Column("planned_date", sa.Date(), nullable=False),  # 異動予定日
    sa.Column("visit_date", sa.Date(), nullable=True),  # 来庁予定日 (転入予約)
    sa.Column("payload", sa.Text(), nullable=False),  # the application as received (JSON)
    sa.Column("received_by", USER, nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('move_out', 'move_in_reservation', 'move_within_reservation')", name="kind"),
    sqlite_autoincrement=True,
)

online_application_steps = sa.Table(
    "online_application_steps",
    metadata,
    sa.Column("step_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("application_id", Serial(), sa.ForeignKey("online_applications.application_id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("request_id", Serial(), nullable=True),  # the change request entered for it
    sa.Column("person_id", ID, nullable=True),  # the register's 宛名番号, once matched
    sa.Column("note", sa.Text(), nullable=False, server_default=""),
    sa.Column("by_user", USER, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('received', 'in_progress', 'completed', 'withdrawn', 'refused')", name="status"),
    sa.Index(None, "application_id"),
    sqlite_autoincrement=True,
)


screen_locks = sa.Table(
    "screen_locks",
    metadata,
    sa.Column("lock_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(64), nullable=False),  # sessions.session_id (SHA-256 of the token)
    sa.Column("action", sa.String(8), nullable=False),  # lock | unlock
    sa.Column("reason", sa.String(16), nullable=False),  # idle | manual | password
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("action IN ('lock', 'unlock')", name="action"),
    sa.Index(None, "session_id"),
    sqlite_autoincrement=True,
)
"""画面ロック (SEC-1): a counter screen's locks and unlocks; the screen is locked while the latest row of its
session says ``lock``.  Insert-only, so the log of locks is evidence too."""

TABLES: tuple[str, ...] = tuple(metadata.tables)
APPEND_ONLY_TABLES: tuple[str, ...] = TABLES
"""Every web table is insert-only."""
