"""The table of 広域交付 at the 住所地 (住基法12条の4, REG-CERT, NET-11): what it sent to which 交付地.

Its own :data:`metadata` and migration branch (``0013_wide_area``, branch label ``widearea``, off ``0001``);
the migration is a frozen copy of this module and ``tests/contract/test_wide_area_schema.py`` checks that
they agree.  Every node has the table; a municipality node uses it when it answers as the 住所地.

``wide_area_sends`` -- insert-only (the database refuses UPDATE, DELETE and TRUNCATE): one row per
広域交付住民票情報 sent (広域交付住民票情報の送信), written in the transaction of the audit entry of the read:

* ``answer_ref`` -- the 住所地's reference of the send (``W`` + 11 characters), printed nowhere, named in
  the 交付地's issuance log; the persons of the answer are ``<answer_ref>-<n>`` there;
* ``issuing_lg_code``, ``request_id`` -- the 交付地 and its request id, unique together: a retried request
  gets the same answer and is recorded once; ``request_sha256`` refuses another request under that id;
* ``person_ids`` -- the 宛名番号 of the persons sent, in print order (``<answer_ref>-1`` is the first);
* ``requester`` -- who asked, as the 交付地 stated them (氏名, 生年月日, 住所, identity documents seen, the
  clerk), with the 宛名番号 the 住所地 found them under and their relation to each person;
* ``answer_ciphertext`` -- the answer as sent (no 本籍, 住民票コード or 個人番号 in it), AES-GCM encrypted with
  the register's key ring (SEC-5), so that a retried request gets exactly the same answer;
  ``answer_sha256`` -- its digest;
* ``source`` (revision ``0015_wide_area_keep``) -- ``register`` (answered from the register) or ``buffer``
  (answered from the 中間サーバ's buffer while the register's database was unreachable, NET-12; recorded
  here when the buffer reconciled it, see :mod:`juki.net.wide_area_buffer`).

**Keeping (NET-11, revision 0015_wide_area_keep).** A send record is a provision record of the 住所地: it
is kept **7 years** from ``sent_at`` and then deleted.  The answer itself (``answer_ciphertext``) is needed
only to answer a repeated request id the same way: it is blanked (``b""``, ``key_id`` ``""``) once it is
older than the keeping period of answers (``JUKI_WIDE_AREA_ANSWER_KEEP_DAYS``, default 1 day), the rest
of the row staying.  Both happen only in :func:`juki.net.wide_area.purge_sends`, in one transaction that
writes a ``wide_area_purge_runs`` row and the marker ``wide_area_purge_active`` (its two cutoffs) and
removes the marker before it commits.  The database guard (:func:`wide_area_guard_ddl`) lets through only

* an UPDATE of a row sent before the marker's ``answer_cutoff`` that sets ``answer_ciphertext`` to
  ``b""`` and ``key_id`` to ``""`` and leaves every other column as it was, and
* a DELETE of a row sent before the marker's ``record_cutoff``;

everything else (and TRUNCATE on PostgreSQL) is refused as before (``juki: wide_area_sends is
append-only``).  ``wide_area_purge_runs`` is insert-only.

``wide_area_buffer_intake`` -- which register events the buffer of NET-12 has taken, per buffer (its
``buffer_id``): the anti-join the buffer's sync finds new events by, like ``cs_intake`` for the CS.  Not a
record of anything personal; a buffer made anew gets a new id and takes every event again.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.append_only import append_only_ddl
from juki.adapters.db.schema import Json, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

LG = sa.String(6)  # 地方公共団体コード

wide_area_sends = sa.Table(
    "wide_area_sends",
    metadata,
    sa.Column("answer_ref", sa.String(12), primary_key=True),
    sa.Column("issuing_lg_code", LG, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("request_sha256", sa.String(64), nullable=False),
    sa.Column("operator", sa.String(64), nullable=False),  # the 交付地's clerk, as stated
    sa.Column("person_ids", Json(), nullable=False),  # 宛名番号, in print order
    sa.Column("requester", Json(), nullable=False),  # as stated by the 交付地 (+ the 宛名番号 found, relations)
    sa.Column("whole_household", sa.Boolean(), nullable=False),
    sa.Column("items", Json(), nullable=False),  # the optional items sent
    sa.Column("answer_ciphertext", sa.LargeBinary(), nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("answer_sha256", sa.String(64), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("source", sa.String(8), nullable=False, server_default="register"),  # register | buffer (NET-12)
    sa.UniqueConstraint("issuing_lg_code", "request_id"),
    sa.Index(None, "sent_at"),
)

wide_area_purge_runs = sa.Table(
    "wide_area_purge_runs",
    metadata,
    sa.Column("run_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("answer_cutoff", UTCDateTime(), nullable=False),  # answers sent before this were blanked
    sa.Column("record_cutoff", UTCDateTime(), nullable=False),  # rows sent before this were deleted (7 years)
    sa.Column("keep_days", sa.Integer(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("answers", sa.Integer(), nullable=False),
    sa.Column("records", sa.Integer(), nullable=False),
    sqlite_autoincrement=True,
)

wide_area_purge_active = sa.Table(
    "wide_area_purge_active",
    metadata,
    sa.Column("run_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("answer_cutoff", UTCDateTime(), nullable=False),
    sa.Column("record_cutoff", UTCDateTime(), nullable=False),
)

wide_area_buffer_intake = sa.Table(
    "wide_area_buffer_intake",
    metadata,
    sa.Column("buffer_id", sa.String(32), primary_key=True),
    sa.Column("event_seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("taken_at", UTCDateTime(), nullable=False),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)
APPEND_ONLY: tuple[str, ...] = ("wide_area_sends", "wide_area_purge_runs")
"""Tables the database guards (``wide_area_sends`` narrowed for the purge run, see the module docstring)."""

_MESSAGE = "juki: wide_area_sends is append-only"
_KEPT = ("answer_ref", "issuing_lg_code", "request_id", "request_sha256", "operator", "person_ids", "requester",
         "whole_household", "items", "answer_sha256", "sent_at", "source")
"""Every column an answer purge leaves as it was (a new column of the table must be added here)."""

_SQLITE_BLANKS_ANSWER = (
    "EXISTS (SELECT 1 FROM wide_area_purge_active a WHERE OLD.sent_at < a.answer_cutoff) "
    "AND NEW.answer_ciphertext = X'' AND NEW.key_id = '' AND "
    + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT))
_SQLITE_PAST_RECORD = "EXISTS (SELECT 1 FROM wide_area_purge_active a WHERE OLD.sent_at < a.record_cutoff)"

PG_GUARD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION juki_wide_area_sends_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND EXISTS (SELECT 1 FROM wide_area_purge_active a WHERE OLD.sent_at < a.answer_cutoff)
       AND NEW.answer_ciphertext = ''::bytea AND NEW.key_id = ''
       AND ({", ".join(f"NEW.{c}" for c in _KEPT)}) IS NOT DISTINCT FROM ({", ".join(f"OLD.{c}" for c in _KEPT)}) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM wide_area_purge_active a WHERE OLD.sent_at < a.record_cutoff) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'juki: % is append-only', TG_TABLE_NAME
        USING HINT = 'a send record is kept 7 years; only the purge run blanks an old answer or deletes an expired row';
END
$$
"""


