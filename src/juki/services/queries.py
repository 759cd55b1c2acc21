"""Reading the register: a person or household now or as of any date, history, search (REG-R4, REG-SEARCH).

Views are plain JSON-ready dicts.  The 個人番号 is masked in every view unless the caller says the user is
in 番号利用事務 (number-use work, SEC-2); the access-control layer decides that.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from juki.adapters.db.store import EventRow, SearchCriteria, SearchHit, Store
from juki.domain.errors import NotFound, Problem
from juki.domain.events import ChangeKind
from juki.domain.model import HouseholdRecord, PersonRecord, household_to_json, person_to_json

MASK = "************"


def person_view(p: PersonRecord, *, number_use: bool = False) -> dict[str, Any]:
    view = person_to_json(p)
    view["individual_number"] = (p.individual_number if number_use else MASK) if p.individual_number else None
    view["address_text"] = p.address.text
    view["sex_ja"] = p.sex.ja
    view["status_ja"] = {"resident": "住民", "removed": "除票", "void": "取消"}[p.status.value]
    return view


def household_view(h: HouseholdRecord, members: list[PersonRecord], *, number_use: bool = False) -> dict[str, Any]:
    view = household_to_json(h)
    view["address_text"] = h.address.text
    view["members"] = [person_view(m, number_use=number_use) for m in members]
    return view


def event_view(e: EventRow) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "kind": e.kind,
        "kind_ja": ChangeKind(e.kind).ja,
        "origin": e.origin,
        "legal_basis": e.legal_basis,
        "effective_date": e.effective_date.isoformat(),
        "notified_date": e.notified_date.isoformat(),
        "entered_by": e.entered_by,
        "approved_by": e.approved_by,
        "terminal": e.terminal,
        "recorded_at": e.recorded_at.isoformat(),
        "late": e.late,
        "corrects_seq": e.corrects_seq,
        "cancels_seq": e.cancels_seq,
        "request_id": e.request_id,
        "summary": e.summary,
    }


def hit_view(h: SearchHit) -> dict[str, Any]:
    return {
        "person_id": h.person_id,
        "household_id": h.household_id,
        "name": h.name,
        "name_kana": h.name_kana,
        "birth_date": h.birth_date.isoformat(),
        "sex": h.sex.value,
        "sex_ja": h.sex.ja,
        "address_text": h.address_text,
        "status": h.status.value,
    }


def _missing(what: str, ident: str, on: dt.date | None) -> NotFound:
    when_ja = f"{on.isoformat()} 時点で" if on else ""
    when_en = f" as of {on.isoformat()}" if on else ""
    ja = {"person": "住民票", "household": "世帯"}[what]
    return NotFound(Problem(f"{what}_id", "REG-R4", f"{when_ja}{ja} {ident} はありません。", f"No {what} {ident}{when_en}."))


class QueryService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def person(self, person_id: str, *, as_of: dt.date | None = None, number_use: bool = False) -> dict[str, Any]:
        p = self.store.person_as_of(person_id, as_of) if as_of else self.store.person_current(person_id)
        if p is None:
            raise _missing("person", person_id, as_of)
        return person_view(p, number_use=number_use)

    def household(self, household_id: str, *, as_of: dt.date | None = None, number_use: bool = False) -> dict[str, Any]:
        if as_of is None:
            h = self.store.household_current(household_id)
            members = self.store.household_members(household_id) if h else []
        else:
            h = self.store.household_as_of(household_id, as_of)
            members = []
            for pid in h.member_ids if h else ():
                p = self.store.person_as_of(pid, as_of)
                if p is not None:
                    members.append(p)
        if h is None:
            raise _missing("household", household_id, as_of)
        return household_view(h, members, number_use=number_use)

    def person_history(self, person_id: str, *, number_use: bool = False) -> list[dict[str, Any]]:
        rows = self.store.person_history(person_id)
        if not rows:
            raise _missing("person", person_id, None)
        return [{"event": event_view(e), "record": person_view(p, number_use=number_use)} for e, p in rows]

    def household_history(self, household_id: str) -> list[dict[str, Any]]:
        rows = self.store.household_history(household_id)
        if not rows:
            raise _missing("household", household_id, None)
        return [{"event": event_view(e), "record": household_to_json(h)} for e, h in rows]

    def search(self, criteria: SearchCriteria) -> list[dict[str, Any]]:
        return [hit_view(h) for h in self.store.search(criteria)]
