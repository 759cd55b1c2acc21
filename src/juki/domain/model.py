"""The 住民票 (one per person) and the 世帯 (household) as immutable snapshots.

A :class:`PersonRecord` is the whole 住民票 of one person at one version; a :class:`HouseholdRecord` is
one 世帯 at one version.  Changes (異動, :mod:`juki.domain.changes`) never modify a record: they produce
new versions, and storage keeps every version (REG-R4).  Names are kept exactly as given (code points,
IVS selectors, characters outside the BMP); search keys are derived in :mod:`juki.domain.kana`.

Items follow REG-ITEMS (住基法7条, 30条の45 for foreign residents, 令和5年法律第48号 for 振り仮名).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any


class Sex(StrEnum):
    """性別 (codes as in the 住基ネット 本人確認情報: 1 男, 2 女)."""

    MALE = "1"
    FEMALE = "2"

    @property
    def ja(self) -> str:
        return "男" if self is Sex.MALE else "女"


class Status(StrEnum):
    """レコード状況: a current 住民票 or a removed one (除票)."""

    RESIDENT = "resident"  # 住民
    REMOVED = "removed"  # 除票
    VOID = "void"  # 取消により無効: created by a change that was cancelled (REG-E11); kept for history only


class RemovalReason(StrEnum):
    """消除事由: why a 住民票 became a 除票."""

    MOVE_OUT = "move_out"  # 転出
    MOVE_ABROAD = "move_abroad"  # 国外転出
    DEATH = "death"  # 死亡
    EX_OFFICIO = "ex_officio"  # 職権消除


class FuriganaStatus(StrEnum):
    """氏名の振り仮名の状態: since 2025-05-26 an item of the 住民票; filled from the 戸籍 from 2026-05-26."""

    CONFIRMED = "confirmed"  # 確認済 (戸籍に記載された振り仮名)
    UNCONFIRMED = "unconfirmed"  # 未確認 (申出・届出による、戸籍未確認)
    ABSENT = "absent"  # 未記載


HEAD = "世帯主"
"""続柄 of the head of household (世帯主)."""


@dataclass(frozen=True)
class Address:
    """住所 (and 方書).  ``lg_code`` is the 6-digit 地方公共団体コード of the municipality; an address
    abroad has ``country`` set and no ``lg_code``."""

    prefecture: str = ""
    city: str = ""
    town: str = ""  # 町域 / 大字・字
    block: str = ""  # 丁目・番地・号
    katagaki: str = ""  # 方書 (building, room)
    postcode: str = ""  # 郵便番号, 7 digits
    lg_code: str = ""  # 地方公共団体コード
    town_code: str = ""  # 町字コード (大字・字コード)
    country: str = ""  # 国名 for an address abroad

    @property
    def text(self) -> str:
        """The address as printed (住所 + 方書)."""
        if self.country:
            return " ".join(x for x in (self.country, self.city, self.town, self.block) if x)
        main = f"{self.prefecture}{self.city}{self.town}{self.block}"
        return f"{main} {self.katagaki}" if self.katagaki else main

    @property
    def same_place(self) -> tuple[str, ...]:
        return (self.lg_code, self.postcode, self.prefecture, self.city, self.town, self.block, self.katagaki, self.country)


@dataclass(frozen=True)
class ForeignResidentItems:
    """外国人住民の記載事項 (住基法30条の45)."""

    nationality: str  # 国籍・地域
    category: str  # 30条の45 区分: 中長期在留者, 特別永住者, 一時庇護許可者, 仮滞在許可者, 経過滞在者
    residence_status: str = ""  # 在留資格
    period_of_stay: str = ""  # 在留期間 (e.g. "3年")
    stay_expiry: dt.date | None = None  # 在留期間の満了の日
    residence_card_number: str = ""  # 在留カード等の番号
    roman_name: str = ""  # 氏名 (アルファベット表記)


FOREIGN_CATEGORIES = ("中長期在留者", "特別永住者", "一時庇護許可者", "仮滞在許可者", "経過滞在者")


@dataclass(frozen=True)
class Eligibility:
    """Eligibility items on the 住民票 (住基法7条10号–11号の2, 12号)."""

    elector: bool = False  # 選挙人名簿登録
    national_health_insurance: bool = False  # 国民健康保険
    late_elderly_medical: bool = False  # 後期高齢者医療
    long_term_care: bool = False  # 介護保険
    national_pension: str = ""  # 国民年金 被保険者種別 ("1号" "3号" …), "" when none
    child_allowance: bool = False  # 児童手当


@dataclass(frozen=True)
class PersonRecord:
    """住民票: every statutory item of one person at one version (REG-ITEMS)."""

    person_id: str  # 宛名番号
    household_id: str  # 世帯番号
    status: Status
    name: str  # 氏名, exactly as given (IVS / 外字 kept)
    name_kana: str | None  # 氏名の振り仮名 (カタカナ); None when absent
    furigana_status: FuriganaStatus
    birth_date: dt.date
    sex: Sex
    relationship: str  # 世帯主との続柄
    head_name: str  # 世帯主の氏名
    address: Address  # 住所 (+ 方書)
    address_since: dt.date  # 住所を定めた年月日
    resident_since: dt.date  # 住民となった年月日
    address_notified_on: dt.date  # 住所を定めた旨の届出の年月日
    previous_address: Address | None  # 従前の住所 (the address before the latest address change)
    address_before_move_in: Address | None  # 転入前住所 (the address before moving into this municipality)
    juminhyo_code: str  # 住民票コード
    individual_number: str | None  # 個人番号 (None until designated); stored encrypted, never in the snapshot JSON
    former_surname: str = ""  # 旧氏
    former_surname_kana: str = ""  # 旧氏の振り仮名
    alias: str = ""  # 通称 (foreign residents)
    alias_kana: str = ""
    honseki: str = ""  # 本籍 (Japanese nationals)
    hittosha: str = ""  # 筆頭者
    foreign: ForeignResidentItems | None = None  # 外国人住民 (30条の45)
    eligibility: Eligibility = field(default_factory=Eligibility)
    remarks: str = ""  # 備考
    removal_reason: RemovalReason | None = None  # 消除事由
    removal_date: dt.date | None = None  # 消除の年月日 (転出予定日, 死亡日 …)
    moved_out_to: Address | None = None  # 転出先 (予定, then 確定 on the 転入通知)
    move_out_confirmed: bool = False  # 転出確定 (the new municipality's 転入通知 arrived)

    @property
    def is_resident(self) -> bool:
        return self.status is Status.RESIDENT

    @property
    def is_foreign(self) -> bool:
        return self.foreign is not None

    def replace(self, **changes: Any) -> PersonRecord:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class HouseholdRecord:
    """世帯: its 世帯主 and members (in 住民票 order), at one address."""

    household_id: str  # 世帯番号
    head_id: str | None  # 世帯主の宛名番号; None only for a household that no longer has members
    member_ids: tuple[str, ...]  # current members, head first
    address: Address
    formed_on: dt.date  # 世帯を構成した年月日

    @property
    def is_empty(self) -> bool:
        return not self.member_ids

    def replace(self, **changes: Any) -> HouseholdRecord:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------------------
# JSON form of the records (storage and API share it).  Dates are ISO strings; the 個人番号 is left out
# of the snapshot on purpose (it is encrypted separately; REG-ITEMS, SEC-2).


_FIELDS: dict[type, tuple[str, ...]] = {}


def to_json(value: Any) -> Any:
    """Records, commands and their parts as JSON-ready data: dates as ISO text, enums as their values,
    dataclasses as objects, tuples as lists.  Field lists are cached per class: the generic
    ``dataclasses.fields`` walk would otherwise dominate a bulk load of a million records."""
    t = type(value)
    if value is None or t is str or t is bool or t is int or t is float:
        return value
    names = _FIELDS.get(t)
    if names is not None:
        return {n: to_json(getattr(value, n)) for n in names}
    if isinstance(value, dt.date):  # datetime too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        _FIELDS[t] = tuple(f.name for f in dataclasses.fields(value))
        return to_json(value)
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def person_to_json(p: PersonRecord) -> dict[str, Any]:
    data: dict[str, Any] = to_json(p)
    del data["individual_number"]
    return data


def household_to_json(h: HouseholdRecord) -> dict[str, Any]:
    result: dict[str, Any] = to_json(h)
    return result


def _date(v: str | None) -> dt.date | None:
    return dt.date.fromisoformat(v) if v else None


def address_from_json(d: dict[str, Any] | None) -> Address | None:
    return Address(**d) if d else None


def person_from_json(d: dict[str, Any], individual_number: str | None = None) -> PersonRecord:
    f = d.get("foreign")
    foreign = (
        ForeignResidentItems(**{**f, "stay_expiry": _date(f.get("stay_expiry"))}) if f else None
    )
    removal = d.get("removal_reason")
    address = address_from_json(d["address"])
    assert address is not None
    return PersonRecord(
        person_id=d["person_id"],
        household_id=d["household_id"],
        status=Status(d["status"]),
        name=d["name"],
        name_kana=d.get("name_kana"),
        furigana_status=FuriganaStatus(d["furigana_status"]),
        birth_date=dt.date.fromisoformat(d["birth_date"]),
        sex=Sex(d["sex"]),
        relationship=d["relationship"],
        head_name=d["head_name"],
        address=address,
        address_since=dt.date.fromisoformat(d["address_since"]),
        resident_since=dt.date.fromisoformat(d["resident_since"]),
        address_notified_on=dt.date.fromisoformat(d["address_notified_on"]),
        previous_address=address_from_json(d.get("previous_address")),
        address_before_move_in=address_from_json(d.get("address_before_move_in")),
        juminhyo_code=d["juminhyo_code"],
        individual_number=individual_number,
        former_surname=d.get("former_surname", ""),
        former_surname_kana=d.get("former_surname_kana", ""),
        alias=d.get("alias", ""),
        alias_kana=d.get("alias_kana", ""),
        honseki=d.get("honseki", ""),
        hittosha=d.get("hittosha", ""),
        foreign=foreign,
        eligibility=Eligibility(**d.get("eligibility", {})),
        remarks=d.get("remarks", ""),
        removal_reason=RemovalReason(removal) if removal else None,
        removal_date=_date(d.get("removal_date")),
        moved_out_to=address_from_json(d.get("moved_out_to")),
        move_out_confirmed=bool(d.get("move_out_confirmed", False)),
    )


def household_from_json(d: dict[str, Any]) -> HouseholdRecord:
    address = address_from_json(d["address"])
    assert address is not None
    return HouseholdRecord(
        household_id=d["household_id"],
        head_id=d.get("head_id"),
        member_ids=tuple(d["member_ids"]),
        address=address,
        formed_on=dt.date.fromisoformat(d["formed_on"]),
    )
