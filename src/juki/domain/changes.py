"""The 異動 as commands: one frozen dataclass per kind of change (REG-EVENTS, REG-R2).

Each command carries exactly the items that change needs and nothing else (REG-R2: forms ask only for
what the change needs).  A 転居 command, for instance, has no field for a name, so a 転居 that changes
more than the address cannot even be expressed; an API body that tries is refused as an unknown field.

Commands are turned into an :class:`~juki.domain.events.Outcome` by :mod:`juki.domain.register`, which
applies the rules REG-R1.  They are stored as JSON while they wait for approval (REG-R3); the
(de)serialisation here is generic over the dataclasses' type hints.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar, Union

from .errors import InvalidInput, Problem
from .events import ChangeKind
from .model import Address, Eligibility, ForeignResidentItems, FuriganaStatus, Sex


@dataclass(frozen=True)
class NewPerson:
    """A person entering the register (転入, 出生, 職権記載, 国外からの転入)."""

    name: str
    birth_date: dt.date
    sex: Sex
    relationship: str  # 世帯主との続柄 ("世帯主" for the head)
    name_kana: str | None = None
    furigana_status: FuriganaStatus = FuriganaStatus.ABSENT
    juminhyo_code: str | None = None  # carried from the 転出証明書; None → a new code is issued
    individual_number: str | None = None  # carried over; None → a 個人番号 generation request (NET-7)
    former_surname: str = ""
    former_surname_kana: str = ""
    alias: str = ""
    alias_kana: str = ""
    honseki: str = ""
    hittosha: str = ""
    foreign: ForeignResidentItems | None = None
    eligibility: Eligibility = field(default_factory=Eligibility)


@dataclass(frozen=True)
class Membership:
    """A person's 続柄 in the household they end up in."""

    person_id: str
    relationship: str


class Command:
    """Base of every change command."""

    kind: ClassVar[ChangeKind]

    def named_household_ids(self) -> tuple[str, ...]:
        """Households the command names (loaded, with their members, before it is decided)."""
        return tuple(
            v for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name.endswith("household_id") and isinstance(v := getattr(self, f.name), str) and v
        )

    def named_person_ids(self) -> tuple[str, ...]:
        """Persons the command names outside the households above."""
        ids: list[str] = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name == "person_id" and v:
                ids.append(v)
            elif f.name == "person_ids":
                ids.extend(v)
        return tuple(ids)


# --- moves ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoveIn(Command):
    """転入届 (住基法22条, REG-E1): persons moving in from another municipality.

    They form a new household at ``address`` (one of them with 続柄 世帯主), or join the existing
    household ``join_household_id`` (at its address; ``address`` must then equal it).
    """

    kind: ClassVar[ChangeKind] = ChangeKind.MOVE_IN
    persons: tuple[NewPerson, ...]
    address: Address
    prior_address: Address  # 転入前住所 (the 転出証明書's address)
    moved_out_on: dt.date | None = None  # 転出予定日 / 転出日 on the 転出証明書
    join_household_id: str = ""
    special: bool = False  # 特例転入 (24条の2, with the My Number card)


@dataclass(frozen=True)
class MoveInFromAbroad(Command):
    """国外からの転入 (REG-E8)."""

    kind: ClassVar[ChangeKind] = ChangeKind.MOVE_IN_FROM_ABROAD
    persons: tuple[NewPerson, ...]
    address: Address
    prior_address: Address  # the address abroad (country set)
    join_household_id: str = ""


@dataclass(frozen=True)
class MoveWithin(Command):
    """転居届 (住基法23条, REG-E2): only the address changes.

    The whole household moves, or some of its members: those form a new household (``new_head_id``
    among them) or join ``join_household_id`` at the new address; ``memberships`` gives the 続柄 of
    everyone whose household changes, and ``remaining_head_id`` who heads the old household if its head
    leaves it.
    """

    kind: ClassVar[ChangeKind] = ChangeKind.MOVE_WITHIN
    household_id: str
    person_ids: tuple[str, ...]
    address: Address
    new_head_id: str = ""
    join_household_id: str = ""
    memberships: tuple[Membership, ...] = ()
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


@dataclass(frozen=True)
class MoveOut(Command):
    """転出届 (住基法24条, REG-E3): the persons' 住民票 become 除票 as of the planned date (異動日)."""

    kind: ClassVar[ChangeKind] = ChangeKind.MOVE_OUT
    household_id: str
    person_ids: tuple[str, ...]
    destination: Address  # 転出先 (予定)
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


@dataclass(frozen=True)
class MoveAbroad(Command):
    """国外転出 (REG-E8)."""

    kind: ClassVar[ChangeKind] = ChangeKind.MOVE_ABROAD
    household_id: str
    person_ids: tuple[str, ...]
    destination: Address  # country set
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


@dataclass(frozen=True)
class MoveOutConfirmed(Command):
    """転入通知の受理 (住基法9条1項, REG-E3): the new municipality confirms the address on the 除票."""

    kind: ClassVar[ChangeKind] = ChangeKind.MOVE_OUT_CONFIRMED
    person_id: str
    confirmed_address: Address
    moved_in_on: dt.date


