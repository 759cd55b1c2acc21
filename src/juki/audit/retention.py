"""Retention of the audit log (NET-11: 7 years by default; Chiba keeps 5): purging is a four-eyes
workflow, and every step is itself an audit entry.

1. :func:`request_purge` -- someone asks to purge entries older than ``before`` (a date at least
   ``years`` ago).  The purge always takes a *prefix* of the chain: every entry up to the last seq such
   that all entries up to it are older than ``before`` (an entry written with a late clock stops the
   prefix early rather than leaving a hole in the chain).  The request row records that seq and count.
2. :func:`approve_purge` -- another user approves (the requester cannot).
3. :func:`execute_purge` -- in one transaction: re-checks the approval, writes the marker that the
   delete triggers of ``audit_entries``/``audit_subjects`` require, deletes the prefix, removes the
   marker, writes the ``execute`` row (the checkpoint: last purged seq and its hash, which
   :func:`juki.audit.verify.verify` starts from) and an ``audit.purge`` entry.

The database refuses any other delete.  Honest limit: a user with INSERT rights on ``audit_purges`` could
forge request+approve rows; they stay forever (insert-only) and are visible to review, and the deleted
range is still covered by anchors exported earlier.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.clock import JST, utcnow
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem

from .log import AuditLog
from .schema import audit_entries, audit_purge_active, audit_purges, audit_subjects
from .verify import checkpoint

RULE = "NET-11/retention"


@dataclass(frozen=True)
class AuditRetention:
    """Years the log is kept (``JUKI_AUDIT_RETENTION_YEARS``, default 7)."""

    years: int = 7

    @classmethod
    def from_env(cls) -> AuditRetention:
        return cls(int(os.environ.get("JUKI_AUDIT_RETENTION_YEARS", "7")))

    def cutoff(self, today: dt.date) -> dt.date:
        """The newest ``before`` date a purge may use: ``today`` minus ``years`` (29 Feb → 28 Feb)."""
        try:
            return today.replace(year=today.year - self.years)
        except ValueError:
            return today.replace(year=today.year - self.years, day=28)


@dataclass(frozen=True)
class PurgeRequest:
    request_id: int
    before: dt.datetime
    upto_seq: int
    entry_count: int
    requested_by: str
    status: str  # 'requested' | 'approved' | 'executed'


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or utcnow()).astimezone(dt.UTC)


def _request_row(conn: Connection, request_id: int) -> sa.Row[Any]:
    p = audit_purges.c
    row = conn.execute(sa.select(audit_purges).where(p.id == request_id, p.step == "request")).first()
    if row is None:
        raise NotFound(Problem("request_id", RULE, f"消去申請 {request_id} はありません。",
                               f"No purge request {request_id}."))
    return row


def _step(conn: Connection, request_id: int, step: str) -> sa.Row[Any] | None:
    p = audit_purges.c
    return conn.execute(sa.select(audit_purges).where(p.request_id == request_id, p.step == step)).first()


def request_purge(
    engine: Engine,
    before: dt.date,
    requested_by: str,
    *,
    terminal: str = "",
    reason: str = "",
    retention: AuditRetention | None = None,
    audit: AuditLog | None = None,
    now: dt.datetime | None = None,
) -> PurgeRequest:
    """Ask to purge the entries older than ``before`` (00:00 JST that day).  Refuses a date newer than
    today minus the retention years."""
    retention = retention or AuditRetention.from_env()
    when = _now(now)
    limit = retention.cutoff(when.astimezone(JST).date())
    if before > limit:
        raise InvalidInput(Problem("before", RULE,
                                   f"保存期間 ({retention.years} 年) 内の記録は消去できません: {limit.isoformat()} 以前を指定してください。",
                                   f"Entries within the retention period ({retention.years} years) cannot be purged: "
                                   f"give a date on or before {limit.isoformat()}."))
    before_at = dt.datetime.combine(before, dt.time(0, 0), JST).astimezone(dt.UTC)
    audit = audit or AuditLog()
    with engine.begin() as conn:
        start, _, _ = checkpoint(conn)
        e = audit_entries.c
        first_kept = conn.execute(sa.select(sa.func.min(e.seq)).where(e.seq > start, e.at >= before_at)).scalar()
        if first_kept is None:
            upto = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(e.seq), start))).scalar_one())
        else:
            upto = int(first_kept) - 1
        count = max(upto - start, 0)
        if count == 0:
            raise InvalidInput(Problem("before", RULE, f"{before.isoformat()} より前の消去できる記録はありません。",
                                       f"There are no entries before {before.isoformat()} to purge."))
        inserted = conn.execute(audit_purges.insert().values(
            request_id=None, step="request", before_at=before_at, upto_seq=upto, upto_hash=None,
            entry_count=count, actor=requested_by, terminal=terminal, at=when, reason=reason,
        ))
        assert inserted.inserted_primary_key is not None
        rid = int(inserted.inserted_primary_key[0])
        audit.record(conn, user_id=requested_by, terminal=terminal, action="audit.purge.request", at=when,
                     detail={"request_id": rid, "before": before.isoformat(), "upto_seq": upto, "entries": count})
    return PurgeRequest(rid, before_at, upto, count, requested_by, "requested")


def approve_purge(
    engine: Engine, request_id: int, approved_by: str, *, terminal: str = "", audit: AuditLog | None = None,
    now: dt.datetime | None = None,
) -> PurgeRequest:
    """Approve a request.  The requester may not approve it (four-eyes); a request is approved once."""
    when = _now(now)
    audit = audit or AuditLog()
    with engine.begin() as conn:
        req = _request_row(conn, request_id)
        if req.actor == approved_by:
            audit.record(conn, user_id=approved_by, terminal=terminal, action="access.denied", outcome="denied",
                         at=when, detail={"request_id": request_id, "attempt": "audit.purge.approve",
                                          "why": "four-eyes"})
            denied = Forbidden(Problem("approved_by", "SEC-3/four-eyes",
                                       "消去を申請した本人は承認できません。別の職員が承認してください。",
                                       "The requester cannot approve their own purge; another user must approve it."))
        elif _step(conn, request_id, "approve") is not None:
            raise Conflict(Problem("request_id", RULE, f"消去申請 {request_id} は承認済みです。",
                                   f"Purge request {request_id} is already approved."))
        else:
            denied = None
            conn.execute(audit_purges.insert().values(
                request_id=request_id, step="approve", before_at=req.before_at, upto_seq=req.upto_seq,
                upto_hash=None, entry_count=req.entry_count, actor=approved_by, terminal=terminal, at=when))
            audit.record(conn, user_id=approved_by, terminal=terminal, action="audit.purge.approve", at=when,
                         detail={"request_id": request_id, "upto_seq": int(req.upto_seq)})
    if denied is not None:
        raise denied  # after commit: the denial itself is logged
    return PurgeRequest(request_id, req.before_at, int(req.upto_seq), int(req.entry_count), req.actor, "approved")


def execute_purge(
    engine: Engine, request_id: int, executed_by: str, *, terminal: str = "", audit: AuditLog | None = None,
    now: dt.datetime | None = None,
) -> PurgeRequest:
    """Delete the approved prefix and record the checkpoint and an ``audit.purge`` entry, in one
    transaction."""
    when = _now(now)
    audit = audit or AuditLog()
    with engine.begin() as conn:
        req = _request_row(conn, request_id)
        if _step(conn, request_id, "approve") is None:
            raise Forbidden(Problem("request_id", "SEC-3/four-eyes", f"消去申請 {request_id} はまだ承認されていません。",
                                    f"Purge request {request_id} has not been approved."))
        if _step(conn, request_id, "execute") is not None:
            raise Conflict(Problem("request_id", RULE, f"消去申請 {request_id} は実行済みです。",
                                   f"Purge request {request_id} was already executed."))
        start, _, _ = checkpoint(conn)
        upto = int(req.upto_seq)
        if upto <= start:
            raise Conflict(Problem("request_id", RULE, f"第 {upto} 番までは既に消去されています。",
                                   f"Entries up to {upto} were already purged."))
        e = audit_entries.c
        upto_hash = conn.execute(sa.select(e.hash).where(e.seq == upto)).scalar()
        if upto_hash is None:
            raise Conflict(Problem("request_id", RULE, f"第 {upto} 番の記録がありません（verify を実行してください）。",
                                   f"Entry {upto} is missing (run verify)."))
        conn.execute(audit_purge_active.insert().values(request_id=request_id))
        conn.execute(audit_subjects.delete().where(audit_subjects.c.seq <= upto))
        deleted = conn.execute(audit_entries.delete().where(e.seq <= upto)).rowcount
        conn.execute(audit_purge_active.delete().where(audit_purge_active.c.request_id == request_id))
        conn.execute(audit_purges.insert().values(
            request_id=request_id, step="execute", before_at=req.before_at, upto_seq=upto, upto_hash=upto_hash,
            entry_count=deleted, actor=executed_by, terminal=terminal, at=when))
        audit.record(conn, user_id=executed_by, terminal=terminal, action="audit.purge", at=when,
                     detail={"request_id": request_id, "upto_seq": upto, "upto_hash": upto_hash, "deleted": deleted,
                             "before": req.before_at.astimezone(JST).date().isoformat()})
    return PurgeRequest(request_id, req.before_at, upto, deleted, req.actor, "executed")


def purge_requests(engine: Engine) -> list[PurgeRequest]:
    """Every purge request with its status, newest first."""
    p = audit_purges.c
    with engine.connect() as conn:
        steps: dict[int, set[str]] = {}
        for r in conn.execute(sa.select(p.request_id, p.step).where(p.request_id.is_not(None))):
            steps.setdefault(int(r.request_id), set()).add(r.step)
        out = []
        for r in conn.execute(sa.select(audit_purges).where(p.step == "request").order_by(p.id.desc())):
            s = steps.get(int(r.id), set())
            status = "executed" if "execute" in s else "approved" if "approve" in s else "requested"
            out.append(PurgeRequest(int(r.id), r.before_at, int(r.upto_seq), int(r.entry_count), r.actor, status))
        return out
