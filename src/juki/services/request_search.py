"""届出の検索 (CTR-4 窓口業務支援): submitted 届出 found by 受付日 (the 届出日), 氏名 and 生年月日.

A 届出 names its persons in two ways: new persons carried in the form itself (転入, 出生, 職権記載: their
氏名, 振り仮名 and 生年月日 are in the request's payload) and residents by 宛名番号 (転居, 世帯変更, 死亡 …:
their current 住民票 gives the name).  Both are matched: the name by the 漢字氏名 key or the 清音化カナ
key (so hiragana finds katakana, as in 住民検索), the birth date exactly.  The caller (the counter UI)
audits the search and flags persons under 支援措置, as for any read of persons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from juki.adapters.db.store import RequestRow, Store
from juki.domain.errors import InvalidInput, Problem
from juki.domain.kana import kana_key, name_key

MAX_DAYS = 366
PERSON_ID_FIELDS = ("person_id", "new_head_id", "remaining_head_id")


@dataclass(frozen=True)
class RequestCriteria:
    received_from: dt.date
    received_to: dt.date
    name: str = ""
    birth_date: dt.date | None = None
    limit: int = 100


@dataclass(frozen=True)
class NamedPerson:
    """A person a 届出 names: ``person_id`` is "" for a person new to the register."""

    name: str
    name_kana: str
    birth_date: str
    person_id: str = ""


@dataclass(frozen=True)
class RequestHit:
    request: RequestRow
    persons: tuple[NamedPerson, ...]


def check(criteria: RequestCriteria) -> None:
    """The period must run forwards and span at most a year (a bounded scan of the requests)."""
    if criteria.received_to < criteria.received_from:
        raise InvalidInput(Problem("received_to", "CTR-4/period", "受付日の終わりが始まりより前です。",
                                   "The end of the period is before its start."))
    if (criteria.received_to - criteria.received_from).days >= MAX_DAYS:
        raise InvalidInput(Problem("received_from", "CTR-4/period", "受付日の期間は1年以内で指定してください。",
                                   "The period may span at most one year."))


def _new_persons(payload: dict[str, Any]) -> list[NamedPerson]:
    found = list(payload.get("persons") or [])
    if isinstance(payload.get("child"), dict):
        found.append(payload["child"])
    return [NamedPerson(str(p.get("name") or ""), str(p.get("name_kana") or ""), str(p.get("birth_date") or ""))
            for p in found if isinstance(p, dict)]


def person_ids_of(payload: dict[str, Any]) -> list[str]:
    """The residents a 届出's payload names by 宛名番号 (also used by the 総合照会, CTR-2)."""
    ids = [str(payload[f]) for f in PERSON_ID_FIELDS if payload.get(f)]
    ids += [str(p) for p in payload.get("person_ids") or []]
    for key in ("memberships", "remaining_memberships"):
        ids += [str(m["person_id"]) for m in payload.get(key) or [] if isinstance(m, dict) and m.get("person_id")]
    return list(dict.fromkeys(ids))


def _matches(p: NamedPerson, criteria: RequestCriteria) -> bool:
    if criteria.birth_date is not None and p.birth_date != criteria.birth_date.isoformat():
        return False
    if criteria.name.strip():
        by_name = name_key(criteria.name)
        by_kana = kana_key(criteria.name)
        return bool(by_name and by_name in name_key(p.name)) or bool(by_kana and by_kana in kana_key(p.name_kana))
    return True


def search_requests(store: Store, criteria: RequestCriteria) -> list[RequestHit]:
    """The 届出 received in the period naming a person who matches (all of them when neither a name nor a
    birth date is given), newest first, at most ``criteria.limit``."""
    check(criteria)
    with store.read() as r:
        rows = r.requests_received(criteria.received_from, criteria.received_to)
        ids = sorted({pid for row in rows for pid in person_ids_of(row.payload)})
        residents = r.persons(ids) if ids else {}
    hits: list[RequestHit] = []
    for row in rows:
        named = _new_persons(row.payload) + [
            NamedPerson(p.name, p.name_kana or "", p.birth_date.isoformat(), pid)
            for pid in person_ids_of(row.payload) if (p := residents.get(pid)) is not None]
        if any(_matches(p, criteria) for p in named):
            hits.append(RequestHit(row, tuple(named)))
            if len(hits) >= criteria.limit:
                break
    return hits