# --- households (REG-E4) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdSplit(Command):
    """世帯分離: some members leave to form a new household at the same address."""

    kind: ClassVar[ChangeKind] = ChangeKind.HOUSEHOLD_SPLIT
    household_id: str
    person_ids: tuple[str, ...]
    new_head_id: str
    memberships: tuple[Membership, ...] = ()
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


@dataclass(frozen=True)
class HouseholdMerge(Command):
    """世帯合併: every member of ``from_household_id`` joins ``into_household_id`` (same address)."""

    kind: ClassVar[ChangeKind] = ChangeKind.HOUSEHOLD_MERGE
    from_household_id: str
    into_household_id: str
    memberships: tuple[Membership, ...]


@dataclass(frozen=True)
class HeadChange(Command):
    """世帯主変更: a member becomes 世帯主; every member's 続柄 is given anew."""

    kind: ClassVar[ChangeKind] = ChangeKind.HEAD_CHANGE
    household_id: str
    new_head_id: str
    memberships: tuple[Membership, ...]


@dataclass(frozen=True)
class HouseholdReorganise(Command):
    """世帯構成変更: members move from one household to another existing one at the same address."""

    kind: ClassVar[ChangeKind] = ChangeKind.HOUSEHOLD_REORGANISE
    household_id: str
    person_ids: tuple[str, ...]
    into_household_id: str
    memberships: tuple[Membership, ...]
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


# --- vital events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Birth(Command):
    """出生 (REG-E5): from the 出生届 (戸籍法49条, 14 days); a new 住民票コード and a 個人番号 request."""

    kind: ClassVar[ChangeKind] = ChangeKind.BIRTH
    household_id: str
    child: NewPerson


@dataclass(frozen=True)
class Death(Command):
    """死亡 (REG-E6): the 住民票 becomes a 除票; the 世帯主's death forces a new 世帯主."""

    kind: ClassVar[ChangeKind] = ChangeKind.DEATH
    person_id: str
    household_id: str
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


# --- ex officio (REG-E7) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExOfficioEntry(Command):
    """職権記載 (住基法8条, 14条): persons found to live here are entered after investigation."""

    kind: ClassVar[ChangeKind] = ChangeKind.EX_OFFICIO_ENTRY
    persons: tuple[NewPerson, ...]
    address: Address
    reason: str
    prior_address: Address | None = None
    join_household_id: str = ""


CORRECTABLE_ITEMS = (
    "name",
    "name_kana",
    "furigana_status",
    "birth_date",
    "sex",
    "former_surname",
    "former_surname_kana",
    "alias",
    "alias_kana",
    "honseki",
    "hittosha",
    "foreign",
    "eligibility",
    "remarks",
    "address_since",
    "resident_since",
    "address_notified_on",
    "address_before_move_in",
)
"""Items a 職権修正 may correct; the address is changed only by a 転居, the household by 世帯変更."""


@dataclass(frozen=True)
class Correction:
    """One corrected item: ``value`` is the item's JSON form (a date as ISO text …)."""

    item: str
    value: Any


@dataclass(frozen=True)
class ExOfficioCorrection(Command):
    """職権修正 (REG-E7): items of one 住民票 corrected, naming the change it corrects when known."""

    kind: ClassVar[ChangeKind] = ChangeKind.EX_OFFICIO_CORRECTION
    person_id: str
    corrections: tuple[Correction, ...]
    reason: str
    corrects_event: int | None = None


@dataclass(frozen=True)
class ExOfficioRemoval(Command):
    """職権消除 (REG-E7): the 住民票 becomes a 除票 (e.g. 居住実態なし after investigation)."""

    kind: ClassVar[ChangeKind] = ChangeKind.EX_OFFICIO_REMOVAL
    person_id: str
    household_id: str
    reason: str
    remaining_head_id: str = ""
    remaining_memberships: tuple[Membership, ...] = ()


# --- numbers and names ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndividualNumberChange(Command):
    """個人番号の指定・変更 (番号法7条, REG-E9): old and new values both recorded."""

    kind: ClassVar[ChangeKind] = ChangeKind.INDIVIDUAL_NUMBER_CHANGE
    person_id: str
    new_number: str
    reason: str


@dataclass(frozen=True)
class JuminhyoCodeChange(Command):
    """住民票コードの変更 (住基法30条の4, REG-E9): the old code is kept as 旧住民票コード."""

    kind: ClassVar[ChangeKind] = ChangeKind.JUMINHYO_CODE_CHANGE
    person_id: str
    new_code: str


class NameChangeCause(StrEnum):
    MARRIAGE = "marriage"  # 婚姻
    DIVORCE = "divorce"  # 離婚
    ADOPTION = "adoption"  # 養子縁組
    NATURALISATION = "naturalisation"  # 帰化
    LOSS_OF_NATIONALITY = "loss_of_nationality"  # 国籍喪失
    OTHER = "other"  # その他 (氏の変更, 名の変更 …)


