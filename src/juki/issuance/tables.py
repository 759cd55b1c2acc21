"""The tables of certificate issuance, コンビニ交付 and 印鑑登録 (REG-CERT, REG-LINK5, SEC-3), SQLAlchemy Core,
one schema for both engines.

They live in their own :data:`metadata` (same naming convention as the register's) because the issuance
package owns its migration branch (``0004_certificates``, branch label ``certificates``, then
``0009_cert_token``, ``0017_mail_requests``).  The migrations are a frozen copy of this module; ``tests/contract/test_issuance_schema.py`` checks that they agree.

=========================  ==========================================================================
table                      what
=========================  ==========================================================================
``certificate_issuances``  insert-only: one row per certificate handed out (交付記録): kind, subjects,
                           requester (path, identity, relation, reason/purpose), items, who issued it
                           from which terminal (or which kiosk, card and kiosk transaction), when, the
                           hash of the printed content and of the PDF, the envelope when mailed, the
                           counter preview's one-time token (unique: issued once per preview)
``certificate_subjects``   insert-only index (certificate id, 宛名番号): whose certificates were issued
                           (for 開示 and for the 本人通知 of third-party requests)
``resident_cards``         コンビニ交付 cards: the card's public key (利用者証明用電子証明書 stand-in), the
                           hashed 4-digit PIN and its failure count, status; never deleted
``kiosks``                 registered kiosk terminals; the kiosk key is stored as SHA-256; never deleted
``kiosk_challenges``       one-time challenges a kiosk asked for; ``used_at`` is set once (replay guard)
``kiosk_transactions``     one row per kiosk session (取引), from card authentication to its end
``seal_registrations``     insert-only: 印鑑登録 (registration number, person, 印影 image, the 印鑑登録証
                           number, how identity was checked)
``seal_confirmations``     insert-only: the 照会書 回答 that makes a registration by inquiry effective
``seal_abolitions``        insert-only: 廃止 (by request, 亡失, 転出, 死亡, 職権)
``certificate_copies``     insert-only: the signed PDF of a certificate issued from a counter preview or
                           a 郵送請求, encrypted with the register's key ring (AAD: the certificate id),
                           so that a double submit gets the same certificate again (再表示), never a
                           second one (``0017_mail_requests``); deleted after ``COPY_KEEP_DAYS`` by a
                           logged purge (``0018_cert_copy_purge``), the only DELETE its guard lets through
``certificate_copy_purges``  insert-only: one row per purge of expired copies (when, the cutoff, who, how
                           many) (``0018_cert_copy_purge``)
``certificate_copy_purge_active``  the marker of the purge in progress, written and removed inside the
                           purge's one transaction
``mail_requests``          insert-only: 郵送請求 received (受付日, who entered it, the request as JSON with
                           channel ``mail``, the 返信用封筒's 宛名・住所, the 手数料 and how it was paid);
                           queued for the day's 一括交付 until it has an outcome (``0017_mail_requests``)
``mail_request_outcomes``  insert-only, one row per request (its primary key): issued (the certificate
                           and the batch) or returned to the requester (返戻); a second outcome -- two
                           batches racing for one request -- is refused by the database
=========================  ==========================================================================

REG-LINK5: no table here has a column for the 個人番号, and nothing joins to where it is kept; persons
are named by 宛名番号 only.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.access import tables as access_tables
from juki.adapters.db.append_only import pg_guard_function
from juki.adapters.db.schema import ID, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

USER = sa.String(64)
CERT_ID = sa.String(40)
DIGEST = sa.String(64)

certificate_issuances = sa.Table(
    "certificate_issuances",
    metadata,
    sa.Column("certificate_id", CERT_ID, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("layout", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # counter | mail | kiosk
    sa.Column("path", sa.String(24), nullable=False),  # self | public_body | third_party | wide_area
    sa.Column("subject_ids", sa.Text(), nullable=False),  # JSON list of 宛名番号, in print order
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
    sa.Column("request_detail", sa.Text(), nullable=False),  # JSON: identity documents, professional, etc.
    sa.Column("items", sa.Text(), nullable=False),  # JSON: the optional items printed
    sa.Column("issued_by", USER, nullable=False),  # staff user id, or kiosk:<kiosk id>
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("kiosk_transaction_id", sa.String(40), nullable=True),
    sa.Column("card_id", sa.String(40), nullable=True),
    sa.Column("batch_id", sa.String(40), nullable=True),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("issued_on", sa.Date(), nullable=False),  # JST date printed on the certificate
    sa.Column("content_sha256", DIGEST, nullable=False),
    sa.Column("pdf_sha256", DIGEST, nullable=False),
    sa.Column("envelope_addressee", sa.Text(), nullable=True),
    sa.Column("envelope_address", sa.Text(), nullable=True),
    sa.Column("seal_registration_number", Serial(), nullable=True),
    # the counter's one-time token of the preview this certificate was issued from (0009_cert_token):
    # unique, so a second submit of the same preview cannot log a second certificate (double click)
    sa.Column("request_token", sa.String(64), nullable=True),
    sa.CheckConstraint("channel IN ('counter', 'mail', 'kiosk')", name="channel"),
    sa.Index(None, "issued_on", "kind"),
    sa.Index(None, "issued_by", "issued_at"),
    sa.Index(None, "batch_id"),
    sa.Index(None, "request_token", unique=True),
)

certificate_subjects = sa.Table(
    "certificate_subjects",
    metadata,
    sa.Column("certificate_id", CERT_ID, sa.ForeignKey("certificate_issuances.certificate_id"), primary_key=True),
    sa.Column("person_id", ID, primary_key=True),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Index(None, "person_id", "issued_at"),
)

CARD_STATUSES = ("active", "locked", "revoked")

resident_cards = sa.Table(
    "resident_cards",
    metadata,
    sa.Column("card_id", sa.String(40), primary_key=True),
    sa.Column("person_id", ID, nullable=False),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("public_key", sa.Text(), nullable=False),  # PEM (SubjectPublicKeyInfo)
    sa.Column("pin_hash", sa.Text(), nullable=False),  # argon2id of the 4-digit PIN
    sa.Column("failed_pins", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("issued_by", USER, nullable=False),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("valid_until", sa.Date(), nullable=False),
    sa.Column("locked_at", UTCDateTime(), nullable=True),
    sa.Column("unlocked_by", USER, nullable=True),
    sa.Column("unlocked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_by", USER, nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoke_reason", sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('active', 'locked', 'revoked')", name="status"),
    sa.CheckConstraint("algorithm IN ('ed25519', 'ecdsa-p256')", name="algorithm"),
    sa.Index(None, "person_id"),
)

kiosks = sa.Table(
    "kiosks",
    metadata,
    sa.Column("kiosk_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("location", sa.Text(), nullable=False, server_default=""),
    sa.Column("credential_hash", DIGEST, nullable=False),
    sa.Column("registered_by", USER, nullable=False),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_by", USER, nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

kiosk_challenges = sa.Table(
    "kiosk_challenges",
    metadata,
    sa.Column("challenge", DIGEST, primary_key=True),  # 32 random bytes, hex
    sa.Column("kiosk_id", sa.String(64), sa.ForeignKey("kiosks.kiosk_id"), nullable=False),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

kiosk_transactions = sa.Table(
    "kiosk_transactions",
    metadata,
    sa.Column("transaction_id", sa.String(40), primary_key=True),
    sa.Column("kiosk_id", sa.String(64), sa.ForeignKey("kiosks.kiosk_id"), nullable=False),
    sa.Column("card_id", sa.String(40), sa.ForeignKey("resident_cards.card_id"), nullable=False),
    sa.Column("person_id", ID, nullable=False),
    sa.Column("token_hash", DIGEST, nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=True),
    sa.Column("certificates", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(None, "card_id"),
)

seal_registrations = sa.Table(
    "seal_registrations",
    metadata,
    sa.Column("registration_number", Serial(), primary_key=True, autoincrement=True),  # 印鑑登録番号
    sa.Column("person_id", ID, nullable=False),
    sa.Column("registered_name", sa.Text(), nullable=False),  # 氏名 at registration (name changes are checked)
    sa.Column("imprint_png", sa.LargeBinary(), nullable=False),  # 印影
    sa.Column("imprint_sha256", DIGEST, nullable=False),
    sa.Column("imprint_size_mm", sa.Integer(), nullable=False),  # 印影の一辺 (mm, rounded up)
    sa.Column("card_number", sa.String(16), nullable=False),  # 印鑑登録証の番号
    sa.Column("method", sa.String(16), nullable=False),  # immediate (写真付き本人確認) | inquiry (照会書)
    sa.Column("applicant", sa.Text(), nullable=False, server_default=""),  # 代理人 (委任状) when not the person
    sa.Column("identity", sa.Text(), nullable=False),  # JSON: documents checked
    sa.Column("entered_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("entered_at", UTCDateTime(), nullable=False),
    sa.Column("entered_on", sa.Date(), nullable=False),  # JST; the 登録日 of an immediate registration
    sa.UniqueConstraint("card_number"),
    sa.CheckConstraint("method IN ('immediate', 'inquiry')", name="method"),
    sa.Index(None, "person_id"),
    sqlite_autoincrement=True,
)

seal_confirmations = sa.Table(
    "seal_confirmations",
    metadata,
    sa.Column("registration_number", Serial(), sa.ForeignKey("seal_registrations.registration_number"),
              primary_key=True, autoincrement=False),
    sa.Column("confirmed_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("confirmed_at", UTCDateTime(), nullable=False),
    sa.Column("confirmed_on", sa.Date(), nullable=False),  # the 登録日 of a registration by inquiry
    sa.Column("reference", sa.Text(), nullable=False, server_default=""),  # 回答書 number
)

SEAL_ABOLITION_REASONS = ("request", "card_lost", "moved_out", "died", "removed", "name_changed")

seal_abolitions = sa.Table(
    "seal_abolitions",
    metadata,
    sa.Column("registration_number", Serial(), sa.ForeignKey("seal_registrations.registration_number"),
              primary_key=True, autoincrement=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("abolished_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("abolished_at", UTCDateTime(), nullable=False),
    sa.Column("effective_on", sa.Date(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False, server_default=""),
    sa.CheckConstraint(
        "reason IN ('request', 'card_lost', 'moved_out', 'died', 'removed', 'name_changed')", name="reason"
    ),
)

certificate_copies = sa.Table(
    "certificate_copies",
    metadata,
    sa.Column("certificate_id", CERT_ID, sa.ForeignKey("certificate_issuances.certificate_id"), primary_key=True),
    sa.Column("pdf_ciphertext", sa.LargeBinary(), nullable=False),  # AES-256-GCM of the PDF (base64 text)
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("stored_at", UTCDateTime(), nullable=False),
    sa.Index(None, "stored_at"),  # 0018_cert_copy_purge: what has expired
)

COPY_KEEP_DAYS = 7
"""How long the stored copy of a certificate is kept.  It is there for a double submit (seconds) and for
printing a mail batch again after a jammed printer (the same day); it is not the certificate's record --
``certificate_issuances`` is, with the PDF's hash -- so it goes after a week rather than living as long as
the log (a copy of personal data kept no longer than its purpose, SEC-8)."""

certificate_copy_purges = sa.Table(
    "certificate_copy_purges",
    metadata,
    sa.Column("purge_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("cutoff", UTCDateTime(), nullable=False),  # copies stored before it were deleted
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("copies", sa.Integer(), nullable=False),
    sqlite_autoincrement=True,
)

certificate_copy_purge_active = sa.Table(
    "certificate_copy_purge_active",
    metadata,
    sa.Column("purge_id", sa.BigInteger(), primary_key=True, autoincrement=False),
)

MAIL_FEE_METHODS = ("postal_order", "cash_registered", "exempt")
"""手数料 of a 郵送請求: 定額小為替, 現金書留, or none (公用請求)."""
MAIL_OUTCOMES = ("issued", "returned")

mail_requests = sa.Table(
    "mail_requests",
    metadata,
    sa.Column("request_id", sa.String(24), primary_key=True),  # 郵送受付番号, "M" + 16 hex
    sa.Column("received_on", sa.Date(), nullable=False),  # JST: the day whose batch it joins
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("entered_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("subject_ids", sa.Text(), nullable=False),  # JSON list of 宛名番号 (one for the batch)
    sa.Column("requester_person_id", ID, nullable=True),
    sa.Column("request", sa.Text(), nullable=False),  # JSON: the CertificateRequest, channel mail
    sa.Column("envelope_addressee", sa.Text(), nullable=False),  # 返信用封筒の宛名
    sa.Column("envelope_address", sa.Text(), nullable=False),  # 返信用封筒の住所
    sa.Column("fee_method", sa.String(16), nullable=False),
    sa.Column("fee_yen", sa.Integer(), nullable=False),
    sa.Column("form_token", sa.String(64), nullable=True),  # the form's one-time token (unique: recorded once)
    sa.CheckConstraint("fee_method IN ('postal_order', 'cash_registered', 'exempt')", name="fee_method"),
    sa.CheckConstraint("fee_yen >= 0", name="fee_yen"),
    sa.Index(None, "received_on"),
    sa.Index(None, "form_token", unique=True),
)

mail_request_outcomes = sa.Table(
    "mail_request_outcomes",
    metadata,
    sa.Column("request_id", sa.String(24), sa.ForeignKey("mail_requests.request_id"), primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # issued | returned
    sa.Column("certificate_id", CERT_ID, sa.ForeignKey("certificate_issuances.certificate_id"), nullable=True),
    sa.Column("batch_id", sa.String(40), nullable=True),
    sa.Column("decided_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=False),
    sa.Column("note", sa.Text(), nullable=False, server_default=""),  # why it was returned
    sa.CheckConstraint("outcome IN ('issued', 'returned')", name="outcome"),
    sa.CheckConstraint("outcome <> 'issued' OR certificate_id IS NOT NULL", name="issued_certificate"),
    sa.Index(None, "batch_id"),
)

APPEND_ONLY_TABLES: tuple[str, ...] = (
    "certificate_issuances",
    "certificate_subjects",
    "seal_registrations",
    "seal_confirmations",
    "seal_abolitions",
    "certificate_copies",
    "mail_requests",
    "mail_request_outcomes",
    "certificate_copy_purges",
)
"""Insert-only: the database refuses UPDATE, DELETE and TRUNCATE (``certificate_copies``: DELETE only by a
purge, see :func:`copy_purge_guard_ddl`)."""

NO_DELETE_TABLES: tuple[str, ...] = ("resident_cards", "kiosks", "kiosk_challenges", "kiosk_transactions")
"""Mutable state (PIN failures, lock, challenge use, transaction end), never deleted: evidence (SEC-3)."""

TABLES: tuple[str, ...] = tuple(metadata.tables)

NO_DELETE_FUNCTION = "juki_issuance_refuse_delete"
"""This branch's own PostgreSQL guard function (downgrading the access branch drops its own)."""


