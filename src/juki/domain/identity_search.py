"""本人確認情報の検索条件 (NET-4, PRF-5): what a search of the 住基ネット files must name.

A search names a person by one key: the 住民票コード, the 個人番号, or the card (個人番号カード, whose
住民票コード the card management system knows); or else by 4情報, and then **at least 氏名 + 住所 or
氏名 + 生年月日** (000/001/003 III: 「最低限入力すべき照会・検索条件」; 性別 narrows a search but never
counts towards the minimum).  Anything less is refused with a Problem, so that nobody browses the file
(004 III-3: 安易な照会・検索条件による目的外利用の防止).

Where the search goes (NET-4): the municipality's own CS file first; then the prefecture's file, which
covers every municipality of the prefecture; then the national server's, which covers the country.
:func:`scope_order` is that order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from . import identifiers
from .errors import InvalidInput, Problems


class QueryKey(StrEnum):
    JUMINHYO_CODE = "juminhyo_code"  # 住民票コード
    INDIVIDUAL_NUMBER = "individual_number"  # 個人番号
    CARD = "card"  # 個人番号カード
    FOUR_ITEMS = "four_items"  # 4情報

    @property
    def ja(self) -> str:
        return {"juminhyo_code": "住民票コード", "individual_number": "個人番号", "card": "個人番号カード",
                "four_items": "4情報"}[self.value]


class Scope(StrEnum):
    LOCAL = "local"  # 市町村CS
    PREFECTURE = "prefecture"  # 都道府県サーバ
    NATIONAL = "national"  # 全国サーバ

    @property
    def ja(self) -> str:
        return {"local": "市町村CS", "prefecture": "都道府県サーバ", "national": "全国サーバ"}[self.value]


def scope_order(widest: Scope) -> tuple[Scope, ...]:
    """Local, then prefecture, then national, up to ``widest``."""
    order = (Scope.LOCAL, Scope.PREFECTURE, Scope.NATIONAL)
    return order[: order.index(widest) + 1]


@dataclass(frozen=True)
class IdentityQuery:
    """One search of 本人確認情報.  Empty strings mean "not given"."""

    juminhyo_code: str = ""
    individual_number: str = ""
    card_serial: str = ""
    name: str = ""  # 氏名 (漢字) or its ふりがな: matched on the search key either way
    address: str = ""  # 住所 (a prefix of it)
    birth_date: dt.date | None = None
    sex: str = ""  # "1" 男 / "2" 女: narrows only

    @property
    def key(self) -> QueryKey:
        if self.juminhyo_code:
            return QueryKey.JUMINHYO_CODE
        if self.individual_number:
            return QueryKey.INDIVIDUAL_NUMBER
        if self.card_serial:
            return QueryKey.CARD
        return QueryKey.FOUR_ITEMS

    def check(self) -> IdentityQuery:
        """The query itself when it names enough (NET-4), else InvalidInput naming what is missing."""
        problems = Problems()
        keys = [k for k in ("juminhyo_code", "individual_number", "card_serial") if getattr(self, k)]
        four = [k for k in ("name", "address", "birth_date", "sex") if getattr(self, k)]
        if len(keys) > 1:
            problems.add(keys[1], "NET-4/one-key", "検索キーは住民票コード・個人番号・カードのいずれか一つです。",
                         "Search by one key: the resident record code, the individual number or the card.")
        if keys and four:
            problems.add(four[0], "NET-4/one-key", "住民票コード・個人番号・カードで検索するときは4情報を指定しません。",
                         "A search by code, number or card takes no name, address, birth date or sex.")
        if self.juminhyo_code and (p := identifiers.juminhyo_code_problem(self.juminhyo_code)) is not None:
            problems.extend([p])
        if self.individual_number and (p := identifiers.individual_number_problem(self.individual_number)) is not None:
            problems.extend([p])
        if self.sex and self.sex not in ("1", "2"):
            problems.add("sex", "NET-4/sex", "性別は 1（男）か 2（女）です。", "Sex is 1 (male) or 2 (female).")
        if not keys:
            if not self.name.strip():
                problems.add("name", "NET-4/minimum",
                             "4情報で検索するときは氏名が必要です（氏名＋住所 または 氏名＋生年月日）。",
                             "A search by name etc. needs the name (name + address, or name + birth date).")
            elif not self.address.strip() and self.birth_date is None:
                problems.add("address", "NET-4/minimum",
                             "氏名に加えて住所か生年月日を指定してください（性別は条件に数えません）。",
                             "Give the address or the birth date besides the name (sex does not count).")
        problems.raise_if_any(InvalidInput)
        return self
