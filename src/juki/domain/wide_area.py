"""広域交付 (住民基本台帳法12条の4): a 住民票の写し issued at another municipality's counter, over the 住基ネット.

The resident stands at the counter of a municipality that is not the one they live in: the **交付地**.
The 交付地 asks the **住所地** (the municipality of residence, which keeps the 住民票) through the network
for the **広域交付住民票情報**; the 住所地 checks the request against its own register and answers with
the content of the copy; the **交付地's mayor issues** the 写し (its name, code and mayor on the form,
signed with its key, logged in its issuance log).  The messages and the rules are here, standard library
only; :mod:`juki.net.wide_area` moves them between the nodes and :mod:`juki.issuance.service` issues.

* :class:`WideAreaRequest` -- 広域交付の請求 (交付地 → 住所地): the 住所地's code; the requester as the
  交付地's clerk identified them with a photo identity document (their 住民票コード when a 個人番号カード
  was read, and always 氏名, 生年月日 and 住所 as on the document); 世帯全員 (the requester's household) or
  the subjects (each by 住民票コード, or by 氏名 + 生年月日 + 住所: NET-4's keys, the address defaulting to
  the requester's); the optional items and layout; the purpose; the 交付地's request id, its code and the
  clerk.  Never a 個人番号.
* :class:`WideAreaAnswer` -- 広域交付住民票情報 (住所地 → 交付地): what the copy prints, person by person
  (:class:`WideAreaPerson`), the history lines asked for, 世帯全員 or 一部, the 住所地's reference of the
  send.  It has no field for 本籍・筆頭者, the 住民票コード or the 個人番号 (12条の4: a 広域交付 copy never
  shows them) and none for the 宛名番号: persons are named by references of the send (``W…-1``).

The 12条の4 rules themselves (a 住民票の写し only, in person, no 代理人, photo identity, the person or the
same 世帯, never 本籍・筆頭者 / 住民票コード / 個人番号) are :func:`juki.domain.certificate_requests.check`'s
path ``wide_area``: the 交付地 runs them before it asks (the relation to the subjects is the 住所地's to
decide, so it checks with the relation left open), and the 住所地 runs them again on its register with
the relations it finds, followed by the DV 支援措置 screening (SEC-8).  A node never trusts another's check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from . import certificate_requests as cr
from . import identifiers
from .certificates import CertificateKind, Document, HistoryLine, Items, Layout, canonical_json
from .changes import from_json
from .errors import InvalidInput, Problem, Problems, RuleViolation
from .model import (
    Address,
    ForeignResidentItems,
    FuriganaStatus,
    HouseholdRecord,
    PersonRecord,
    Sex,
    Status,
    to_json,
)

REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
"""The 交付地's request id: the idempotency key of one request at the 住所地."""

ANSWER_REF = re.compile(r"W[0-9A-Z]{11}")
"""The 住所地's reference of one send (広域交付住民票情報の送信): ``W`` + 11 Crockford base32 characters."""

MAX_SUBJECTS = 99
"""At most this many persons on one 広域交付 copy (person references are ``<answer_ref>-<n>``, 16 characters)."""

NEVER_SENT = ("domicile", "juminhyo_code", "individual_number")
"""Items a 広域交付 copy never shows (12条の4): the 住所地 does not even send them."""

SOURCES = ("register", "buffer")
"""Where the 住所地 answered from: its register, or (NET-12) the 中間サーバ's buffer while the register was offline."""

SEND_RECORD_YEARS = 7
"""The 住所地 keeps each send record (a provision record, NET-11) this many years from the send."""

ANSWER_KEEP_DAYS = (1, 30)
"""The answer kept with a send record (for a repeated request id) is blanked after a setting within these
days (default the first): a repeat after that is refused (``NET-3/request-id-expired``)."""


