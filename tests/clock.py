"""A clock a test moves by hand; services take it wherever they read the time."""

from __future__ import annotations

import datetime as dt


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> dt.datetime:
        self.now = self.now + dt.timedelta(**kw)
        return self.now
