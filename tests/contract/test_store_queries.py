"""Contract: reads as of a date (and as known at a time), history, search (REG-SEARCH), counts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from juki.adapters.db.store import SearchCriteria, Store, prefix_bounds
from juki.domain.errors import InvalidInput
from juki.domain.events import ChangeKind
from juki.domain.model import Sex, Status

from .test_store_support import (  # noqa: F401  (clock, store: fixtures)
    Clock,
    D,
    addr,
    household,
    make_store,
    move_in,
    number_for,
    outcome,
    person,
    pid,
    prov,
)


def _apply(store: Store, kind: ChangeKind, date, persons, households, versions, **kw) -> int:
    with store.transaction() as tx:
        return tx.apply(
            outcome(kind, date, tuple(persons), tuple(households), **kw),
            prov(date),
            approved_by="chief",
            request_id=None,
            expected_versions=versions,
        )


# --- as of -----------------------------------------------------------------------------------------


def test_as_of_picks_greatest_version_valid_by_then(store: Store, clock: Clock) -> None:
    v1 = person(1, 10, number=number_for(1))
    t0 = clock.now
    move_in(store, [v1], 10, D(2024, 1, 10))  # v1 valid from 2024-01-10, recorded at t0
    t1 = clock.advance(days=1)
    v2 = dataclasses.replace(v1, address=addr(block="2-2"), previous_address=v1.address)
    _apply(store, ChangeKind.MOVE_WITHIN, D(2024, 3, 1), [v2], [household(10, [v2])], {pid(10): 1})
    t2 = clock.advance(days=1)
    v3 = dataclasses.replace(v2, name="田中 太郎", name_kana="タナカ タロウ")
    seq3 = _apply(store, ChangeKind.NAME_CHANGE, D(2024, 5, 1), [v3], [], {})
    t3 = clock.advance(days=1)
    # 取消 of the name change: the domain re-emits v2's content as v4 with the cancelled change's date
    seq4 = _apply(store, ChangeKind.CANCELLATION, D(2024, 5, 1), [v2], [], {}, cancels_event=seq3)
    clock.advance(days=1)

    assert store.person_as_of(pid(1), D(2024, 1, 9)) is None
    assert store.person_as_of(pid(1), D(2024, 1, 10)) == v1
    assert store.person_as_of(pid(1), D(2024, 2, 28)) == v1
    assert store.person_as_of(pid(1), D(2024, 3, 1)) == v2
    assert store.person_as_of(pid(1), D(2024, 4, 30)) == v2
    # version 4 (valid from 05-01 like version 3) wins: the cancelled name never shows
    assert store.person_as_of(pid(1), D(2024, 5, 1)).name == "山田 太郎"
    assert store.person_as_of(pid(1), D(2030, 1, 1)) == v2
    assert store.person_current(pid(1)) == v2
    # as the register knew it at a time: before the 取消 was recorded, the name change showed
    half = dt.timedelta(hours=12)
    assert store.person_as_of(pid(1), D(2024, 6, 1), known_at=t0 - half) is None
    assert store.person_as_of(pid(1), D(2024, 6, 1), known_at=t0 + half) == v1
    assert store.person_as_of(pid(1), D(2024, 6, 1), known_at=t1) == v2
    assert store.person_as_of(pid(1), D(2024, 6, 1), known_at=t2 + half).name == "田中 太郎"
    assert store.person_as_of(pid(1), D(2024, 6, 1), known_at=t3).name == "山田 太郎"
    # known_at and date combine: as known before the 転居 was recorded, 04-01 still shows v1
    assert store.person_as_of(pid(1), D(2024, 4, 1), known_at=t0 + half) == v1

    hist = store.person_history(pid(1))
    assert [(e.kind, r.name) for e, r in hist] == [
        (ChangeKind.MOVE_IN, "山田 太郎"),
        (ChangeKind.MOVE_WITHIN, "山田 太郎"),
        (ChangeKind.NAME_CHANGE, "田中 太郎"),
        (ChangeKind.CANCELLATION, "山田 太郎"),
    ]
    assert hist[3][0].cancels_seq == seq3 and hist[3][0].seq == seq4
    assert all(r.individual_number == number_for(1) for _, r in hist)
    with store.read() as r:
        assert r.person_version(pid(1), 3).name == "田中 太郎"
        assert r.person_version(pid(1), 9) is None


def test_household_as_of(store: Store, clock: Clock) -> None:
    a = person(1, 10)
    b = person(2, 10, name="山田 花子", kana="ヤマダ ハナコ", relationship="妻")
    move_in(store, [a], 10, D(2024, 1, 10))
    clock.advance(hours=1)
    _apply(store, ChangeKind.MOVE_IN, D(2024, 2, 1), [b], [household(10, [a, b])], {pid(10): 1})
    clock.advance(hours=1)
    _apply(store, ChangeKind.HEAD_CHANGE, D(2024, 3, 1), [], [household(10, [b, a])], {pid(10): 2})
    assert store.household_as_of(pid(10), D(2024, 1, 1)) is None
    assert store.household_as_of(pid(10), D(2024, 1, 31)).member_ids == (pid(1),)
    assert store.household_as_of(pid(10), D(2024, 2, 15)).member_ids == (pid(1), pid(2))
    assert store.household_as_of(pid(10), D(2024, 3, 1)).head_id == pid(2)
    hist = store.household_history(pid(10))
    assert [e.kind for e, _ in hist] == [ChangeKind.MOVE_IN, ChangeKind.MOVE_IN, ChangeKind.HEAD_CHANGE]
    assert [p.person_id for p in store.household_members(pid(10))] == [pid(2), pid(1)]


# --- search ----------------------------------------------------------------------------------------


@pytest.fixture
def town(store: Store) -> Store:
    people = [
        person(1, 1, name="山田 太郎", kana="ヤマダ タロウ", birth=D(1980, 1, 2), number=number_for(1)),
        person(2, 2, name="山田 太郎", kana="ヤマダ タロウ", birth=D(1975, 6, 7), address=addr(block="9-9")),
        person(3, 3, name="山田 花子", kana="ヤマダ ハナコ", birth=D(1982, 3, 4), sex=Sex.FEMALE),
        person(4, 4, name="山崎 次郎", kana="ヤマザキ ジロウ", birth=D(1990, 1, 1)),
        person(5, 5, name="浜田 一郎", kana="ハマダ イチロウ", birth=D(1970, 1, 1)),
        person(6, 6, name="髙𠮷 一", kana="タカヨシ ハジメ", birth=D(2000, 2, 2)),
        person(
            7,
            7,
            name="吉田 学",
            kana="ヨシダ ガク",
            birth=D(2001, 2, 2),
            address=addr(town="南一条西", block="１０−１１"),
        ),
        person(8, 8, name="服部 ジョン", kana=None, birth=D(1999, 9, 9)),
    ]
    for p in people:
        move_in(store, [p], int(p.household_id))
    return store


def ids(hits) -> list[str]:
    return [h.person_id for h in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ヤマダ", [2, 1, 3]),  # katakana
        ("やまだ", [2, 1, 3]),  # hiragana
        ("ﾔﾏﾀﾞ", [2, 1, 3]),  # half-width
        ("ヤマタ", [2, 1, 3]),  # 清音: ダ = タ
        ("ヤ マ ダ", [2, 1, 3]),  # spaces ignored
        ("やまだ　た", [2, 1]),  # full-width space between surname and given name
        ("ヤマダハ", [3]),
        ("ハマタ", [5]),
    ],
)
def test_kana_prefix_is_insensitive(town: Store, query: str, expected: list[int]) -> None:
    assert ids(town.search(SearchCriteria(kana=query))) == [pid(n) for n in expected]


def test_kana_search_orders_and_tells_people_apart(town: Store) -> None:
    hits = town.search(SearchCriteria(kana="やま"))
    # ordered by kana key (ヤマサキ < ヤマタタロウ < ヤマタハナコ), then birth date
    assert ids(hits) == [pid(4), pid(2), pid(1), pid(3)]
    one, two = hits[1], hits[2]
    assert one.name == two.name == "山田 太郎"
    assert (one.birth_date, two.birth_date) == (D(1975, 6, 7), D(1980, 1, 2))
    assert one.address_text != two.address_text and one.household_id != two.household_id
    assert one.sex is Sex.MALE and one.status is Status.RESIDENT and one.name_kana == "ヤマダ タロウ"
    assert ids(town.search(SearchCriteria(kana="がく"))) == []  # prefix, not substring
    assert ids(town.search(SearchCriteria(kana="よしたかく"))) == [pid(7)]  # ガ→カ (清音)
    assert ids(town.search(SearchCriteria(kana="ヤマダ", sex=Sex.FEMALE))) == [pid(3)]


def test_name_and_birth_date(town: Store) -> None:
    assert ids(town.search(SearchCriteria(name="山田太郎", birth_date=D(1980, 1, 2)))) == [pid(1)]
    assert ids(town.search(SearchCriteria(name="山田　太郎"))) == [pid(2), pid(1)]
    assert ids(town.search(SearchCriteria(name="山田"))) == [pid(2), pid(1), pid(3)]
    assert ids(town.search(SearchCriteria(birth_date=D(1990, 1, 1)))) == [pid(4)]
    # characters outside the BMP: 𠮷 (U+20BB7) sorts after U+FFFF, prefix search must still work
    assert ids(town.search(SearchCriteria(name="髙"))) == [pid(6)]
    assert ids(town.search(SearchCriteria(name="髙𠮷"))) == [pid(6)]
    assert ids(town.search(SearchCriteria(name="吉"))) == [pid(7)]
    assert ids(town.search(SearchCriteria(name="服部", kana=None))) == [pid(8)]


def test_address_prefix_folds_width_and_hyphens(town: Store) -> None:
    assert ids(town.search(SearchCriteria(address="北海道札幌市中央区南一条西10-11"))) == [pid(7)]
    assert ids(town.search(SearchCriteria(address="北海道札幌市中央区南一条西１０－"))) == [pid(7)]
    assert len(town.search(SearchCriteria(address="北海道 札幌市"))) == 8


def test_identifiers_and_individual_number(town: Store) -> None:
    assert ids(town.search(SearchCriteria(individual_number=number_for(1)))) == [pid(1)]
    assert ids(town.search(SearchCriteria(individual_number=number_for(2)))) == []
    assert ids(town.search(SearchCriteria(person_id=pid(5)))) == [pid(5)]
    assert ids(town.search(SearchCriteria(household_id=pid(3)))) == [pid(3)]


def test_removed_records_only_on_request(town: Store) -> None:
    gone = dataclasses.replace(
        person(5, 5, name="浜田 一郎", kana="ハマダ イチロウ", birth=D(1970, 1, 1)), status=Status.REMOVED
    )
    _apply(town, ChangeKind.DEATH, D(2024, 9, 1), [gone], [household(5, [])], {pid(5): 1})
    assert town.search(SearchCriteria(kana="ハマダ")) == []
    hits = town.search(SearchCriteria(kana="ハマダ", include_removed=True))
    assert ids(hits) == [pid(5)] and hits[0].status is Status.REMOVED
    c = town.counts()
    assert (c.residents, c.households, c.removed) == (7, 7, 1)


def test_search_limits_and_empty_criteria(town: Store) -> None:
    assert len(town.search(SearchCriteria(address="北海道", limit=3))) == 3
    for bad in (SearchCriteria(), SearchCriteria(kana="　 "), SearchCriteria(sex=Sex.MALE)):
        with pytest.raises(InvalidInput) as err:
            town.search(bad)
        assert err.value.problems[0].rule == "REG-SEARCH-EMPTY"
    for limit in (0, 501):
        with pytest.raises(InvalidInput):
            town.search(SearchCriteria(kana="ヤ", limit=limit))
    assert len(town.search(SearchCriteria(kana="ヤ", limit=500))) == 4


def test_prefix_bounds() -> None:
    assert prefix_bounds("ヤマ") == ("ヤマ", "ヤミ")
    assert prefix_bounds("髙\U00020bb7") == ("髙\U00020bb7", "髙\U00020bb8")
    assert prefix_bounds("a\ud7ff") == ("a\ud7ff", "a\ue000")
    assert prefix_bounds("\U0010ffff") == ("\U0010ffff", None)
    lo, hi = prefix_bounds("山")
    assert lo <= "山𠮷" < hi and not (lo <= "屲" < hi)
