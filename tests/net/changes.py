"""Register changes for the network tests: entered and approved by two users through the change
service (the same path as the API), on the register of a municipality node."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from juki.config import Register
from juki.domain.events import Origin
from juki.services.changes import Actor, Approved

from ..unit.registry import address, chiba_address, person

CLERK = Actor("clerk1", "T001")
CHIEF = Actor("chief1", "T002")
HONSEKI_SAPPORO = "北海道札幌市中央区北一条西二丁目1番地"
_block = itertools.count(1)


def change(reg: Register, kind: str, payload: dict[str, Any], date: dt.date) -> Approved:
    sub = reg.changes.submit(kind, payload, actor=CLERK, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                             effective_date=date, notified_date=date)
    return reg.changes.approve(sub.request_id, actor=CHIEF)


def move_in(reg: Register, date: dt.date, *people: dict[str, Any], block: str | None = None) -> Approved:
    """A 転入 from 千葉市 of a new household (a 世帯主 and whoever else is given)."""
    members = list(people) or [person(honseki=HONSEKI_SAPPORO, hittosha="札幌　太郎")]
    return change(reg, "move_in", {"persons": members, "address": address(block=block or f"{next(_block)}番"),
                                   "prior_address": chiba_address()}, date)


def move_within(reg: Register, household_id: str, person_ids: list[str], date: dt.date) -> Approved:
    return change(reg, "move_within", {"household_id": household_id, "person_ids": person_ids,
                                       "address": address(block=f"{next(_block)}番", town="北二条西")}, date)


def death(reg: Register, person_id: str, household_id: str, date: dt.date, **kw: Any) -> Approved:
    return change(reg, "death", {"person_id": person_id, "household_id": household_id, **kw}, date)
