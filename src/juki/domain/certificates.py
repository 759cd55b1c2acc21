"""What a certificate shows (REG-CERT): the kinds, their layouts, the optional items, and the printed content.

A :class:`Document` is what one certificate certifies: its kind (住民票の写し, 記載事項証明書, 除票の写し,
転出証明書, 住民票コード通知書, 印鑑登録証明書), its layout (世帯連記式 or 個人票), the optional items asked
for (:class:`Items`), the subjects' 住民票 (:class:`~juki.domain.model.PersonRecord`, in print order), the
issuing municipality and mayor, the date, the certificate id.  :meth:`Document.validate` refuses impossible
combinations, each refusal a :class:`~juki.domain.errors.Problem` naming the field and the rule.

:func:`content` turns a document into exactly what is printed, sheet by sheet (:class:`Content`): the
renderer (``juki.adapters.pdf``) only lays it out, so the law about what a form shows lives here, and the
SHA-256 of the content's canonical JSON (:func:`content_sha256`) is what the signed QR code certifies.

The rules followed (住民基本台帳法 and the 住民記録システム標準仕様書 as municipalities adopting it describe
their forms; REQUIREMENTS §3.4):

* 本籍・筆頭者, 世帯主・続柄, 住民票コード and 個人番号 are printed only when asked for (住基法12条5項);
  whether the requester may ask is decided by the request path (``juki.domain.certificate_requests``).
* 住民票の写し: **世帯連記式** (up to :data:`PERSONS_PER_SHEET` persons per A4 sheet; 5 or more continue on
  further sheets of the same document, numbered "1/2") is the default; **個人票** is one person per sheet.
  Both print the latest values only, with 現住所 and **転入前住所** (blank when unknown); a 転居 within the
  municipality prints as **異動前住所**.  The change history is printed only when asked.
* 除票の写し is always a 個人票.
* 転出証明書 carries what 住基法施行令23条 requires of it (世帯主・続柄, 本籍・筆頭者, 住民票コード and 個人番号
  included: the new municipality records them), 転出先 and 転出予定年月日: see :data:`STATUTORY_ITEMS`.
* 印鑑登録証明書 shows the 印影 and the registrant's 氏名, 生年月日, 性別, 住所 only, and never the 個人番号
  (REG-LINK5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import InvalidInput, Problem, Problems, RuleViolation
from .model import Address, HouseholdRecord, PersonRecord, RemovalReason, Status
from .retention import REGISTER_RETENTION_YEARS, retention_expired
from .wareki import WarekiError, wareki, wareki_or_blank

PERSONS_PER_SHEET = 4
"""世帯連記式: persons per A4 sheet (標準仕様書); a 5th person continues on the next sheet."""


class CertificateKind(StrEnum):
    """証明書の種類.  The value is the stable API name; ``ja`` the printed title."""

    RESIDENT_COPY = "resident_copy"  # 住民票の写し (住基法12条)
    ENTRY_CERTIFICATE = "entry_certificate"  # 住民票記載事項証明書 (住基法施行規則)
    REMOVED_COPY = "removed_copy"  # 除票の写し (住基法15条の4)
    MOVE_OUT = "move_out"  # 転出証明書 (住基法24条, 施行令23条)
    CODE_NOTICE = "code_notice"  # 住民票コード通知書 (住基法30条の3第3項)
    SEAL = "seal"  # 印鑑登録証明書 (印鑑条例)

    @property
    def ja(self) -> str:
        return KIND_JA[self]


KIND_JA: dict[CertificateKind, str] = {
    CertificateKind.RESIDENT_COPY: "住民票の写し",
    CertificateKind.ENTRY_CERTIFICATE: "住民票記載事項証明書",
    CertificateKind.REMOVED_COPY: "除票の写し",
    CertificateKind.MOVE_OUT: "転出証明書",
    CertificateKind.CODE_NOTICE: "住民票コード通知書",
    CertificateKind.SEAL: "印鑑登録証明書",
}


class Layout(StrEnum):
    """様式: 世帯連記式 (a household on shared sheets, 4 persons per sheet) or 個人票 (one person per sheet)."""

    HOUSEHOLD = "household"  # 世帯連記式
    INDIVIDUAL = "individual"  # 個人票

    @property
    def ja(self) -> str:
        return "世帯連記式" if self is Layout.HOUSEHOLD else "個人票"


LAYOUTS: dict[CertificateKind, tuple[Layout, ...]] = {
    CertificateKind.RESIDENT_COPY: (Layout.HOUSEHOLD, Layout.INDIVIDUAL),
    CertificateKind.ENTRY_CERTIFICATE: (Layout.HOUSEHOLD, Layout.INDIVIDUAL),
    CertificateKind.REMOVED_COPY: (Layout.INDIVIDUAL,),
    CertificateKind.MOVE_OUT: (Layout.HOUSEHOLD,),
    CertificateKind.CODE_NOTICE: (Layout.INDIVIDUAL,),
    CertificateKind.SEAL: (Layout.INDIVIDUAL,),
}
"""The layouts each kind is printed in; the first is its default (:func:`default_layout`)."""


def default_layout(kind: CertificateKind) -> Layout:
    """世帯連記式 for 住民票の写し and 記載事項証明書 (the default when nothing is asked), else the only one."""
    return LAYOUTS[kind][0]


@dataclass(frozen=True)
class Items:
    """The optional items (特別の請求により記載する事項); the default omits every one of them (住基法12条5項)."""

    domicile: bool = False  # 本籍・筆頭者 (Japanese nationals)
    head_of_household: bool = False  # 世帯主の氏名
    relationship: bool = False  # 世帯主との続柄
    juminhyo_code: bool = False  # 住民票コード
    individual_number: bool = False  # 個人番号: only on the person's own specific request (12条5項)
    history: bool = False  # 異動履歴 within the municipality
    nationality: bool = False  # 国籍・地域 (外国人住民, 30条の45)
    residence_status: bool = False  # 30条の45区分, 在留資格, 在留期間, 満了の日, 在留カード等の番号

    def names(self) -> tuple[str, ...]:
        """The items asked for, by API name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(self) if getattr(self, f.name))

    def __or__(self, other: Items) -> Items:
        return Items(**{n: True for n in (*self.names(), *other.names())})

    @classmethod
    def from_names(cls, names: Iterable[str], field: str = "items") -> Items:
        """``Items.from_names(["relationship", "domicile"])``; an unknown name is refused, naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        given = list(names)
        unknown = [n for n in given if n not in known]
        if unknown:
            raise InvalidInput([Problem(field, "REG-CERT/items",
                                        f"記載事項「{n}」はありません（{'、'.join(ITEM_JA.values())}）。",
                                        f"Unknown item {n!r}; known: {', '.join(sorted(known))}.") for n in unknown])
        return cls(**{n: True for n in given})


ITEM_JA: dict[str, str] = {
    "domicile": "本籍・筆頭者",
    "head_of_household": "世帯主",
    "relationship": "続柄",
    "juminhyo_code": "住民票コード",
    "individual_number": "個人番号",
    "history": "異動履歴",
    "nationality": "国籍・地域",
    "residence_status": "在留資格等",
}

STATUTORY_ITEMS: dict[CertificateKind, Items] = {
    # 住基法施行令23条: the 転出証明書 carries the items the new municipality records on its 住民票.
    CertificateKind.MOVE_OUT: Items(domicile=True, head_of_household=True, relationship=True,
                                    juminhyo_code=True, individual_number=True, nationality=True,
                                    residence_status=True),
    # 住基法30条の3第3項: the notice exists to tell the person the code.
    CertificateKind.CODE_NOTICE: Items(juminhyo_code=True),
}
"""Items a kind always prints, whatever was asked (law in data, with its citation)."""

FORBIDDEN_ITEMS: dict[CertificateKind, frozenset[str]] = {
    CertificateKind.SEAL: frozenset(f.name for f in dataclasses.fields(Items)),  # 印鑑条例: fixed content
    CertificateKind.CODE_NOTICE: frozenset({"individual_number", "history", "domicile"}),
    CertificateKind.MOVE_OUT: frozenset({"history"}),
}
"""Items a kind can never print (the 印鑑登録証明書 is never linked to the 個人番号, REG-LINK5)."""


@dataclass(frozen=True)
class SealImprint:
    """印影: the registered seal's image (PNG), its 登録番号 and the day it was registered."""

    registration_number: str  # 印鑑登録番号
    image_png: bytes  # 印影
    registered_on: dt.date  # 登録年月日


