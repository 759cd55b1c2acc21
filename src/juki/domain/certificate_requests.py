"""Who may get which certificate (REG-CERT, SEC-8): the request paths and their checks, pure and stdlib only.

A :class:`CertificateRequest` says what is asked (kind, subjects, optional items), by whom (請求者, and the
代理人 standing at the counter), on which legal path, for what purpose, and how identity was checked.  The
service (``juki.issuance.service``) reads the register and hands :func:`check` the :class:`Facts` it needs
(each subject's status and the requester's relation to them); :func:`check` refuses with every problem at
once, each naming the field and the rule, or returns what may be printed.  DV 支援措置 screening is the
access layer's (:func:`juki.access.policy.check_request`), called by the service for every person the
request is made by or for.

The paths, as this module applies them (住民基本台帳法):

=============== ======================================================================================
path            rule
=============== ======================================================================================
``self``        **12条** 本人・同一世帯: every subject is the requester or a member of the requester's 世帯
                at the time of the request (for a 除票 or 転出証明書: was a member of the household the
                subject left, 15条の4第1項).  Identity checked (12条3項: one photo document, or two
                others).  May ask for 本籍・筆頭者, 世帯主・続柄, 住民票コード and 個人番号 (12条5項: the
                個人番号 only on this specific request, never on anyone else's).  A 代理人 needs a 委任状;
                a copy with the 個人番号 asked for by a 代理人 is not handed over but mailed to the
                subject's registered address (the common practice, so that the number reaches only the
                person).  住民票コード通知書: the person only.  転出証明書: the persons who moved out on
                the 転出届.  印鑑登録証明書: whoever presents the 印鑑登録証 (an agent needs no 委任状).
``public_body`` **12条の2** 国・地方公共団体の機関: the office, the official responsible, the statute and the
                purpose are stated; never the 個人番号 or the 住民票コード.
``third_party`` **12条の3** 第三者: a stated reason (自己の権利行使・義務履行, 国等への提出, その他正当な理由,
                or a 特定事務受任者 -- 弁護士, 司法書士, 土地家屋調査士, 税理士, 社会保険労務士, 弁理士,
                海事代理士, 行政書士 -- with the number of the 職務上請求書) and its concrete
                circumstances; no reason, no certificate.  Never the 個人番号 or the 住民票コード;
                本籍・筆頭者, 世帯主・続柄 and the foreign-resident items only with a stated need.
``wide_area``   **12条の4** 広域交付: a 住民票の写し only, asked in person at another municipality (the
                交付地, named by its code) by the person or a member of the same 世帯 -- no 代理人, no
                mail -- with a photo identity document; never 本籍・筆頭者, 住民票コード or 個人番号.
=============== ======================================================================================

コンビニ交付 (channel ``kiosk``) is the ``self`` path authenticated by the resident's card and PIN; it
offers 住民票の写し (self or 世帯), 記載事項証明書 and 印鑑登録証明書, never with the 個人番号 or the
住民票コード (the kiosk's form does not offer them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .certificates import ITEM_JA, LAYOUTS, CertificateKind, Items, Layout, default_layout
from .changes import from_json
from .errors import InvalidInput, Problem, Problems, RuleViolation
from .model import RemovalReason, Status


class Path(StrEnum):
    """請求の根拠: which article of the 住民基本台帳法 the request is made under."""

    SELF = "self"  # 本人等の請求 (12条, 15条の4第1項)
    PUBLIC_BODY = "public_body"  # 国又は地方公共団体の機関の請求 (12条の2, 15条の4第2項)
    THIRD_PARTY = "third_party"  # 本人等以外の者の申出 (12条の3, 15条の4第3項)
    WIDE_AREA = "wide_area"  # 広域交付 (12条の4)

    @property
    def ja(self) -> str:
        return PATH_JA[self]


PATH_JA: dict[Path, str] = {
    Path.SELF: "本人等の請求（住基法12条）",
    Path.PUBLIC_BODY: "国・地方公共団体の機関の請求（住基法12条の2）",
    Path.THIRD_PARTY: "第三者の申出（住基法12条の3）",
    Path.WIDE_AREA: "広域交付（住基法12条の4）",
}


class Reason(StrEnum):
    """第三者請求の事由 (12条の3第1項各号, 第2項)."""

    OWN_RIGHTS = "own_rights"  # 自己の権利を行使し、又は自己の義務を履行するために必要
    SUBMIT_TO_PUBLIC_BODY = "submit_to_public_body"  # 国又は地方公共団体の機関に提出する必要
    OTHER_LEGITIMATE = "other_legitimate"  # その他住民票の記載事項を利用する正当な理由
    PROFESSIONAL = "professional"  # 特定事務受任者 (弁護士等) の職務上請求 (12条の3第2項)

    @property
    def ja(self) -> str:
        return REASON_JA[self]


REASON_JA: dict[Reason, str] = {
    Reason.OWN_RIGHTS: "自己の権利行使又は義務履行のため",
    Reason.SUBMIT_TO_PUBLIC_BODY: "国又は地方公共団体の機関に提出するため",
    Reason.OTHER_LEGITIMATE: "その他正当な理由",
    Reason.PROFESSIONAL: "特定事務受任者の職務上請求",
}

PROFESSIONS: tuple[str, ...] = ("弁護士", "司法書士", "土地家屋調査士", "税理士", "社会保険労務士", "弁理士",
                                "海事代理士", "行政書士")
"""特定事務受任者 (12条の3第2項), who request with a 職務上請求書."""


class Channel(StrEnum):
    """How the request arrives and the certificate leaves: at the counter, by mail, at a kiosk."""

    COUNTER = "counter"  # 窓口
    MAIL = "mail"  # 郵送請求 (the certificate is mailed)
    KIOSK = "kiosk"  # コンビニ交付

    @property
    def ja(self) -> str:
        return {"counter": "窓口", "mail": "郵送", "kiosk": "コンビニ交付"}[self.value]


class Relation(StrEnum):
    """The requester's relation to one subject, as the register shows it at the time of the request."""

    SELF = "self"  # 本人
    HOUSEHOLD = "household"  # 同一世帯 (or, for a 除票 / 転出証明書, the household the subject left)
    NONE = "none"  # 第三者

    @property
    def ja(self) -> str:
        return {"self": "本人", "household": "同一世帯員", "none": "第三者"}[self.value]


