"""PRF-4: the prefecture's and national server's 150-year rule decides from the days the node received
each notice what of a (file, 住民票コード) has expired."""

from __future__ import annotations

import datetime as dt

from juki.domain.identity import RecordState
from juki.domain.node_retention import NODE_RETENTION_YEARS, Expiry, HistoryFacts, expiry, node_cutoff

D = dt.date
CUR, GONE, VOID = RecordState.CURRENT, RecordState.REMOVED, RecordState.VOID


def rows(*received: dt.date | tuple[dt.date, bool]) -> list[HistoryFacts]:
    """History rows numbered 1, 2, … in recording order; a bare date became the current record, a
    (date, False) pair was kept as history only."""
    out = []
    for n, r in enumerate(received, start=1):
        day, current = r if isinstance(r, tuple) else (r, True)
        out.append(HistoryFacts(n, current, day))
    return out


def test_the_cutoff_is_150_years_back_and_29_february_becomes_28() -> None:
    assert NODE_RETENTION_YEARS == 150
    assert node_cutoff(D(2026, 3, 1)) == D(1876, 3, 1)
    assert node_cutoff(D(2024, 2, 29)) == D(1874, 2, 28)
    assert node_cutoff(D(2026, 4, 1), 1) == D(2025, 4, 1)


def test_a_removed_record_goes_whole_on_the_150th_anniversary_of_receiving_the_removal_not_a_day_before() -> None:
    history = rows(D(1850, 1, 10), D(1870, 5, 1), D(1876, 11, 23))  # 転入, 転居, 消除
    assert expiry(history, GONE, node_cutoff(D(2026, 11, 23))) == Expiry((1, 2, 3), True)
    # the day before: only the row the 転居 superseded (received 1870) has expired; the 転居 row itself
    # was superseded by the 消除, received too recently, and the 消除者 record stays with its 個人番号
    assert expiry(history, GONE, node_cutoff(D(2026, 11, 22))) == Expiry((1,), False)


def test_a_removal_received_on_29_february_expires_on_1_march_of_a_common_year() -> None:
    history = rows(D(1870, 1, 10), D(1876, 2, 29))  # 死亡 received on a leap day
    assert expiry(history, GONE, node_cutoff(D(2026, 2, 28))) is None
    assert expiry(history, GONE, node_cutoff(D(2026, 3, 1))) == Expiry((1, 2), True)
    # judged on a leap day, the cutoff is 28 February: a notice received that day has expired, 1 March not
    assert expiry(rows(D(1850, 1, 1), D(1874, 2, 28)), GONE, node_cutoff(D(2024, 2, 29))) == Expiry((1, 2), True)
    assert expiry(rows(D(1850, 1, 1), D(1874, 3, 1)), GONE, node_cutoff(D(2024, 2, 29))) is None


def test_a_living_resident_keeps_the_current_record_whatever_its_age() -> None:
    assert expiry(rows(D(1850, 1, 1)), CUR, D(1990, 1, 1)) is None
    assert expiry(rows(D(1850, 1, 1), D(1860, 1, 1), D(1870, 1, 1)), CUR, D(1990, 1, 1)) == Expiry((1, 2), False)


def test_history_expires_when_superseded_not_when_received() -> None:
    # row 1 received 1850 but superseded only in 1990: kept; row 2 superseded in 1995: kept
    assert expiry(rows(D(1850, 1, 1), D(1990, 1, 1), D(1995, 1, 1)), CUR, D(1900, 1, 1)) is None
    # superseded exactly on the cutoff: expired; a day later: not
    assert expiry(rows(D(1850, 1, 1), D(1876, 3, 1)), CUR, D(1876, 3, 1)) == Expiry((1,), False)
    assert expiry(rows(D(1850, 1, 1), D(1876, 3, 2)), CUR, D(1876, 3, 1)) is None


def test_a_row_kept_as_history_only_expires_from_its_own_receipt() -> None:
    # 転入 elsewhere (current), then a late 転出 from the former municipality kept as history only
    history = rows(D(1850, 1, 1), (D(1860, 1, 1), False), D(1990, 1, 1))
    assert expiry(history, CUR, D(1876, 1, 1)) == Expiry((2,), False)
    assert expiry(history, CUR, D(1859, 12, 31)) is None


def test_a_removed_record_with_a_notice_received_after_its_removal_waits_for_that_notice_too() -> None:
    history = rows(D(1850, 1, 1), D(1860, 1, 1), (D(1990, 1, 1), False))  # 消除 1860, a history-only row 1990
    assert expiry(history, GONE, D(1876, 1, 1)) == Expiry((1,), False)
    assert expiry(history, GONE, D(1990, 1, 1)) == Expiry((1, 2, 3), True)


def test_a_void_record_goes_like_a_removed_one() -> None:
    assert expiry(rows(D(1860, 1, 1)), VOID, D(1876, 1, 1)) == Expiry((1,), True)


def test_a_replaced_code_keeps_its_last_row_until_the_change_of_code_has_expired() -> None:
    history = rows(D(1850, 1, 1), D(1855, 1, 1))  # the old 住民票コード's rows; the record moved on 1870-06-01
    assert expiry(history, None, D(1876, 1, 1), replaced_on=D(1870, 6, 1)) == Expiry((1, 2), False)
    assert expiry(history, None, D(1870, 5, 31), replaced_on=D(1870, 6, 1)) == Expiry((1,), False)
    # the day of the change unknown: the last row is kept rather than purged too early
    assert expiry(history, None, D(1990, 1, 1)) == Expiry((1,), False)


def test_nothing_expired_or_no_rows_gives_nothing() -> None:
    assert expiry([], GONE, D(1990, 1, 1)) is None
    assert expiry(rows(D(2000, 1, 1), D(2010, 1, 1)), GONE, D(1876, 1, 1)) is None