@dataclass(frozen=True)
class MoveOutDetails:
    """転出届 as the 転出証明書 prints it: where to, when (予定), and the day it was notified."""

    destination: Address  # 転出先
    planned_on: dt.date  # 転出予定年月日
    notified_on: dt.date  # 届出年月日


@dataclass(frozen=True)
class HistoryLine:
    """One line of 異動履歴: the day, the kind of change (``転居``) and what it changed.  ``person_id`` is
    the subject the line belongs to ("" for the whole 世帯)."""

    date: dt.date
    kind_ja: str
    summary: str
    person_id: str = ""


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, kw_only=True)
class Document:
    """One certificate to print: what it certifies, about whom, issued by whom (REG-CERT)."""

    kind: CertificateKind
    persons: tuple[PersonRecord, ...]  # the subjects, in print order
    municipality: str  # 札幌市
    lg_code: str  # 地方公共団体コード, 011002
    mayor: str  # the issuer line: "札幌市長　秋元　克広"
    issued_on: dt.date  # 交付年月日
    certificate_id: str  # 証明書番号 (:func:`new_certificate_id`)
    layout: Layout = Layout.HOUSEHOLD
    items: Items = dataclasses.field(default_factory=Items)
    household: HouseholdRecord | None = None  # the subjects' 世帯 (tells 世帯全員 from 一部)
    history: tuple[HistoryLine, ...] = ()  # printed only when items.history
    purpose: str = ""  # 使用目的・提出先, printed when given
    seal: SealImprint | None = None  # 印鑑登録証明書 only
    move_out: MoveOutDetails | None = None  # 転出証明書 only

    # --- derived ----------------------------------------------------------------------------------

    @property
    def subject_ids(self) -> tuple[str, ...]:
        return tuple(p.person_id for p in self.persons)

    @property
    def printed_items(self) -> Items:
        """The items asked for plus those the kind always prints (:data:`STATUTORY_ITEMS`)."""
        statutory = STATUTORY_ITEMS.get(self.kind)
        return self.items | statutory if statutory else self.items

    @property
    def whole_household(self) -> bool:
        """世帯全員: every current member of the household is a subject."""
        return self.household is not None and bool(self.household.member_ids) and \
            set(self.household.member_ids) == set(self.subject_ids)

    def sheets(self) -> tuple[tuple[PersonRecord, ...], ...]:
        """The persons on each A4 sheet: 4 per sheet for 世帯連記式, one for 個人票."""
        n = PERSONS_PER_SHEET if self.layout is Layout.HOUSEHOLD else 1
        return tuple(self.persons[i:i + n] for i in range(0, len(self.persons), n)) or ((),)

    # --- checks -----------------------------------------------------------------------------------

    def validate(self) -> None:
        """Refuse what cannot be printed: malformed fields (:class:`InvalidInput`), then impossible
        combinations (:class:`RuleViolation`); every fault at once, each naming its field and rule."""
        bad = Problems()
        for name, ja in (("municipality", "市区町村名"), ("mayor", "市区町村長名"), ("certificate_id", "証明書番号")):
            if not str(getattr(self, name)).strip():
                bad.add(name, "REG-CERT/required", f"{ja}は必須です。", f"{name} is required.")
        if not (len(self.lg_code) == 6 and self.lg_code.isascii() and self.lg_code.isdigit()):
            bad.add("lg_code", "REG-CERT/required", "地方公共団体コードは半角数字6桁です。",
                    "lg_code must be 6 ASCII digits.")
        if self.seal is not None and not self.seal.image_png.startswith(PNG_SIGNATURE):
            bad.add("seal.image_png", "REG-CERT/seal", "印影はPNG画像で指定してください。", "The seal imprint must be a PNG image.")
        for i, p in enumerate(self.persons):
            for name in ("birth_date", "resident_since", "address_since", "address_notified_on"):
                try:
                    wareki(getattr(p, name))
                except WarekiError as exc:
                    bad.add(f"persons[{i}].{name}", "REG-CERT/wareki", "和暦で表示できない日付です。", str(exc))
        bad.raise_if_any(InvalidInput)
        self._check_rules().raise_if_any(RuleViolation)

    def _check_rules(self) -> Problems:
        bad = Problems()
        kind = self.kind
        if not self.persons:
            bad.add("persons", "REG-CERT/subjects", "証明する住民がいません。", "A certificate needs at least one subject.")
        if self.layout not in LAYOUTS[kind]:
            allowed = "・".join(x.ja for x in LAYOUTS[kind])
            bad.add("layout", "REG-CERT/layout", f"{kind.ja}は{allowed}で作成します（{self.layout.ja}は不可）。",
                    f"A {kind.value} is printed as {'/'.join(x.value for x in LAYOUTS[kind])}, not {self.layout.value}.")
        ids = self.subject_ids
        if len(set(ids)) != len(ids):
            bad.add("persons", "REG-CERT/subjects", "同じ住民が重複しています。", "A subject appears twice.")
        households = {p.household_id for p in self.persons}
        if len(households) > 1:
            bad.add("persons", "REG-CERT/one-household", "一通の証明書には一つの世帯の住民だけを記載します。",
                    "One certificate holds the subjects of one household only.")
        if self.household is not None:
            if households and households != {self.household.household_id}:
                bad.add("household", "REG-CERT/one-household", "世帯が証明する住民の世帯と一致しません。",
                        "The household is not the subjects' household.")
            elif kind is not CertificateKind.REMOVED_COPY and kind is not CertificateKind.MOVE_OUT:
                for i, p in enumerate(self.persons):
                    if p.person_id not in self.household.member_ids:
                        bad.add(f"persons[{i}]", "REG-CERT/one-household", "世帯の構成員ではありません。",
                                "This subject is not a member of the household.")
        self._check_status(bad)
        self._check_kind_parts(bad)
        self._check_items(bad)
        return bad

    def _check_status(self, bad: Problems) -> None:
        kind = self.kind
        for i, p in enumerate(self.persons):
            field = f"persons[{i}].status"
            if p.status is Status.VOID:
                bad.add(field, "REG-CERT/status", "取消により無効な住民票は証明できません。",
                        "A 住民票 voided by a cancellation cannot be certified.")
            elif kind is CertificateKind.REMOVED_COPY and p.status is not Status.REMOVED:
                bad.add(field, "REG-CERT/status", "除票の写しは消除された住民票（除票）についてのみ交付します。",
                        "A 除票の写し is issued only for a removed 住民票.")
            elif p.status is Status.REMOVED and p.removal_date is not None and retention_expired(
                    p.removal_date, self.issued_on):
                bad.add(field, "REG-R5/retention",
                        f"保存期間（{REGISTER_RETENTION_YEARS}年）を経過した除票です（消除 {p.removal_date.isoformat()}）。"
                        "通常の事務では扱えず、交付できません。",
                        f"This 除票 is past its retention period ({REGISTER_RETENTION_YEARS} years; removed "
                        f"{p.removal_date.isoformat()}): it is out of normal work and cannot be certified.")
            elif kind is CertificateKind.MOVE_OUT and not (
                    p.status is Status.REMOVED and p.removal_reason is RemovalReason.MOVE_OUT):
                bad.add(field, "REG-CERT/status", "転出証明書は転出届のあった住民についてのみ交付します。",
                        "A 転出証明書 is issued only for a person whose 転出 was notified.")
            elif kind not in (CertificateKind.REMOVED_COPY, CertificateKind.MOVE_OUT) and p.status is not Status.RESIDENT:
                bad.add(field, "REG-CERT/status", f"消除された住民票について{kind.ja}は交付できません（除票の写しを交付します）。",
                        f"A {kind.value} is issued only for a current resident (a removed one gets a 除票の写し).")

    def _check_kind_parts(self, bad: Problems) -> None:
        kind = self.kind
        if kind is CertificateKind.SEAL:
            if self.seal is None:
                bad.add("seal", "REG-CERT/seal", "印鑑登録証明書には印影が必要です。", "A 印鑑登録証明書 needs the seal imprint.")
            if len(self.persons) > 1:
                bad.add("persons", "REG-CERT/seal", "印鑑登録証明書は一人について一通です。",
                        "A 印鑑登録証明書 certifies one person.")
        elif self.seal is not None:
            bad.add("seal", "REG-CERT/seal", f"{kind.ja}に印影は記載しません。", f"A {kind.value} carries no seal imprint.")
        if kind is CertificateKind.MOVE_OUT:
            if self.move_out is None:
                bad.add("move_out", "REG-CERT/move-out", "転出証明書には転出先と転出予定年月日が必要です。",
                        "A 転出証明書 needs the destination and the planned move-out date.")
        elif self.move_out is not None:
            bad.add("move_out", "REG-CERT/move-out", f"{kind.ja}に転出先は記載しません。",
                    f"A {kind.value} carries no move-out details.")

    def _check_items(self, bad: Problems) -> None:
        kind = self.kind
        for name in self.items.names():
            if name in FORBIDDEN_ITEMS.get(kind, frozenset()):
                bad.add(f"items.{name}", "REG-CERT/items", f"{kind.ja}に{ITEM_JA[name]}は記載できません。",
                        f"A {kind.value} cannot show {name}.")
        if self.history and not self.items.history:
            bad.add("history", "REG-CERT/history", "異動履歴は請求があったときだけ記載します（items.history）。",
                    "History lines are printed only when asked for (items.history).")
        ids = set(self.subject_ids)
        for i, line in enumerate(self.history):
            if line.person_id and line.person_id not in ids:
                bad.add(f"history[{i}].person_id", "REG-CERT/history", "証明する住民以外の履歴です。",
                        "This history line is about someone who is not a subject.")


