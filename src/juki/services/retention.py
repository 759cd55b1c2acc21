"""The register's yearly retention purge (REG-R5, 保存期間経過後の消去): list and count → approval by a
second person → bulk delete, every step in the audit log.

1. :meth:`RegisterRetention.plan` lists what has expired on a date (the rule is
   :func:`juki.domain.retention.purge_item`: 除票 removed, and 住民票 versions superseded, 150 years ago
   or more).  Nothing is written.
2. :meth:`~RegisterRetention.request` records that list (``register_purge_items``) with its counts, so
   the approver approves exactly what will be deleted.
3. :meth:`~RegisterRetention.approve`: someone other than the requester (SEC-3 four-eyes; the refusal is
   itself logged).
4. :meth:`~RegisterRetention.execute`, in one transaction: re-checks the approval and that every listed
   person is still as expired as listed (a record changed since, e.g. by 職権回復, stops the whole
   purge: request again); writes the marker the ``person_versions`` guard requires; deletes the listed
   versions and, for a whole 除票, its current row; removes the marker; records the ``execute`` step and
   a ``register.purge`` audit entry naming the persons.

What stays: the ``events`` (異動) and ``household_versions`` rows, which belong to several persons at
once; the audit log (its own retention, NET-11).  Between the day a 除票 expires and the yearly purge it
is hidden from normal work (searches, certificates: :func:`juki.domain.retention.retention_expired`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from juki.adapters.db.retention_tables import register_purge_active, register_purge_items, register_purges
from juki.adapters.db.schema import person_versions, persons
from juki.domain.errors import Conflict, InvalidInput, Problem
from juki.domain.model import Status
from juki.domain.retention import REGISTER_RETENTION_YEARS, PurgeItem, VersionFacts, purge_item
from juki.services.purging import FourEyesPurge

RULE = "REG-R5/retention"
CHUNK = 500


@dataclass(frozen=True)
class Plan:
    """What has expired by ``cutoff``: the items, and how many persons and versions they are."""

    cutoff: dt.date
    items: tuple[PurgeItem, ...]

    @property
    def person_count(self) -> int:
        return len(self.items)

    @property
    def version_count(self) -> int:
        return sum(i.versions for i in self.items)

    @property
    def whole_count(self) -> int:
        """How many 除票 go entirely."""
        return sum(1 for i in self.items if i.whole)


@dataclass(frozen=True)
class Purge:
    """A purge request and where it stands: ``requested`` → ``approved`` → ``executed``."""

    request_id: int
    cutoff: dt.date
    person_count: int
    version_count: int
    requested_by: str
    status: str


def _expired(conn: Connection, cutoff: dt.date, only: Iterable[str] | None = None) -> list[PurgeItem]:
    """The rule applied to every person with a version dated on or before ``cutoff`` (or to ``only``)."""
    pv = person_versions.c
    if only is None:
        ids = sorted(conn.execute(sa.select(pv.person_id).where(pv.valid_from <= cutoff).distinct()).scalars())
    else:
        ids = sorted(set(only))
    out: list[PurgeItem] = []
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        facts: dict[str, list[VersionFacts]] = {}
        rows = conn.execute(sa.select(pv.person_id, pv.version_no, pv.valid_from, pv.status)
                            .where(pv.person_id.in_(chunk)))
        for r in rows:
            facts.setdefault(r.person_id, []).append(VersionFacts(r.version_no, r.valid_from, Status(r.status)))
        for pid in chunk:
            item = purge_item(pid, facts.get(pid, []), cutoff)
            if item is not None:
                out.append(item)
    return out


class RegisterRetention(FourEyesPurge):
    """The four-eyes purge of :mod:`this module <juki.services.retention>`.  ``years`` is 150 by law;
    a smaller number is for tests and rehearsals only."""

    log, counts, rule, action = register_purges, ("person_count", "version_count"), RULE, "register.purge"
    default_years = REGISTER_RETENTION_YEARS

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
            plan = Plan(cutoff, tuple(_expired(conn, cutoff)))
            if not plan.items:
                raise InvalidInput(Problem("today", RULE,
                                           f"保存期間（{self.years} 年）を過ぎた記録はありません（{cutoff.isoformat()} 以前の消除・改製なし）。",
                                           f"Nothing is past the retention period ({self.years} years): no removal or "
                                           f"supersession on or before {cutoff.isoformat()}."))
            inserted = conn.execute(register_purges.insert().values(
                request_id=None, step="request", cutoff=cutoff, person_count=plan.person_count,
                version_count=plan.version_count, actor=actor, terminal=terminal, at=now, reason=reason,
            ))
            assert inserted.inserted_primary_key is not None
            rid = int(inserted.inserted_primary_key[0])
            conn.execute(register_purge_items.insert(), [
                dict(request_id=rid, person_id=i.person_id, upto_version=i.upto_version, whole=i.whole)
                for i in plan.items])
            self.audit.record(conn, user_id=actor, terminal=terminal, action="register.purge.request", at=now,
                              detail={"request_id": rid, "cutoff": cutoff.isoformat(), "persons": plan.person_count,
                                      "versions": plan.version_count, "removed_records": plan.whole_count})
        return Purge(rid, cutoff, plan.person_count, plan.version_count, actor, "requested")

    def _approve_detail(self, req: Any) -> dict[str, Any]:
        return {"persons": int(req.person_count), "versions": int(req.version_count)}

    def execute(self, request_id: int, actor: str, *, terminal: str = "") -> Purge:
        """Delete what the approved list names (see the module docstring), in one transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            req = self._executable(conn, request_id)
            listed = {r.person_id: r for r in conn.execute(
                sa.select(register_purge_items).where(register_purge_items.c.request_id == request_id))}
            now_expired = {i.person_id: i for i in _expired(conn, req.cutoff, listed)}
            changed = sorted(pid for pid, r in listed.items()
                             if pid not in now_expired or (now_expired[pid].upto_version, now_expired[pid].whole)
                             != (r.upto_version, bool(r.whole)))
            if changed:
                raise Conflict(Problem("request_id", RULE,
                                       f"申請後に記録が変わった住民がいます（{len(changed)} 人: {', '.join(changed[:5])}）。"
                                       "消去を申請し直してください。",
                                       f"{len(changed)} listed person(s) changed since the request "
                                       f"({', '.join(changed[:5])}); request the purge again."))
            conn.execute(register_purge_active.insert().values(request_id=request_id))
            pv = person_versions.c
            deleted = 0
            for r in listed.values():
                deleted += conn.execute(sa.delete(person_versions).where(
                    pv.person_id == r.person_id, pv.version_no <= r.upto_version)).rowcount
            whole = sorted(pid for pid, r in listed.items() if r.whole)
            for i in range(0, len(whole), CHUNK):
                conn.execute(sa.delete(persons).where(persons.c.person_id.in_(whole[i : i + CHUNK])))
            conn.execute(register_purge_active.delete().where(register_purge_active.c.request_id == request_id))
            conn.execute(register_purges.insert().values(
                request_id=request_id, step="execute", cutoff=req.cutoff, person_count=len(listed),
                version_count=deleted, actor=actor, terminal=terminal, at=now, reason=""))
            self.audit.record(conn, user_id=actor, terminal=terminal, action="register.purge", at=now,
                              subject_ids=sorted(listed),
                              detail={"request_id": request_id, "cutoff": req.cutoff.isoformat(),
                                      "persons": len(listed), "versions": deleted, "removed_records": len(whole)})
        return Purge(request_id, req.cutoff, len(listed), deleted, req.actor, "executed")

    # -- helpers ------------------------------------------------------------------------------------

    def _purge(self, row: Any, status: str) -> Purge:
        return Purge(int(row.id), row.cutoff, int(row.person_count), int(row.version_count), row.actor, status)
