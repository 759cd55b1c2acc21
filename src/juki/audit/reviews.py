"""Reviews of the audit log (SEC-3, NET-11): access outside working hours (weekly), unusually long
sessions, bulk reads, per-user activity summaries (contractors: every 30 minutes), and the alerts
raised in real time by :class:`juki.audit.log.AuditLog`.

All reports take a half-open period ``[start, end)`` of aware datetimes (naive ones are taken as JST) and
stream the entries of the period in time order.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.adapters.db.engine import read_only
from juki.clock import JST
from juki.domain.holidays import is_office_closed

from .log import ACTIONS, READ_ACTIONS, AuditPolicy
from .schema import audit_alerts, audit_entries, audit_subjects


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=JST) if t.tzinfo is None else t


@dataclass(frozen=True)
class EntryRow:
    seq: int
    at: dt.datetime  # JST
    user_id: str
    terminal: str
    session_id: str | None
    action: str
    outcome: str
    subject_ids: list[str]

    @property
    def action_ja(self) -> str:
        return ACTIONS.get(self.action, self.action)


def _entries(engine: Engine, start: dt.datetime, end: dt.datetime,
             where: Iterable[Any] = ()) -> Iterator[EntryRow]:
    import json

    q = (sa.select(audit_entries.c.seq, audit_entries.c.at, audit_entries.c.user_id, audit_entries.c.terminal,
                   audit_entries.c.session_id, audit_entries.c.action, audit_entries.c.outcome,
                   audit_entries.c.subject_ids)
         .where(audit_entries.c.at >= _aware(start), audit_entries.c.at < _aware(end), *where)
         .order_by(audit_entries.c.at, audit_entries.c.seq))
    with read_only(engine.connect()) as conn:
        for r in conn.execution_options(yield_per=2000).execute(q):
            yield EntryRow(int(r.seq), r.at.astimezone(JST), r.user_id, r.terminal, r.session_id, r.action,
                           r.outcome, json.loads(r.subject_ids))


def after_hours(
    engine: Engine,
    start: dt.datetime,
    end: dt.datetime,
    *,
    workday_start: dt.time = dt.time(8, 30),
    workday_end: dt.time = dt.time(17, 30),
    holidays: Iterable[dt.date] = (),
    is_holiday: Callable[[dt.date], bool] = is_office_closed,
) -> list[EntryRow]:
    """Entries made outside working hours (JST): before ``workday_start``, at or after ``workday_end``,
    or on a day for which ``is_holiday`` is true (default: 行政機関の休日, i.e. weekends, 国民の祝日 and
    年末年始, from :mod:`juki.domain.holidays`) or listed in ``holidays`` (the municipality's own closed
    days, e.g. a 庁舎 closure)."""
    extra = set(holidays)
    out = []
    for e in _entries(engine, start, end):
        day, clock = e.at.date(), e.at.timetz().replace(tzinfo=None)
        if day in extra or is_holiday(day) or clock < workday_start or clock >= workday_end:
            out.append(e)
    return out


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    user_id: str
    terminal: str
    started: dt.datetime  # JST
    ended: dt.datetime  # JST: the logout, or the last entry when there was none
    logged_out: bool
    entries: int

    @property
    def duration(self) -> dt.timedelta:
        return self.ended - self.started


def long_sessions(
    engine: Engine, start: dt.datetime, end: dt.datetime, threshold: dt.timedelta = dt.timedelta(hours=10)
) -> list[SessionRow]:
    """Sessions that began in the period and lasted at least ``threshold`` (login to logout; a session
    without a logout counts until its last entry, whenever that was)."""
    e = audit_entries.c
    began = (sa.select(e.session_id).where(e.session_id.is_not(None), e.action == "login",
                                           e.at >= _aware(start), e.at < _aware(end)))
    q = (sa.select(e.session_id, sa.func.min(e.user_id).label("user_id"), sa.func.min(e.terminal).label("terminal"),
                   sa.func.min(e.at).label("started"), sa.func.max(e.at).label("ended"),
                   sa.func.sum(sa.case((e.action.in_(("logout", "session.timeout")), 1), else_=0)).label("outs"),
                   sa.func.count().label("n"))
         .where(e.session_id.in_(began))
         .group_by(e.session_id))
    out = []
    with read_only(engine.connect()) as conn:
        for r in conn.execute(q):
            started, ended = _utc(r.started), _utc(r.ended)
            if ended - started >= threshold:
                out.append(SessionRow(r.session_id, r.user_id, r.terminal, started.astimezone(JST),
                                      ended.astimezone(JST), bool(r.outs), int(r.n)))
    return sorted(out, key=lambda s: s.duration, reverse=True)


def _utc(value: Any) -> dt.datetime:
    """MIN/MAX over a timestamp come back as text on SQLite (the type decorator is lost)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class BulkReadRow:
    user_id: str
    first_crossed_at: dt.datetime  # JST: when the user first read more than the threshold in one window
    peak_persons: int  # the most distinct persons read within any one window
    total_persons: int  # distinct persons read in the whole period