PHOTO_DOCUMENTS: dict[str, str] = {
    "individual_number_card": "個人番号カード",
    "drivers_license": "運転免許証",
    "passport": "旅券",
    "residence_card": "在留カード",
    "special_permanent_resident_certificate": "特別永住者証明書",
    "professional_id": "資格者証（写真付き）",
    "other_photo_id": "官公署発行の写真付き証明書",
}
"""本人確認書類 with a photo: one suffices (住基法12条3項, 同法施行規則)."""

OTHER_DOCUMENTS: dict[str, str] = {
    "health_insurance": "健康保険の資格確認書等",
    "pension_book": "年金手帳・基礎年金番号通知書",
    "other": "その他の書類",
}
"""本人確認書類 without a photo: two are needed."""

CARD_AUTHENTICATION = "card_pin"
"""コンビニ交付: the card's key and its PIN (利用者証明用電子証明書 stand-in); set by the kiosk service."""


@dataclass(frozen=True)
class IdentityDocument:
    """One 本人確認書類 seen at the counter (or its copy with a mailed request): the kind and the number
    as noted (the number of a 個人番号カード is never noted; only its presence)."""

    kind: str
    note: str = ""

    @property
    def photo(self) -> bool:
        return self.kind in PHOTO_DOCUMENTS or self.kind == CARD_AUTHENTICATION

    @property
    def ja(self) -> str:
        if self.kind == CARD_AUTHENTICATION:
            return "カード及び暗証番号"
        return PHOTO_DOCUMENTS.get(self.kind) or OTHER_DOCUMENTS.get(self.kind) or self.kind