def record_cutoff(now: dt.datetime) -> dt.datetime:
    """Send records made before this instant are past their 7 years (NET-11) and may be deleted."""
    try:
        return now.replace(year=now.year - SEND_RECORD_YEARS)
    except ValueError:  # 29 February
        return now.replace(year=now.year - SEND_RECORD_YEARS, day=28)


def _blank(text: str) -> bool:
    return not text or not text.strip()


# --- the request -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonKey:
    """How the 交付地 names a person to the 住所地 (NET-4's keys): the 住民票コード (read from the
    個人番号カード), or 氏名 + 生年月日 + 住所 as on the photo identity document.  The name may be given in
    kanji or in katakana."""

    juminhyo_code: str = ""
    name: str = ""
    name_kana: str = ""
    birth_date: dt.date | None = None
    address: str = ""

    @property
    def by_code(self) -> bool:
        return bool(self.juminhyo_code)

    def problems(self, prefix: str, *, stated: bool = False) -> list[Problem]:
        """What is missing or malformed.  ``stated``: the requester, whose 氏名, 生年月日 and 住所 are always
        recorded as the document shows them (the 住民票コード, when read from a card, comes on top)."""
        bad = Problems()
        if self.juminhyo_code and (p := identifiers.juminhyo_code_problem(self.juminhyo_code, f"{prefix}.juminhyo_code")):
            bad.extend([p])
        if stated or not self.juminhyo_code:
            if _blank(self.name):
                bad.add(f"{prefix}.name", "NET-4/minimum", "氏名を記入してください（本人確認書類のとおり）。",
                        "The name is required (as on the identity document).")
            if self.birth_date is None:
                bad.add(f"{prefix}.birth_date", "NET-4/minimum", "生年月日を記入してください（住民票コードがないときは氏名・生年月日・住所で特定します）。",
                        "The birth date is required (without a resident record code a person is named by name, birth date and address).")
            if _blank(self.address):
                bad.add(f"{prefix}.address", "NET-4/minimum", "住所を記入してください（本人確認書類のとおり）。",
                        "The address is required (as on the identity document).")
        return bad.items

    def label(self) -> str:
        """How the key is shown in a message (never the 住民票コード)."""
        return self.name or "（住民票コードで指定）"