def new_certificate_id(lg_code: str, issued_on: dt.date, token: bytes | None = None) -> str:
    """``011002-20261123-7K3M9QXPA2``: the municipality, the day, and 50 random bits in Crockford base32
    (no I, L, O, U: read aloud over the phone without ambiguity)."""
    raw = int.from_bytes(token if token is not None else secrets.token_bytes(7), "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = []
    for _ in range(10):
        raw, r = divmod(raw, 32)
        chars.append(alphabet[r])
    return f"{lg_code}-{issued_on:%Y%m%d}-{''.join(reversed(chars))}"


# ---------------------------------------------------------------------------------------------------
# The printed content


@dataclass(frozen=True)
class Line:
    """One labelled box on the form: ``Line("name", "氏名", "札幌　太郎", ruby="サッポロ　タロウ")``."""

    key: str  # stable id (what it is, whatever the label says)
    label: str
    value: str
    ruby: str = ""  # ふりがな, printed above the value


@dataclass(frozen=True)
class Block:
    """One person on a sheet: their lines, and their 異動履歴 when asked."""

    lines: tuple[Line, ...]
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sheet:
    """One A4 page: a header (the household's 住所, 世帯主, or the 転出先), the persons, and ``slots`` (the
    boxes on the form: 4 on a 世帯連記式 sheet; the empty ones stay blank)."""

    number: int
    header: tuple[Line, ...]
    blocks: tuple[Block, ...]
    slots: int


@dataclass(frozen=True)
class Content:
    """Everything a certificate prints, in order: the renderer only lays it out."""

    kind: CertificateKind
    layout: Layout
    title: str
    mark: str  # a stamp beside the title: 除票, 世帯全員, 一部
    sheets: tuple[Sheet, ...]
    tail: str  # 以下余白, after the last person
    household_history: tuple[str, ...]
    statement: str  # the certification sentence
    purpose: str
    issued_on: str  # 和暦
    issuer: str  # the mayor line
    certificate_id: str
    seal_number: str = ""
    seal_sha256: str = ""  # the 印影 image is printed; its hash stands for it in the canonical form

    @property
    def pages(self) -> int:
        return len(self.sheets)


REMOVAL_JA = {
    RemovalReason.MOVE_OUT: "転出",
    RemovalReason.MOVE_ABROAD: "国外転出",
    RemovalReason.DEATH: "死亡",
    RemovalReason.EX_OFFICIO: "職権消除",
}

STATEMENTS: dict[CertificateKind, str] = {
    CertificateKind.RESIDENT_COPY: "この写しは、住民票の原本と相違ないことを証明する。",
    CertificateKind.ENTRY_CERTIFICATE: "上記の事項は、住民票に記載されている事項と相違ないことを証明する。",
    CertificateKind.REMOVED_COPY: "この写しは、除票の原本と相違ないことを証明する。",
    CertificateKind.MOVE_OUT: "上記のとおり転出の届出があったことを証明する。",
    CertificateKind.CODE_NOTICE: "あなたの住民票に記載されている住民票コードを、住民基本台帳法第30条の3第3項の規定により通知します。",
    CertificateKind.SEAL: "この写しは、登録されている印影と相違ないことを証明する。",
}
WHOLE_HOUSEHOLD_STATEMENT = "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"


def address_lines(p: PersonRecord) -> tuple[str, str]:
    """(転入前住所, 異動前住所) as the standard forms print them: the address before moving into the
    municipality (blank when unknown, e.g. born here), and the address before the latest 転居 within the
    municipality (blank when the latest address change was the 転入 itself)."""
    before_move_in = p.address_before_move_in.text if p.address_before_move_in else ""
    prior = p.previous_address
    within = prior.text if prior is not None and prior != p.address_before_move_in and prior != p.address else ""
    return before_move_in, within


def _person_lines(doc: Document, p: PersonRecord, *, with_address: bool) -> tuple[Line, ...]:
    items = doc.printed_items
    kind = doc.kind
    lines = [Line("name", "氏名", p.name, ruby=p.name_kana or "")]
    if p.former_surname:
        lines.append(Line("former_surname", "旧氏", p.former_surname, ruby=p.former_surname_kana))
    if p.alias:
        lines.append(Line("alias", "通称", p.alias, ruby=p.alias_kana))
    lines += [Line("birth_date", "生年月日", wareki(p.birth_date)), Line("sex", "性別", p.sex.ja)]
    if with_address:
        lines.append(Line("address", "住所", p.address.text))
    if items.head_of_household and with_address and kind is not CertificateKind.SEAL:  # else in the header
        lines.append(Line("head_of_household", "世帯主", p.head_name))
    if items.relationship:
        lines.append(Line("relationship", "続柄", p.relationship))
    if kind in (CertificateKind.RESIDENT_COPY, CertificateKind.REMOVED_COPY, CertificateKind.ENTRY_CERTIFICATE,
                CertificateKind.MOVE_OUT):
        lines.append(Line("resident_since", "住民となった日", wareki(p.resident_since)))
    if kind in (CertificateKind.RESIDENT_COPY, CertificateKind.REMOVED_COPY, CertificateKind.MOVE_OUT):
        before_move_in, within = address_lines(p)
        lines += [Line("address_since", "住所を定めた日", wareki(p.address_since)),
                  Line("address_notified_on", "届出日", wareki(p.address_notified_on)),
                  Line("address_before_move_in", "転入前住所", before_move_in)]
        if within:
            lines.append(Line("address_before_change", "異動前住所", within))
    if kind is CertificateKind.REMOVED_COPY and p.removal_reason is not None:
        lines.append(Line("removal", "消除", f"{wareki_or_blank(p.removal_date)}　{REMOVAL_JA[p.removal_reason]}"))
        if p.moved_out_to is not None:
            lines.append(Line("moved_out_to", "転出先", p.moved_out_to.text))
    if items.domicile and not p.is_foreign:
        lines += [Line("honseki", "本籍", p.honseki), Line("hittosha", "筆頭者", p.hittosha)]
    if items.nationality and p.foreign is not None:
        lines.append(Line("nationality", "国籍・地域", p.foreign.nationality))
    if items.residence_status and p.foreign is not None:
        f = p.foreign
        lines += [Line("foreign_category", "第30条の45に規定する区分", f.category),
                  Line("residence_status", "在留資格", f.residence_status),
                  Line("period_of_stay", "在留期間", f.period_of_stay),
                  Line("stay_expiry", "在留期間の満了の日", wareki_or_blank(f.stay_expiry)),
                  Line("residence_card_number", "在留カード等の番号", f.residence_card_number)]
    if items.juminhyo_code:
        lines.append(Line("juminhyo_code", "住民票コード", p.juminhyo_code))
    if items.individual_number and kind is not CertificateKind.SEAL:
        lines.append(Line("individual_number", "個人番号", p.individual_number or ""))
    return tuple(lines)


def _history_text(line: HistoryLine) -> str:
    return f"{wareki(line.date)}　{line.kind_ja}　{line.summary}".rstrip("　")


def _header(doc: Document, persons: tuple[PersonRecord, ...]) -> tuple[Line, ...]:
    if doc.layout is not Layout.HOUSEHOLD or not persons:
        return ()
    first = persons[0]
    address = doc.household.address if doc.household is not None and doc.kind is not CertificateKind.MOVE_OUT \
        else first.address
    header = [Line("address", "住所", address.text)]
    if doc.printed_items.head_of_household:
        header.append(Line("head_of_household", "世帯主", first.head_name))
    if doc.kind is CertificateKind.MOVE_OUT and doc.move_out is not None:
        header += [Line("destination", "転出先", doc.move_out.destination.text),
                   Line("planned_on", "転出予定年月日", wareki(doc.move_out.planned_on)),
                   Line("notified_on", "届出年月日", wareki(doc.move_out.notified_on))]
    return tuple(header)


def content(doc: Document) -> Content:
    """What ``doc`` prints, sheet by sheet (validates first)."""
    doc.validate()
    household_form = doc.layout is Layout.HOUSEHOLD
    wanted_history = doc.items.history and doc.kind not in FORBIDDEN_ITEMS.get(doc.kind, frozenset())
    per_person: dict[str, list[str]] = {}
    shared: list[str] = []
    if wanted_history:
        for line in sorted(doc.history, key=lambda x: x.date):
            (per_person.setdefault(line.person_id, []) if line.person_id else shared).append(_history_text(line))
    sheets = []
    for n, persons in enumerate(doc.sheets(), start=1):
        blocks = tuple(Block(_person_lines(doc, p, with_address=not household_form),
                             tuple(per_person.get(p.person_id, ()))) for p in persons)
        sheets.append(Sheet(n, _header(doc, persons), blocks, PERSONS_PER_SHEET if household_form else 1))
    whole = doc.whole_household
    statement = WHOLE_HOUSEHOLD_STATEMENT if doc.kind is CertificateKind.RESIDENT_COPY and whole \
        else STATEMENTS[doc.kind]
    mark = {CertificateKind.REMOVED_COPY: "除票"}.get(doc.kind, "")
    if doc.kind is CertificateKind.RESIDENT_COPY:
        mark = "世帯全員" if whole else "世帯の一部"
    return Content(
        kind=doc.kind, layout=doc.layout, title=doc.kind.ja, mark=mark, sheets=tuple(sheets), tail="以下余白",
        household_history=tuple(shared), statement=statement, purpose=doc.purpose.strip(),
        issued_on=wareki(doc.issued_on), issuer=doc.mayor.strip(), certificate_id=doc.certificate_id,
        seal_number=doc.seal.registration_number if doc.seal else "",
        seal_sha256=hashlib.sha256(doc.seal.image_png).hexdigest() if doc.seal else "",
    )


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 (characters kept exactly, IVS included): the bytes that are hashed."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def content_json(c: Content) -> dict[str, Any]:
    data: dict[str, Any] = dataclasses.asdict(c)
    data["kind"] = c.kind.value
    data["layout"] = c.layout.value
    data["pages"] = c.pages
    return data


def content_sha256(c: Content) -> str:
    """SHA-256 (hex) of the canonical JSON of what is printed: the QR code's ``content`` field."""
    return hashlib.sha256(canonical_json(content_json(c))).hexdigest()


def subjects_sha256(certificate_id: str, person_ids: Iterable[str]) -> str:
    """Who was certified, without printing the 宛名番号 on the QR: SHA-256 over the certificate id and
    the subjects' ids in print order (the issuance log keeps the ids and can recompute it)."""
    return hashlib.sha256(canonical_json([certificate_id, list(person_ids)])).hexdigest()