@dataclass(frozen=True)
class Person:
    """請求者 / 依頼者 / 代理人 as stated on the request form: name (and kana), birth date, address; the
    宛名番号 when the clerk found them on this register."""

    name: str
    name_kana: str = ""
    birth_date: dt.date | None = None
    address: str = ""
    person_id: str = ""
    organisation: str = ""  # 法人名 (a company asking as third party), 事務所名 (a professional)


@dataclass(frozen=True)
class PublicBody:
    """12条の2: the office, its official responsible for the request (職名・氏名) and the statute."""

    office: str  # 請求をする国等の機関の名称
    officer: str  # 請求事務の責任者の職名及び氏名
    statute: str  # 法令で定める事務の根拠となる法令の条項


@dataclass(frozen=True)
class Professional:
    """12条の3第2項: a 特定事務受任者 asking with a 職務上請求書."""

    qualification: str  # one of PROFESSIONS
    registration_number: str  # 登録番号
    form_number: str  # 職務上請求書の番号
    client: str = ""  # 依頼者 (may be withheld for 紛争処理手続の代理業務, 12条の3第4項)


@dataclass(frozen=True)
class CertificateRequest:
    """One request for one certificate (交付請求)."""

    kind: CertificateKind
    subject_ids: tuple[str, ...]  # 宛名番号 of the persons to certify, in print order
    path: Path
    requester: Person  # 請求者 (the person, the household member, the company, the professional, the office)
    identity: tuple[IdentityDocument, ...] = ()  # 本人確認書類 of whoever stands at the counter
    items: Items = field(default_factory=Items)
    layout: Layout | None = None  # None: the kind's default (世帯連記式 for 住民票の写し)
    purpose: str = ""  # 使用目的・提出先 (printed when given)
    channel: Channel = Channel.COUNTER
    agent: Person | None = None  # 代理人 at the counter
    proxy_letter: bool = False  # 委任状 presented by the 代理人
    reason: Reason | None = None  # 第三者請求の事由
    reason_detail: str = ""  # 請求事由の具体的内容
    items_reason: str = ""  # why a third party needs 本籍・筆頭者 / 世帯主・続柄 / 外国人住民の事項
    on_behalf_of: Person | None = None  # 依頼者: for whom the certificate is wanted (screened for 支援措置)
    public_body: PublicBody | None = None
    professional: Professional | None = None
    wide_area_from: str = ""  # 広域交付: the 交付地 municipality's code
    seal_card_number: str = ""  # 印鑑登録証 presented

    @property
    def effective_layout(self) -> Layout:
        return self.layout or default_layout(self.kind)

    def screened_persons(self) -> tuple[Person, ...]:
        """Everyone a 支援措置 must be checked against (SEC-8): the requester, the 代理人 and the 依頼者."""
        return tuple(p for p in (self.requester, self.agent, self.on_behalf_of) if p is not None)


@dataclass(frozen=True)
class SubjectFacts:
    """What the register says about one subject, at the time of the request."""

    person_id: str
    status: Status
    relation: Relation  # of the requester to this subject
    removal_reason: RemovalReason | None = None
    is_foreign: bool = False


@dataclass(frozen=True)
class Facts:
    """What :func:`check` needs from the register besides the request."""

    subjects: tuple[SubjectFacts, ...]
    lg_code: str  # this municipality (住所地)
    seal_card_valid: bool = False  # the 印鑑登録証 presented belongs to the subject's effective registration


@dataclass(frozen=True)
class Checked:
    """A request that may be granted: what is printed, and the record of why."""

    kind: CertificateKind
    layout: Layout
    items: Items
    relations: tuple[Relation, ...]
    mail_to_subject: bool = False  # must be mailed to the subject's registered address (個人番号 via 代理人)