@dataclass(frozen=True)
class WideAreaRequest:
    """広域交付の請求 (12条の4): made at the 交付地's counter, sent to the 住所地.

    The counter gives the first fields; :meth:`sent` adds the 交付地's request id, its code and the
    clerk before it leaves."""

    residence_lg_code: str  # 住所地 地方公共団体コード
    requester: PersonKey  # 請求者, as identified at the counter (photo ID)
    identity: tuple[cr.IdentityDocument, ...] = ()  # 本人確認書類 seen (a photo document, 12条の4)
    whole_household: bool = False  # 世帯全員 (the requester's household) / 一部
    subjects: tuple[PersonKey, ...] = ()  # 一部: the persons; none → the requester alone
    items: Items = field(default_factory=Items)
    layout: Layout | None = None  # None: 世帯連記式
    purpose: str = ""  # 使用目的・提出先 (printed when given)
    request_id: str = ""  # the 交付地's request id (idempotency at the 住所地)
    issuing_lg_code: str = ""  # 交付地 地方公共団体コード (must be the calling node)
    operator: str = ""  # the clerk at the 交付地 (for the 住所地's audit log)

    def sent(self, *, request_id: str, issuing_lg_code: str, operator: str) -> WideAreaRequest:
        """The request as it leaves the 交付地: subjects' blank addresses are the requester's (a subject
        lives in the requester's 世帯 anyway)."""
        subjects = tuple(s if s.juminhyo_code or s.address.strip() else dataclasses.replace(s, address=self.requester.address)
                         for s in self.subjects)
        return dataclasses.replace(self, subjects=subjects, request_id=request_id, issuing_lg_code=issuing_lg_code,
                                   operator=operator[:64])

    def certificate_request(self, subject_ids: tuple[str, ...], *, requester_person_id: str = "",
                            issuing_lg_code: str | None = None) -> cr.CertificateRequest:
        """The 12条の4 request as :func:`juki.domain.certificate_requests.check` takes it."""
        r = self.requester
        return cr.CertificateRequest(
            kind=CertificateKind.RESIDENT_COPY, subject_ids=subject_ids, path=cr.Path.WIDE_AREA,
            requester=cr.Person(name=r.name, name_kana=r.name_kana, birth_date=r.birth_date, address=r.address,
                                person_id=requester_person_id),
            identity=self.identity, items=self.items, layout=self.layout, purpose=self.purpose,
            channel=cr.Channel.COUNTER, wide_area_from=issuing_lg_code if issuing_lg_code is not None else self.issuing_lg_code)

    def shape_problems(self) -> list[Problem]:
        """What is missing or malformed in the counter's part (:class:`InvalidInput`)."""
        bad = Problems()
        if p := identifiers.lg_code_problem(self.residence_lg_code, "residence_lg_code"):
            bad.extend([Problem(p.field, p.rule, f"住所地の{p.ja}", f"Municipality of residence: {p.en}")])
        bad.extend(self.requester.problems("requester", stated=True))
        for i, s in enumerate(self.subjects):
            bad.extend(s.problems(f"subjects[{i}]"))
        if self.whole_household and self.subjects:
            bad.add("subjects", "REG-CERT/wide-area", "世帯全員のときは対象者を個別に指定しません。",
                    "Name no subjects when the whole household is asked for.")
        if len(self.subjects) > MAX_SUBJECTS:
            bad.add("subjects", "REG-CERT/wide-area", f"一通に記載できるのは{MAX_SUBJECTS}人までです。",
                    f"At most {MAX_SUBJECTS} persons per copy.")
        return bad.items

    def check(self, issuing_lg_code: str) -> WideAreaRequest:
        """The 交付地's check before it asks (every problem at once): the shape, then 12条の4 -- a 住民票の
        写し, in person, photo identity, never 本籍・筆頭者 / 住民票コード / 個人番号, not at the 住所地 itself
        -- with the relation to the subjects left to the 住所地."""
        bad = self.shape_problems()
        if bad:
            raise InvalidInput(bad)
        probe = self.certificate_request(("-",), issuing_lg_code=issuing_lg_code)
        facts = cr.Facts((cr.SubjectFacts("-", Status.RESIDENT, cr.Relation.SELF),), self.residence_lg_code)
        try:
            cr.check(probe, facts)
        except (InvalidInput, RuleViolation) as e:
            raise type(e)(_counter_field(p) for p in e.problems) from None
        return self

    def message_problems(self) -> list[Problem]:
        """What the 住所地 refuses before reading its register: the counter's part, and the request id."""
        bad = Problems()
        bad.extend(self.shape_problems())
        if not REQUEST_ID.fullmatch(self.request_id):
            bad.add("request_id", "NET-3/format", "交付地の請求番号の形式が正しくありません。", "The request id is malformed.")
        if p := identifiers.lg_code_problem(self.issuing_lg_code, "issuing_lg_code"):
            bad.extend([p])
        return bad.items

    def digest(self) -> str:
        """SHA-256 of the request's canonical JSON without the clerk: a request id names one request, not
        another (a colleague may issue what another previewed)."""
        return _sha256(to_json(dataclasses.replace(self, operator="")))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        return data

    @staticmethod
    def from_json(data: Any, path: str = "") -> WideAreaRequest:
        result = from_json(WideAreaRequest, data, path)
        assert isinstance(result, WideAreaRequest)
        return result


def _counter_field(p: Problem) -> Problem:
    """A problem of the probe request, named by the counter's field (``subject_ids`` are ``subjects``)."""
    if p.field.startswith("subject_ids"):
        return Problem("subjects", p.rule, p.ja, p.en)
    if p.field == "wide_area_from":
        return Problem("residence_lg_code", p.rule, p.ja, p.en)
    return p


