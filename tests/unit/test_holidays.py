"""国民の祝日 computed by rule, checked against the 内閣府 published lists."""

import datetime as dt

import pytest

from juki.domain.holidays import holiday_name, holidays_of, is_office_closed

D = dt.date

# 内閣府「国民の祝日について」as published for each year
PUBLISHED = {
    2019: [D(2019, 1, 1), D(2019, 1, 14), D(2019, 2, 11), D(2019, 3, 21), D(2019, 4, 29), D(2019, 4, 30),
           D(2019, 5, 1), D(2019, 5, 2), D(2019, 5, 3), D(2019, 5, 4), D(2019, 5, 5), D(2019, 5, 6),
           D(2019, 7, 15), D(2019, 8, 11), D(2019, 8, 12), D(2019, 9, 16), D(2019, 9, 23), D(2019, 10, 14),
           D(2019, 10, 22), D(2019, 11, 3), D(2019, 11, 4), D(2019, 11, 23)],
    2020: [D(2020, 1, 1), D(2020, 1, 13), D(2020, 2, 11), D(2020, 2, 23), D(2020, 2, 24), D(2020, 3, 20),
           D(2020, 4, 29), D(2020, 5, 3), D(2020, 5, 4), D(2020, 5, 5), D(2020, 5, 6), D(2020, 7, 23),
           D(2020, 7, 24), D(2020, 8, 10), D(2020, 9, 21), D(2020, 9, 22), D(2020, 11, 3), D(2020, 11, 23)],
    2026: [D(2026, 1, 1), D(2026, 1, 12), D(2026, 2, 11), D(2026, 2, 23), D(2026, 3, 20), D(2026, 4, 29),
           D(2026, 5, 3), D(2026, 5, 4), D(2026, 5, 5), D(2026, 5, 6), D(2026, 7, 20), D(2026, 8, 11),
           D(2026, 9, 21), D(2026, 9, 22), D(2026, 9, 23), D(2026, 10, 12), D(2026, 11, 3), D(2026, 11, 23)],
    2009: [D(2009, 1, 1), D(2009, 1, 12), D(2009, 2, 11), D(2009, 3, 20), D(2009, 4, 29), D(2009, 5, 3),
           D(2009, 5, 4), D(2009, 5, 5), D(2009, 5, 6), D(2009, 7, 20), D(2009, 9, 21), D(2009, 9, 22),
           D(2009, 9, 23), D(2009, 10, 12), D(2009, 11, 3), D(2009, 11, 23), D(2009, 12, 23)],
}


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_the_published_lists(year):
    assert list(holidays_of(year)) == PUBLISHED[year]


def test_names_and_the_rules_behind_them():
    assert holiday_name(D(2026, 11, 23)) == "勤労感謝の日"
    assert holiday_name(D(2026, 9, 22)) == "国民の休日"  # between 敬老の日 and 秋分の日
    assert holiday_name(D(2026, 5, 6)) == "振替休日"  # 憲法記念日 on a Sunday, 5/4 and 5/5 taken
    assert holiday_name(D(2019, 5, 1)) == "天皇の即位の日"
    assert holiday_name(D(2018, 12, 23)) == "天皇誕生日" and holiday_name(D(2019, 12, 23)) is None
    assert holiday_name(D(2005, 4, 29)) == "みどりの日" and holiday_name(D(2007, 4, 29)) == "昭和の日"
    assert holiday_name(D(1999, 1, 15)) == "成人の日" and holiday_name(D(2000, 1, 15)) is None
    assert holiday_name(D(2026, 11, 24)) is None


def test_the_office_is_closed_on_weekends_holidays_and_at_the_year_end():
    assert is_office_closed(D(2026, 11, 23))  # Monday, 勤労感謝の日
    assert not is_office_closed(D(2026, 11, 24))
    assert is_office_closed(D(2026, 11, 28))  # Saturday
    assert is_office_closed(D(2026, 12, 29)) and is_office_closed(D(2027, 1, 3))
    assert not is_office_closed(D(2027, 1, 4))