# --- parsing ---------------------------------------------------------------------------------------


def request_from_json(data: Any) -> CertificateRequest:
    """Parse a request (JSON object); unknown or missing fields, wrong types and unknown members are
    refused, naming the field."""
    try:
        result: CertificateRequest = from_json(CertificateRequest, data, "")
    except InvalidInput as e:
        raise InvalidInput(Problem(p.field or "body", "REG-CERT/request",
                                   p.ja.replace("この届出では受け付けない", "この請求では受け付けない"),
                                   p.en.replace("for this kind of change", "in a certificate request"))
                           for p in e.problems) from None
    return result


# --- the checks ------------------------------------------------------------------------------------

_PUBLIC_KINDS = frozenset({CertificateKind.RESIDENT_COPY, CertificateKind.ENTRY_CERTIFICATE,
                           CertificateKind.REMOVED_COPY})
_KIOSK_KINDS = frozenset({CertificateKind.RESIDENT_COPY, CertificateKind.ENTRY_CERTIFICATE, CertificateKind.SEAL})
_NEED_STATED = ("domicile", "head_of_household", "relationship", "nationality", "residence_status")
"""Items a third party gets only with a stated need (基礎証明事項 are the rest)."""


def check(request: CertificateRequest, facts: Facts) -> Checked:
    """Refuse the request (every problem at once: :class:`InvalidInput` for what is missing or malformed,
    then :class:`RuleViolation` for what the law does not allow), or say what may be printed."""
    _shape(request, facts).raise_if_any(InvalidInput)
    bad = Problems()
    _kind_and_channel(request, bad)
    {Path.SELF: _self, Path.PUBLIC_BODY: _public_body, Path.THIRD_PARTY: _third_party,
     Path.WIDE_AREA: _wide_area}[request.path](request, facts, bad)
    bad.raise_if_any(RuleViolation)
    mail_to_subject = (request.path is Path.SELF and request.agent is not None
                       and request.items.individual_number and request.kind is not CertificateKind.MOVE_OUT)
    return Checked(request.kind, request.effective_layout, request.items,
                   tuple(s.relation for s in facts.subjects), mail_to_subject)


def _blank(text: str) -> bool:
    return not text or not text.strip()


def _shape(r: CertificateRequest, facts: Facts) -> Problems:
    """What is missing or malformed, whatever the path."""
    bad = Problems()
    if not r.subject_ids:
        bad.add("subject_ids", "REG-CERT/subjects", "証明する住民（宛名番号）を指定してください。",
                "Name the persons to certify (subject_ids).")
    if len(set(r.subject_ids)) != len(r.subject_ids):
        bad.add("subject_ids", "REG-CERT/subjects", "同じ住民が重複しています。", "A subject appears twice.")
    if {s.person_id for s in facts.subjects} != set(r.subject_ids):  # pragma: no cover - the service's duty
        bad.add("subject_ids", "REG-CERT/subjects", "住民の情報が揃っていません。", "The facts do not match the subjects.")
    if _blank(r.requester.name) and _blank(r.requester.organisation):
        bad.add("requester.name", "REG-CERT/requester", "請求者の氏名（法人名）を記入してください（住基法12条2項）。",
                "The requester's name (or organisation) is required.")
    if r.layout is not None and r.layout not in LAYOUTS[r.kind]:
        allowed = "・".join(x.ja for x in LAYOUTS[r.kind])
        bad.add("layout", "REG-CERT/layout", f"{r.kind.ja}は{allowed}で作成します。",
                f"A {r.kind.value} is printed as {'/'.join(x.value for x in LAYOUTS[r.kind])}.")
    for i, doc in enumerate(r.identity):
        if doc.kind not in PHOTO_DOCUMENTS and doc.kind not in OTHER_DOCUMENTS and doc.kind != CARD_AUTHENTICATION:
            known = ", ".join([*PHOTO_DOCUMENTS, *OTHER_DOCUMENTS])
            bad.add(f"identity[{i}].kind", "REG-CERT/identity", f"本人確認書類の種類が不明です: {doc.kind}",
                    f"Unknown identity document {doc.kind!r}; known: {known}.")
    if r.agent is not None and _blank(r.agent.name):
        bad.add("agent.name", "REG-CERT/agent", "代理人の氏名を記入してください。", "The agent's name is required.")
    return bad