# --- the answer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WideAreaPerson:
    """One person of 広域交付住民票情報: what a 住民票の写し prints of them (REG-CERT), and the requester's
    relation to them.  世帯主・続柄 and the foreign-resident items only when asked; never 本籍・筆頭者, the
    住民票コード, the 個人番号 or the 宛名番号 (``ref`` names the person within this send)."""

    ref: str  # <answer_ref>-<n>
    relation: cr.Relation  # of the requester to this person (本人 / 同一世帯)
    name: str
    name_kana: str | None
    furigana_status: FuriganaStatus
    birth_date: dt.date
    sex: Sex
    address: Address
    address_since: dt.date
    resident_since: dt.date
    address_notified_on: dt.date
    previous_address: Address | None = None  # 異動前住所 is printed from it
    address_before_move_in: Address | None = None  # 転入前住所
    former_surname: str = ""
    former_surname_kana: str = ""
    alias: str = ""
    alias_kana: str = ""
    head_name: str = ""  # 世帯主 (asked)
    relationship: str = ""  # 続柄 (asked)
    foreign: ForeignResidentItems | None = None  # 国籍・地域 / 在留資格等 (asked)

    def record(self, household_id: str) -> PersonRecord:
        """The person as a :class:`PersonRecord` for the 交付地's document: no 本籍, 住民票コード or 個人番号."""
        return PersonRecord(
            person_id=self.ref, household_id=household_id, status=Status.RESIDENT, name=self.name,
            name_kana=self.name_kana, furigana_status=self.furigana_status, birth_date=self.birth_date, sex=self.sex,
            relationship=self.relationship, head_name=self.head_name, address=self.address,
            address_since=self.address_since, resident_since=self.resident_since,
            address_notified_on=self.address_notified_on, previous_address=self.previous_address,
            address_before_move_in=self.address_before_move_in, juminhyo_code="", individual_number=None,
            former_surname=self.former_surname, former_surname_kana=self.former_surname_kana, alias=self.alias,
            alias_kana=self.alias_kana, foreign=self.foreign)


def wide_area_person(p: PersonRecord, ref: str, relation: cr.Relation, items: Items) -> WideAreaPerson:
    """What the 住所地 sends of ``p`` for a copy with ``items``: only what the form prints."""
    foreign = None
    if p.foreign is not None and items.residence_status:
        foreign = dataclasses.replace(p.foreign, roman_name="",
                                      nationality=p.foreign.nationality if items.nationality else "")
    elif p.foreign is not None and items.nationality:
        foreign = ForeignResidentItems(nationality=p.foreign.nationality, category="")
    return WideAreaPerson(
        ref=ref, relation=relation, name=p.name, name_kana=p.name_kana, furigana_status=p.furigana_status,
        birth_date=p.birth_date, sex=p.sex, address=p.address, address_since=p.address_since,
        resident_since=p.resident_since, address_notified_on=p.address_notified_on, previous_address=p.previous_address,
        address_before_move_in=p.address_before_move_in, former_surname=p.former_surname,
        former_surname_kana=p.former_surname_kana, alias=p.alias, alias_kana=p.alias_kana,
        head_name=p.head_name if items.head_of_household else "", relationship=p.relationship if items.relationship else "",
        foreign=foreign)


