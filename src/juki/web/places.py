"""The municipality's own places for address fields: its wards (政令指定都市) or itself, named as Japan
Post names them (:mod:`juki.adapters.postcodes`, offline), with the 地方公共団体コード the register checks
addresses by."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from juki.adapters.postcodes import city_names
from juki.domain.identifiers import with_lg_check_digit
from juki.domain.register import Jurisdiction


@dataclass(frozen=True)
class Place:
    lg_code: str  # 6 digits with the check digit
    city: str  # 札幌市中央区


@lru_cache(maxsize=8)
def places(jurisdiction: Jurisdiction) -> tuple[Place, ...]:
    """The wards of a 政令指定都市, else the municipality itself."""
    codes = sorted(jurisdiction.ward_codes) or [jurisdiction.lg_code]
    rows = city_names(c[:5] for c in codes)
    return tuple(Place(with_lg_check_digit(jis), rows[jis]) for jis in sorted(rows)) or (
        Place(jurisdiction.lg_code, jurisdiction.name),)
