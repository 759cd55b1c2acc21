"""Law as data: dated, cited legal parameters the register applies (house rule 6).

Each parameter names its source and the date from which it applies, so that a change in the law is a
new entry here, not an edit of code paths.  :func:`in_force` picks the entry for a given date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class LegalParameter:
    name: str
    value: int
    citation: str
    effective_from: dt.date


NOTIFICATION_PERIOD_DAYS = (
    LegalParameter(
        "届出期間 (転入・転居・転出・世帯変更)",
        14,
        "住民基本台帳法第22条〜第25条 (届出は異動日から14日以内)",
        dt.date(1967, 11, 10),
    ),
)
"""届出期間: a 届出 later than this many days after the 異動日 is accepted and flagged as late."""

BIRTH_NOTIFICATION_DAYS = (
    LegalParameter("出生届の届出期間", 14, "戸籍法第49条第1項", dt.date(1948, 1, 1)),
)

MOVE_OUT_ADVANCE_DAYS = (
    LegalParameter(
        "転出予定日の届出可能期間 (事前届出)",
        30,
        "住民基本台帳法第24条 (転出予定日を記載した事前の転出届; 運用上の上限)",
        dt.date(1967, 11, 10),
    ),
)
"""How far ahead of the planned move-out date a 転出届 is accepted (practice; configurable here)."""

FURIGANA_ITEM_FROM = dt.date(2025, 5, 26)
"""氏名の振り仮名 is an item of the 住民票 from this date (令和5年法律第48号)."""

EARLIEST_BIRTH_DATE = dt.date(1868, 1, 25)
"""No living resident can be born before 明治元年; an earlier birth date is an input error."""


def in_force(parameters: tuple[LegalParameter, ...], on: dt.date) -> LegalParameter:
    """The parameter in force on ``on`` (the latest whose ``effective_from`` is not after it)."""
    candidates = [p for p in parameters if p.effective_from <= on]
    if not candidates:
        raise LookupError(f"no {parameters[0].name} in force on {on}")
    return max(candidates, key=lambda p: p.effective_from)