def no_delete_ddl(dialect: str, tables: tuple[str, ...] = NO_DELETE_TABLES) -> list[str]:
    """Statements that make the database refuse DELETE (and TRUNCATE on PostgreSQL) on ``tables``."""
    return access_tables.no_delete_ddl(
        dialect, tables, function=NO_DELETE_FUNCTION,
        hint="cards, kiosks and kiosk transactions are evidence of who obtained which certificate")


def drop_no_delete_ddl(dialect: str, tables: tuple[str, ...] = NO_DELETE_TABLES) -> list[str]:
    return access_tables.drop_no_delete_ddl(dialect, tables, function=NO_DELETE_FUNCTION)


# --- the narrowed DELETE guard of certificate_copies (0018_cert_copy_purge) ---------------------------

_PURGE_COVERS_OLD = (
    "EXISTS (SELECT 1 FROM certificate_copy_purge_active a "
    "JOIN certificate_copy_purges p ON p.purge_id = a.purge_id WHERE OLD.stored_at < p.cutoff)"
)
COPY_GUARD_FUNCTION = "juki_certificate_copies_guard"


def copy_purge_guard_ddl(dialect: str) -> list[str]:
    """``certificate_copies`` refuses UPDATE and DELETE as before, except the DELETE of a copy stored before
    the cutoff of a logged purge whose marker exists (inside :meth:`IssuanceService.purge_copies`'s
    transaction).  TRUNCATE stays refused on PostgreSQL."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS certificate_copies_no_delete",
            "CREATE TRIGGER certificate_copies_no_delete BEFORE DELETE ON certificate_copies "
            f"WHEN NOT {_PURGE_COVERS_OLD} "
            "BEGIN SELECT RAISE(ABORT, 'juki: certificate_copies is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            pg_guard_function(COPY_GUARD_FUNCTION, _PURGE_COVERS_OLD,
                              "a stored copy is deleted only by the purge of expired copies"),
            "DROP TRIGGER IF EXISTS certificate_copies_no_update_delete ON certificate_copies",
            "CREATE TRIGGER certificate_copies_no_update_delete BEFORE UPDATE OR DELETE ON certificate_copies "
            f"FOR EACH ROW EXECUTE FUNCTION {COPY_GUARD_FUNCTION}()",
        ]
    raise ValueError(f"no guards for dialect {dialect!r}")


def drop_copy_purge_guard_ddl(dialect: str) -> list[str]:
    """Undo :func:`copy_purge_guard_ddl`: every DELETE refused again (downgrade)."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS certificate_copies_no_delete",
            "CREATE TRIGGER certificate_copies_no_delete BEFORE DELETE ON certificate_copies "
            "BEGIN SELECT RAISE(ABORT, 'juki: certificate_copies is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS certificate_copies_no_update_delete ON certificate_copies",
            "CREATE TRIGGER certificate_copies_no_update_delete BEFORE UPDATE OR DELETE ON certificate_copies "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
            f"DROP FUNCTION IF EXISTS {COPY_GUARD_FUNCTION}()",
        ]
    raise ValueError(f"no guards for dialect {dialect!r}")
