"""和暦 (the Japanese era calendar) for certificates: ``wareki(date(2026, 11, 23)) == "令和8年11月23日"``.

Certificates print every date in 和暦 (REG-CERT).  An era's first year is 元年 ("令和元年5月1日"), and each
era begins on the day the new era name took effect, exact to the day:

==========  ============  ==========================================================
era         first day     last day of the previous era
==========  ============  ==========================================================
明治 (M)    1868-10-23    (明治改元; but see below: dates before 1873 are refused)
大正 (T)    1912-07-30    明治45年7月29日
昭和 (S)    1926-12-25    大正15年12月24日
平成 (H)    1989-01-08    昭和64年1月7日
令和 (R)    2019-05-01    平成31年4月30日
==========  ============  ==========================================================

Japan used a lunisolar calendar until 明治5年12月2日; the next day was 明治6年1月1日 = 1873-01-01 (改暦).
A Gregorian date before 1873 has no 和暦 with the same month and day, so :func:`wareki` refuses it rather
than print a date that never appeared on any 戸籍 (nobody in a register kept for 150 years has one).

:func:`parse` is the inverse (``"平成31年4月30日"`` → ``date(2019, 4, 30)``) and refuses a date outside its
era (``平成32年1月1日``, ``令和元年4月30日``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Era:
    """元号: its name, its Latin initial (as in "R8.11.23") and the day it began."""

    name: str
    initial: str
    start: dt.date


ERAS: tuple[Era, ...] = (
    Era("明治", "M", dt.date(1868, 10, 23)),
    Era("大正", "T", dt.date(1912, 7, 30)),
    Era("昭和", "S", dt.date(1926, 12, 25)),
    Era("平成", "H", dt.date(1989, 1, 8)),
    Era("令和", "R", dt.date(2019, 5, 1)),
)
"""Oldest first; each era ends the day before the next one starts."""

EARLIEST = dt.date(1873, 1, 1)
"""明治6年1月1日, the first day of the Gregorian calendar in Japan (改暦)."""


class WarekiError(ValueError):
    """A date that cannot be written or read in 和暦."""


def era_of(date: dt.date) -> tuple[Era, int]:
    """The era ``date`` falls in and its year within that era (1 for 元年)."""
    if date < EARLIEST:
        raise WarekiError(
            f"{date.isoformat()} は改暦（明治6年1月1日）より前で、和暦に換算できません / "
            f"{date.isoformat()} is before 1873-01-01 (Japan's calendar reform) and has no 和暦 equivalent")
    era = ERAS[0]
    for candidate in ERAS:
        if candidate.start <= date:
            era = candidate
    return era, date.year - era.start.year + 1


def year_text(year: int) -> str:
    return "元" if year == 1 else str(year)


def wareki(date: dt.date) -> str:
    """``"令和8年11月23日"``; the first year of an era is 元年."""
    era, year = era_of(date)
    return f"{era.name}{year_text(year)}年{date.month}月{date.day}日"


def wareki_or_blank(date: dt.date | None) -> str:
    """:func:`wareki`, or ``""`` when the date is unknown (a blank box on the form)."""
    return wareki(date) if date is not None else ""


_PATTERN = re.compile(r"^\s*(明治|大正|昭和|平成|令和)\s*(元|\d{1,3})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*$")


def parse(text: str) -> dt.date:
    """The Gregorian date of a 和暦 date written as :func:`wareki` writes it (full-width digits accepted)."""
    normal = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    m = _PATTERN.match(normal)
    if not m:
        raise WarekiError(f"和暦の日付として読めません / not a 和暦 date: {text!r}")
    name, year_s, month_s, day_s = m.groups()
    index = next(i for i, e in enumerate(ERAS) if e.name == name)
    era = ERAS[index]
    year = 1 if year_s == "元" else int(year_s)
    if year < 1:
        raise WarekiError(f"{name}0年はありません / there is no year 0 of {name}")
    try:
        date = dt.date(era.start.year + year - 1, int(month_s), int(day_s))
    except ValueError as exc:
        raise WarekiError(f"ありえない日付です / impossible date {text!r}: {exc}") from None
    following = ERAS[index + 1].start if index + 1 < len(ERAS) else None
    if date < era.start or (following is not None and date >= following):
        raise WarekiError(f"{text} は{name}の期間外です / {text!r} is outside the {name} era")
    if date < EARLIEST:
        raise WarekiError(f"{text} は改暦より前です / {text!r} is before the 1873 calendar reform")
    return date