@dataclass(frozen=True)
class NameChange(Command):
    """氏名等の変更 (REG-E10) from a 戸籍 notice: 婚姻, 離婚, 養子縁組, 帰化, 国籍喪失.

    Only the items given (not None) change.  ``foreign`` set on 国籍喪失; ``nationalised`` on 帰化.
    """

    kind: ClassVar[ChangeKind] = ChangeKind.NAME_CHANGE
    person_id: str
    cause: NameChangeCause
    name: str | None = None
    name_kana: str | None = None
    furigana_status: FuriganaStatus | None = None
    former_surname: str | None = None
    former_surname_kana: str | None = None
    honseki: str | None = None
    hittosha: str | None = None
    foreign: ForeignResidentItems | None = None


@dataclass(frozen=True)
class Cancellation(Command):
    """取消 (REG-E11): an erroneous change is cancelled; the cancellation is itself a change."""

    kind: ClassVar[ChangeKind] = ChangeKind.CANCELLATION
    event_seq: int
    reason: str


COMMANDS: dict[ChangeKind, type[Command]] = {
    c.kind: c
    for c in (
        MoveIn,
        MoveInFromAbroad,
        MoveWithin,
        MoveOut,
        MoveAbroad,
        MoveOutConfirmed,
        HouseholdSplit,
        HouseholdMerge,
        HeadChange,
        HouseholdReorganise,
        Birth,
        Death,
        ExOfficioEntry,
        ExOfficioCorrection,
        ExOfficioRemoval,
        IndividualNumberChange,
        JuminhyoCodeChange,
        NameChange,
        Cancellation,
    )
}


# --- JSON (de)serialisation, generic over the dataclasses' type hints (to_json is the model's) -------


def command_from_json(kind: ChangeKind | str, data: dict[str, Any]) -> Command:
    """The command of ``kind`` from JSON data; unknown or missing fields are refused (REG-R2)."""
    try:
        cls = COMMANDS[ChangeKind(kind)]
    except (ValueError, KeyError):
        raise InvalidInput(
            Problem("kind", "REG-EVENTS", f"異動の種類 {kind!r} はありません。", f"Unknown change kind {kind!r}.")
        ) from None
    result = from_json(cls, data, "")
    assert isinstance(result, Command)
    return result


def _problem(path: str, ja: str, en: str) -> InvalidInput:
    return InvalidInput(Problem(path, "REG-R2", ja, en))


def from_json(tp: Any, data: Any, path: str) -> Any:
    """``data`` (parsed JSON) as a value of type ``tp``, refusing a wrong type, an impossible date, an
    unknown member or an unknown or missing field, with ``path`` naming the field (REG-R2)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return from_json(args[0], data, path)
    if origin is tuple:
        if not isinstance(data, list | tuple):
            raise _problem(path, "配列で指定してください。", "Must be a list.")
        (item_tp, _ellipsis) = typing.get_args(tp)
        return tuple(from_json(item_tp, v, f"{path}[{i}]") for i, v in enumerate(data))
    if tp is Any:
        return data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise _problem(path, "オブジェクトで指定してください。", "Must be an object.")
        hints = _hints(tp)
        fields = _init_fields(tp)
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise InvalidInput(
                Problem(
                    _join(path, name),
                    "REG-R2",
                    "この届出では受け付けない項目です。",
                    "This item is not accepted for this kind of change.",
                )
                for name in unknown
            )
        kwargs = {}
        missing = []
        for name, f in fields.items():
            if name in data:
                kwargs[name] = from_json(hints[name], data[name], _join(path, name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                missing.append(name)
        if missing:
            raise InvalidInput(
                Problem(_join(path, name), "REG-R2", "必須項目です。", "This item is required.") for name in missing
            )
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in tp)
            raise _problem(path, f"次のいずれかを指定してください: {allowed}", f"Must be one of: {allowed}") from None
    if tp is dt.date:
        if isinstance(data, dt.date):
            return data
        try:
            return dt.date.fromisoformat(data)
        except (TypeError, ValueError):
            raise _problem(
                path, "存在する日付をYYYY-MM-DD形式で指定してください。", "Must be a real date as YYYY-MM-DD."
            ) from None
    if tp is dt.datetime:  # an instant (本人確認情報's タイムスタンプ): ISO 8601 with its offset
        try:
            instant = dt.datetime.fromisoformat(data) if isinstance(data, str) else None
        except ValueError:
            instant = None
        if instant is None or instant.tzinfo is None:
            raise _problem(path, "日時はタイムゾーン付きのISO 8601形式で指定してください。",
                           "Must be an ISO 8601 date-time with its time zone.")
        return instant
    if tp is bool:
        if not isinstance(data, bool):
            raise _problem(path, "真偽値で指定してください。", "Must be true or false.")
        return data
    if tp is int:
        if not isinstance(data, int) or isinstance(data, bool):
            raise _problem(path, "整数で指定してください。", "Must be an integer.")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise _problem(path, "文字列で指定してください。", "Must be a string.")
        return data
    raise TypeError(f"unsupported type {tp!r} at {path}")


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    """The resolved type hints of a dataclass, once per class (resolving them dominates parsing)."""
    return typing.get_type_hints(tp)


@functools.cache
def _init_fields(tp: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(tp) if f.init}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
