"""The audit log's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL (SEC-3, NET-11).

Kept in its own :class:`~sqlalchemy.MetaData` because the audit package owns its own migration branch
(``audit``, revision ``0002_audit``); ``migrations/versions/0002_audit.py`` is a frozen copy of this
module and ``tests/contract/test_audit_log.py`` checks that they agree.

=====================  ==========================================================================
table                  what
=====================  ==========================================================================
``audit_entries``      insert-only, hash-chained: one row per audited action (``seq`` contiguous from 1,
                       assigned by the writer under the head lock, not by a sequence)
``audit_subjects``     insert-only index: (seq, person_id) for every 宛名番号 an entry is about, with the
                       entry's user, time and whether it was a read (so that the 開示 query and the
                       real-time bulk-read alert are index scans without a join or a JSON scan)
``audit_head``         the one mutable audit table: a single row (id 1) with the last seq and hash,
                       updated in the same transaction as each append; verify checks it
``audit_alerts``       insert-only: real-time alerts (bulk reads)
``audit_anchors``      insert-only: the signed chain heads exported outside the database
``audit_purges``       insert-only: retention purge request / approve / execute rows (four-eyes);
                       the execute row is the checkpoint (last purged seq and its hash) verify starts from
``audit_purge_active`` scratch marker, written and emptied inside the purge transaction only: the
                       delete triggers of audit_entries/audit_subjects let a row go only while a marker
                       names an *approved* request covering its seq
=====================  ==========================================================================

``subject_ids`` and ``detail`` are stored as canonical JSON *text* (sorted keys, no spaces, UTF-8), not
JSONB: JSONB rewrites what it stores (key order, duplicate keys, number forms), and the hash must be
recomputable from exactly what is stored on either engine.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import ID, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)


USER = sa.String(64)

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    sa.Column("seq", Serial(), primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("user_id", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("subject_ids", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.CheckConstraint("outcome IN ('allowed', 'denied')", name="outcome"),
    sa.Index(None, "at"),
    sa.Index(None, "user_id", "at"),
    sa.Index(None, "session_id"),
)

audit_subjects = sa.Table(
    "audit_subjects",
    metadata,
    sa.Column("seq", Serial(), primary_key=True, autoincrement=False),
    sa.Column("person_id", ID, primary_key=True),
    sa.Column("user_id", USER, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("is_read", sa.Boolean(), nullable=False),
    sa.Index(None, "person_id", "seq"),
    sa.Index(None, "user_id", "at"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("last_seq", Serial(), nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
)

audit_alerts = sa.Table(
    "audit_alerts",
    metadata,
    sa.Column("alert_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("user_id", USER, nullable=False),
    sa.Column("seq", Serial(), nullable=False),
    sa.Column("window_start", UTCDateTime(), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("threshold", sa.Integer(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Index(None, "user_id", "at"),
    sa.Index(None, "at"),
    sqlite_autoincrement=True,
)

audit_anchors = sa.Table(
    "audit_anchors",
    metadata,
    sa.Column("anchor_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("seq", Serial(), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("signature", sa.Text(), nullable=False),
    sa.Column("public_key", sa.Text(), nullable=False),
    sa.Column("file_name", sa.Text(), nullable=False),
    sqlite_autoincrement=True,
)

audit_purges = sa.Table(
    "audit_purges",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    # NULL on the 'request' row; the request's id on its 'approve' and 'execute' rows.
    sa.Column("request_id", Serial(), sa.ForeignKey("audit_purges.id"), nullable=True),
    sa.Column("step", sa.String(10), nullable=False),
    sa.Column("before_at", UTCDateTime(), nullable=False),
    sa.Column("upto_seq", Serial(), nullable=False),
    sa.Column("upto_hash", sa.String(64), nullable=True),
    sa.Column("entry_count", Serial(), nullable=False),
    sa.Column("actor", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.CheckConstraint("step IN ('request', 'approve', 'execute')", name="step"),
    sa.UniqueConstraint("request_id", "step"),
    sqlite_autoincrement=True,
)

audit_purge_active = sa.Table(
    "audit_purge_active",
    metadata,
    sa.Column("request_id", Serial(), primary_key=True, autoincrement=False),
)

AUDIT_INSERT_ONLY: tuple[str, ...] = ("audit_alerts", "audit_anchors", "audit_purges")
"""Audit tables that refuse UPDATE/DELETE/TRUNCATE unconditionally (the generic append-only guard)."""

AUDIT_PURGEABLE: tuple[str, ...] = ("audit_entries", "audit_subjects")
"""Insert-only audit tables that refuse UPDATE/TRUNCATE always, and DELETE except through an approved purge."""

AUDIT_TABLES: tuple[str, ...] = tuple(metadata.tables)
GENESIS_HASH = "0" * 64
