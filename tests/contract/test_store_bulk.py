"""Contract: bulk_load writes the same shape of data as Tx.apply (one initial_load event), fast paths
on both engines (COPY / executemany), all or nothing; the benchmark baseline helper works."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.adapters.db.bulk import BASELINE_TABLE, baseline_copy, baseline_rows, bulk_load, drop_baseline
from juki.adapters.db.store import SearchCriteria, Store
from juki.domain.events import ChangeKind, Origin
from juki.domain.model import HEAD, HouseholdRecord, PersonRecord, Sex

from .test_store_support import D, addr, household, make_store, number_for, person, pid, prov, table_counts

SURNAMES = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("渡辺", "ワタナベ"),
]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("翔", "ショウ"), ("美咲", "ミサキ"), ("健", "ケン")]


def city(n_households: int, seed: int = 7) -> tuple[list[HouseholdRecord], list[PersonRecord]]:
    rng = random.Random(seed)
    hhs: list[HouseholdRecord] = []
    people: list[PersonRecord] = []
    next_pid = 1
    for h in range(1, n_households + 1):
        sur, sur_kana = rng.choice(SURNAMES)
        a = addr(block=f"{h}-{rng.randint(1, 30)}")
        members = []
        for i in range(rng.randint(1, 4)):
            given, given_kana = rng.choice(GIVEN)
            members.append(
                person(
                    next_pid,
                    h,
                    name=f"{sur} {given}",
                    kana=f"{sur_kana} {given_kana}",
                    birth=D(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 30000)),
                    sex=rng.choice([Sex.MALE, Sex.FEMALE]),
                    number=number_for(next_pid) if rng.random() < 0.8 else None,
                    relationship=HEAD if i == 0 else "子",
                    address=a,
                )
            )
            next_pid += 1
        hhs.append(household(h, members))
        people.extend(members)
    return hhs, people


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    s = make_store(database_url, tmp_path)
    yield s
    s.engine.dispose()


def _load(store: Store, hhs, people, **kw) -> tuple[int, int]:
    p = prov(D(2024, 1, 1), Origin.EX_OFFICIO)
    return bulk_load(store.engine, store.keyring, iter(hhs), iter(people), provenance=p, **kw)


def test_bulk_load_then_everything_reads_back(store: Store) -> None:
    hhs, people = city(150)
    assert len(people) > 300
    n_p, n_h = _load(store, hhs, people, batch_size=64)  # several batches
    assert (n_p, n_h) == (len(people), len(hhs))
    counts = table_counts(store)
    assert counts["events"] == 1 and counts["outbox"] == 0
    assert counts["persons"] == counts["person_versions"] == len(people)
    assert counts["households"] == counts["household_versions"] == len(hhs)
    c = store.counts()
    assert (c.residents, c.households) == (len(people), len(hhs))

    target = people[len(people) // 2]
    assert store.person_current(target.person_id) == target  # full round trip incl. 個人番号
    kana_hits = store.search(SearchCriteria(kana=target.name_kana[:3], limit=500))
    assert target.person_id in {h.person_id for h in kana_hits}
    expected = sorted(
        (p for p in people if p.name_kana.replace(" ", "").startswith(target.name_kana.replace(" ", "")[:3])),
        key=lambda p: (p.name_kana.replace(" ", ""), p.birth_date, p.person_id),
    )
    assert [h.person_id for h in kana_hits] == [p.person_id for p in expected]
    by_name = store.search(SearchCriteria(name=target.name, birth_date=target.birth_date))
    assert target.person_id in {h.person_id for h in by_name}
    numbered = next(p for p in people if p.individual_number)
    assert [
        h.person_id for h in store.search(SearchCriteria(individual_number=numbered.individual_number))
    ] == [numbered.person_id]
    assert store.person_as_of(target.person_id, D(2024, 1, 1)) == target
    assert store.person_as_of(target.person_id, D(2023, 12, 31)) is None
    hist = store.person_history(target.person_id)
    assert len(hist) == 1 and hist[0][0].kind is ChangeKind.INITIAL_LOAD and hist[0][0].summary == "移行"
    members = store.household_members(target.household_id)
    assert target in members and members[0].relationship == HEAD

    # id counters moved past the loaded ids; a later change updates loaded records normally
    assert store.next_id("person") == len(people) + 1
    with store.transaction() as tx:
        assert tx.allocate_ids("person", 1) == [pid(len(people) + 1)]
        assert tx.allocate_ids("household", 1) == [pid(len(hhs) + 1)]
        h, v = tx.households([target.household_id])[target.household_id]
        assert v == 1
        moved = [m.replace(address=addr(block="99")) for m in tx.household_members(h.household_id)]
        from .test_store_support import outcome

        tx.apply(
            outcome(
                ChangeKind.MOVE_WITHIN, D(2024, 5, 1), tuple(moved), (h.replace(address=moved[0].address),)
            ),
            prov(D(2024, 5, 1)),
            approved_by="c",
            request_id=None,
            expected_versions={h.household_id: v},
        )
    assert store.person_current(target.person_id).address == addr(block="99")
    assert [e.kind for e in store.events_for_person(target.person_id)] == [
        ChangeKind.INITIAL_LOAD,
        ChangeKind.MOVE_WITHIN,
    ]


def test_bulk_load_is_all_or_nothing(store: Store) -> None:
    hhs, people = city(20)
    _load(store, hhs[:5], [p for p in people if p.household_id in {h.household_id for h in hhs[:5]}])
    before = table_counts(store)
    with pytest.raises(sa.exc.IntegrityError):
        _load(store, hhs[5:], people, batch_size=10)  # persons of the first 5 households again
    assert table_counts(store) == before


def test_baseline_copy(store: Store) -> None:
    _, people = city(30)
    rows = baseline_rows(people, store.keyring)
    assert baseline_copy(store.engine, rows, batch_size=17) == len(people)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {BASELINE_TABLE}")).scalar_one() == len(people)
    assert baseline_copy(store.engine, baseline_rows(people[:5])) == 5  # recreated each time
    drop_baseline(store.engine)
    assert BASELINE_TABLE not in sa.inspect(store.engine).get_table_names()


def test_record_json_round_trips_every_item() -> None:
    """The one JSON form (model.to_json, fields cached per class) loses nothing but the 個人番号."""
    from juki.domain.model import (
        Eligibility,
        ForeignResidentItems,
        RemovalReason,
        Status,
        household_from_json,
        household_to_json,
        person_from_json,
        person_to_json,
    )

    base = person(1, 1, number=number_for(1))
    variants = [
        base,
        person(2, 1, kana=None),
        base.replace(
            status=Status.REMOVED,
            removal_reason=RemovalReason.MOVE_OUT,
            removal_date=D(2024, 3, 31),
            moved_out_to=addr(block="8"),
            previous_address=addr(block="7"),
            address_before_move_in=addr(katagaki="101号室"),
            eligibility=Eligibility(elector=True, national_pension="1号"),
            foreign=ForeignResidentItems(
                nationality="ベトナム",
                category="中長期在留者",
                stay_expiry=D(2026, 1, 1),
                roman_name="NGUYEN",
            ),
            alias="通称",
            remarks="備考",
        ),
    ]
    for p in variants:
        data = person_to_json(p)
        assert "individual_number" not in data
        assert person_from_json(data, p.individual_number) == p
    for hh in (household(1, variants[:2]), household(2, [])):
        assert household_from_json(household_to_json(hh)) == hh