def wide_area_guard_ddl(dialect: str) -> list[str]:
    """Install the narrowed guard of ``wide_area_sends`` and the insert-only run log (revision 0015)."""
    stmts = append_only_ddl(dialect, ("wide_area_purge_runs",))
    if dialect == "sqlite":
        stmts += [
            "DROP TRIGGER IF EXISTS wide_area_sends_no_update",
            "DROP TRIGGER IF EXISTS wide_area_sends_no_delete",
            f"CREATE TRIGGER wide_area_sends_no_update BEFORE UPDATE ON wide_area_sends WHEN NOT ({_SQLITE_BLANKS_ANSWER}) "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
            f"CREATE TRIGGER wide_area_sends_no_delete BEFORE DELETE ON wide_area_sends WHEN NOT ({_SQLITE_PAST_RECORD}) "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
        ]
    elif dialect == "postgresql":
        stmts += [
            PG_GUARD_FUNCTION,
            "DROP TRIGGER IF EXISTS wide_area_sends_no_update_delete ON wide_area_sends",
            "CREATE TRIGGER wide_area_sends_no_update_delete BEFORE UPDATE OR DELETE ON wide_area_sends "
            "FOR EACH ROW EXECUTE FUNCTION juki_wide_area_sends_guard()",
        ]
    else:
        raise ValueError(f"no wide-area guards for dialect {dialect!r}")
    return stmts


def drop_wide_area_guard_ddl(dialect: str) -> list[str]:
    """Undo :func:`wide_area_guard_ddl`: ``wide_area_sends`` refuses every UPDATE and DELETE again."""
    if dialect == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS wide_area_sends_no_update",
            "DROP TRIGGER IF EXISTS wide_area_sends_no_delete",
            "DROP TRIGGER IF EXISTS wide_area_purge_runs_no_update",
            "DROP TRIGGER IF EXISTS wide_area_purge_runs_no_delete",
            *append_only_ddl(dialect, ("wide_area_sends",)),
        ]
    if dialect == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS wide_area_sends_no_update_delete ON wide_area_sends",
            "CREATE TRIGGER wide_area_sends_no_update_delete BEFORE UPDATE OR DELETE ON wide_area_sends "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
            "DROP FUNCTION IF EXISTS juki_wide_area_sends_guard()",
            "DROP TRIGGER IF EXISTS wide_area_purge_runs_no_update_delete ON wide_area_purge_runs",
            "DROP TRIGGER IF EXISTS wide_area_purge_runs_no_truncate ON wide_area_purge_runs",
        ]
    raise ValueError(f"no wide-area guards for dialect {dialect!r}")