def _kind_and_channel(r: CertificateRequest, bad: Problems) -> None:
    if r.channel is Channel.KIOSK:
        if r.kind not in _KIOSK_KINDS:
            bad.add("kind", "REG-CERT/kiosk", f"{r.kind.ja}はコンビニ交付では取得できません。",
                    f"A {r.kind.value} is not available at a kiosk.")
        for name in ("individual_number", "juminhyo_code"):
            if getattr(r.items, name):
                bad.add(f"items.{name}", "REG-CERT/kiosk", f"コンビニ交付では{ITEM_JA[name]}を記載できません。窓口で請求してください。",
                        f"A kiosk certificate cannot show {name}; ask at the counter.")
        if r.path is not Path.SELF or r.agent is not None:
            bad.add("path", "REG-CERT/kiosk", "コンビニ交付は本人のカードによる本人等の請求に限ります。",
                    "Kiosk issuance is a request by the card holder for themself or their household only.")
        if not any(d.kind == CARD_AUTHENTICATION for d in r.identity):
            bad.add("identity", "REG-CERT/kiosk", "カードと暗証番号による認証がありません。",
                    "The kiosk request lacks the card and PIN authentication.")
    elif any(d.kind == CARD_AUTHENTICATION for d in r.identity):
        bad.add("identity", "REG-CERT/identity", "カード認証はコンビニ交付にだけ使います。",
                "Card authentication is for kiosk requests only.")
    if r.kind is CertificateKind.SEAL and r.path is not Path.SELF:
        bad.add("path", "REG-CERT/seal", "印鑑登録証明書は印鑑登録証を提示した請求に限り交付します。",
                "A 印鑑登録証明書 is issued only on presenting the 印鑑登録証.")
    if r.kind is not CertificateKind.SEAL and r.seal_card_number:
        bad.add("seal_card_number", "REG-CERT/seal", "印鑑登録証は印鑑登録証明書の請求にだけ使います。",
                "The 印鑑登録証 is only for a 印鑑登録証明書 request.")
    # parts that belong to another path are refused, so that the log never records a muddle
    for name, value, path in (("reason", r.reason, Path.THIRD_PARTY), ("professional", r.professional, Path.THIRD_PARTY),
                              ("public_body", r.public_body, Path.PUBLIC_BODY),
                              ("wide_area_from", r.wide_area_from, Path.WIDE_AREA)):
        if value and r.path is not path:
            bad.add(name, "REG-CERT/path", f"この項目は{path.ja}にだけ記入します。",
                    f"{name} belongs to a {path.value} request only.")


def _identity(r: CertificateRequest, bad: Problems, *, photo_only: bool = False) -> None:
    """12条3項: who stands at the counter shows one photo document or two others; a mailed request
    encloses a copy of one."""
    docs = r.identity
    photos = sum(1 for d in docs if d.photo)
    if r.channel is Channel.MAIL:
        ok = bool(docs)
    elif photo_only:
        ok = photos >= 1
    else:
        ok = photos >= 1 or len(docs) >= 2
    if not ok:
        if photo_only:
            ja = "広域交付には写真付きの本人確認書類（個人番号カード、運転免許証等）の提示が必要です（住基法12条の4）。"
            en = "広域交付 needs a photo identity document (個人番号カード, driving licence, ...) (12条の4)."
        elif r.channel is Channel.MAIL:
            ja = "郵送請求には本人確認書類の写しの同封が必要です。"
            en = "A mailed request must enclose a copy of an identity document."
        else:
            ja = "本人確認書類の提示が必要です（写真付き1点、又はその他の書類2点）（住基法12条3項）。"
            en = "Identity must be shown: one photo document or two others (12条3項)."
        bad.add("identity", "REG-CERT/identity", ja, en)


