"""国民の祝日 (national holidays) and 行政機関の休日 (days the municipal office is closed).

Computed from the rules of 国民の祝日に関する法律 as amended (not a downloaded list), so that the audit
log's after-hours review (SEC-3) and the register's deadlines know a holiday in any year:

- fixed days and ハッピーマンデー (n-th Monday) days, each with the years its rule held;
- 春分の日 and 秋分の日 from the astronomical approximation the 国立天文台 uses for 1900–2099 (the official
  date is announced each February for the next year; the approximation matches every announced date
  since 1948);
- 振替休日: a holiday on a Sunday moves to the next day that is not a holiday (from 1973-04-12; before
  2007 to the Monday only);
- 国民の休日: a day between two holidays is a holiday (from 1985-12-27);
- one-off days (大喪の礼, 即位の礼, the 2020/2021 Olympic moves…).

行政機関の休日 (行政機関の休日に関する法律 1条; municipalities' own 条例 follow it): Saturdays, Sundays,
national holidays and 12月29日〜1月3日 (年末年始).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

_ONE_OFF: dict[dt.date, str] = {
    dt.date(1959, 4, 10): "皇太子明仁親王の結婚の儀",
    dt.date(1989, 2, 24): "昭和天皇の大喪の礼",
    dt.date(1990, 11, 12): "即位礼正殿の儀",
    dt.date(1993, 6, 9): "皇太子徳仁親王の結婚の儀",
    dt.date(2019, 5, 1): "天皇の即位の日",
    dt.date(2019, 10, 22): "即位礼正殿の儀",
}

# Olympic years: 海の日, スポーツの日 and 山の日 moved by special law (東京オリンピック特措法).
_MOVED: dict[int, dict[str, dt.date]] = {
    2020: {"海の日": dt.date(2020, 7, 23), "スポーツの日": dt.date(2020, 7, 24), "山の日": dt.date(2020, 8, 10)},
    2021: {"海の日": dt.date(2021, 7, 22), "スポーツの日": dt.date(2021, 7, 23), "山の日": dt.date(2021, 8, 8)},
}


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (7 - first.weekday()) % 7  # Monday is 0
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _equinox(year: int, base_1980: float, base_pre: float) -> int:
    if year >= 1980:
        return int(base_1980 + 0.242194 * (year - 1980) - (year - 1980) // 4)
    return int(base_pre + 0.242194 * (year - 1980) - (year - 1983) // 4)


def vernal_equinox_day(year: int) -> dt.date:
    """春分の日 (1900–2099)."""
    return dt.date(year, 3, _equinox(year, 20.8431, 20.8357))


def autumnal_equinox_day(year: int) -> dt.date:
    """秋分の日 (1900–2099)."""
    return dt.date(year, 9, _equinox(year, 23.2488, 23.2588))


def _statutory(year: int) -> dict[dt.date, str]:
    """The holidays the law names for ``year``, before 振替休日 and 国民の休日."""
    if year < 1949:
        return {}
    days: dict[dt.date, str] = {dt.date(year, 1, 1): "元日"}

    def add(day: dt.date | None, name: str) -> None:
        if day is not None:
            days[day] = name

    add(dt.date(year, 1, 15) if year < 2000 else _nth_monday(year, 1, 2), "成人の日")
    add(dt.date(year, 2, 11) if year >= 1967 else None, "建国記念の日")
    if year >= 2020:
        add(dt.date(year, 2, 23), "天皇誕生日")
    add(vernal_equinox_day(year), "春分の日")
    add(dt.date(year, 4, 29), "昭和の日" if year >= 2007 else "みどりの日" if year >= 1989 else "天皇誕生日")
    add(dt.date(year, 5, 3), "憲法記念日")
    add(dt.date(year, 5, 4) if year >= 2007 else None, "みどりの日")
    add(dt.date(year, 5, 5), "こどもの日")
    moved = _MOVED.get(year, {})
    if year >= 1996:
        add(moved.get("海の日") or (dt.date(year, 7, 20) if year < 2003 else _nth_monday(year, 7, 3)), "海の日")
    if year >= 2016:
        add(moved.get("山の日") or dt.date(year, 8, 11), "山の日")
    if year >= 1966:
        add(dt.date(year, 9, 15) if year < 2003 else _nth_monday(year, 9, 3), "敬老の日")
    add(autumnal_equinox_day(year), "秋分の日")
    if year >= 2020:
        add(moved.get("スポーツの日") or _nth_monday(year, 10, 2), "スポーツの日")
    elif year >= 1966:
        add(dt.date(year, 10, 10) if year < 2000 else _nth_monday(year, 10, 2), "体育の日")
    add(dt.date(year, 11, 3), "文化の日")
    add(dt.date(year, 11, 23), "勤労感謝の日")
    if 1989 <= year <= 2018:
        add(dt.date(year, 12, 23), "天皇誕生日")
    for day, name in _ONE_OFF.items():
        if day.year == year:
            days[day] = name
    return days


@lru_cache(maxsize=256)
def holidays_of(year: int) -> dict[dt.date, str]:
    """Every 国民の祝日 and 休日 of ``year`` (1949–2099), with its name, in date order."""
    days = dict(_statutory(year))
    # 国民の休日: a weekday (not Sunday) between two holidays (law art. 3(3), from 1985-12-27).
    for day in sorted(days):
        between = day + dt.timedelta(days=1)
        after = day + dt.timedelta(days=2)
        if (between >= dt.date(1985, 12, 27) and after in days and between not in days
                and between.weekday() != 6 and between.year == year):
            days[between] = "国民の休日"
    # 振替休日: a holiday on a Sunday moves to the next day that is not a holiday (art. 3(2)).
    for day in sorted(days):
        if day.weekday() == 6 and day >= dt.date(1973, 4, 12):
            substitute = day + dt.timedelta(days=1)
            if day.year >= 2007:
                while substitute in days:
                    substitute += dt.timedelta(days=1)
            if substitute not in days and substitute.year == year:
                days[substitute] = "振替休日"
    return dict(sorted(days.items()))


def holiday_name(day: dt.date) -> str | None:
    """The holiday's name (e.g. 勤労感謝の日), or None on an ordinary day."""
    return holidays_of(day.year).get(day)


def is_national_holiday(day: dt.date) -> bool:
    return day in holidays_of(day.year)


def is_year_end(day: dt.date) -> bool:
    """年末年始: 12月29日〜1月3日."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_office_closed(day: dt.date) -> bool:
    """行政機関の休日: Saturday, Sunday, a national holiday or 年末年始."""
    return day.weekday() >= 5 or is_year_end(day) or is_national_holiday(day)