@dataclass(frozen=True)
class WideAreaAnswer:
    """広域交付住民票情報: the 住所地's answer to one :class:`WideAreaRequest`."""

    answer_ref: str  # the 住所地's reference of this send
    request_id: str  # the 交付地's request id it answers
    residence_lg_code: str  # 住所地
    residence_name: str
    issuing_lg_code: str  # 交付地
    as_of: dt.date  # the register's day the content is of
    items: Items
    layout: Layout
    whole_household: bool  # 世帯全員 (else 世帯の一部)
    household_address: Address  # printed in the 世帯連記式 header
    persons: tuple[WideAreaPerson, ...]
    history: tuple[HistoryLine, ...] = ()  # 異動履歴 (asked), each line naming its person's ref
    source: str = "register"  # register | buffer: answered from the 中間サーバ's buffer, the register offline (NET-12)
    synced_at: dt.datetime | None = None  # buffer: every change committed before this instant is in the answer

    def problems(self, request: WideAreaRequest, residence_node: str) -> list[Problem]:
        """Whether this answers ``request`` sent to ``residence_node`` (the 交付地 prints nothing else): the
        same request id, codes, items and layout; persons named by references of this send; nothing that
        was not asked."""
        bad = Problems()

        def wrong(name: str, ja: str, en: str) -> None:
            bad.add(name, "NET-3/answer", f"住所地からの応答が請求と一致しません（{ja}）。", f"The answer does not match the request ({en}).")

        if self.request_id != request.request_id:
            wrong("request_id", "請求番号", "request id")
        if self.residence_lg_code != residence_node:
            wrong("residence_lg_code", "住所地", "municipality of residence")
        if self.issuing_lg_code != request.issuing_lg_code:
            wrong("issuing_lg_code", "交付地", "issuing municipality")
        if self.items != request.items or any(getattr(self.items, n) for n in NEVER_SENT):
            wrong("items", "記載事項", "items")
        if self.layout is not (request.layout or Layout.HOUSEHOLD):
            wrong("layout", "様式", "layout")
        if request.whole_household and not self.whole_household:
            wrong("whole_household", "世帯全員", "whole household")
        if not ANSWER_REF.fullmatch(self.answer_ref):
            wrong("answer_ref", "送信番号", "answer reference")
        refs = [p.ref for p in self.persons]
        if not refs or len(set(refs)) != len(refs) or len(refs) > MAX_SUBJECTS or \
                any(r != f"{self.answer_ref}-{i}" for i, r in enumerate(refs, start=1)):
            wrong("persons", "対象者", "persons")
        if not request.whole_household and len(refs) != max(1, len(request.subjects)):
            wrong("persons", "対象者の人数", "number of persons")
        if any(p.relation not in (cr.Relation.SELF, cr.Relation.HOUSEHOLD) for p in self.persons):
            wrong("persons", "請求者との関係", "relation to the requester")
        if self.source not in SOURCES or (self.source == "buffer") != (self.synced_at is not None):
            wrong("source", "応答の出所", "source")
        if self.history and not self.items.history:
            wrong("history", "異動履歴", "history")
        if any(line.person_id not in refs for line in self.history):
            wrong("history", "異動履歴の対象者", "history subjects")
        return bad.items

    def document(self, *, municipality: str, lg_code: str, mayor: str, issued_on: dt.date, certificate_id: str,
                 purpose: str) -> Document:
        """The 住民票の写し the 交付地 issues: its own name, code and mayor; the 住所地's persons."""
        persons = tuple(p.record(self.answer_ref) for p in self.persons)
        members = tuple(p.ref for p in self.persons)
        if not self.whole_household:  # the household has others: 世帯の一部 (their data is not sent)
            members += (f"{self.answer_ref}-0",)
        household = HouseholdRecord(household_id=self.answer_ref, head_id=None, member_ids=members,
                                    address=self.household_address, formed_on=self.as_of)
        return Document(kind=CertificateKind.RESIDENT_COPY, layout=self.layout, items=self.items, persons=persons,
                        household=household, history=self.history, municipality=municipality, lg_code=lg_code,
                        mayor=mayor, issued_on=issued_on, certificate_id=certificate_id, purpose=purpose)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        return data

    @staticmethod
    def from_json(data: Any) -> WideAreaAnswer:
        result = from_json(WideAreaAnswer, data, "answer")
        assert isinstance(result, WideAreaAnswer)
        return result

    def digest(self) -> str:
        return _sha256(self.to_json())


def _sha256(data: Any) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()