def _no_numbers(r: CertificateRequest, bad: Problems, rule_ja: str, rule_en: str) -> None:
    if r.items.individual_number:
        bad.add("items.individual_number", "REG-CERT/number-self-only",
                f"個人番号は本人又は同一世帯員の請求によってのみ記載します（住基法12条5項）。{rule_ja}",
                f"The 個人番号 is printed only on the person's (or household's) own request. {rule_en}")
    if r.items.juminhyo_code:
        bad.add("items.juminhyo_code", "REG-CERT/code-self-only",
                f"住民票コードは本人等の請求によってのみ記載します。{rule_ja}",
                f"The 住民票コード is printed only on the person's own request. {rule_en}")


def _relations(facts: Facts, bad: Problems, allowed: set[Relation], ja: str, en: str) -> None:
    for i, s in enumerate(facts.subjects):
        if s.relation not in allowed:
            bad.add(f"subject_ids[{i}]", "REG-CERT/relation", ja, en)


def _self(r: CertificateRequest, facts: Facts, bad: Problems) -> None:
    if r.kind is CertificateKind.SEAL:
        _seal(r, facts, bad)
        return
    if r.channel is not Channel.KIOSK:
        _identity(r, bad)
    if r.agent is not None and not r.proxy_letter:
        bad.add("proxy_letter", "REG-CERT/agent", "代理人による請求には委任状が必要です。",
                "A request by an agent needs a letter of proxy (委任状).")
    if r.kind is CertificateKind.CODE_NOTICE:
        _relations(facts, bad, {Relation.SELF},
                   "住民票コード通知書は本人（又はその代理人）にだけ交付します（住基法30条の3第3項）。",
                   "A 住民票コード通知書 is issued to the person only (30条の3第3項).")
    elif r.kind is CertificateKind.MOVE_OUT:
        _relations(facts, bad, {Relation.SELF, Relation.HOUSEHOLD},
                   "転出証明書は転出届をした本人又は共に転出する世帯員にだけ交付します（住基法施行令23条）。",
                   "A 転出証明書 is issued only to the persons who notified the move-out (施行令23条).")
    else:
        _relations(facts, bad, {Relation.SELF, Relation.HOUSEHOLD},
                   "本人又は同一世帯の方以外は、本人等の請求はできません。第三者請求（正当な理由）として請求してください（住基法12条）。",
                   "Only the person or a member of the same household may request on this path; a third "
                   "party must state a legitimate reason (12条の3).")
    if r.items.individual_number and r.agent is not None and r.channel is Channel.COUNTER \
            and r.kind is not CertificateKind.MOVE_OUT:
        bad.add("channel", "REG-CERT/number-agent",
                "代理人が請求した個人番号入りの証明書は、窓口では渡さず本人の住所へ郵送します（channel=mail）。",
                "A certificate with the 個人番号 asked for by an agent is not handed over; it is mailed to the "
                "person's registered address (channel=mail).")


