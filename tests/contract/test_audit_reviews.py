"""Contract: the review reports -- after hours, long sessions, bulk reads, activity summary."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from juki.audit.log import AuditLog, AuditPolicy
from juki.audit.reviews import activity_summary, after_hours, alerts, bulk_reads, long_sessions

from .test_audit_support import JST, Clock, engine_fixture, pid  # noqa: F401  (fixture)

WEEK = (dt.datetime(2024, 6, 3, tzinfo=JST), dt.datetime(2024, 6, 10, tzinfo=JST))


def rec(audit: AuditLog, engine: Engine, at: dt.datetime, user: str = "clerk", action: str = "person.read",
        subjects: list[str] | None = None, session: str | None = None) -> int:
    return audit.record_now(engine, user_id=user, terminal="T1", action=action, at=at, session_id=session,
                            subject_ids=subjects if subjects is not None else [pid(1)])


def test_after_hours_finds_night_and_weekend_entries_only(engine: Engine) -> None:
    audit = AuditLog(AuditPolicy(enabled=False))
    day_seq = rec(audit, engine, dt.datetime(2024, 6, 4, 10, 0, tzinfo=JST))
    night = rec(audit, engine, dt.datetime(2024, 6, 4, 22, 0, tzinfo=JST))
    early = rec(audit, engine, dt.datetime(2024, 6, 5, 8, 29, tzinfo=JST))
    rec(audit, engine, dt.datetime(2024, 6, 5, 8, 30, tzinfo=JST))
    rec(audit, engine, dt.datetime(2024, 6, 5, 17, 29, tzinfo=JST))
    closing = rec(audit, engine, dt.datetime(2024, 6, 5, 17, 30, tzinfo=JST))
    saturday = rec(audit, engine, dt.datetime(2024, 6, 8, 11, 0, tzinfo=JST))
    holiday = rec(audit, engine, dt.datetime(2024, 6, 6, 11, 0, tzinfo=JST))
    rec(audit, engine, dt.datetime(2024, 6, 11, 23, 0, tzinfo=JST))  # outside the period
    # 22:00 JST is 13:00 UTC: a UTC-based check would miss it
    rows = after_hours(engine, *WEEK)
    assert [r.seq for r in rows] == [night, early, closing, saturday]
    assert day_seq not in [r.seq for r in rows]
    assert rows[0].at.hour == 22 and rows[0].subject_ids == [pid(1)] and rows[0].action_ja == "住民票の閲覧"
    assert holiday in [r.seq for r in after_hours(engine, *WEEK, holidays=[dt.date(2024, 6, 6)])]


def test_national_holidays_and_the_year_end_count_as_after_hours(engine: Engine) -> None:
    audit = AuditLog(AuditPolicy(enabled=False))
    substitute = rec(audit, engine, dt.datetime(2024, 11, 4, 11, 0, tzinfo=JST))  # 振替休日 (文化の日 on a Sunday)
    rec(audit, engine, dt.datetime(2024, 11, 5, 11, 0, tzinfo=JST))  # an ordinary Tuesday
    year_end = rec(audit, engine, dt.datetime(2024, 12, 30, 11, 0, tzinfo=JST))  # 年末年始
    rows = after_hours(engine, dt.datetime(2024, 11, 1, tzinfo=JST), dt.datetime(2025, 1, 1, tzinfo=JST))
    assert [r.seq for r in rows] == [substitute, year_end]


def test_long_sessions_with_and_without_logout(engine: Engine) -> None:
    audit = AuditLog(AuditPolicy(enabled=False))
    t = dt.datetime(2024, 6, 4, 8, 0, tzinfo=JST)
    rec(audit, engine, t, "a", "login", [], "s-short")
    rec(audit, engine, t + dt.timedelta(hours=2), "a", "logout", [], "s-short")
    rec(audit, engine, t, "b", "login", [], "s-long")
    rec(audit, engine, t + dt.timedelta(hours=5), "b", "person.read", None, "s-long")
    rec(audit, engine, t + dt.timedelta(hours=11), "b", "logout", [], "s-long")
    rec(audit, engine, t, "c", "login", [], "s-open")
    rec(audit, engine, t + dt.timedelta(hours=12, minutes=30), "c", "search", None, "s-open")  # never logged out
    rows = long_sessions(engine, *WEEK)
    assert [(r.session_id, r.user_id, r.logged_out) for r in rows] == [("s-open", "c", False), ("s-long", "b", True)]
    assert rows[1].duration == dt.timedelta(hours=11)
    assert [r.session_id for r in long_sessions(engine, *WEEK, threshold=dt.timedelta(hours=1))] == [
        "s-open", "s-long", "s-short"]


def test_bulk_reads_report_and_alerts(engine: Engine) -> None:
    clock = Clock(dt.datetime(2024, 6, 4, 9, 0, tzinfo=JST))
    policy = AuditPolicy(bulk_read_persons=30, bulk_read_minutes=10)
    audit = AuditLog(policy, clock=clock)
    for k in range(10):  # the contractor: 10 persons a minute
        audit.record_now(engine, user_id="contractor", terminal="T9", action="export",
                         subject_ids=[pid(10 * k + j) for j in range(10)])
        clock.advance(minutes=1)
    for _ in range(10):  # a clerk: the same 5 persons every 3 minutes
        audit.record_now(engine, user_id="clerk", terminal="T1", action="search", subject_ids=[pid(j) for j in range(5)])
        clock.advance(minutes=3)
    rows = bulk_reads(engine, *WEEK, policy)
    assert [(r.user_id, r.peak_persons, r.total_persons) for r in rows] == [("contractor", 100, 100)]
    assert rows[0].first_crossed_at == dt.datetime(2024, 6, 4, 9, 3, tzinfo=JST)
    assert [a["user_id"] for a in alerts(engine, *WEEK)] == ["contractor"]


def test_activity_summary_per_30_minutes(engine: Engine) -> None:
    audit = AuditLog(AuditPolicy(enabled=False))
    t = dt.datetime(2024, 6, 4, 9, 0, tzinfo=JST)
    rec(audit, engine, t + dt.timedelta(minutes=5), "vendor1", "search", [pid(1), pid(2)])
    rec(audit, engine, t + dt.timedelta(minutes=25), "vendor1", "person.read", [pid(2)])
    rec(audit, engine, t + dt.timedelta(minutes=35), "vendor1", "person.read", [pid(3)])
    audit.record_now(engine, user_id="vendor1", terminal="T9", action="access.denied", outcome="denied",
                     at=t + dt.timedelta(minutes=40))
    rec(audit, engine, t + dt.timedelta(minutes=5), "clerk", "person.read", [pid(9)])
    rows = activity_summary(engine, t, t + dt.timedelta(hours=1), users=["vendor1"])
    assert [(r.bucket_start.time(), r.entries, r.reads, r.persons, r.denied) for r in rows] == [
        (dt.time(9, 0), 2, 2, 2, 0), (dt.time(9, 30), 2, 1, 1, 1)]
