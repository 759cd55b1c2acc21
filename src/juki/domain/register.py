"""The rules of the register: a command and the records it touches → an :class:`Outcome` (REG-R1).

:func:`decide` is pure.  The service layer loads the households and persons a command names (with all
their members), the look-ups it needs (by 住民票コード and 個人番号 for persons entering), and for a
取消 the versions around the cancelled change; then it calls :func:`decide` and stores the outcome in
one transaction.  Every refusal is a :class:`RuleViolation` or :class:`InvalidInput` naming the field
and the rule, checked before anything is written.

Invariants every outcome keeps (checked in :meth:`_Working.settle` for each household it touches):
exactly one 世帯主 per non-empty household, who is its first member with 続柄 "世帯主"; every member is a
current resident whose 住民票 names that household, its address and its head's name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import identifiers
from .changes import (
    CORRECTABLE_ITEMS,
    Birth,
    Cancellation,
    Command,
    Death,
    ExOfficioCorrection,
    ExOfficioEntry,
    ExOfficioRemoval,
    HeadChange,
    HouseholdMerge,
    HouseholdReorganise,
    HouseholdSplit,
    IndividualNumberChange,
    JuminhyoCodeChange,
    Membership,
    MoveAbroad,
    MoveIn,
    MoveInFromAbroad,
    MoveOut,
    MoveOutConfirmed,
    MoveWithin,
    NameChange,
    NameChangeCause,
    NewPerson,
    from_json,
)
from .errors import InvalidInput, NotFound, Problem, Problems, RuleViolation
from .events import ChangeKind, Origin, Outcome, Provenance
from .kana import to_katakana
from .model import (
    FOREIGN_CATEGORIES,
    HEAD,
    Address,
    ForeignResidentItems,
    FuriganaStatus,
    HouseholdRecord,
    PersonRecord,
    RemovalReason,
    Status,
)
from .rules import (
    BIRTH_NOTIFICATION_DAYS,
    EARLIEST_BIRTH_DATE,
    MOVE_OUT_ADVANCE_DAYS,
    NOTIFICATION_PERIOD_DAYS,
    in_force,
)


@dataclass(frozen=True)
class Jurisdiction:
    """The municipality this register belongs to (and its wards' codes for a 政令指定都市)."""

    lg_code: str
    name: str
    prefecture: str = ""
    ward_codes: frozenset[str] = frozenset()

    def covers(self, address: Address) -> bool:
        return not address.country and (address.lg_code == self.lg_code or address.lg_code in self.ward_codes)


class IdSource(Protocol):
    """Allocates 宛名番号, 世帯番号 and 住民票コード (the last from 機構 in production, NET-7)."""

    def person_id(self) -> str: ...

    def household_id(self) -> str: ...

    def juminhyo_code(self) -> str: ...


@dataclass(frozen=True)
class CancellationTarget:
    """What the service knows of the change a 取消 names (REG-E11)."""

    seq: int
    kind: ChangeKind
    effective_date: dt.date
    persons_before: Mapping[str, PersonRecord | None]  # None: the change created the person
    households_before: Mapping[str, HouseholdRecord | None]
    persons_after: Mapping[str, PersonRecord]
    households_after: Mapping[str, HouseholdRecord]
    changed_since: tuple[str, ...] = ()  # records changed again after it
    already_cancelled: bool = False


@dataclass
class Context:
    """Everything :func:`decide` may look at; the service fills it inside the transaction."""

    jurisdiction: Jurisdiction
    provenance: Provenance
    today: dt.date
    ids: IdSource
    households: dict[str, HouseholdRecord] = field(default_factory=dict)
    persons: dict[str, PersonRecord] = field(default_factory=dict)
    by_juminhyo_code: dict[str, PersonRecord] = field(default_factory=dict)
    by_individual_number: dict[str, PersonRecord] = field(default_factory=dict)
    last_change: dict[str, dt.date] = field(default_factory=dict)  # record id → its latest 異動日
    versions: dict[str, int] = field(default_factory=dict)  # household id → row version read (concurrency)
    cancellation: CancellationTarget | None = None


def lookups(command: Command) -> tuple[set[str], set[str]]:
    """The 住民票コード and 個人番号 of persons a command enters, for the service to look up."""
    codes: set[str] = set()
    numbers: set[str] = set()
    people: Iterable[NewPerson] = getattr(command, "persons", ()) or ()
    child = getattr(command, "child", None)
    for p in [*people, *([child] if child else [])]:
        if p.juminhyo_code:
            codes.add(p.juminhyo_code)
        if p.individual_number:
            numbers.add(p.individual_number)
    if isinstance(command, IndividualNumberChange):
        numbers.add(command.new_number)
    if isinstance(command, JuminhyoCodeChange):
        codes.add(command.new_code)
    return codes, numbers


# --- errors ------------------------------------------------------------------------------------------


def _violation(field: str, rule: str, ja: str, en: str) -> RuleViolation:
    return RuleViolation(Problem(field, rule, ja, en))


# --- the working set --------------------------------------------------------------------------------


class _Working:
    """Records as they will be after the change; knows which ones the change touched."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.persons: dict[str, PersonRecord] = dict(ctx.persons)
        self.households: dict[str, HouseholdRecord] = dict(ctx.households)
        self.touched_persons: list[str] = []
        self.touched_households: list[str] = []

    def person(self, person_id: str, field: str = "person_id", *, resident: bool = True) -> PersonRecord:
        p = self.persons.get(person_id)
        if p is None or p.status is Status.VOID:
            raise NotFound(
                Problem(field, "REG-R1/person-exists", f"宛名番号 {person_id} の住民票はありません。",
                        f"There is no resident record {person_id}.")
            )
        if resident and not p.is_resident:
            raise _violation(
                field, "REG-R1/person-removed",
                f"宛名番号 {person_id} は除票です（{_removal_ja(p)}）。この異動はできません。",
                f"Record {person_id} has been removed ({p.removal_reason}); this change is not possible.",
            )
        return p

    def household(self, household_id: str, field: str = "household_id") -> HouseholdRecord:
        h = self.households.get(household_id)
        if h is None or h.is_empty:
            raise NotFound(
                Problem(field, "REG-R1/household-exists", f"世帯番号 {household_id} の世帯はありません。",
                        f"There is no household {household_id}.")
            )
        return h

    def put_person(self, p: PersonRecord) -> None:
        self.persons[p.person_id] = p
        if p.person_id not in self.touched_persons:
            self.touched_persons.append(p.person_id)

    def put_household(self, h: HouseholdRecord) -> None:
        self.households[h.household_id] = h
        if h.household_id not in self.touched_households:
            self.touched_households.append(h.household_id)

    def members_of(self, household_id: str, person_ids: Iterable[str], field: str) -> list[str]:
        h = self.household(household_id)
        ids = list(person_ids)
        problems = Problems()
        if not ids:
            problems.add(field, "REG-R2", "対象者を1人以上指定してください。", "Name at least one person.")
        if len(set(ids)) != len(ids):
            problems.add(field, "REG-R2", "同じ人が重複して指定されています。", "A person is named twice.")
        for i, pid in enumerate(ids):
            if pid not in h.member_ids:
                problems.add(
                    f"{field}[{i}]", "REG-R1/not-a-member",
                    f"宛名番号 {pid} は世帯 {household_id} の世帯員ではありません。",
                    f"Person {pid} is not a member of household {household_id}.",
                )
        problems.raise_if_any(RuleViolation)
        return ids

    def settle(
        self,
        household_id: str,
        members: list[str],
        head_id: str | None,
        relationships: Mapping[str, str],
        *,
        address: Address,
        formed_on: dt.date,
        field: str,
        head_field: str,
    ) -> None:
        """Give ``household_id`` its members, head and address, and rewrite every member's 住民票 items
        that depend on them (続柄, 世帯主の氏名, 世帯番号, 住所).  Refuses a head who is not a member and
        a member without a 続柄 (REG-R1, REG-E4)."""
        old = self.households.get(household_id)
        if not members:
            self.put_household(
                HouseholdRecord(household_id, None, (), old.address if old else address,
                                old.formed_on if old else formed_on)
            )
            return
        if not head_id:
            raise _violation(head_field, "REG-R1/head-required",
                             "世帯主を指定してください。", "The head of household must be named.")
        if head_id not in members:
            raise _violation(
                head_field, "REG-R1/head-not-member",
                f"世帯主に指定された宛名番号 {head_id} はこの世帯の世帯員ではありません。",
                f"The head of household {head_id} is not a member of this household.",
            )
        ordered = [head_id, *[m for m in members if m != head_id]]
        head = self.persons[head_id]
        problems = Problems()
        new_people: list[PersonRecord] = []
        for pid in ordered:
            p = self.persons[pid]
            if pid == head_id:
                rel = HEAD
            else:
                rel = relationships.get(pid, "")
                if not rel and old is not None and old.head_id == head_id and p.household_id == household_id:
                    rel = p.relationship  # same household, same head: the 続柄 stands
                if not rel:
                    problems.add(field, "REG-R1/relationship-required",
                                 f"宛名番号 {pid} の世帯主との続柄を指定してください。",
                                 f"Give the relationship to the head for person {pid}.")
                elif rel == HEAD:
                    problems.add(field, "REG-R1/one-head",
                                 f"宛名番号 {pid} は世帯主ではないため続柄を「世帯主」にできません。",
                                 f"Person {pid} is not the head; the relationship cannot be 世帯主.")
                elif len(rel) > 20:
                    problems.add(field, "REG-R2", "続柄は20文字以内で入力してください。",
                                 "The relationship must be at most 20 characters.")
            new_people.append(p.replace(household_id=household_id, relationship=rel or p.relationship,
                                        head_name=head.name, address=address))
        problems.raise_if_any(RuleViolation)
        for p in new_people:
            old_p = self.persons[p.person_id]
            if p != old_p or p.person_id in self.touched_persons:
                self.put_person(p)
        new_h = HouseholdRecord(household_id, head_id, tuple(ordered), address,
                                old.formed_on if old and not old.is_empty else formed_on)
        if old != new_h:
            self.put_household(new_h)

    def outcome(self, kind: ChangeKind, summary: str, valid_from: dt.date, **extra: object) -> Outcome:
        return Outcome(
            kind=kind,
            valid_from=valid_from,
            persons=tuple(self.persons[i] for i in self.touched_persons),
            households=tuple(self.households[i] for i in self.touched_households),
            summary_ja=summary,
            **extra,  # type: ignore[arg-type]
        )


def _removal_ja(p: PersonRecord) -> str:
    return {
        RemovalReason.MOVE_OUT: "転出", RemovalReason.MOVE_ABROAD: "国外転出",
        RemovalReason.DEATH: "死亡", RemovalReason.EX_OFFICIO: "職権消除", None: "消除",
    }[p.removal_reason]


def _memberships(ms: tuple[Membership, ...], field: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for i, m in enumerate(ms):
        if m.person_id in result:
            raise InvalidInput(Problem(f"{field}[{i}].person_id", "REG-R2",
                                       "同じ人の続柄が重複しています。", "A relationship is given twice."))
        result[m.person_id] = m.relationship.strip()
    return result


# --- input checks shared by the commands -------------------------------------------------------------


def _check_text(problems: Problems, value: str, field: str, ja: str, en: str, *, required: bool, limit: int) -> None:
    if required and not value.strip():
        problems.add(field, "REG-R2", f"{ja}を入力してください。", f"The {en} is required.")
    if len(value) > limit:
        problems.add(field, "REG-R2", f"{ja}は{limit}文字以内で入力してください。",
                     f"The {en} must be at most {limit} characters.")
    if any(unicodedata.category(c) == "Cc" for c in value):
        problems.add(field, "REG-R2", f"{ja}に制御文字は使えません。", f"The {en} contains control characters.")


def _kana(problems: Problems, value: str | None, field: str) -> str | None:
    """振り仮名 as katakana (hiragana and half width accepted and converted); only kana and spaces."""
    if value is None or not value.strip():
        return None
    kata = to_katakana(value).replace(" ", "\u3000")
    if any(not ("\u30a1" <= c <= "\u30fa" or c in "ー・\u3000") for c in kata):
        problems.add(field, "REG-R2", "振り仮名はカタカナ（またはひらがな）で入力してください。",
                     "The furigana must be written in katakana (or hiragana).")
    return kata


def _check_address(problems: Problems, a: Address, field: str, *, domestic: bool) -> None:
    if a.country:
        if domestic:
            problems.add(f"{field}.country", "REG-R1/address-domestic", "国内の住所を指定してください。",
                         "The address must be in Japan.")
        return
    for name, ja, en in (("prefecture", "都道府県", "prefecture"), ("city", "市区町村", "city"),
                         ("town", "町域", "town")):
        _check_text(problems, getattr(a, name), f"{field}.{name}", ja, en, required=True, limit=60)
    _check_text(problems, a.block, f"{field}.block", "番地", "block number", required=False, limit=60)
    _check_text(problems, a.katagaki, f"{field}.katagaki", "方書", "katagaki", required=False, limit=100)
    if a.postcode and (len(a.postcode) != 7 or not a.postcode.isascii() or not a.postcode.isdigit()):
        problems.add(f"{field}.postcode", "REG-R2", "郵便番号は半角数字7桁で入力してください。",
                     "The postcode must be 7 ASCII digits.")
    if a.lg_code and (p := identifiers.lg_code_problem(a.lg_code, f"{field}.lg_code")):
        problems.items.append(p)


def _new_person_problems(p: NewPerson, field: str, effective: dt.date, problems: Problems) -> NewPerson:
    _check_text(problems, p.name, f"{field}.name", "氏名", "name", required=True, limit=100)
    kana = _kana(problems, p.name_kana, f"{field}.name_kana")
    if p.furigana_status is FuriganaStatus.ABSENT and kana:
        problems.add(f"{field}.furigana_status", "REG-ITEMS/furigana",
                     "振り仮名があるときは状態を「確認済」か「未確認」にしてください。",
                     "A furigana is given, so its status cannot be 'absent'.")
    if p.furigana_status is not FuriganaStatus.ABSENT and not kana:
        problems.add(f"{field}.name_kana", "REG-ITEMS/furigana",
                     "振り仮名を入力するか、状態を「未記載」にしてください。",
                     "Give the furigana, or set its status to 'absent'.")
    if p.birth_date > effective:
        problems.add(f"{field}.birth_date", "REG-R1/birth-after-change",
                     "生年月日が異動日より後になっています。", "The birth date is after the date of the change.")
    if p.birth_date < EARLIEST_BIRTH_DATE:
        problems.add(f"{field}.birth_date", "REG-R2", "生年月日が古すぎます。", "The birth date is implausibly early.")
    if p.juminhyo_code and (e := identifiers.juminhyo_code_problem(p.juminhyo_code, f"{field}.juminhyo_code")):
        problems.items.append(e)
    if p.individual_number and (
        e := identifiers.individual_number_problem(p.individual_number, f"{field}.individual_number")
    ):
        problems.items.append(e)
    _check_text(problems, p.relationship, f"{field}.relationship", "続柄", "relationship", required=True, limit=20)
    if p.foreign is not None:
        if p.honseki or p.hittosha:
            problems.add(f"{field}.honseki", "REG-ITEMS/foreign",
                         "外国人住民には本籍・筆頭者を記載しません。",
                         "Foreign residents have no honseki or hittosha.")
        _foreign_problems(problems, p.foreign, f"{field}.foreign", p.birth_date)
    for name, ja in (("former_surname", "旧氏"), ("alias", "通称"), ("honseki", "本籍"), ("hittosha", "筆頭者")):
        _check_text(problems, getattr(p, name), f"{field}.{name}", ja, name, required=False, limit=100)
    if p.alias and p.foreign is None:
        problems.add(f"{field}.alias", "REG-ITEMS/foreign", "通称は外国人住民のみ記載できます。",
                     "Only foreign residents have an alias (通称).")
    return p if kana == p.name_kana else _replace_kana(p, kana)


def _replace_kana(p: NewPerson, kana: str | None) -> NewPerson:
    return dataclasses.replace(p, name_kana=kana)


def _foreign_problems(problems: Problems, f: ForeignResidentItems, field: str, birth: dt.date) -> None:
    _check_text(problems, f.nationality, f"{field}.nationality", "国籍・地域", "nationality", required=True, limit=40)
    if f.category not in FOREIGN_CATEGORIES:
        problems.add(f"{field}.category", "REG-ITEMS/foreign",
                     "30条の45区分は " + "・".join(FOREIGN_CATEGORIES) + " のいずれかです。",
                     "The 30-45 category must be one of " + ", ".join(FOREIGN_CATEGORIES) + ".")
    if f.category == "中長期在留者" and not f.residence_status:
        problems.add(f"{field}.residence_status", "REG-ITEMS/foreign",
                     "中長期在留者は在留資格を入力してください。", "A mid-to-long-term resident needs a status.")
    if f.stay_expiry is not None and f.stay_expiry < birth:
        problems.add(f"{field}.stay_expiry", "REG-R1/dates",
                     "在留期間の満了日が生年月日より前です。", "The expiry of stay is before the birth date.")
    card = f.residence_card_number
    if card and not (len(card) == 12 and card[:2].isalpha() and card[2:10].isdigit() and card[10:].isalpha()
                     and card.isascii()):
        problems.add(f"{field}.residence_card_number", "REG-ITEMS/foreign",
                     "在留カード等番号は英字2桁・数字8桁・英字2桁の12桁です。",
                     "The residence card number is 2 letters, 8 digits and 2 letters.")


def _check_provenance(ctx: Context, kind: ChangeKind, record_ids: Iterable[str]) -> bool:
    """Date checks common to every change; returns whether the 届出 is late (届出期間経過)."""
    pv = ctx.provenance
    problems = Problems()
    _check_text(problems, pv.legal_basis, "legal_basis", "根拠法令", "legal basis", required=True, limit=200)
    _check_text(problems, pv.entered_by, "entered_by", "入力者", "entering user", required=True, limit=64)
    _check_text(problems, pv.terminal, "terminal", "端末ID", "terminal id", required=True, limit=64)
    if pv.notified_date > ctx.today:
        problems.add("notified_date", "REG-R1/dates", "届出日が未来の日付です。", "The notification date is in the future.")
    if kind in (ChangeKind.MOVE_OUT, ChangeKind.MOVE_ABROAD):
        advance = in_force(MOVE_OUT_ADVANCE_DAYS, pv.notified_date).value
        if pv.effective_date > pv.notified_date + dt.timedelta(days=advance):
            problems.add("effective_date", "REG-R1/dates",
                         f"転出予定日は届出日から{advance}日以内にしてください。",
                         f"The planned move-out date must be within {advance} days of the notification.")
    elif pv.effective_date > pv.notified_date and kind is not ChangeKind.CANCELLATION:
        problems.add("effective_date", "REG-R1/dates", "異動日が届出日より後になっています。",
                     "The date of the change is after the date it was notified.")
    for rid in record_ids:
        last = ctx.last_change.get(rid)
        if last and pv.effective_date < last and kind is not ChangeKind.CANCELLATION:
            problems.add("effective_date", "REG-R1/date-order",
                         f"異動日が {rid} の直近の異動日（{last.isoformat()}）より前です。先の異動を取り消してから入力してください。",
                         f"The date of the change is before the latest change of {rid} ({last.isoformat()}); "
                         "cancel that change first.")
            break
    problems.raise_if_any(RuleViolation)
    if pv.origin is not Origin.NOTIFICATION:
        return False
    period = in_force(BIRTH_NOTIFICATION_DAYS if kind is ChangeKind.BIRTH else NOTIFICATION_PERIOD_DAYS,
                      pv.effective_date).value
    if kind in (ChangeKind.MOVE_OUT, ChangeKind.MOVE_ABROAD):
        return pv.notified_date > pv.effective_date + dt.timedelta(days=period)
    return (pv.notified_date - pv.effective_date).days > period


# --- entering persons (転入, 国外からの転入, 職権記載, 出生) ---------------------------------------------


def _enter(
    w: _Working,
    people: tuple[NewPerson, ...],
    *,
    address: Address,
    prior: Address | None,
    join_household_id: str,
    field: str = "persons",
    single: bool = False,
) -> tuple[list[str], list[str]]:
    """Create (or revive, 003 II-3⑧) the 住民票 of ``people`` at ``address``; returns their ids and
    those who need a 個人番号."""
    ctx, pv = w.ctx, w.ctx.provenance
    problems = Problems()
    if not people:
        problems.add(field, "REG-R2", "対象者を1人以上指定してください。", "Name at least one person.")
    _check_address(problems, address, "address", domestic=True)
    if not address.country and not ctx.jurisdiction.covers(address):
        problems.add("address.lg_code", "REG-R1/address-in-municipality",
                     f"住所が{ctx.jurisdiction.name}の区域内ではありません（地方公共団体コード {address.lg_code or '未入力'}）。",
                     f"The address is not inside {ctx.jurisdiction.name} (local government code {address.lg_code!r}).")
    def path(i: int) -> str:
        return field if single else f"{field}[{i}]"

    checked = [_new_person_problems(p, path(i), pv.effective_date, problems) for i, p in enumerate(people)]
    seen_codes: dict[str, int] = {}
    seen_numbers: dict[str, int] = {}
    for i, p in enumerate(checked):
        for value, seen, name, ja in ((p.juminhyo_code, seen_codes, "juminhyo_code", "住民票コード"),
                                      (p.individual_number, seen_numbers, "individual_number", "個人番号")):
            if value and value in seen:
                problems.add(f"{path(i)}.{name}", "REG-R2", f"{ja}が重複しています。", f"The {name} is given twice.")
            elif value:
                seen[value] = i
    heads = [i for i, p in enumerate(checked) if p.relationship == HEAD]
    if join_household_id:
        if heads:
            problems.add(f"{path(heads[0])}.relationship", "REG-R1/one-head",
                         "既存の世帯に入る人の続柄を「世帯主」にはできません。",
                         "A person joining an existing household cannot be its head.")
    elif len(heads) != 1 and people:
        problems.add(field, "REG-R1/one-head", "新しい世帯には世帯主がちょうど1人必要です。",
                     "A new household needs exactly one head.")
    problems.raise_if_any()

    # REG-R1: a 転入 (or any entry) of a current resident is an error; a former resident keeps the 宛名番号.
    revived: dict[int, PersonRecord] = {}
    for i, p in enumerate(checked):
        for value, table, name, ja in ((p.juminhyo_code, ctx.by_juminhyo_code, "juminhyo_code", "住民票コード"),
                                       (p.individual_number, ctx.by_individual_number, "individual_number", "個人番号")):
            found = table.get(value) if value else None
            if found is None or found.status is Status.VOID:
                continue
            if found.is_resident:
                problems.add(f"{path(i)}.{name}", "REG-R1/already-resident",
                             f"この{ja}の人は既に住民です（宛名番号 {found.person_id}）。転入・記載はできません。",
                             f"The person with this {name} is already a resident ({found.person_id}); "
                             "they cannot be entered again.")
            elif i in revived and revived[i].person_id != found.person_id:
                problems.add(path(i), "REG-R1/identity",
                             "住民票コードと個人番号が別の人を指しています。",
                             "The resident record code and the individual number belong to different people.")
            else:
                revived[i] = found
    problems.raise_if_any(RuleViolation)

    if join_household_id:
        h = w.household(join_household_id, "join_household_id")
        if h.address.same_place != address.same_place:
            raise _violation("address", "REG-R1/join-same-address",
                             "入る世帯の住所と異なります。", "The address differs from the household's address.")
        household_id, members, head_id = join_household_id, list(h.member_ids), h.head_id
    else:
        household_id, members, head_id = ctx.ids.household_id(), [], None

    ids: list[str] = []
    needs_number: list[str] = []
    relationships: dict[str, str] = {}
    for i, p in enumerate(checked):
        old = revived.get(i)
        pid = old.person_id if old else ctx.ids.person_id()
        record = PersonRecord(
            person_id=pid, household_id=household_id, status=Status.RESIDENT,
            name=p.name, name_kana=p.name_kana, furigana_status=p.furigana_status,
            birth_date=p.birth_date, sex=p.sex, relationship=p.relationship, head_name="",
            address=address, address_since=pv.effective_date, resident_since=pv.effective_date,
            address_notified_on=pv.notified_date, previous_address=prior, address_before_move_in=prior,
            juminhyo_code=p.juminhyo_code or (old.juminhyo_code if old else ctx.ids.juminhyo_code()),
            individual_number=p.individual_number or (old.individual_number if old else None),
            former_surname=p.former_surname, former_surname_kana=p.former_surname_kana,
            alias=p.alias, alias_kana=p.alias_kana, honseki=p.honseki, hittosha=p.hittosha,
            foreign=p.foreign, eligibility=p.eligibility,
        )
        w.persons[pid] = record
        w.put_person(record)
        ids.append(pid)
        members.append(pid)
        relationships[pid] = p.relationship
        if p.relationship == HEAD:
            head_id = pid
        if record.individual_number is None:
            needs_number.append(pid)
    w.settle(household_id, members, head_id, relationships, address=address, formed_on=pv.effective_date,
             field=field, head_field=field)
    return ids, needs_number


def _move_in(w: _Working, c: MoveIn | MoveInFromAbroad) -> Outcome:
    ctx, pv = w.ctx, w.ctx.provenance
    problems = Problems()
    abroad = isinstance(c, MoveInFromAbroad)
    if abroad:
        if not c.prior_address.country:
            problems.add("prior_address.country", "REG-E8", "国外の従前の住所（国名）を入力してください。",
                         "Give the address abroad (country).")
    else:
        _check_address(problems, c.prior_address, "prior_address", domestic=True)
        if ctx.jurisdiction.covers(c.prior_address):
            problems.add("prior_address.lg_code", "REG-R1/move-in-from-outside",
                         "転入前住所が同じ市区町村内です。転居届として入力してください。",
                         "The previous address is inside this municipality: enter a move within (転居) instead.")
    if isinstance(c, MoveIn) and c.moved_out_on and pv.effective_date < c.moved_out_on:
        problems.add("effective_date", "REG-R1/move-in-before-move-out",
                     f"転入日が転出証明書の転出予定日（{c.moved_out_on.isoformat()}）より前です。",
                     f"The move-in date is before the move-out date on the certificate ({c.moved_out_on.isoformat()}).")
    problems.raise_if_any(RuleViolation)
    late = _check_provenance(ctx, c.kind, [c.join_household_id] if c.join_household_id else [])
    ids, needs = _enter(w, c.persons, address=c.address, prior=c.prior_address, join_household_id=c.join_household_id)
    word = "国外からの転入" if abroad else ("特例転入" if isinstance(c, MoveIn) and c.special else "転入")
    return w.outcome(c.kind, f"{word} {len(ids)}名（{c.prior_address.text} から）", pv.effective_date, late=late,
                     new_individual_numbers=tuple(needs),
                     details={"person_ids": ids, "special": isinstance(c, MoveIn) and c.special})


def _ex_officio_entry(w: _Working, c: ExOfficioEntry) -> Outcome:
    pv = w.ctx.provenance
    _require_reason(c.reason)
    _check_provenance(w.ctx, c.kind, [c.join_household_id] if c.join_household_id else [])
    ids, needs = _enter(w, c.persons, address=c.address, prior=c.prior_address, join_household_id=c.join_household_id)
    return w.outcome(c.kind, f"職権記載 {len(ids)}名（{c.reason}）", pv.effective_date,
                     new_individual_numbers=tuple(needs), details={"person_ids": ids, "reason": c.reason})


def _birth(w: _Working, c: Birth) -> Outcome:
    pv = w.ctx.provenance
    problems = Problems()
    if c.child.birth_date != pv.effective_date:
        problems.add("child.birth_date", "REG-R1/dates", "出生の異動日は生年月日と同じ日です。",
                     "The date of a birth change is the birth date.")
    if c.child.juminhyo_code or c.child.individual_number:
        problems.add("child", "REG-E5", "出生では住民票コード・個人番号は新たに付番されます。",
                     "A newborn gets a new resident record code and individual number.")
    problems.raise_if_any(RuleViolation)
    h = w.household(c.household_id)
    late = _check_provenance(w.ctx, c.kind, [c.household_id])
    ids, needs = _enter(w, (c.child,), address=h.address, prior=None, join_household_id=c.household_id,
                        field="child", single=True)
    return w.outcome(c.kind, f"出生 {c.child.name}", pv.effective_date, late=late,
                     new_individual_numbers=tuple(needs), details={"person_ids": ids})


# --- leaving (転出, 国外転出, 死亡, 職権消除) ------------------------------------------------------------


def _leave(
    w: _Working,
    household_id: str,
    person_ids: tuple[str, ...],
    *,
    reason: RemovalReason,
    remaining_head_id: str,
    remaining_memberships: tuple[Membership, ...],
    destination: Address | None,
    field: str = "person_ids",
) -> list[str]:
    """Remove ``person_ids`` from the register (除票) and settle the household they leave."""
    pv = w.ctx.provenance
    ids = w.members_of(household_id, person_ids, field)
    h = w.household(household_id)
    for pid in ids:
        p = w.person(pid)
        if pv.effective_date < p.birth_date:
            raise _violation("effective_date", "REG-R1/before-birth",
                             f"異動日が宛名番号 {pid} の生年月日より前です。",
                             f"The date of the change is before the birth of person {pid}.")
    remaining = [m for m in h.member_ids if m not in ids]
    head = h.head_id
    if head in ids:
        if len(remaining) == 1 and not remaining_head_id:
            head = remaining[0]
        elif remaining:
            if not remaining_head_id:
                raise _violation("remaining_head_id", "REG-E6/head-decision",
                                 "世帯主が世帯を離れるため、残る世帯の新しい世帯主を指定してください。",
                                 "The head leaves the household: name the new head of those who remain.")
            head = remaining_head_id
        else:
            head = None
    elif remaining_head_id and remaining_head_id != head:
        raise _violation("remaining_head_id", "REG-R2", "世帯主は変わらないため指定できません。",
                         "The head does not change, so no new head may be named.")
    w.settle(household_id, remaining, head, _memberships(remaining_memberships, "remaining_memberships"),
             address=h.address, formed_on=pv.effective_date, field="remaining_memberships",
             head_field="remaining_head_id")
    for pid in ids:
        p = w.persons[pid]
        w.put_person(p.replace(status=Status.REMOVED, removal_reason=reason, removal_date=pv.effective_date,
                               moved_out_to=destination))
    return ids


def _move_out(w: _Working, c: MoveOut | MoveAbroad) -> Outcome:
    pv = w.ctx.provenance
    problems = Problems()
    abroad = isinstance(c, MoveAbroad)
    if abroad and not c.destination.country:
        problems.add("destination.country", "REG-E8", "転出先の国名を入力してください。",
                     "Give the destination country.")
    if not abroad:
        _check_address(problems, c.destination, "destination", domestic=True)
        if w.ctx.jurisdiction.covers(c.destination):
            problems.add("destination.lg_code", "REG-R1/move-out-outside",
                         "転出先が同じ市区町村内です。転居届として入力してください。",
                         "The destination is inside this municipality: enter a move within (転居) instead.")
    problems.raise_if_any(RuleViolation)
    late = _check_provenance(w.ctx, c.kind, [c.household_id, *c.person_ids])
    ids = _leave(w, c.household_id, c.person_ids,
                 reason=RemovalReason.MOVE_ABROAD if abroad else RemovalReason.MOVE_OUT,
                 remaining_head_id=c.remaining_head_id, remaining_memberships=c.remaining_memberships,
                 destination=c.destination)
    word = "国外転出" if abroad else "転出"
    return w.outcome(c.kind, f"{word} {len(ids)}名（{c.destination.text} へ）", pv.effective_date, late=late,
                     details={"person_ids": ids})


def _death(w: _Working, c: Death) -> Outcome:
    pv = w.ctx.provenance
    _check_provenance(w.ctx, c.kind, [c.household_id, c.person_id])
    p = w.person(c.person_id)
    if p.household_id != c.household_id:
        raise _violation("household_id", "REG-R1/not-a-member",
                         f"宛名番号 {c.person_id} は世帯 {c.household_id} の世帯員ではありません。",
                         f"Person {c.person_id} is not a member of household {c.household_id}.")
    if pv.effective_date < p.birth_date:
        raise _violation("effective_date", "REG-R1/death-before-birth", "死亡日が生年月日より前です。",
                         "The date of death is before the date of birth.")
    _leave(w, c.household_id, (c.person_id,), reason=RemovalReason.DEATH, remaining_head_id=c.remaining_head_id,
           remaining_memberships=c.remaining_memberships, destination=None, field="person_id")
    return w.outcome(c.kind, f"死亡 {p.name}", pv.effective_date, details={"person_ids": [c.person_id]})


def _ex_officio_removal(w: _Working, c: ExOfficioRemoval) -> Outcome:
    pv = w.ctx.provenance
    _require_reason(c.reason)
    _check_provenance(w.ctx, c.kind, [c.household_id, c.person_id])
    p = w.person(c.person_id)
    _leave(w, c.household_id, (c.person_id,), reason=RemovalReason.EX_OFFICIO,
           remaining_head_id=c.remaining_head_id, remaining_memberships=c.remaining_memberships,
           destination=None, field="person_id")
    return w.outcome(c.kind, f"職権消除 {p.name}（{c.reason}）", pv.effective_date,
                     details={"person_ids": [c.person_id], "reason": c.reason})


def _move_out_confirmed(w: _Working, c: MoveOutConfirmed) -> Outcome:
    pv = w.ctx.provenance
    p = w.person(c.person_id, resident=False)
    if p.is_resident or p.removal_reason is not RemovalReason.MOVE_OUT:
        raise _violation("person_id", "REG-E3/not-moved-out", "転出による除票ではありません。",
                         "This record was not removed by a move-out.")
    if p.move_out_confirmed:
        raise _violation("person_id", "REG-E3/already-confirmed", "転出は既に確定しています。",
                         "The move-out has already been confirmed.")
    problems = Problems()
    _check_address(problems, c.confirmed_address, "confirmed_address", domestic=True)
    if p.removal_date and c.moved_in_on < p.removal_date:
        problems.add("moved_in_on", "REG-R1/move-in-before-move-out", "転入日が転出日より前です。",
                     "The move-in date is before the move-out date.")
    problems.raise_if_any(RuleViolation)
    _check_provenance(w.ctx, c.kind, [])
    w.put_person(p.replace(moved_out_to=c.confirmed_address, move_out_confirmed=True))
    return w.outcome(c.kind, f"転出確定 {p.name}（{c.confirmed_address.text}）", pv.effective_date,
                     details={"person_ids": [c.person_id], "moved_in_on": c.moved_in_on.isoformat()})


# --- moving within and household changes ------------------------------------------------------------


def _regroup(
    w: _Working,
    *,
    household_id: str,
    movers: list[str],
    target_id: str,
    target_head: str | None,
    memberships: dict[str, str],
    remaining_head_id: str,
    remaining_memberships: tuple[Membership, ...],
    address: Address,
) -> None:
    """Move ``movers`` from ``household_id`` into ``target_id`` (new or existing) and settle both."""
    pv = w.ctx.provenance
    h = w.household(household_id)
    remaining = [m for m in h.member_ids if m not in movers]
    head = h.head_id
    if head in movers and remaining:
        if not remaining_head_id:
            raise _violation("remaining_head_id", "REG-E4/head-decision",
                             "世帯主が世帯を離れるため、残る世帯の新しい世帯主を指定してください。",
                             "The head leaves the household: name the new head of those who remain.")
        head = remaining_head_id
    elif remaining_head_id and remaining_head_id != head:
        raise _violation("remaining_head_id", "REG-R2", "世帯主は変わらないため指定できません。",
                         "The head does not change, so no new head may be named.")
    target = w.households.get(target_id)
    target_members = list(target.member_ids) if target else []
    w.settle(household_id, remaining, head if remaining else None,
             _memberships(remaining_memberships, "remaining_memberships"),
             address=h.address, formed_on=pv.effective_date, field="remaining_memberships",
             head_field="remaining_head_id")
    w.settle(target_id, target_members + movers, target_head, memberships, address=address,
             formed_on=pv.effective_date, field="memberships", head_field="new_head_id")


def _move_within(w: _Working, c: MoveWithin) -> Outcome:
    pv = w.ctx.provenance
    problems = Problems()
    _check_address(problems, c.address, "address", domestic=True)
    if not w.ctx.jurisdiction.covers(c.address):
        problems.add("address.lg_code", "REG-R1/move-within-inside",
                     "転居先が市区町村の区域外です。転出届として入力してください。",
                     "The new address is outside this municipality: enter a move-out (転出) instead.")
    problems.raise_if_any(RuleViolation)
    late = _check_provenance(w.ctx, c.kind, [c.household_id, c.join_household_id, *c.person_ids])
    movers = w.members_of(c.household_id, c.person_ids, "person_ids")
    h = w.household(c.household_id)
    if h.address.same_place == c.address.same_place:
        raise _violation("address", "REG-R1/move-within-same-address", "転居先が現住所と同じです。",
                         "The new address is the current address.")
    whole = set(movers) == set(h.member_ids)
    if whole and not c.join_household_id:
        if c.new_head_id or c.memberships or c.remaining_head_id or c.remaining_memberships:
            raise _violation("new_head_id", "REG-R1/move-within-address-only",
                             "世帯全員の転居では住所以外を変更できません。世帯変更は別の届出です。",
                             "A whole household's move changes only the address; household changes are separate.")
        w.settle(c.household_id, list(h.member_ids), h.head_id, {}, address=c.address, formed_on=h.formed_on,
                 field="person_ids", head_field="new_head_id")
    else:
        if c.join_household_id:
            target = w.household(c.join_household_id, "join_household_id")
            if target.address.same_place != c.address.same_place:
                raise _violation("address", "REG-R1/join-same-address", "入る世帯の住所と異なります。",
                                 "The address differs from the household's address.")
            target_id, target_head = c.join_household_id, target.head_id
            if c.new_head_id:
                raise _violation("new_head_id", "REG-R2", "既存の世帯に入るときは世帯主を指定できません。",
                                 "No new head may be named when joining an existing household.")
        else:
            if c.new_head_id not in movers:
                raise _violation("new_head_id", "REG-R1/head-not-member",
                                 "新しい世帯の世帯主は転居する人の中から指定してください。",
                                 "The new household's head must be one of the persons moving.")
            target_id, target_head = w.ctx.ids.household_id(), c.new_head_id
        _regroup(w, household_id=c.household_id, movers=movers, target_id=target_id, target_head=target_head,
                 memberships=_memberships(c.memberships, "memberships"), remaining_head_id=c.remaining_head_id,
                 remaining_memberships=c.remaining_memberships, address=c.address)
    for pid in movers:
        p = w.persons[pid]
        w.put_person(p.replace(previous_address=h.address, address_since=pv.effective_date,
                               address_notified_on=pv.notified_date))
    return w.outcome(c.kind, f"転居 {len(movers)}名（{c.address.text} へ）", pv.effective_date, late=late,
                     details={"person_ids": movers})


def _split(w: _Working, c: HouseholdSplit) -> Outcome:
    pv = w.ctx.provenance
    late = _check_provenance(w.ctx, c.kind, [c.household_id, *c.person_ids])
    movers = w.members_of(c.household_id, c.person_ids, "person_ids")
    h = w.household(c.household_id)
    if set(movers) == set(h.member_ids):
        raise _violation("person_ids", "REG-E4/split-all", "世帯全員を分離することはできません。",
                         "A split must leave at least one member behind.")
    if c.new_head_id not in movers:
        raise _violation("new_head_id", "REG-R1/head-not-member",
                         "新しい世帯の世帯主は分離する人の中から指定してください。",
                         "The new household's head must be one of the persons leaving.")
    new_id = w.ctx.ids.household_id()
    _regroup(w, household_id=c.household_id, movers=movers, target_id=new_id, target_head=c.new_head_id,
             memberships=_memberships(c.memberships, "memberships"), remaining_head_id=c.remaining_head_id,
             remaining_memberships=c.remaining_memberships, address=h.address)
    return w.outcome(c.kind, f"世帯分離 {len(movers)}名（新世帯 {new_id}）", pv.effective_date, late=late,
                     details={"person_ids": movers, "new_household_id": new_id})


def _merge(w: _Working, c: HouseholdMerge) -> Outcome:
    pv = w.ctx.provenance
    late = _check_provenance(w.ctx, c.kind, [c.from_household_id, c.into_household_id])
    if c.from_household_id == c.into_household_id:
        raise _violation("into_household_id", "REG-E4/merge-same", "同じ世帯どうしは合併できません。",
                         "A household cannot merge with itself.")
    src = w.household(c.from_household_id, "from_household_id")
    dst = w.household(c.into_household_id, "into_household_id")
    if src.address.same_place != dst.address.same_place:
        raise _violation("into_household_id", "REG-E4/merge-same-address",
                         "住所の異なる世帯は合併できません（転居届を先に）。",
                         "Households at different addresses cannot merge (enter the move first).")
    movers = list(src.member_ids)
    _regroup(w, household_id=c.from_household_id, movers=movers, target_id=c.into_household_id,
             target_head=dst.head_id, memberships=_memberships(c.memberships, "memberships"),
             remaining_head_id="", remaining_memberships=(), address=dst.address)
    return w.outcome(c.kind, f"世帯合併 {c.from_household_id} → {c.into_household_id}", pv.effective_date,
                     late=late, details={"person_ids": movers})


def _head_change(w: _Working, c: HeadChange) -> Outcome:
    pv = w.ctx.provenance
    late = _check_provenance(w.ctx, c.kind, [c.household_id])
    h = w.household(c.household_id)
    if c.new_head_id == h.head_id:
        raise _violation("new_head_id", "REG-E4/same-head", "指定された人は既に世帯主です。",
                         "This person is already the head.")
    rel = _memberships(c.memberships, "memberships")
    missing = [m for m in h.member_ids if m != c.new_head_id and m not in rel]
    if missing:
        raise _violation("memberships", "REG-E4/relationships",
                         "世帯主変更では全世帯員の新しい続柄を指定してください（不足: " + "、".join(missing) + "）。",
                         "A change of head needs every member's new relationship (missing: " + ", ".join(missing) + ").")
    w.settle(c.household_id, list(h.member_ids), c.new_head_id, rel, address=h.address, formed_on=h.formed_on,
             field="memberships", head_field="new_head_id")
    return w.outcome(c.kind, f"世帯主変更 → {w.persons[c.new_head_id].name}", pv.effective_date, late=late,
                     details={"person_ids": list(h.member_ids)})


def _reorganise(w: _Working, c: HouseholdReorganise) -> Outcome:
    pv = w.ctx.provenance
    late = _check_provenance(w.ctx, c.kind, [c.household_id, c.into_household_id])
    movers = w.members_of(c.household_id, c.person_ids, "person_ids")
    src = w.household(c.household_id)
    dst = w.household(c.into_household_id, "into_household_id")
    if c.household_id == c.into_household_id:
        raise _violation("into_household_id", "REG-E4/same", "移動先が同じ世帯です。", "The target is the same household.")
    if src.address.same_place != dst.address.same_place:
        raise _violation("into_household_id", "REG-E4/same-address",
                         "住所の異なる世帯へは移れません（転居届を先に）。",
                         "Members cannot join a household at another address (enter the move first).")
    _regroup(w, household_id=c.household_id, movers=movers, target_id=c.into_household_id, target_head=dst.head_id,
             memberships=_memberships(c.memberships, "memberships"), remaining_head_id=c.remaining_head_id,
             remaining_memberships=c.remaining_memberships, address=dst.address)
    return w.outcome(c.kind, f"世帯構成変更 {len(movers)}名 → 世帯 {c.into_household_id}", pv.effective_date,
                     late=late, details={"person_ids": movers})


# --- items of one person ----------------------------------------------------------------------------


def _require_reason(reason: str, field: str = "reason") -> None:
    problems = Problems()
    _check_text(problems, reason, field, "理由", "reason", required=True, limit=400)
    problems.raise_if_any()


def _correction(w: _Working, c: ExOfficioCorrection) -> Outcome:
    pv = w.ctx.provenance
    _require_reason(c.reason)
    _check_provenance(w.ctx, c.kind, [c.person_id])
    p = w.person(c.person_id, resident=False)
    if not c.corrections:
        raise InvalidInput(Problem("corrections", "REG-R2", "修正する項目を指定してください。",
                                   "Name at least one item to correct."))
    hints = typing.get_type_hints(PersonRecord)
    changes: dict[str, object] = {}
    problems = Problems()
    not_correctable = Problems()
    for i, item in enumerate(c.corrections):
        if item.item not in CORRECTABLE_ITEMS:
            not_correctable.add(f"corrections[{i}].item", "REG-E7/correctable",
                         f"「{item.item}」は職権修正では変更できません（住所は転居、世帯は世帯変更で）。",
                         f"{item.item!r} cannot be corrected ex officio (address by a move, household by a household change).")
            continue
        try:
            changes[item.item] = from_json(hints[item.item], item.value, f"corrections[{i}].value")
        except InvalidInput as e:
            problems.extend(e.problems)
    not_correctable.raise_if_any(RuleViolation)
    problems.raise_if_any()
    new = p.replace(**changes)
    if "name_kana" in changes:
        new = new.replace(name_kana=_kana(problems, new.name_kana, "corrections.name_kana"))
    if new.birth_date > pv.effective_date or (new.removal_date and new.removal_date < new.birth_date):
        problems.add("corrections", "REG-R1/dates", "生年月日が他の日付と矛盾します。",
                     "The birth date contradicts the record's other dates.")
    if new.foreign is not None and (new.honseki or new.hittosha):
        problems.add("corrections", "REG-ITEMS/foreign", "外国人住民には本籍・筆頭者を記載しません。",
                     "Foreign residents have no honseki or hittosha.")
    problems.raise_if_any(RuleViolation)
    if new == p:
        raise _violation("corrections", "REG-E7/no-change", "修正前と同じ内容です。", "Nothing would change.")
    w.put_person(new)
    if p.is_resident and new.name != p.name:
        _sync_head_name(w, new)
    return w.outcome(c.kind, f"職権修正 {p.name}（{', '.join(changes)}）", pv.effective_date,
                     corrects_event=c.corrects_event,
                     details={"person_ids": [c.person_id], "items": sorted(changes), "reason": c.reason})


def _sync_head_name(w: _Working, p: PersonRecord) -> None:
    h = w.households.get(p.household_id)
    if h and h.head_id == p.person_id:
        for m in h.member_ids:
            q = w.persons[m]
            if q.head_name != p.name:
                w.put_person(q.replace(head_name=p.name))


def _name_change(w: _Working, c: NameChange) -> Outcome:
    pv = w.ctx.provenance
    _check_provenance(w.ctx, c.kind, [c.person_id])
    p = w.person(c.person_id)
    problems = Problems()
    changes: dict[str, object] = {}
    for name in ("name", "former_surname", "former_surname_kana", "honseki", "hittosha"):
        v = getattr(c, name)
        if v is not None:
            _check_text(problems, v, name, name, name, required=name == "name", limit=100)
            changes[name] = v
    if c.name_kana is not None:
        changes["name_kana"] = _kana(problems, c.name_kana, "name_kana")
    if c.furigana_status is not None:
        changes["furigana_status"] = c.furigana_status
    if c.cause is NameChangeCause.NATURALISATION:
        if p.foreign is None:
            problems.add("cause", "REG-E10", "外国人住民ではないため帰化の記載はできません。",
                         "The person is not a foreign resident.")
        changes["foreign"] = None
        changes["alias"] = ""
        changes["alias_kana"] = ""
        if not c.honseki:
            problems.add("honseki", "REG-E10", "帰化では本籍を入力してください。", "Naturalisation needs the honseki.")
    elif c.cause is NameChangeCause.LOSS_OF_NATIONALITY:
        if c.foreign is None:
            problems.add("foreign", "REG-E10", "国籍喪失では外国人住民の記載事項を入力してください。",
                         "Loss of nationality needs the foreign-resident items.")
        else:
            _foreign_problems(problems, c.foreign, "foreign", p.birth_date)
        changes["foreign"] = c.foreign
        changes["honseki"] = ""
        changes["hittosha"] = ""
    elif c.foreign is not None:
        problems.add("foreign", "REG-R2", "この事由では外国人住民の記載事項を変更できません。",
                     "The foreign-resident items change only on loss of nationality.")
    problems.raise_if_any()
    new = p.replace(**changes)
    if new.furigana_status is FuriganaStatus.ABSENT and new.name_kana:
        new = new.replace(furigana_status=FuriganaStatus.UNCONFIRMED)
    if new == p:
        raise _violation("name", "REG-E10/no-change", "変更される項目がありません。", "Nothing would change.")
    w.put_person(new)
    _sync_head_name(w, new)
    return w.outcome(c.kind, f"氏名等の変更（{c.cause.value}）{p.name} → {new.name}", pv.effective_date,
                     details={"person_ids": [c.person_id], "cause": c.cause.value})


def _number_change(w: _Working, c: IndividualNumberChange) -> Outcome:
    pv = w.ctx.provenance
    identifiers.individual_number(c.new_number, "new_number")
    _require_reason(c.reason)
    _check_provenance(w.ctx, c.kind, [c.person_id])
    p = w.person(c.person_id)
    other = w.ctx.by_individual_number.get(c.new_number)
    if other is not None and other.person_id != p.person_id:
        raise _violation("new_number", "REG-E9/unique", "この個人番号は他の人に指定されています。",
                         "This individual number belongs to someone else.")
    if p.individual_number == c.new_number:
        raise _violation("new_number", "REG-E9/same", "現在の個人番号と同じです。", "This is the current number.")
    w.put_person(p.replace(individual_number=c.new_number))
    designated = p.individual_number is None
    return w.outcome(c.kind, "個人番号の指定" if designated else "個人番号の変更", pv.effective_date,
                     details={"person_ids": [c.person_id], "designated": designated, "reason": c.reason})


def _code_change(w: _Working, c: JuminhyoCodeChange) -> Outcome:
    pv = w.ctx.provenance
    identifiers.juminhyo_code(c.new_code, "new_code")
    _check_provenance(w.ctx, c.kind, [c.person_id])
    p = w.person(c.person_id)
    other = w.ctx.by_juminhyo_code.get(c.new_code)
    if (other is not None and other.person_id != p.person_id) or p.juminhyo_code == c.new_code:
        raise _violation("new_code", "REG-E9/unique", "この住民票コードは使用中です。",
                         "This resident record code is already in use.")
    w.put_person(p.replace(juminhyo_code=c.new_code))
    return w.outcome(c.kind, "住民票コードの変更", pv.effective_date,
                     details={"person_ids": [c.person_id], "old_juminhyo_code": p.juminhyo_code})


def _cancel(w: _Working, c: Cancellation) -> Outcome:
    _require_reason(c.reason)
    t = w.ctx.cancellation
    if t is None or t.seq != c.event_seq:
        raise NotFound(Problem("event_seq", "REG-E11", f"異動 {c.event_seq} はありません。",
                               f"There is no change {c.event_seq}."))
    if t.kind in (ChangeKind.CANCELLATION, ChangeKind.INITIAL_LOAD):
        raise _violation("event_seq", "REG-E11/not-cancellable", f"「{t.kind.ja}」は取り消せません。",
                         f"A change of kind {t.kind.value} cannot be cancelled.")
    if t.already_cancelled:
        raise _violation("event_seq", "REG-E11/already", "この異動は既に取り消されています。",
                         "This change has already been cancelled.")
    if t.changed_since:
        raise _violation("event_seq", "REG-E11/later-changes",
                         "この異動の後に同じ住民票・世帯の異動があります。後の異動から順に取り消してください（"
                         + "、".join(t.changed_since) + "）。",
                         "Later changes touch the same records; cancel them first (" + ", ".join(t.changed_since) + ").")
    _check_provenance(w.ctx, c.kind, [])
    for pid, after in t.persons_after.items():
        before = t.persons_before.get(pid)
        w.persons[pid] = after
        w.put_person(before if before is not None else after.replace(status=Status.VOID))
    for hid, h_after in t.households_after.items():
        h_before = t.households_before.get(hid)
        w.households[hid] = h_after
        w.put_household(h_before if h_before is not None else h_after.replace(head_id=None, member_ids=()))
    return w.outcome(c.kind, f"取消: {t.kind.ja}（異動 {t.seq}）{c.reason}", t.effective_date,
                     cancels_event=t.seq, details={"person_ids": list(t.persons_after), "reason": c.reason})


_HANDLERS: dict[type[Command], Callable[[_Working, Command], Outcome]] = {
    MoveIn: _move_in,  # type: ignore[dict-item]
    MoveInFromAbroad: _move_in,  # type: ignore[dict-item]
    MoveWithin: _move_within,  # type: ignore[dict-item]
    MoveOut: _move_out,  # type: ignore[dict-item]
    MoveAbroad: _move_out,  # type: ignore[dict-item]
    MoveOutConfirmed: _move_out_confirmed,  # type: ignore[dict-item]
    HouseholdSplit: _split,  # type: ignore[dict-item]
    HouseholdMerge: _merge,  # type: ignore[dict-item]
    HeadChange: _head_change,  # type: ignore[dict-item]
    HouseholdReorganise: _reorganise,  # type: ignore[dict-item]
    Birth: _birth,  # type: ignore[dict-item]
    Death: _death,  # type: ignore[dict-item]
    ExOfficioEntry: _ex_officio_entry,  # type: ignore[dict-item]
    ExOfficioCorrection: _correction,  # type: ignore[dict-item]
    ExOfficioRemoval: _ex_officio_removal,  # type: ignore[dict-item]
    IndividualNumberChange: _number_change,  # type: ignore[dict-item]
    JuminhyoCodeChange: _code_change,  # type: ignore[dict-item]
    NameChange: _name_change,  # type: ignore[dict-item]
    Cancellation: _cancel,  # type: ignore[dict-item]
}


def decide(command: Command, ctx: Context) -> Outcome:
    """The outcome of ``command`` on the records in ``ctx``, or a refusal naming field and rule."""
    return _HANDLERS[type(command)](_Working(ctx), command)