def _seal(r: CertificateRequest, facts: Facts, bad: Problems) -> None:
    """印鑑登録証明書: whoever presents the 印鑑登録証 (the registrant or an agent, no 委任状 needed)."""
    if _blank(r.seal_card_number):
        bad.add("seal_card_number", "REG-CERT/seal-card", "印鑑登録証の提示が必要です。",
                "The 印鑑登録証 must be presented.")
    elif not facts.seal_card_valid and r.channel is not Channel.KIOSK:
        bad.add("seal_card_number", "REG-CERT/seal-card", "提示された印鑑登録証は、この方の有効な印鑑登録のものではありません。",
                "The 印鑑登録証 presented is not that of this person's effective registration.")
    if r.channel is Channel.KIOSK and not facts.seal_card_valid:
        bad.add("kind", "REG-CERT/seal-card", "有効な印鑑登録がありません。", "There is no effective seal registration.")
    if len(facts.subjects) != 1:
        bad.add("subject_ids", "REG-CERT/seal", "印鑑登録証明書は一人について一通です。",
                "A 印鑑登録証明書 certifies one person.")
    if r.items.names():
        bad.add("items", "REG-CERT/seal", "印鑑登録証明書の記載事項は選べません。", "A 印鑑登録証明書 has no optional items.")


def _public_body(r: CertificateRequest, facts: Facts, bad: Problems) -> None:
    if r.kind not in _PUBLIC_KINDS:
        bad.add("kind", "REG-CERT/public-body", f"{r.kind.ja}は国・地方公共団体の機関の請求では交付しません。",
                f"A {r.kind.value} is not issued on a public body's request.")
    body = r.public_body
    if body is None:
        bad.add("public_body", "REG-CERT/public-body",
                "機関の名称、請求事務の責任者、根拠法令を記入してください（住基法12条の2第2項）。",
                "State the office, the official responsible and the statute (12条の2).")
    else:
        for name, ja in (("office", "機関の名称"), ("officer", "請求事務の責任者の職名・氏名"), ("statute", "根拠となる法令の条項")):
            if _blank(getattr(body, name)):
                bad.add(f"public_body.{name}", "REG-CERT/public-body", f"{ja}を記入してください（住基法12条の2第2項）。",
                        f"public_body.{name} is required (12条の2).")
    if _blank(r.purpose):
        bad.add("purpose", "REG-CERT/public-body", "利用目的を記入してください（住基法12条の2第2項）。",
                "The purpose is required (12条の2).")
    _no_numbers(r, bad, "国・地方公共団体の機関の請求では記載できません。", "Not on a public body's request.")


def _third_party(r: CertificateRequest, facts: Facts, bad: Problems) -> None:
    if r.kind not in _PUBLIC_KINDS:
        bad.add("kind", "REG-CERT/third-party", f"{r.kind.ja}は第三者には交付しません。",
                f"A {r.kind.value} is not issued to a third party.")
    if r.reason is None:
        bad.add("reason", "REG-CERT/third-party-reason",
                "第三者の請求には正当な理由（自己の権利行使・義務履行、国等への提出、その他正当な理由、又は特定事務受任者の職務上請求）が必要です（住基法12条の3）。",
                "A third party must state a legitimate reason (own rights or duties, submission to a public "
                "body, another legitimate reason, or a professional's 職務上請求) (12条の3).")
    elif r.reason is Reason.PROFESSIONAL:
        pro = r.professional
        if pro is None:
            bad.add("professional", "REG-CERT/professional", "特定事務受任者の資格・登録番号・職務上請求書の番号を記入してください。",
                    "A professional's request states the qualification, registration number and 職務上請求書 number.")
        else:
            if pro.qualification not in PROFESSIONS:
                bad.add("professional.qualification", "REG-CERT/professional",
                        f"職務上請求できるのは{'、'.join(PROFESSIONS)}です。",
                        f"Only these may make a 職務上請求: {', '.join(PROFESSIONS)}.")
            for name, ja in (("registration_number", "登録番号"), ("form_number", "職務上請求書の番号")):
                if _blank(getattr(pro, name)):
                    bad.add(f"professional.{name}", "REG-CERT/professional", f"{ja}を記入してください。",
                            f"professional.{name} is required.")
    elif r.professional is not None:
        bad.add("professional", "REG-CERT/path", "職務上請求書は事由 professional の請求にだけ使います。",
                "A 職務上請求書 belongs to a request with reason 'professional'.")
    if r.reason is not None and _blank(r.reason_detail):
        bad.add("reason_detail", "REG-CERT/third-party-reason", "請求事由を具体的に記入してください（住基法12条の3第4項）。",
                "State the circumstances of the reason concretely (12条の3第4項).")
    if _blank(r.purpose):
        bad.add("purpose", "REG-CERT/third-party-reason", "利用目的（提出先）を記入してください。",
                "The purpose (where it will be submitted) is required.")
    _identity(r, bad)
    if r.agent is not None and not r.proxy_letter:
        bad.add("proxy_letter", "REG-CERT/agent", "代理人による請求には委任状が必要です。",
                "A request by an agent needs a letter of proxy (委任状).")
    _no_numbers(r, bad, "第三者の請求では記載できません。", "Not on a third party's request.")
    asked = [n for n in _NEED_STATED if getattr(r.items, n)]
    if asked and _blank(r.items_reason):
        for name in asked:
            bad.add(f"items.{name}", "REG-CERT/third-party-items",
                    f"第三者の請求で{ITEM_JA[name]}を記載するには、それが必要な理由の記入が必要です（items_reason）。",
                    f"A third party gets {name} only with the reason it is needed (items_reason).")


