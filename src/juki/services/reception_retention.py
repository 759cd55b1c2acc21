"""Retention of the 総合受付 records (CTR-2, 文書の保存期間): list and count → approval by a second person →
delete, every step in the audit log -- the register's purge (:mod:`juki.services.retention`, REG-R5)
applied to the reception tables.

The period (:data:`juki.domain.life_events.RECEPTION_RETENTION_YEARS`, default 5 years; the setting
``JUKI_RECEPTION_RETENTION_YEARS``) is a local decision: the seeds give none for the 総合窓口's records.  It
runs from a reception's **last write** (its closing, normally; a reopening or any later write restarts
it): a reception whose latest revision was written (JST day) on or before the cutoff has expired.

1. :meth:`ReceptionRetention.plan` lists the expired receptions (nothing is written);
2. :meth:`~ReceptionRetention.request` records that list with each reception's latest revision
   (``reception_purge_items``);
3. :meth:`~ReceptionRetention.approve`: someone other than the requester (SEC-3 four-eyes; the refusal is
   itself logged);
4. :meth:`~ReceptionRetention.execute`, in one transaction: re-checks the approval and that no listed
   reception was written since (a new revision stops the whole purge: request again); writes the marker
   the tables' guard requires; deletes the receptions with their persons, steps, history and hand-offs;
   removes the marker; records the ``execute`` step and a ``reception.purge`` audit entry naming the
   registered persons the deleted receptions named.

What stays: the audit log's entries about the receptions (their own retention, NET-11); the 届出 and
certificates a reception linked (the register's and the issuance log's own records).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from juki.adapters.db.reception_tables import (
    reception_handoff_acks,
    reception_handoffs,
    reception_persons,
    reception_purge_active,
    reception_purge_items,
    reception_purges,
    reception_steps,
    reception_updates,
    receptions,
)
from juki.clock import jst_date
from juki.domain.errors import Conflict, InvalidInput, Problem
from juki.domain.life_events import RECEPTION_RETENTION_YEARS, reception_expired
from juki.services.purging import FourEyesPurge

RULE = "CTR-2/retention"
CHUNK = 500


@dataclass(frozen=True)
class Expired:
    """One expired reception: its latest revision and the JST day it was written."""

    reception_id: int
    revision: int
    last_write: dt.date


@dataclass(frozen=True)
class Plan:
    cutoff: dt.date
    items: tuple[Expired, ...]

    @property
    def count(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Purge:
    """A purge request and where it stands: ``requested`` → ``approved`` → ``executed``."""

    request_id: int
    cutoff: dt.date
    reception_count: int
    requested_by: str
    status: str


def _latest(conn: Connection, only: Iterable[int] | None = None) -> list[tuple[int, int, dt.datetime]]:
    """(reception, latest revision, when it was written) of every reception, or of ``only``."""
    u = reception_updates.c
    latest = sa.select(u.reception_id, sa.func.max(u.revision).label("revision")).group_by(u.reception_id)
    if only is not None:
        ids = sorted(set(only))
        if not ids:
            return []
        out: list[tuple[int, int, dt.datetime]] = []
        for i in range(0, len(ids), CHUNK):
            out += _latest_of(conn, latest.where(u.reception_id.in_(ids[i:i + CHUNK])))
        return out
    return _latest_of(conn, latest)


def _latest_of(conn: Connection, latest: Any) -> list[tuple[int, int, dt.datetime]]:
    sub = latest.subquery()
    u = reception_updates.c
    q = (sa.select(u.reception_id, u.revision, u.at)
         .join(sub, sa.and_(sub.c.reception_id == u.reception_id, sub.c.revision == u.revision))
         .order_by(u.reception_id))
    return [(int(r.reception_id), int(r.revision), r.at) for r in conn.execute(q)]


def _expired(conn: Connection, cutoff: dt.date, only: Iterable[int] | None = None) -> list[Expired]:
    return [Expired(rid, rev, jst_date(at)) for rid, rev, at in _latest(conn, only)
            if reception_expired(jst_date(at), cutoff)]


class ReceptionRetention(FourEyesPurge):
    """The four-eyes purge of :mod:`this module <juki.services.reception_retention>`."""

    log, counts, rule, action = reception_purges, ("years", "reception_count"), RULE, "reception.purge"
    default_years = RECEPTION_RETENTION_YEARS

    def plan(self, today: dt.date | None = None) -> Plan:
        cutoff = self.cutoff(today)
        with self.engine.connect() as conn:
            return Plan(cutoff, tuple(_expired(conn, cutoff)))

    # -- the steps ----------------------------------------------------------------------------------

    def request(self, actor: str, *, terminal: str = "", reason: str = "", today: dt.date | None = None) -> Purge:
        """Record today's list for approval.  Refuses when nothing has expired."""
        now = self.clock()
        cutoff = self.cutoff(today)
        with self.engine.begin() as conn:
            items = _expired(conn, cutoff)
            if not items:
                raise InvalidInput(Problem(
                    "today", RULE, f"保存期間（{self.years} 年）を過ぎた総合受付の記録はありません（最終更新 {cutoff.isoformat()} 以前なし）。",
                    f"No reception is past its keeping period ({self.years} years): none last written on or before "
                    f"{cutoff.isoformat()}."))
            inserted = conn.execute(reception_purges.insert().values(
                request_id=None, step="request", cutoff=cutoff, years=self.years, reception_count=len(items),
                actor=actor, terminal=terminal, at=now, reason=reason))
            assert inserted.inserted_primary_key is not None
            rid = int(inserted.inserted_primary_key[0])
            conn.execute(reception_purge_items.insert(), [
                {"request_id": rid, "reception_id": i.reception_id, "revision": i.revision} for i in items])
            self.audit.record(conn, user_id=actor, terminal=terminal, action="reception.purge.request", at=now,
                              detail={"request_id": rid, "cutoff": cutoff.isoformat(), "years": self.years,
                                      "receptions": len(items)})
        return Purge(rid, cutoff, len(items), actor, "requested")

    def _approve_detail(self, req: Any) -> dict[str, Any]:
        return {"receptions": int(req.reception_count)}

    def execute(self, request_id: int, actor: str, *, terminal: str = "") -> Purge:
        """Delete the approved list (see the module docstring), in one transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            req = self._executable(conn, request_id)
            listed = {int(r.reception_id): int(r.revision) for r in conn.execute(
                sa.select(reception_purge_items).where(reception_purge_items.c.request_id == request_id))}
            now_latest = {rid: rev for rid, rev, _at in _latest(conn, listed)}
            changed = sorted(rid for rid, rev in listed.items() if now_latest.get(rid) != rev)
            if changed:
                raise Conflict(Problem(
                    "request_id", RULE,
                    f"申請後に更新された受付があります（{len(changed)} 件: {', '.join(map(str, changed[:5]))}）。"
                    "消去を申請し直してください。",
                    f"{len(changed)} listed reception(s) were written since the request "
                    f"({', '.join(map(str, changed[:5]))}); request the purge again."))
            ids = sorted(listed)
            subjects: set[str] = set()
            for i in range(0, len(ids), CHUNK):
                subjects |= {p for p in conn.execute(sa.select(reception_persons.c.person_id).where(
                    reception_persons.c.reception_id.in_(ids[i:i + CHUNK]),
                    reception_persons.c.person_id.is_not(None))).scalars()}
            conn.execute(reception_purge_active.insert().values(request_id=request_id))
            for i in range(0, len(ids), CHUNK):
                chunk = ids[i:i + CHUNK]
                for table in (reception_handoff_acks, reception_handoffs, reception_updates, reception_steps,
                              reception_persons, receptions):  # children first (foreign keys)
                    conn.execute(sa.delete(table).where(table.c.reception_id.in_(chunk)))
            conn.execute(reception_purge_active.delete().where(reception_purge_active.c.request_id == request_id))
            conn.execute(reception_purges.insert().values(
                request_id=request_id, step="execute", cutoff=req.cutoff, years=req.years, reception_count=len(ids),
                actor=actor, terminal=terminal, at=now, reason=""))
            self.audit.record(conn, user_id=actor, terminal=terminal, action="reception.purge", at=now,
                              subject_ids=sorted(subjects),
                              detail={"request_id": request_id, "cutoff": req.cutoff.isoformat(), "years": req.years,
                                      "receptions": len(ids), "reception_ids": ids[:1000]})
        return Purge(request_id, req.cutoff, len(ids), req.actor, "executed")

    # -- helpers ------------------------------------------------------------------------------------

    def _purge(self, row: Any, status: str) -> Purge:
        return Purge(int(row.id), row.cutoff, int(row.reception_count), row.actor, status)
