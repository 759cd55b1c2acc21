"""An in-memory register for domain tests: applies outcomes to dicts exactly as storage does (the
new version of every record replaces the current one), so the domain's rules can be tested without I/O."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from juki.domain import identifiers
from juki.domain.changes import Command, command_from_json
from juki.domain.events import Origin, Outcome, Provenance
from juki.domain.model import Address, HouseholdRecord, PersonRecord
from juki.domain.register import CancellationTarget, Context, Jurisdiction, decide

SAPPORO = Jurisdiction("011002", "札幌市", "北海道", frozenset(identifiers.with_lg_check_digit(f"011{n:02d}") for n in range(1, 11)))
CHUO = identifiers.with_lg_check_digit("01101")
KITA = identifiers.with_lg_check_digit("01102")
CHIBA = "121002"
TODAY = dt.date(2026, 4, 20)


def address(block: str = "1丁目1番1号", town: str = "北一条西", city: str = "札幌市中央区", lg: str = CHUO, **kw: Any) -> dict:
    return {"prefecture": "北海道", "city": city, "town": town, "block": block, "postcode": "0600001", "lg_code": lg, **kw}


def chiba_address() -> dict:
    return {"prefecture": "千葉県", "city": "千葉市中央区", "town": "千葉港", "block": "1番1号", "postcode": "2600026", "lg_code": CHIBA}


def person(name: str = "札幌　太郎", kana: str = "サッポロ　タロウ", birth: str = "1980-05-01", sex: str = "1", rel: str = "世帯主", **kw: Any) -> dict:
    return {"name": name, "name_kana": kana, "furigana_status": "confirmed", "birth_date": birth, "sex": sex, "relationship": rel, **kw}


class Ids:
    def __init__(self) -> None:
        self.p = itertools.count(1)
        self.h = itertools.count(1)
        self.rng = random.Random(1)

    def person_id(self) -> str:
        return f"{next(self.p):010d}"

    def household_id(self) -> str:
        return f"9{next(self.h):09d}"

    def juminhyo_code(self) -> str:
        return identifiers.new_juminhyo_code(self.rng)


class Registry:
    def __init__(self, today: dt.date = TODAY) -> None:
        self.today = today
        self.ids = Ids()
        self.persons: dict[str, PersonRecord] = {}
        self.households: dict[str, HouseholdRecord] = {}
        self.last: dict[str, dt.date] = {}
        self.events: list[tuple[int, Outcome, dict[str, PersonRecord | None], dict[str, HouseholdRecord | None]]] = []
        self.cancelled: set[int] = set()

    def run(self, kind: str, payload: dict, *, effective: str | dt.date = "2026-04-10", notified: str | dt.date | None = None,
            origin: Origin = Origin.NOTIFICATION) -> Outcome:
        command = command_from_json(kind, payload)
        eff = dt.date.fromisoformat(effective) if isinstance(effective, str) else effective
        nof = (dt.date.fromisoformat(notified) if isinstance(notified, str) else notified) or max(eff, self.today - dt.timedelta(days=3))
        if nof < eff and kind not in ("move_out", "move_abroad"):
            nof = eff
        pv = Provenance(origin, "住民基本台帳法", eff, min(nof, self.today), "clerk1", "T001")
        return self.apply(command, pv)

    def context(self, pv: Provenance) -> Context:
        ctx = Context(SAPPORO, pv, self.today, self.ids, dict(self.households), dict(self.persons))
        for p in self.persons.values():
            ctx.by_juminhyo_code[p.juminhyo_code] = p
            if p.individual_number:
                ctx.by_individual_number[p.individual_number] = p
        ctx.last_change = dict(self.last)
        return ctx

    def apply(self, command: Command, pv: Provenance, ctx: Context | None = None) -> Outcome:
        ctx = ctx or self.context(pv)
        from juki.domain.changes import Cancellation

        if isinstance(command, Cancellation):
            ctx.cancellation = self.target(command.event_seq)
        out = decide(command, ctx)
        before_p = {p.person_id: self.persons.get(p.person_id) for p in out.persons}
        before_h = {h.household_id: self.households.get(h.household_id) for h in out.households}
        for p in out.persons:
            self.persons[p.person_id] = p
            self.last[p.person_id] = out.valid_from
        for h in out.households:
            self.households[h.household_id] = h
            self.last[h.household_id] = out.valid_from
        seq = len(self.events) + 1
        self.events.append((seq, out, before_p, before_h))
        if out.cancels_event:
            self.cancelled.add(out.cancels_event)
        return out

    def target(self, seq: int) -> CancellationTarget:
        _, out, before_p, before_h = self.events[seq - 1]
        later = [rid for s, o, _, _ in self.events[seq:] if s not in self.cancelled and not o.cancels_event
                 for rid in [*(p.person_id for p in o.persons), *(h.household_id for h in o.households)]
                 if rid in before_p or rid in before_h]
        return CancellationTarget(seq, out.kind, out.valid_from, before_p, before_h,
                                  {p.person_id: p for p in out.persons}, {h.household_id: h for h in out.households},
                                  tuple(dict.fromkeys(later)), seq in self.cancelled)

    def check_invariants(self) -> None:
        residents = [p for p in self.persons.values() if p.is_resident]
        for p in residents:
            h = self.households[p.household_id]
            assert p.person_id in h.member_ids, p
            assert p.address == h.address
            assert p.head_name == self.persons[h.head_id].name
        for h in self.households.values():
            if h.is_empty:
                continue
            assert h.member_ids[0] == h.head_id
            assert len(set(h.member_ids)) == len(h.member_ids)
            heads = [m for m in h.member_ids if self.persons[m].relationship == "世帯主"]
            assert heads == [h.head_id]
            for m in h.member_ids:
                assert self.persons[m].is_resident and self.persons[m].household_id == h.household_id
        counted = sum(len(h.member_ids) for h in self.households.values())
        assert counted == len(residents)

    def household_of(self, person_id: str) -> HouseholdRecord:
        return self.households[self.persons[person_id].household_id]


def addr(**kw: Any) -> Address:
    return Address(**address(**kw))
