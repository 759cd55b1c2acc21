"""Shared helpers for the storage contract tests (test_store_*.py): record factories, a controllable
clock, and a migrated Store on the ``database_url`` of tests/conftest.py.  No tests here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import upgrade
from juki.adapters.db.store import Store
from juki.adapters.keys import Keyring
from juki.domain.events import ChangeKind, Origin, Outcome, Provenance
from juki.domain.identifiers import individual_number_check_digit, juminhyo_code_check_digit
from juki.domain.model import (
    HEAD,
    Address,
    FuriganaStatus,
    HouseholdRecord,
    PersonRecord,
    Sex,
    Status,
)

from ..clock import Clock as _Clock

D = dt.date
BIRTH = D(1980, 1, 2)
SINCE = D(2020, 4, 1)
DAY = D(2024, 4, 1)


def Clock(start: dt.datetime | None = None) -> _Clock:
    """A clock the test moves by hand (recorded_at / entered_at become predictable)."""
    return _Clock(start or dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC))


def make_store(database_url: str, tmp_path: Path, clock: Clock | None = None) -> Store:
    upgrade(database_url)
    return Store(make_engine(database_url), Keyring.load_or_create(tmp_path / "keys.json"), clock=clock)


def pid(n: int) -> str:
    return f"{n:010d}"


def number_for(n: int) -> str:
    first = f"{n + 123456780000:011d}"[-11:]
    return first + individual_number_check_digit(first)


def code_for(n: int) -> str:
    first = f"{n + 8000000000:010d}"[-10:]
    return first + juminhyo_code_check_digit(first)


def addr(block: str = "1-2-3", town: str = "北一条西", katagaki: str = "") -> Address:
    return Address(
        prefecture="北海道",
        city="札幌市中央区",
        town=town,
        block=block,
        katagaki=katagaki,
        postcode="0600001",
        lg_code="011002",
    )


def person(
    n: int,
    household: int,
    *,
    name: str = "山田 太郎",
    kana: str | None = "ヤマダ タロウ",
    birth: dt.date = BIRTH,
    sex: Sex = Sex.MALE,
    number: str | None = None,
    status: Status = Status.RESIDENT,
    relationship: str = HEAD,
    address: Address | None = None,
    since: dt.date = SINCE,
) -> PersonRecord:
    return PersonRecord(
        person_id=pid(n),
        household_id=pid(household),
        status=status,
        name=name,
        name_kana=kana,
        furigana_status=FuriganaStatus.CONFIRMED if kana else FuriganaStatus.ABSENT,
        birth_date=birth,
        sex=sex,
        relationship=relationship,
        head_name=name,
        address=address or addr(),
        address_since=since,
        resident_since=since,
        address_notified_on=since,
        previous_address=None,
        address_before_move_in=None,
        juminhyo_code=code_for(n),
        individual_number=number,
    )


def household(n: int, members: list[PersonRecord], address: Address | None = None) -> HouseholdRecord:
    return HouseholdRecord(
        household_id=pid(n),
        head_id=members[0].person_id if members else None,
        member_ids=tuple(m.person_id for m in members),
        address=address or (members[0].address if members else addr()),
        formed_on=members[0].resident_since if members else D(2020, 4, 1),
    )


def prov(effective: dt.date = DAY, origin: Origin = Origin.NOTIFICATION) -> Provenance:
    return Provenance(
        origin=origin,
        legal_basis="住民基本台帳法第22条",
        effective_date=effective,
        notified_date=effective,
        entered_by="clerk1",
        terminal="T01",
        case_ref="C-1",
    )


def outcome(
    kind: ChangeKind,
    valid_from: dt.date,
    persons: tuple[PersonRecord, ...] = (),
    households: tuple[HouseholdRecord, ...] = (),
    **kw: object,
) -> Outcome:
    return Outcome(
        kind=kind,
        valid_from=valid_from,
        persons=persons,
        households=households,
        summary_ja=kind.ja,
        **kw,  # type: ignore[arg-type]
    )


def move_in(store: Store, members: list[PersonRecord], hh: int, date: dt.date = DAY) -> int:
    """Apply a 転入 of ``members`` as new household ``hh``; returns the event seq."""
    with store.transaction() as tx:
        return tx.apply(
            outcome(ChangeKind.MOVE_IN, date, tuple(members), (household(hh, members),)),
            prov(date),
            approved_by="chief1",
            request_id=None,
            expected_versions={},
        )


TABLES = (
    "change_requests",
    "change_decisions",
    "events",
    "person_versions",
    "household_versions",
    "outbox",
    "persons",
    "households",
)


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}

