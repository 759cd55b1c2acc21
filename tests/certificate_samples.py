"""住民票 values for certificate tests: a Sapporo household whose names need 外字 and IVS (髙, 﨑, 葛󠄀),
built directly as domain records (no database needed to print a certificate)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from juki.adapters.pdf.png import png
from juki.domain.certificates import CertificateKind, Document, Items, Layout, MoveOutDetails, SealImprint
from juki.domain.model import (
    Address,
    ForeignResidentItems,
    FuriganaStatus,
    HouseholdRecord,
    PersonRecord,
    RemovalReason,
    Sex,
    Status,
)

KATSU_IVS = "葛\U000E0102"
"""葛 with an IVS selector of the Moji_Joho collection (MJ022335), which IPAmj明朝 implements: a glyph other
than the font's default 葛 (MJ022336).  The Adobe-Japan1 sequence 葛 U+E0100 is not in that collection and
prints as the default glyph."""
HOME = Address(prefecture="北海道", city="札幌市中央区", town="北一条西", block="2丁目1番地", katagaki="札幌ハイツ101号",
               postcode="0600001", lg_code="011011")
CHIBA = Address(prefecture="千葉県", city="千葉市中央区", town="千葉港", block="1番1号", postcode="2600026", lg_code="121002")
KITA = Address(prefecture="北海道", city="札幌市北区", town="北七条西", block="5丁目3番", postcode="0010007", lg_code="011029")
TOKYO = Address(prefecture="東京都", city="千代田区", town="丸の内", block="1丁目1番1号", postcode="1000005", lg_code="131016")

# (name, kana, birth, sex, relationship)
MEMBERS = [
    ("髙橋　一郎", "タカハシ　イチロウ", dt.date(1975, 3, 14), Sex.MALE, "世帯主"),
    ("髙橋　美﨑", "タカハシ　ミサキ", dt.date(1979, 8, 2), Sex.FEMALE, "妻"),
    (f"髙橋　{KATSU_IVS}子", "タカハシ　カツコ", dt.date(1989, 1, 7), Sex.FEMALE, "子"),
    ("髙橋　令", "タカハシ　レイ", dt.date(2019, 5, 1), Sex.MALE, "子"),
    ("髙橋　平", "タカハシ　タイラ", dt.date(1989, 1, 8), Sex.MALE, "子"),
    ("髙橋　大正", "タカハシ　タイショウ", dt.date(1926, 12, 24), Sex.MALE, "祖父"),
]
HEAD_NAME = MEMBERS[0][0]
HOUSEHOLD_ID = "9000000001"


def person(i: int = 0, **changes: Any) -> PersonRecord:
    name, kana, birth, sex, rel = MEMBERS[i]
    p = PersonRecord(
        person_id=f"{i + 1:010d}", household_id=HOUSEHOLD_ID, status=Status.RESIDENT, name=name, name_kana=kana,
        furigana_status=FuriganaStatus.CONFIRMED, birth_date=birth, sex=sex, relationship=rel, head_name=HEAD_NAME,
        address=HOME, address_since=dt.date(2021, 4, 1), resident_since=dt.date(2018, 10, 1),
        address_notified_on=dt.date(2021, 4, 5), previous_address=KITA, address_before_move_in=CHIBA,
        juminhyo_code=f"{24727059600 + i}", individual_number=f"12345678{i:03d}8",
        honseki="千葉県千葉市中央区千葉港1番", hittosha=HEAD_NAME,
    )
    return p.replace(**changes)


def household(n: int = 4) -> tuple[tuple[PersonRecord, ...], HouseholdRecord]:
    persons = tuple(person(i) for i in range(n))
    h = HouseholdRecord(HOUSEHOLD_ID, persons[0].person_id, tuple(p.person_id for p in persons), HOME, dt.date(2018, 10, 1))
    return persons, h


def foreigner() -> PersonRecord:
    return person(0, person_id="0000000901", household_id="9000000009", name="SMITH JOHN", name_kana="スミス　ジョン",
                  alias="須美須　譲", alias_kana="スミス　ジョウ", honseki="", hittosha="", head_name="SMITH JOHN",
                  foreign=ForeignResidentItems(nationality="英国", category="中長期在留者", residence_status="技術・人文知識・国際業務",
                                               period_of_stay="5年", stay_expiry=dt.date(2029, 3, 31),
                                               residence_card_number="AB12345678CD", roman_name="SMITH JOHN"))


def removed(reason: RemovalReason = RemovalReason.MOVE_OUT, i: int = 0) -> PersonRecord:
    return person(i, status=Status.REMOVED, removal_reason=reason, removal_date=dt.date(2026, 4, 1),
                  moved_out_to=TOKYO if reason is RemovalReason.MOVE_OUT else None)


def _ring(x: int, y: int) -> tuple[int, int, int, int]:
    d = ((x - 47.5) ** 2 + (y - 47.5) ** 2) ** 0.5
    inside = 40 <= d <= 46 or (abs(x - 47.5) < 3 and d < 40) or (abs(y - 47.5) < 3 and d < 40)
    return (200, 30, 30, 255) if inside else (255, 255, 255, 0)


SEAL_PNG = png(96, 96, b"".join(bytes(_ring(x, y)) for y in range(96) for x in range(96)), rgba=True)
"""A red ring with a cross: a stand-in 印影 (a real PNG; the imprint's pixels do not matter to the tests)."""


def doc(kind: CertificateKind = CertificateKind.RESIDENT_COPY, *, persons: tuple[PersonRecord, ...] | None = None,
        household_record: HouseholdRecord | None = None, **kw: Any) -> Document:
    if persons is None:
        if kind is CertificateKind.REMOVED_COPY:
            persons = (removed(),)
        elif kind is CertificateKind.MOVE_OUT:
            persons = tuple(removed(RemovalReason.MOVE_OUT, i) for i in range(2))
        elif kind in (CertificateKind.CODE_NOTICE, CertificateKind.SEAL):
            persons = (person(0),)
        else:
            persons, h = household(4)
            household_record = household_record or h
    base: dict[str, Any] = dict(
        kind=kind, persons=persons, household=household_record, municipality="札幌市", lg_code="011002",
        mayor="札幌市長　秋元　克広", issued_on=dt.date(2026, 11, 23), certificate_id="011002-20261123-7K3M9QXPA2",
    )
    if kind is CertificateKind.SEAL:
        base.update(layout=Layout.INDIVIDUAL, seal=SealImprint("S-000123", SEAL_PNG, dt.date(2020, 2, 3)))
    if kind in (CertificateKind.REMOVED_COPY, CertificateKind.CODE_NOTICE):
        base["layout"] = Layout.INDIVIDUAL
    if kind is CertificateKind.MOVE_OUT:
        base["move_out"] = MoveOutDetails(TOKYO, dt.date(2026, 4, 1), dt.date(2026, 3, 25))
    base.update(kw)
    return Document(**base)


def with_items(d: Document, **items: bool) -> Document:
    return dataclasses.replace(d, items=Items(**items))