def _wide_area(r: CertificateRequest, facts: Facts, bad: Problems) -> None:
    if r.kind is not CertificateKind.RESIDENT_COPY:
        bad.add("kind", "REG-CERT/wide-area", "広域交付で交付できるのは住民票の写しだけです（住基法12条の4）。",
                "広域交付 issues a 住民票の写し only (12条の4).")
    code = r.wide_area_from
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        bad.add("wide_area_from", "REG-CERT/wide-area", "交付地の地方公共団体コード（6桁）を記入してください。",
                "The issuing municipality's code (6 digits) is required.")
    elif code == facts.lg_code:
        bad.add("wide_area_from", "REG-CERT/wide-area", "住所地の市町村での請求は広域交付ではありません（本人等の請求）。",
                "A request at the municipality of residence is not 広域交付 (use path 'self').")
    if r.channel is not Channel.COUNTER:
        bad.add("channel", "REG-CERT/wide-area", "広域交付は窓口での請求に限ります（郵送不可）。",
                "広域交付 is requested in person at the counter only.")
    if r.agent is not None:
        bad.add("agent", "REG-CERT/wide-area", "広域交付は代理人による請求ができません。",
                "広域交付 cannot be requested by an agent.")
    _identity(r, bad, photo_only=True)
    _relations(facts, bad, {Relation.SELF, Relation.HOUSEHOLD},
               "広域交付は本人又は同一世帯員の住民票の写しに限ります（住基法12条の4）。",
               "広域交付 is for the person's or their household's 住民票の写し only (12条の4).")
    for name in ("domicile", "juminhyo_code", "individual_number"):
        if getattr(r.items, name):
            bad.add(f"items.{name}", "REG-CERT/wide-area", f"広域交付の住民票の写しには{ITEM_JA[name]}を記載できません（住基法12条の4）。",
                    f"A 広域交付 copy cannot show {name} (12条の4).")


def summary(request: CertificateRequest) -> dict[str, Any]:
    """The request as the issuance log keeps it (beside its own columns): identity documents, the public
    body, the professional, the 依頼者, the item reason."""
    out: dict[str, Any] = {"identity": [d.kind for d in request.identity]}
    for name in ("public_body", "professional", "on_behalf_of"):
        value = getattr(request, name)
        if value is not None:
            out[name] = {k: (v.isoformat() if isinstance(v, dt.date) else v)
                         for k, v in dataclasses.asdict(value).items() if v}
    for name in ("reason_detail", "items_reason", "wide_area_from", "proxy_letter"):
        if getattr(request, name):
            out[name] = getattr(request, name)
    return out
