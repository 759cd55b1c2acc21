"""REG-R5: the 150-year rule decides from dates alone what of a person may be purged."""

from __future__ import annotations

import datetime as dt

from juki.domain.model import Status
from juki.domain.retention import REGISTER_RETENTION_YEARS, VersionFacts, purge_item, years_before

D = dt.date
R, X, V = Status.RESIDENT, Status.REMOVED, Status.VOID


def facts(*rows: tuple[dt.date, Status]) -> list[VersionFacts]:
    return [VersionFacts(n, d, s) for n, (d, s) in enumerate(rows, start=1)]


def test_cutoff_is_150_years_back_and_29_february_becomes_28() -> None:
    assert REGISTER_RETENTION_YEARS == 150
    assert years_before(D(2026, 11, 23), 150) == D(1876, 11, 23)
    assert years_before(D(2024, 2, 29), 150) == D(1874, 2, 28)
    assert years_before(D(2024, 2, 29), 4) == D(2020, 2, 29)


def test_a_removed_record_goes_whole_on_the_150th_anniversary_of_its_removal_not_before() -> None:
    versions = facts((D(1850, 1, 1), R), (D(1870, 5, 1), R), (D(1876, 11, 23), X))
    item = purge_item("p", versions, D(1876, 11, 23))
    assert item is not None and item.whole and item.upto_version == 3 and item.versions == 3
    # one day earlier, only the version superseded by then (version 2 was superseded by the removal)
    early = purge_item("p", versions, D(1876, 11, 22))
    assert early is not None and not early.whole and early.upto_version == 1 and early.versions == 1


def test_a_void_record_goes_like_a_removed_one() -> None:
    item = purge_item("p", facts((D(1860, 1, 1), V)), D(1876, 1, 1))
    assert item is not None and item.whole


def test_a_resident_keeps_the_current_version_whatever_its_age() -> None:
    assert purge_item("p", facts((D(1850, 1, 1), R)), D(1900, 1, 1)) is None
    item = purge_item("p", facts((D(1850, 1, 1), R), (D(1860, 1, 1), R)), D(1900, 1, 1))
    assert item is not None and (item.upto_version, item.whole) == (1, False)


def test_superseded_history_stops_at_the_first_version_superseded_too_recently() -> None:
    # a late notice: version 4 carries an older 異動日 than version 3; the prefix stops before version 2,
    # which version 3 superseded too recently, and version 4's old date does not reopen it
    versions = facts((D(1850, 1, 1), R), (D(1860, 1, 1), R), (D(1990, 1, 1), R), (D(1865, 1, 1), R))
    item = purge_item("p", versions, D(1876, 1, 1))
    assert item is not None and (item.upto_version, item.versions) == (1, 1)
    assert purge_item("p", facts((D(1990, 1, 1), R), (D(1860, 1, 1), R)), D(1876, 1, 1)) is None


def test_a_person_with_nothing_expired_or_no_versions_gives_nothing() -> None:
    assert purge_item("p", [], D(1876, 1, 1)) is None
    assert purge_item("p", facts((D(2000, 1, 1), R), (D(2010, 1, 1), X)), D(1876, 1, 1)) is None
