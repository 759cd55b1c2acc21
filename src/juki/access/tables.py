"""The access-control tables (SEC-1, SEC-2, SEC-8, SEC-9), SQLAlchemy Core, one schema for both engines.

They live in their own :data:`metadata` (same naming convention as the register's) because the access
package owns its migration branch (``0003_access``, branch label ``access``).  The migration is a frozen
copy of this module; ``tests/contract/test_access_schema.py`` checks that they agree.

* ``staff`` -- one row per account, mutable state (status, failed logins, last TOTP step).  Accounts are
  never deleted (SEC-9: a user id is never reused; the database refuses DELETE).
* ``terminals`` -- registered terminals; the terminal key is stored only as SHA-256.  Never deleted.
* ``sessions`` -- keyed by SHA-256 of the bearer token (the token itself is never stored).  Never
  deleted: login → logout is evidence for the access log (SEC-3).
* ``rights`` + ``right_approvals`` + ``right_revocations`` -- insert-only: a right is effective when it
  has an approval row and no revocation row.
* ``support_measures`` + ``support_measure_ends`` -- DV 支援措置 (SEC-8), insert-only.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import ID, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

USER = sa.String(64)
SECTION = sa.String(64)

STAFF_KINDS = ("staff", "contractor")
STAFF_STATUSES = ("active", "disabled", "locked")

staff = sa.Table(
    "staff",
    metadata,
    sa.Column("user_id", USER, primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("section", SECTION, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text(), nullable=False),
    sa.Column("password_changed_at", UTCDateTime(), nullable=False),
    sa.Column("password_expires_at", UTCDateTime(), nullable=False),
    sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("locked_reason", sa.Text(), nullable=True),
    sa.Column("locked_at", UTCDateTime(), nullable=True),
    sa.Column("totp_secret_ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("totp_key_id", sa.String(32), nullable=False),
    sa.Column("last_totp_step", sa.BigInteger(), nullable=True),
    sa.Column("last_login_at", UTCDateTime(), nullable=True),
    sa.Column("created_by", USER, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("disabled_by", USER, nullable=True),
    sa.Column("disabled_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('staff', 'contractor')", name="kind"),
    sa.CheckConstraint("status IN ('active', 'disabled', 'locked')", name="status"),
)

terminals = sa.Table(
    "terminals",
    metadata,
    sa.Column("terminal_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("section", SECTION, nullable=False),
    sa.Column("credential_hash", sa.String(64), nullable=False),
    sa.Column("registered_by", USER, nullable=False),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_by", USER, nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("user_id", USER, sa.ForeignKey("staff.user_id"), nullable=False),
    sa.Column("terminal_id", sa.String(64), sa.ForeignKey("terminals.terminal_id"), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=True),
    sa.Index(None, "user_id"),
)

rights = sa.Table(
    "rights",
    metadata,
    sa.Column("grant_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("user_id", USER, sa.ForeignKey("staff.user_id"), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("section", SECTION, nullable=False),
    sa.Column("requested_by", USER, nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.Index(None, "user_id"),
    sqlite_autoincrement=True,
)

right_approvals = sa.Table(
    "right_approvals",
    metadata,
    sa.Column("grant_id", Serial(), sa.ForeignKey("rights.grant_id"), primary_key=True, autoincrement=False),
    sa.Column("approved_by", USER, nullable=False),
    sa.Column("approved_at", UTCDateTime(), nullable=False),
)

right_revocations = sa.Table(
    "right_revocations",
    metadata,
    sa.Column("grant_id", Serial(), sa.ForeignKey("rights.grant_id"), primary_key=True, autoincrement=False),
    sa.Column("revoked_by", USER, nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
)

support_measures = sa.Table(
    "support_measures",
    metadata,
    sa.Column("measure_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("person_id", ID, nullable=False),  # the protected person (宛名番号)
    sa.Column("offender_name", sa.Text(), nullable=False),
    sa.Column("offender_name_kana", sa.Text(), nullable=True),
    sa.Column("offender_birth_date", sa.Date(), nullable=True),
    sa.Column("offender_person_id", ID, nullable=True),
    sa.Column("valid_from", sa.Date(), nullable=False),
    sa.Column("valid_to", sa.Date(), nullable=True),
    sa.Column("case_ref", sa.String(64), nullable=False, server_default=""),
    sa.Column("registered_by", USER, nullable=False),
    sa.Column("approved_by", USER, nullable=False),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Index(None, "person_id"),
    sa.Index(None, "offender_person_id"),
    sqlite_autoincrement=True,
)

support_measure_ends = sa.Table(
    "support_measure_ends",
    metadata,
    sa.Column(
        "measure_id", Serial(), sa.ForeignKey("support_measures.measure_id"), primary_key=True, autoincrement=False
    ),
    sa.Column("ended_by", USER, nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
)

APPEND_ONLY_TABLES: tuple[str, ...] = (
    "rights",
    "right_approvals",
    "right_revocations",
    "support_measures",
    "support_measure_ends",
)
"""Insert-only: the database refuses UPDATE, DELETE and TRUNCATE."""

NO_DELETE_TABLES: tuple[str, ...] = ("staff", "terminals", "sessions")
"""Mutable, but never deleted (SEC-9 ids are never reused; sessions are evidence)."""

TABLES: tuple[str, ...] = tuple(metadata.tables)

PG_NO_DELETE_FUNCTION = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'juki: rows of % are never deleted', TG_TABLE_NAME
        USING HINT = '{hint}';
END
$$
"""
NO_DELETE_FUNCTION = "juki_refuse_delete"
NO_DELETE_HINT = "disable or end the row instead (user ids are never reused, SEC-9)"


def no_delete_ddl(dialect: str, tables: tuple[str, ...] = NO_DELETE_TABLES, *, function: str = NO_DELETE_FUNCTION,
                  hint: str = NO_DELETE_HINT) -> list[str]:
    """Statements that make the database refuse DELETE (and TRUNCATE on PostgreSQL) on ``tables``.  Another
    package's tables pass their own PostgreSQL ``function``, so that downgrading one branch never drops a
    function the other's triggers use."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} "
            f"BEGIN SELECT RAISE(ABORT, 'juki: rows of {t} are never deleted'); END"
            for t in tables
        ]
    if dialect == "postgresql":
        stmts = [PG_NO_DELETE_FUNCTION.format(function=function, hint=hint)]
        for t in tables:
            stmts += [
                f"DROP TRIGGER IF EXISTS {t}_no_delete ON {t}",
                f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()",
                f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}",
                f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
            ]
        return stmts
    raise ValueError(f"no delete guards for dialect {dialect!r}")


def drop_no_delete_ddl(dialect: str, tables: tuple[str, ...] = NO_DELETE_TABLES, *,
                       function: str = NO_DELETE_FUNCTION) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {t}_no_delete" for t in tables]
    if dialect == "postgresql":
        stmts: list[str] = []
        for t in tables:
            stmts += [f"DROP TRIGGER IF EXISTS {t}_no_delete ON {t}", f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}"]
        return [*stmts, f"DROP FUNCTION IF EXISTS {function}()"]
    raise ValueError(f"no delete guards for dialect {dialect!r}")
