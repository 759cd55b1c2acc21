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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.db.retention_tables import register_purge_active, register_purge_items, register_purges
from juki.adapters.db.schema import person_versions, persons
from juki.audit.log import AuditLog
from juki.clock import jst_date, utcnow
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem
from juki.domain.model import Status
from juki.domain.retention import REGISTER_RETENTION_YEARS, PurgeItem, VersionFacts, purge_item, years_before

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


class RegisterRetention:
    """The four-eyes purge of :mod:`this module <juki.services.retention>`.  ``years`` is 150 by law;
    a smaller number is for tests and rehearsals only."""

    def __init__(self, engine: Engine, *, audit: AuditLog | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, years: int = REGISTER_RETENTION_YEARS) -> None:
        self.engine = engine
        self.audit = audit or AuditLog(clock=clock)
        self.clock = clock
        self.years = years

    def cutoff(self, today: dt.date | None = None) -> dt.date:
        """The newest 異動日 that has expired on ``today`` (JST today by default)."""
        return years_before(today or jst_date(self.clock()), self.years)

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

    def approve(self, request_id: int, actor: str, *, terminal: str = "") -> Purge:
        """Approve a request: not by its requester (the refusal is logged), and only once."""
        now = self.clock()
        denied: Forbidden | None = None
        with self.engine.begin() as conn:
            req = self._request_row(conn, request_id)
            if req.actor == actor:
                self.audit.record(conn, user_id=actor, terminal=terminal, action="access.denied", outcome="denied",
                                  at=now, detail={"request_id": request_id, "attempt": "register.purge.approve",
                                                  "why": "four-eyes"})
                denied = Forbidden(Problem("actor", "SEC-3/four-eyes",
                                           "消去を申請した本人は承認できません。別の職員が承認してください。",
                                           "The requester cannot approve their own purge; another user must approve it."))
            elif self._step(conn, request_id, "approve") is not None:
                raise Conflict(Problem("request_id", RULE, f"消去申請 {request_id} は承認済みです。",
                                       f"Purge request {request_id} is already approved."))
            else:
                self._add_step(conn, req, "approve", actor, terminal, now)
                self.audit.record(conn, user_id=actor, terminal=terminal, action="register.purge.approve", at=now,
                                  detail={"request_id": request_id, "persons": int(req.person_count),
                                          "versions": int(req.version_count)})
        if denied is not None:
            raise denied  # after the commit: the denial itself is in the log
        return self._purge(req, "approved")

    def execute(self, request_id: int, actor: str, *, terminal: str = "") -> Purge:
        """Delete what the approved list names (see the module docstring), in one transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            req = self._request_row(conn, request_id)
            if self._step(conn, request_id, "approve") is None:
                raise Forbidden(Problem("request_id", "SEC-3/four-eyes", f"消去申請 {request_id} はまだ承認されていません。",
                                        f"Purge request {request_id} has not been approved."))
            if self._step(conn, request_id, "execute") is not None:
                raise Conflict(Problem("request_id", RULE, f"消去申請 {request_id} は実行済みです。",
                                       f"Purge request {request_id} was already executed."))
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

    def requests(self) -> list[Purge]:
        """Every request with its status, newest first."""
        p = register_purges.c
        with self.engine.connect() as conn:
            steps: dict[int, set[str]] = {}
            for r in conn.execute(sa.select(p.request_id, p.step).where(p.request_id.is_not(None))):
                steps.setdefault(int(r.request_id), set()).add(r.step)
            rows = conn.execute(sa.select(register_purges).where(p.step == "request").order_by(p.id.desc())).all()
        out = []
        for r in rows:
            s = steps.get(int(r.id), set())
            out.append(self._purge(r, "executed" if "execute" in s else "approved" if "approve" in s else "requested"))
        return out

    # -- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _purge(row: Any, status: str) -> Purge:
        return Purge(int(row.id), row.cutoff, int(row.person_count), int(row.version_count), row.actor, status)

    @staticmethod
    def _request_row(conn: Connection, request_id: int) -> Any:
        p = register_purges.c
        row = conn.execute(sa.select(register_purges).where(p.id == request_id, p.step == "request")).first()
        if row is None:
            raise NotFound(Problem("request_id", RULE, f"消去申請 {request_id} はありません。",
                                   f"No purge request {request_id}."))
        return row

    @staticmethod
    def _step(conn: Connection, request_id: int, step: str) -> Any:
        p = register_purges.c
        return conn.execute(sa.select(p.id).where(p.request_id == request_id, p.step == step)).first()

    @staticmethod
    def _add_step(conn: Connection, req: Any, step: str, actor: str, terminal: str, now: dt.datetime) -> None:
        conn.execute(register_purges.insert().values(
            request_id=int(req.id), step=step, cutoff=req.cutoff, person_count=req.person_count,
            version_count=req.version_count, actor=actor, terminal=terminal, at=now, reason=""))
