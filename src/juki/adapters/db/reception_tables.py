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
  A closing is a row too, so a closed reception refuses every later write the same way.
"""

from __future__ import annotations

import sqlalchemy as sa

from juki.adapters.db.schema import ID, Serial, UTCDateTime
from juki.adapters.db.schema import metadata as register_metadata

metadata = sa.MetaData(naming_convention=register_metadata.naming_convention)

USER = sa.String(64)

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
    sa.CheckConstraint("action IN ('open', 'status', 'request', 'certificate', 'add_step', 'close')", name="action"),
    sa.CheckConstraint("status IS NULL OR status IN ('not_started', 'in_progress', 'done', 'not_needed')",
                       name="status"),
    sa.CheckConstraint("revision > 0", name="revision"),
    sa.Index(None, "request_id"),
    sa.Index(None, "certificate_id"),
)

TABLES: tuple[str, ...] = tuple(metadata.tables)
APPEND_ONLY_TABLES: tuple[str, ...] = TABLES
"""Every 総合受付 table is insert-only: the history is the record."""
