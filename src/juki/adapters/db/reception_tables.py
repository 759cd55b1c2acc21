"""Tables of the 総合窓口's 総合受付 (CTR-2), one schema for both engines, every one insert-only.

They have their own :data:`metadata` (the register's naming convention) and their own migration branch
(``0012_counter_intake``, branch label ``counter_intake``, off ``0001``); the migration is a frozen copy of
this module and ``tests/contract/test_reception_schema.py`` checks that they agree.

* ``receptions`` -- one 受付: the day and its 受付番号 (unique per day), the life event, who came
  (本人 / 同一世帯の者 / 代理人) and who opened it;
* ``reception_persons`` -- the persons concerned: a 宛名番号 (a person in the register) or the name of a
  person new to it (転入, 出生);
* ``reception_steps`` -- the procedures of the reception (the event's checklist, and any added later);
* ``reception_updates`` -- the reception's history, one row per write, numbered ``revision`` 1, 2, 3 … per
  reception (primary key): opening, a status set by a clerk, a 届出 linked (``request_id``), a certificate
  issued (``certificate_id``), a step added, the closing.  The latest row of a step gives its recorded
  status; the latest revision is the reception's version for **optimistic concurrency**: a write names the
  revision it saw and inserts the next one, so of two clerks who saw the same revision the second finds
  it taken (a check, and the primary key as the last word under concurrency) and is told to reload.
  A closing is a row too, so a closed reception refuses every later write the same way; a reopening
  (``reopen``, with its reason in ``note``) is a row after it, and a hand-off acknowledged by another
  section's system (``handoff``) is a row completing its step.

Revision ``0016_reception_more`` (same branch) adds:

* ``reception_handoffs`` -- one 庁内連携 hand-off per step of a procedure handled by another section,
  written with the step (its ``section`` is the section whose system pulls it);
* ``reception_handoff_acks`` -- the acknowledgement of a hand-off by that section's system (one per
  hand-off: the primary key);
* the retention purge of these tables (文書の保存期間, four-eyes like the register's, REG-R5's pattern):
  ``reception_purges`` (insert-only steps ``request`` / ``approve`` / ``execute``),
  ``reception_purge_items`` (insert-only: the receptions the approver approved, each with the revision it
  had when listed) and ``reception_purge_active`` (the marker the purge writes and removes in its one
  transaction).  Every 総合受付 table stays insert-only, but its DELETE guard is narrowed: a row may be
  deleted only while the marker names an *approved* request whose list holds the row's reception
  (:func:`reception_guard_ddl`).  Every other DELETE, every UPDATE and TRUNCATE is refused as before.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.append_only import append_only_ddl, pg_guard_function
from juki.adapters.db.schema import ID, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

USER = sa.String(64)
ACTIONS = ("open", "status", "request", "certificate", "add_step", "close", "reopen", "handoff")

receptions = sa.Table(
    "receptions",
    metadata,
    sa.Column("reception_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("reception_date", sa.Date(), nullable=False),  # 受付日 (JST)
    sa.Column("number", sa.Integer(), nullable=False),  # 受付番号, per day from 1
    sa.Column("event", sa.String(16), nullable=False),  # domain.life_events.LifeEvent
    sa.Column("filed_by", sa.String(16), nullable=False),  # 来庁者: self | household | agent
    sa.Column("visitor_name", sa.Text(), nullable=False, server_default=""),
    sa.Column("opened_by", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("reception_date", "number"),
    sa.CheckConstraint("filed_by IN ('self', 'household', 'agent')", name="filed_by"),
    sa.CheckConstraint("number > 0", name="number"),
    sqlite_autoincrement=True,
)

reception_persons = sa.Table(
    "reception_persons",
    metadata,
    sa.Column("reception_id", Serial(), sa.ForeignKey("receptions.reception_id"), primary_key=True,
              autoincrement=False),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("person_id", ID, nullable=True),  # 宛名番号; NULL for a person new to the register
    sa.Column("name", sa.Text(), nullable=False, server_default=""),  # a newcomer's name as the visitor gave it
    sa.CheckConstraint("person_id IS NOT NULL OR name <> ''", name="who"),
    sa.Index(None, "person_id"),
)

reception_steps = sa.Table(
    "reception_steps",
    metadata,
    sa.Column("reception_id", Serial(), sa.ForeignKey("receptions.reception_id"), primary_key=True,
              autoincrement=False),
    sa.Column("step_no", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("procedure", sa.String(40), nullable=False),  # domain.life_events.PROCEDURES
)

reception_updates = sa.Table(
    "reception_updates",
    metadata,
    sa.Column("reception_id", Serial(), sa.ForeignKey("receptions.reception_id"), primary_key=True,
              autoincrement=False),
    sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("step_no", sa.Integer(), nullable=True),
    sa.Column("status", sa.String(16), nullable=True),  # the step's recorded status after this row
    sa.Column("request_id", Serial(), nullable=True),  # change_requests.request_id (a linked 届出)
    sa.Column("certificate_id", sa.String(64), nullable=True),  # certificate_issuances.certificate_id
    sa.Column("note", sa.Text(), nullable=False, server_default=""),
    sa.Column("by_user", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(f"action IN ({', '.join(repr(a) for a in ACTIONS)})", name="action"),
    sa.CheckConstraint("status IS NULL OR status IN ('not_started', 'in_progress', 'done', 'not_needed')",
                       name="status"),
    sa.CheckConstraint("revision > 0", name="revision"),
    sa.Index(None, "request_id"),
    sa.Index(None, "certificate_id"),
)

reception_handoffs = sa.Table(
    "reception_handoffs",
    metadata,
    sa.Column("handoff_id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("reception_id", Serial(), sa.ForeignKey("receptions.reception_id"), nullable=False),
    sa.Column("step_no", sa.Integer(), nullable=False),
    sa.Column("section", sa.String(64), nullable=False),  # 庁内連携先 (domain.life_events.Procedure.section)
    sa.Column("procedure", sa.String(40), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("reception_id", "step_no"),
    sa.Index(None, "section", "handoff_id"),
    sqlite_autoincrement=True,
)

reception_handoff_acks = sa.Table(
    "reception_handoff_acks",
    metadata,
    sa.Column("handoff_id", Serial(), sa.ForeignKey("reception_handoffs.handoff_id"), primary_key=True,
              autoincrement=False),
    sa.Column("reception_id", Serial(), nullable=False),  # the hand-off's (for the purge guard)
    sa.Column("revision", sa.Integer(), nullable=False),  # the reception's revision that completed the step
    sa.Column("note", sa.Text(), nullable=False, server_default=""),
    sa.Column("by_user", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
)

reception_purges = sa.Table(
    "reception_purges",
    metadata,
    sa.Column("id", Serial(), primary_key=True, autoincrement=True),
    sa.Column("request_id", Serial(), nullable=True),  # the request a step belongs to (NULL on the request)
    sa.Column("step", sa.String(16), nullable=False),
    sa.Column("cutoff", sa.Date(), nullable=False),
    sa.Column("years", sa.Integer(), nullable=False),
    sa.Column("reception_count", sa.Integer(), nullable=False),
    sa.Column("actor", USER, nullable=False),
    sa.Column("terminal", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    sa.CheckConstraint("step IN ('request', 'approve', 'execute')", name="step"),
    sa.Index(None, "request_id"),
    sqlite_autoincrement=True,
)

reception_purge_items = sa.Table(
    "reception_purge_items",
    metadata,
    sa.Column("request_id", Serial(), primary_key=True, autoincrement=False),
    sa.Column("reception_id", Serial(), primary_key=True, autoincrement=False),
    sa.Column("revision", sa.Integer(), nullable=False),  # the reception's latest revision when listed
)

reception_purge_active = sa.Table(
    "reception_purge_active",
    metadata,
    sa.Column("request_id", Serial(), primary_key=True, autoincrement=False),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)
RECORD_TABLES: tuple[str, ...] = ("receptions", "reception_persons", "reception_steps", "reception_updates",
                                  "reception_handoffs", "reception_handoff_acks")
"""The 総合受付 record itself: insert-only, deleted only by an approved purge (each has ``reception_id``)."""
PURGE_LOG_TABLES: tuple[str, ...] = ("reception_purges", "reception_purge_items")
APPEND_ONLY_TABLES: tuple[str, ...] = RECORD_TABLES + PURGE_LOG_TABLES
"""Every 総合受付 table but the purge's marker is insert-only: the history is the record."""

