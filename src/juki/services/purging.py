"""The four-eyes steps every approved purge shares (SEC-3): request → approval by someone other than the
requester → execute, each step a row of the purge's insert-only log, with an audit entry.

A purge log (``register_purges``, ``reception_purges``) has one row per step: ``id``, ``request_id`` (null
on the request itself), ``step`` (request / approve / execute), ``cutoff``, ``actor``, ``terminal``,
``at``, ``reason`` and the purge's own counts, which every step row repeats.  What is listed, how it is
checked again and what is deleted differ per purge: :class:`juki.services.retention.RegisterRetention`
(REG-R5), :class:`juki.services.reception_retention.ReceptionRetention` (CTR-2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.audit.log import AuditLog
from juki.clock import jst_date, utcnow
from juki.domain.errors import Conflict, Forbidden, NotFound, Problem
from juki.domain.retention import years_before


class FourEyesPurge:
    """The shared steps; a subclass sets :attr:`log`, :attr:`counts`, :attr:`rule`, :attr:`action` and
    :attr:`default_years` and builds its ``Purge`` view in :meth:`_purge`."""

    log: sa.Table
    counts: tuple[str, ...]
    """The log's count columns, copied from the request into each later step's row."""
    rule: str
    action: str
    """The audit action of the execution; the steps are ``<action>.request`` and ``<action>.approve``."""

    default_years: int
    """The keeping period; ``years`` overrides it (at least 1)."""

    def __init__(self, engine: Engine, *, audit: AuditLog | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, years: int | None = None) -> None:
        self.years = self.default_years if years is None else years
        if self.years < 1:
            raise ValueError("a keeping period is at least 1 year")
        self.engine = engine
        self.audit = audit or AuditLog(clock=clock)
        self.clock = clock

    def cutoff(self, today: dt.date | None = None) -> dt.date:
        """The newest day that has expired on ``today`` (JST today by default)."""
        return years_before(today or jst_date(self.clock()), self.years)

    def approve(self, request_id: int, actor: str, *, terminal: str = "") -> Any:
        """Approve a request: not by its requester (the refusal is logged), and only once."""
        now = self.clock()
        denied: Forbidden | None = None
        with self.engine.begin() as conn:
            req = self._request_row(conn, request_id)
            if req.actor == actor:
                self.audit.record(conn, user_id=actor, terminal=terminal, action="access.denied", outcome="denied",
                                  at=now, detail={"request_id": request_id, "attempt": f"{self.action}.approve",
                                                  "why": "four-eyes"})
                denied = Forbidden(Problem("actor", "SEC-3/four-eyes",
                                           "消去を申請した本人は承認できません。別の職員が承認してください。",
                                           "The requester cannot approve their own purge; another user must approve it."))
            elif self._step(conn, request_id, "approve") is not None:
                raise Conflict(Problem("request_id", self.rule, f"消去申請 {request_id} は承認済みです。",
                                       f"Purge request {request_id} is already approved."))
            else:
                self._add_step(conn, req, "approve", actor, terminal, now)
                self.audit.record(conn, user_id=actor, terminal=terminal, action=f"{self.action}.approve", at=now,
                                  detail={"request_id": request_id, **self._approve_detail(req)})
        if denied is not None:
            raise denied  # after the commit: the denial itself is in the log
        return self._purge(req, "approved")

    def requests(self) -> list[Any]:
        """Every request with its status, newest first."""
        p = self.log.c
        with self.engine.connect() as conn:
            steps: dict[int, set[str]] = {}
            for r in conn.execute(sa.select(p.request_id, p.step).where(p.request_id.is_not(None))):
                steps.setdefault(int(r.request_id), set()).add(r.step)
            rows = conn.execute(sa.select(self.log).where(p.step == "request").order_by(p.id.desc())).all()
        out = []
        for r in rows:
            s = steps.get(int(r.id), set())
            out.append(self._purge(r, "executed" if "execute" in s else "approved" if "approve" in s else "requested"))
        return out

    # -- for the subclass ---------------------------------------------------------------------------

    def _purge(self, row: Any, status: str) -> Any:
        raise NotImplementedError

    def _approve_detail(self, req: Any) -> dict[str, Any]:
        return {c: int(getattr(req, c)) for c in self.counts}

    def _executable(self, conn: Connection, request_id: int) -> Any:
        """The request row, if it is approved and not yet executed (else Forbidden / Conflict)."""
        req = self._request_row(conn, request_id)
        if self._step(conn, request_id, "approve") is None:
            raise Forbidden(Problem("request_id", "SEC-3/four-eyes", f"消去申請 {request_id} はまだ承認されていません。",
                                    f"Purge request {request_id} has not been approved."))
        if self._step(conn, request_id, "execute") is not None:
            raise Conflict(Problem("request_id", self.rule, f"消去申請 {request_id} は実行済みです。",
                                   f"Purge request {request_id} was already executed."))
        return req

    def _request_row(self, conn: Connection, request_id: int) -> Any:
        p = self.log.c
        row = conn.execute(sa.select(self.log).where(p.id == request_id, p.step == "request")).first()
        if row is None:
            raise NotFound(Problem("request_id", self.rule, f"消去申請 {request_id} はありません。",
                                   f"No purge request {request_id}."))
        return row

    def _step(self, conn: Connection, request_id: int, step: str) -> Any:
        p = self.log.c
        return conn.execute(sa.select(p.id).where(p.request_id == request_id, p.step == step)).first()

    def _add_step(self, conn: Connection, req: Any, step: str, actor: str, terminal: str, now: dt.datetime) -> None:
        conn.execute(self.log.insert().values(
            request_id=int(req.id), step=step, cutoff=req.cutoff, actor=actor, terminal=terminal, at=now, reason="",
            **{c: getattr(req, c) for c in self.counts}))
