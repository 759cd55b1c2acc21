"""和暦 at every era boundary, exact to the day (REG-CERT: certificates print dates in 和暦)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from juki.domain.wareki import EARLIEST, WarekiError, era_of, parse, wareki

D = dt.date


@pytest.mark.parametrize(("date", "text"), [
    (D(1873, 1, 1), "明治6年1月1日"),
    (D(1912, 7, 29), "明治45年7月29日"),
    (D(1912, 7, 30), "大正元年7月30日"),
    (D(1912, 12, 31), "大正元年12月31日"),
    (D(1913, 1, 1), "大正2年1月1日"),
    (D(1926, 12, 24), "大正15年12月24日"),
    (D(1926, 12, 25), "昭和元年12月25日"),
    (D(1927, 1, 1), "昭和2年1月1日"),
    (D(1989, 1, 7), "昭和64年1月7日"),
    (D(1989, 1, 8), "平成元年1月8日"),
    (D(1990, 1, 1), "平成2年1月1日"),
    (D(2019, 4, 30), "平成31年4月30日"),
    (D(2019, 5, 1), "令和元年5月1日"),
    (D(2019, 12, 31), "令和元年12月31日"),
    (D(2020, 1, 1), "令和2年1月1日"),
    (D(2026, 11, 23), "令和8年11月23日"),
    (D(2000, 2, 29), "平成12年2月29日"),
])
def test_every_era_boundary_to_the_day(date, text):
    assert wareki(date) == text
    assert parse(text) == date


def test_dates_before_the_calendar_reform_are_refused():
    with pytest.raises(WarekiError, match="1873"):
        wareki(D(1872, 12, 31))
    with pytest.raises(WarekiError):
        era_of(D(1868, 10, 23))


@pytest.mark.parametrize("text", [
    "平成32年1月1日",  # 平成 ended in its 31st year
    "令和元年4月30日",  # the day before 令和 began
    "昭和64年1月8日",  # the first day of 平成
    "大正15年12月25日",
    "明治45年7月30日",
    "令和0年1月1日",
    "令和3年2月29日",  # no such day
    "2026年11月23日",
    "",
])
def test_parse_refuses_dates_outside_their_era(text):
    with pytest.raises(WarekiError):
        parse(text)


def test_parse_accepts_full_width_digits():
    assert parse("令和８年１１月２３日") == D(2026, 11, 23)


@given(st.dates(min_value=EARLIEST, max_value=D(2200, 12, 31)))
def test_every_date_round_trips(date):
    text = wareki(date)
    assert parse(text) == date
    era, year = era_of(date)
    assert text.startswith(era.name + ("元" if year == 1 else str(year)) + "年")