_APPROVED_PURGE_COVERS_OLD = (
    "EXISTS (SELECT 1 FROM reception_purge_active a "
    "JOIN reception_purges p ON p.request_id = a.request_id AND p.step = 'approve' "
    "JOIN reception_purge_items i ON i.request_id = a.request_id "
    "WHERE i.reception_id = OLD.reception_id)"
)

PG_GUARD_FUNCTION = pg_guard_function(
    "juki_reception_guard", _APPROVED_PURGE_COVERS_OLD,
    "a reception is never updated; only an approved retention purge deletes it (CTR-2)")


def reception_guard_ddl(dialect: str, tables: tuple[str, ...] = RECORD_TABLES) -> list[str]:
    """The guards of revision ``0016_reception_more``: the purge log insert-only, and ``tables`` (the
    record) refusing UPDATE (and TRUNCATE) always and DELETE unless an approved purge that lists the row's
    reception is running."""
    stmts = append_only_ddl(dialect, PURGE_LOG_TABLES)
    if dialect == "sqlite":
        for t in tables:
            stmts += [
                f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} "
                f"BEGIN SELECT RAISE(ABORT, 'juki: {t} is append-only'); END",
                f"DROP TRIGGER IF EXISTS {t}_no_delete",
                f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} WHEN NOT {_APPROVED_PURGE_COVERS_OLD} "
                f"BEGIN SELECT RAISE(ABORT, 'juki: {t} is append-only'); END",
            ]
    elif dialect == "postgresql":
        stmts += append_only_ddl(dialect, tables)  # TRUNCATE refused, and the function for it
        stmts.append(PG_GUARD_FUNCTION)
        for t in tables:
            stmts += [
                f"DROP TRIGGER IF EXISTS {t}_no_update_delete ON {t}",
                f"CREATE TRIGGER {t}_no_update_delete BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION juki_reception_guard()",
            ]
    else:
        raise ValueError(f"no reception guards for dialect {dialect!r}")
    return stmts


def drop_reception_guard_ddl(dialect: str, tables: tuple[str, ...] = RECORD_TABLES) -> list[str]:
    """Undo :func:`reception_guard_ddl` for ``tables``: they refuse every DELETE again (downgrade)."""
    if dialect == "sqlite":
        return [s for t in tables for s in (
            f"DROP TRIGGER IF EXISTS {t}_no_delete",
            f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN SELECT RAISE(ABORT, 'juki: {t} is append-only'); END",
        )]
    if dialect == "postgresql":
        return [s for t in tables for s in (
            f"DROP TRIGGER IF EXISTS {t}_no_update_delete ON {t}",
            f"CREATE TRIGGER {t}_no_update_delete BEFORE UPDATE OR DELETE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION juki_refuse_change()",
        )] + ["DROP FUNCTION IF EXISTS juki_reception_guard()"]
    raise ValueError(f"no reception guards for dialect {dialect!r}")
