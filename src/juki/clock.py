"""Time, for everything outside the domain (which takes its dates as arguments): instants are aware UTC,
and the calendar a 届出 is dated by is Japan's (JST, UTC+9, no daylight saving)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

JST = dt.timezone(dt.timedelta(hours=9), "JST")

Clock = Callable[[], dt.datetime]
"""Where a service reads the time: ``utcnow`` in production, a hand-moved clock in tests."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def jst_date(at: dt.datetime) -> dt.date:
    """The date in Japan at the instant ``at``."""
    return at.astimezone(JST).date()
