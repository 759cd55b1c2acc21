"""Retention of the register (保存期間, REG-R5): what may be purged, decided from dates alone.

住民基本台帳法施行令第34条: a 除票 (and a 住民票 superseded by 改製) is kept **150 years** from the day it
was removed (消除) or superseded.  The same holds for a deceased person's 個人番号, which lives on their
除票.  Past that, a yearly batch lists what has expired, a second person approves the list, and only then
is it deleted (000 III-7 R3, 003 A6).  This module is the rule; storage and the four-eyes workflow are in
:mod:`juki.services.retention`.

The rule, per person, from their versions (版) in ``version_no`` order:

* **Whole record (除票)**: the latest version is a 除票 (``removed``) or void (``void``: created by a
  change that was cancelled) and its 異動日 (``valid_from``: the day of 消除) is on or before the cutoff:
  every version and the current row go.
* **Superseded history**: otherwise, the longest prefix of versions each of which was superseded (the
  next version's ``valid_from``) on or before the cutoff.  The latest version is never in it, so a
  resident's current 住民票 is never purged.

The cutoff is ``today`` minus the retention years (29 February → 28 February).

Between the day a 除票 expires and the yearly purge it is **hidden from normal work** (REG-R5: "past
that, records are hidden from normal work, then purged"): searches do not return it, even with 除票
included, and no certificate (除票の写し) is issued for it; :func:`retention_expired` is that test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from .model import Status

REGISTER_RETENTION_YEARS = 150
"""住民基本台帳法施行令第34条第1項: 除票 and 改製前の住民票 are kept 150 years."""


def years_before(day: dt.date, years: int) -> dt.date:
    """``day`` minus ``years`` calendar years (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def retention_expired(removed_on: dt.date, today: dt.date, years: int = REGISTER_RETENTION_YEARS) -> bool:
    """Whether a 除票 removed (消除) on ``removed_on`` is past retention on ``today``: from then on it is
    hidden from normal work (searches, certificates) until the yearly purge deletes it (REG-R5)."""
    return removed_on <= years_before(today, years)


@dataclass(frozen=True)
class VersionFacts:
    """What the rule needs of one version of a person: 版番号, 異動日 and レコード状況."""

    version_no: int
    valid_from: dt.date
    status: Status


@dataclass(frozen=True)
class PurgeItem:
    """One person's part of a purge: delete versions ``<= upto_version``; ``whole`` also removes the
    current row (the 除票 itself).  ``versions`` is how many versions that is."""

    person_id: str
    upto_version: int
    whole: bool
    versions: int


def purge_item(person_id: str, versions: Sequence[VersionFacts], cutoff: dt.date) -> PurgeItem | None:
    """What of ``person_id`` has expired by ``cutoff`` (see the module docstring), or None."""
    ordered = sorted(versions, key=lambda v: v.version_no)
    if not ordered:
        return None
    latest = ordered[-1]
    if latest.status in (Status.REMOVED, Status.VOID) and latest.valid_from <= cutoff:
        return PurgeItem(person_id, latest.version_no, True, len(ordered))
    upto, count = 0, 0
    for older, newer in itertools.pairwise(ordered):
        if newer.valid_from > cutoff or older.valid_from > cutoff:
            break
        upto, count = older.version_no, count + 1
    return PurgeItem(person_id, upto, False, count) if count else None