def bulk_reads(
    engine: Engine, start: dt.datetime, end: dt.datetime, policy: AuditPolicy | None = None
) -> list[BulkReadRow]:
    """Users who read more than ``policy.bulk_read_persons`` distinct persons within
    ``policy.bulk_read_minutes`` minutes at any time in the period (a sliding window over
    ``audit_subjects``), most persons first."""
    policy = policy or AuditPolicy()
    s = audit_subjects.c
    q = (sa.select(s.user_id, s.at, s.person_id)
         .where(s.is_read.is_(True), s.at >= _aware(start), s.at < _aware(end))
         .order_by(s.user_id, s.at))
    out: list[BulkReadRow] = []
    with read_only(engine.connect()) as conn:
        user: str | None = None
        window: deque[tuple[dt.datetime, str]] = deque()
        counts: dict[str, int] = {}
        seen: set[str] = set()
        peak, crossed = 0, None

        def flush() -> None:
            if user is not None and crossed is not None:
                out.append(BulkReadRow(user, crossed.astimezone(JST), peak, len(seen)))

        for r in conn.execution_options(yield_per=5000).execute(q):
            if r.user_id != user:
                flush()
                user, peak, crossed = r.user_id, 0, None
                window.clear()
                counts.clear()
                seen = set()
            at = r.at
            window.append((at, r.person_id))
            counts[r.person_id] = counts.get(r.person_id, 0) + 1
            seen.add(r.person_id)
            while window and window[0][0] <= at - policy.window:
                _, old = window.popleft()
                counts[old] -= 1
                if not counts[old]:
                    del counts[old]
            if len(counts) > peak:
                peak = len(counts)
            if crossed is None and len(counts) > policy.bulk_read_persons:
                crossed = at
        flush()
    return sorted(out, key=lambda b: b.peak_persons, reverse=True)


@dataclass(frozen=True)
class ActivityRow:
    user_id: str
    bucket_start: dt.datetime  # JST
    entries: int
    reads: int
    persons: int
    denied: int


def activity_summary(
    engine: Engine, start: dt.datetime, end: dt.datetime, *, users: Iterable[str] | None = None,
    bucket: dt.timedelta = dt.timedelta(minutes=30),
) -> list[ActivityRow]:
    """Per user and per ``bucket`` (default 30 minutes, the contractor summary of SEC-3): entries,
    reads, distinct persons touched, denials."""
    where = [audit_entries.c.user_id.in_(list(users))] if users is not None else []
    start = _aware(start)
    acc: dict[tuple[str, dt.datetime], tuple[int, int, set[str], int]] = {}
    for e in _entries(engine, start, end, where):
        k = (e.user_id, start.astimezone(JST) + bucket * ((e.at - start) // bucket))
        n, reads, persons, denied = acc.get(k, (0, 0, set(), 0))
        persons.update(e.subject_ids)
        acc[k] = (n + 1, reads + (e.action in READ_ACTIONS), persons, denied + (e.outcome == "denied"))
    return [ActivityRow(u, b, n, r, len(p), d) for (u, b), (n, r, p, d) in sorted(acc.items())]


def alerts(engine: Engine, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The real-time alerts raised in the period."""
    a = audit_alerts.c
    with read_only(engine.connect()) as conn:
        rows = conn.execute(sa.select(audit_alerts).where(a.at >= _aware(start), a.at < _aware(end)).order_by(a.at))
        return [dict(r._mapping) for r in rows]
