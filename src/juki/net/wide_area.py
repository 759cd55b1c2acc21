"""広域交付 (住民基本台帳法12条の4) over the 住基ネット: the 交付地 asks the 住所地, then issues and signs.

```
交付地 (千葉市)                                                  住所地 (札幌市)
  clerk: 住所地 code, requester (photo ID: 氏名・生年月日・住所, 住民票コード from the card),
         世帯全員 or the subjects, items, purpose
  IssuanceService.issue_wide_area: 12条の4 checked (relation left open)
     ── POST /net/v1/wide-area/copy (mutual TLS, municipality only) ──▶ WideAreaService.answer:
                                                                     the caller is the 交付地 named
                                                                     the requester and subjects found on
                                                                     the register, 12条の4 + 本人等 relation,
                                                                     DV 支援措置 → refusal "refer to 住所地"
                                                                     wide_area_sends row + audit
                                                                     (wide_area.provide, the persons)
     ◀── 広域交付住民票情報 (no 本籍・筆頭者, 住民票コード, 個人番号, 宛名番号) ──
  the 交付地's Document: its name, code and mayor; rendered, signed with its key;
  certificate_issuances (path wide_area, 住所地, answer_ref) + audit certificate.issue
```

At the **住所地**, :class:`WideAreaService` answers (the node route ``wide_area_copy`` of this feature):

1. the request is well formed and its ``issuing_lg_code`` is the calling node's (its certificate);
2. a request id answered before gets the same answer again (decrypted from the send record): recorded
   once, the repeat audited as ``wide_area.provide`` with ``repeat``; another request under the same id is
   refused (``NET-3/request-id``);
3. the requester is found on the register -- by 住民票コード (and then the 氏名 and 生年月日 stated must be
   theirs), or by 氏名 + 生年月日 + 住所 (exactly one current resident) -- and so are the subjects (世帯全員:
   the requester's 世帯);
4. :func:`juki.domain.certificate_requests.check` (path ``wide_area``) with the relations the register
   shows (本人 / 同一世帯), then DV 支援措置 (SEC-8): a request by or for an offender, or about a protected
   person, is refused with ``SEC-8/wide-area``, telling the 交付地 to refer the resident to the 住所地's
   counter; the refusal says nothing about the record;
5. the answer is built (:func:`juki.domain.wide_area.wide_area_person`, the history lines from the
   persons' own versions) and, in one transaction, the ``wide_area_sends`` row and the audit entry
   ``wide_area.provide`` naming the persons are written.

Every refusal at the 住所地 is audited (``wide_area.provide``, outcome denied, the rule).

**The register offline (NET-12).**  A municipality node's database is its register's; the 住基ネット中間サーバ's
buffer (:mod:`juki.net.wide_area_buffer`, a database of its own, kept current by the worker
``wide_area_buffer``) holds what an answer needs.  When the register's database cannot be reached (a
connection-level :data:`UNREACHABLE` error, confirmed by :meth:`WideAreaService.register_reachable`; a
refusal never counts), steps 2--5 run on the buffer instead (:class:`Source`: the same lookups, 12条の4
check and DV screening), the answer says ``source: "buffer"`` and ``synced_at`` (every change committed
before it is in the answer; the buffer refuses ``NET-12/buffer-behind`` when it cannot vouch for that), and
the send, repeat or refusal is journaled in the buffer; :meth:`WideAreaService.reconcile` writes it to
``wide_area_sends`` (``source`` ``buffer``) and the audit log when the register is back.

**Keeping (NET-11).**  :func:`purge_sends`, the municipality's daily housekeeping task ``wide_area_sends``:
the answer kept with a record is blanked after ``JUKI_WIDE_AREA_ANSWER_KEEP_DAYS`` (default 1; a repeat is
then refused ``NET-3/request-id-expired``), the record deleted after 7 years.

At the **交付地**,
:func:`residence_of` is the ``residence`` callable :meth:`juki.issuance.service.IssuanceService.issue_wide_area`
takes: the 住所地 is looked up in ``peers.json`` (unknown: ``NET-2/peer``) and asked over mutual TLS
(unreachable, twice with the same request id: ``NET-2/unavailable``, 503); the 住所地's refusal comes back
as the same error class.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import sqlalchemy as sa
from fastapi import APIRouter, Request

from juki.access.model import Requester
from juki.adapters.db.schema import events
from juki.adapters.db.store import Reads, SearchCriteria, Store
from juki.api.common import json_body
from juki.clock import Clock, jst_date
from juki.config import env_int
from juki.domain import certificate_requests as cr
from juki.domain import wide_area as wa
from juki.domain.certificates import HistoryLine
from juki.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    JukiError,
    NotFound,
    Problem,
    RuleViolation,
    Unavailable,
)
from juki.domain.kana import address_key, kana_key, name_key
from juki.domain.model import HouseholdRecord, PersonRecord, Status
from juki.domain.municipalities import name_of, register_code
from juki.domain.register import Jurisdiction
from juki.domain.wide_area import PersonKey, WideAreaAnswer, WideAreaRequest, wide_area_person
from juki.issuance.service import relation_of, subject_history

from .node import Node, Worker, allow, peer_of
from .pki import Tier
from .services import PeerUnavailable, call, services
from .timers import SYSTEM_USER
from .wide_area_buffer import SyncReport, WideAreaBuffer
from .wide_area_tables import wide_area_purge_active, wide_area_purge_runs, wide_area_sends

log = logging.getLogger("juki.net.wide_area")

ROLES = frozenset({Tier.MUNICIPALITY})
RULES = {"wide_area_copy": allow(Tier.MUNICIPALITY)}
PATH = "/net/v1/wide-area/copy"
ATTEMPTS = 2
"""The 交付地 asks this many times on a transport failure (the same request id: answered once)."""

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def answer_keep_days_setting() -> int:
    """``JUKI_WIDE_AREA_ANSWER_KEEP_DAYS``: how many days the answer itself is kept with a send record (for
    a repeated request id), 1 to 30, default 1 (:data:`juki.domain.wide_area.ANSWER_KEEP_DAYS`)."""
    low, high = wa.ANSWER_KEEP_DAYS
    return env_int("JUKI_WIDE_AREA_ANSWER_KEEP_DAYS", low, low=low, high=high, unit="days")


class Source(Protocol):
    """Where an answer is read from: the register (:class:`_RegisterSource`) or the buffer
    (:class:`juki.net.wide_area_buffer.BufferSource`); :meth:`WideAreaService._build` runs the same rules on either."""

    source: str
    synced_at: dt.datetime | None

    def by_code(self, code: str) -> PersonRecord | None: ...

    def candidates(self, key: PersonKey) -> list[PersonRecord]: ...

    def persons(self, ids: Iterable[str]) -> dict[str, PersonRecord]: ...

    def household(self, household_id: str) -> HouseholdRecord | None: ...

    def history(self, person_id: str) -> tuple[HistoryLine, ...]: ...

    def check_requester(self, person_id: str, requester: Requester) -> None: ...

    def protected(self, person_ids: list[str]) -> set[str]: ...


def new_answer_ref() -> str:
    """``W`` + 11 Crockford base32 characters (55 random bits): the 住所地's reference of one send."""
    return "W" + "".join(secrets.choice(_ALPHABET) for _ in range(11))


def _same_name(p: PersonRecord, key: PersonKey) -> bool:
    """The name stated is this person's: the kanji name (spaces, width, IVS ignored) or the 振り仮名."""
    names = {name_key(key.name)} - {""}
    kanas = {kana_key(x) for x in (key.name, key.name_kana) if x} - {""}
    return name_key(p.name) in names or (bool(p.name_kana) and kana_key(p.name_kana) in kanas)


def _same_address(p: PersonRecord, key: PersonKey) -> bool:
    """The address stated is this person's: the register's address starts with it (方書 may be left out)."""
    stated = address_key(key.address)
    return bool(stated) and address_key(p.address.text).startswith(stated)


UNREACHABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)
"""What a database raises when it cannot be reached (a refused connection, a stopped server, a missing file):
the register is offline, and the buffer answers (NET-12).  A refusal is never one of these."""


class _RegisterSource:
    """The register, as :class:`WideAreaService` reads it for one answer (the buffer is the other source,
    :class:`juki.net.wide_area_buffer.BufferSource`)."""

    source = "register"
    synced_at: dt.datetime | None = None

    def __init__(self, r: Reads, reads: Any) -> None:
        self.r = r
        self.reads = reads  # juki.services.reading.ReadService: 支援措置 screening

    def by_code(self, code: str) -> PersonRecord | None:
        pid = self.r.person_id_by_juminhyo_code(code)
        return self.r.person_current(pid) if pid else None

    def candidates(self, key: PersonKey) -> list[PersonRecord]:
        hits = {h.person_id for criteria in (SearchCriteria(name=key.name, birth_date=key.birth_date, limit=50),
                                             SearchCriteria(kana=key.name_kana or key.name, birth_date=key.birth_date, limit=50))
                for h in self.r.search(criteria)}
        return list(self.r.persons(sorted(hits)).values())

    def persons(self, ids: Iterable[str]) -> dict[str, PersonRecord]:
        return self.r.persons(ids)

    def household(self, household_id: str) -> HouseholdRecord | None:
        return self.r.household_current(household_id)

    def history(self, person_id: str) -> tuple[HistoryLine, ...]:
        return subject_history(self.r, person_id)

    def check_requester(self, person_id: str, requester: Requester) -> None:
        self.reads.check_requester(person_id, requester)

    def protected(self, person_ids: list[str]) -> set[str]:
        found: set[str] = self.reads.protected(person_ids)
        return found


class WideAreaService:
    """The 住所地's side of 広域交付: answers a 交付地's request from this register, or from the buffer while
    the register is offline (see the module docstring)."""

    def __init__(self, store: Store, reads: Any, jurisdiction: Jurisdiction, *, clock: Clock, audit: Any = None,
                 buffer: WideAreaBuffer | None = None, answer_keep_days: int | None = None) -> None:
        self.store = store
        self.reads = reads  # juki.services.reading.ReadService: 支援措置 screening
        self.jurisdiction = jurisdiction
        self.clock = clock
        self.audit = audit
        self.buffer = buffer
        self.answer_keep_days = answer_keep_days or answer_keep_days_setting()
        self._reconciling = threading.Lock()

    @property
    def lg_code(self) -> str:
        return self.jurisdiction.lg_code

    def answer(self, request: WideAreaRequest, *, caller_lg_code: str, user: str, terminal: str = "") -> WideAreaAnswer:
        """広域交付住民票情報 for ``request``, asked by the node ``caller_lg_code`` (``user``: the 交付地's
        clerk as the audit log names them).  From the register; from the buffer when the register's
        database cannot be reached (NET-12)."""
        if caller_lg_code != request.issuing_lg_code:  # audited by the node app as net.denied
            raise Forbidden(Problem("issuing_lg_code", "NET-2/caller", "請求の交付地が通信相手と一致しません。",
                                    "The issuing municipality named is not the node that sent the request."))
        try:
            return self._answer_live(request, user, terminal)
        except UNREACHABLE as e:
            if self.buffer is None or self.register_reachable():
                raise
            log.warning("広域交付: 既存住基に接続できないため中間サーバの保持情報から応答 / register unreachable, "
                        "answering from the buffer: %s", str(e).splitlines()[0][:200])
        return self._answer_buffered(request, user, terminal)

    def register_reachable(self) -> bool:
        """Whether the register's database answers a query (a probe after a connection-level error)."""
        try:
            with self.store.engine.connect() as conn:
                conn.execute(sa.select(events.c.seq).limit(1)).first()
            return True
        except sa.exc.DBAPIError:
            return False

    def _answer_live(self, request: WideAreaRequest, user: str, terminal: str) -> WideAreaAnswer:
        if self.buffer is not None:
            self._reconcile_first()
        found: list[str] = []
        try:
            self._check_message(request)
            repeated = self._repeated(request)
            if repeated is not None:
                answer, person_ids = repeated
                self._audit(user, terminal, request, answer, person_ids, repeat=True)
                return answer
            with self.store.read() as r:
                answer, person_ids, requester = self._build(request, found, _RegisterSource(r, self.reads))
        except JukiError as e:
            self._refused(user, terminal, request, found, e)
            raise
        answer = self._record(user, terminal, request, answer, person_ids, requester)
        self._remember(request, answer, person_ids)
        return answer

    def _check_message(self, request: WideAreaRequest) -> None:
        bad = request.message_problems()
        if bad:
            raise InvalidInput(bad)
        if register_code(request.residence_lg_code) != self.lg_code:
            raise RuleViolation(Problem(
                "residence_lg_code", "REG-CERT/wide-area-residence",
                f"この請求の住所地は{name_of(request.residence_lg_code)}です（ここは{self.jurisdiction.name}です）。",
                f"This request's municipality of residence is {request.residence_lg_code}, not {self.lg_code}."))

    # --- finding the persons ------------------------------------------------------------------------

    def _find(self, src: Source, key: PersonKey, field: str) -> PersonRecord:
        """The current resident ``key`` names (see the module docstring), or NotFound / RuleViolation."""
        not_found = NotFound(Problem(field, "REG-CERT/wide-area-person",
                                     f"{key.label()}の住民票（{self.jurisdiction.name}に住所のあるもの）が見つかりません。"
                                     "氏名・生年月日・住所（又は住民票コード）を確認してください。",
                                     f"No current resident of {self.jurisdiction.name} matches {field}; check the name, "
                                     "birth date and address (or the resident record code)."))
        if key.juminhyo_code:
            p = src.by_code(key.juminhyo_code)
            if p is None or p.status is not Status.RESIDENT:
                raise not_found
            if (key.name and not _same_name(p, key)) or (key.birth_date is not None and key.birth_date != p.birth_date):
                raise NotFound(Problem(field, "REG-CERT/wide-area-person",
                                       "住民票コードの住民と、記入された氏名・生年月日が一致しません。",
                                       "The name or birth date stated is not that of the resident with this code."))
            return p
        matches = [p for p in src.candidates(key)
                   if p.status is Status.RESIDENT and _same_name(p, key) and _same_address(p, key)]
        if not matches:
            raise not_found
        if len(matches) > 1:
            raise RuleViolation(Problem(field, "REG-CERT/wide-area-person",
                                        "氏名・生年月日・住所の同じ方が複数います。個人番号カード等の住民票コードで特定してください。",
                                        "More than one resident has this name, birth date and address; name the person "
                                        "by the resident record code (from the card)."))
        return matches[0]

    def _build(self, request: WideAreaRequest, found: list[str], src: Source) -> tuple[WideAreaAnswer, list[str], dict[str, Any]]:
        """The answer from ``src`` (the register, or the buffer): the same steps and rules either way."""
        requester = self._find(src, request.requester, "requester")
        found.append(requester.person_id)
        if request.whole_household:
            household = src.household(requester.household_id)
            members = src.persons(household.member_ids if household else ())
            subjects = tuple(members[i] for i in (household.member_ids if household else ()) if i in members)
        elif request.subjects:
            subjects = tuple(self._find(src, k, f"subjects[{i}]") for i, k in enumerate(request.subjects))
        else:
            subjects = (requester,)
        found[:] = sorted({*found, *(p.person_id for p in subjects)})
        ids = tuple(p.person_id for p in subjects)
        relations = tuple(relation_of(requester, p) for p in subjects)
        asked = request.certificate_request(ids, requester_person_id=requester.person_id)
        facts = cr.Facts(tuple(cr.SubjectFacts(p.person_id, p.status, rel, p.removal_reason, p.is_foreign)
                               for p, rel in zip(subjects, relations, strict=True)), self.lg_code)
        try:
            checked = cr.check(asked, facts)
        except JukiError as e:
            raise type(e)(_request_field(p, request) for p in e.problems) from None
        self._screen(src, asked, subjects)
        household = src.household(subjects[0].household_id)
        history = tuple(line for p in subjects for line in src.history(p.person_id)) if checked.items.history else ()
        ref = new_answer_ref()
        refs = {pid: f"{ref}-{n}" for n, pid in enumerate(ids, start=1)}
        persons = tuple(wide_area_person(p, refs[p.person_id], rel, checked.items)
                        for p, rel in zip(subjects, relations, strict=True))
        whole = household is not None and set(household.member_ids) == set(ids)
        as_of = jst_date(src.synced_at) if src.synced_at is not None else jst_date(self.clock())
        answer = WideAreaAnswer(
            answer_ref=ref, request_id=request.request_id, residence_lg_code=self.lg_code,
            residence_name=self.jurisdiction.name, issuing_lg_code=request.issuing_lg_code, as_of=as_of,
            items=checked.items, layout=checked.layout, whole_household=whole,
            household_address=household.address if household is not None else subjects[0].address, persons=persons,
            history=tuple(dataclasses.replace(line, person_id=refs[line.person_id]) for line in history),
            source=src.source, synced_at=src.synced_at)
        stated = request.requester
        who = {"name": stated.name, "name_kana": stated.name_kana,
               "birth_date": stated.birth_date.isoformat() if stated.birth_date else None, "address": stated.address,
               "by": "juminhyo_code" if stated.juminhyo_code else "name_birth_date_address",
               "identity": [d.kind for d in request.identity], "person_id": requester.person_id,
               "relations": [x.value for x in relations], "purpose": request.purpose}
        return answer, list(ids), who

    def _screen(self, src: Source, asked: cr.CertificateRequest, subjects: tuple[PersonRecord, ...]) -> None:
        """SEC-8: a request by or for an offender, or about a protected person, is not answered: the
        resident is referred to this municipality's counter (the refusal says nothing about why)."""
        refer = RuleViolation(Problem(
            "subjects", "SEC-8/wide-area",
            f"この請求は広域交付では取り扱えません。住所地（{self.jurisdiction.name}）の窓口で請求するようご案内ください。",
            f"This request cannot be handled by 広域交付: refer the resident to the counter of the municipality of "
            f"residence ({self.jurisdiction.name})."))
        r = asked.requester
        who = Requester(person_id=r.person_id or None, name=r.name or None, name_kana=r.name_kana or None,
                        birth_date=r.birth_date)
        try:
            for p in subjects:
                src.check_requester(p.person_id, who)
        except Forbidden:
            raise refer from None
        if src.protected([p.person_id for p in subjects]):
            raise refer

    # --- the send record ----------------------------------------------------------------------------

    @staticmethod
    def _aad(issuing_lg_code: str, request_id: str) -> str:
        return f"wide-area:{issuing_lg_code}:{request_id}"

    def _other_request(self) -> Conflict:
        return Conflict(Problem("request_id", "NET-3/request-id", "この請求番号で別の内容の請求を既に受けています。",
                                "Another request was already received under this request id."))

    def _repeated(self, request: WideAreaRequest) -> tuple[WideAreaAnswer, list[str]] | None:
        """The answer already sent for this request id (a retry), or None."""
        t = wide_area_sends.c
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(wide_area_sends).where(t.issuing_lg_code == request.issuing_lg_code,
                                                                t.request_id == request.request_id)).first()
        if row is None:
            return None
        if row.request_sha256 != request.digest():
            raise self._other_request()
        if not row.key_id:  # blanked by the purge (NET-11): the answer is no longer kept
            raise Conflict(Problem(
                "request_id", "NET-3/request-id-expired",
                f"この請求番号の回答は保存期間（{self.answer_keep_days}日）を過ぎたため消去しました。新しい請求として送り直してください。",
                f"The answer to this request id was deleted after its keeping period ({self.answer_keep_days} days); "
                "send it again as a new request."))
        text = self.store.keyring.decrypt(row.answer_ciphertext, row.key_id, self._aad(row.issuing_lg_code, row.request_id))
        return WideAreaAnswer.from_json(json.loads(text)), list(row.person_ids)

    def _record(self, user: str, terminal: str, request: WideAreaRequest, answer: WideAreaAnswer,
                person_ids: list[str], requester: dict[str, Any]) -> WideAreaAnswer:
        text = json.dumps(answer.to_json(), ensure_ascii=False, sort_keys=True)
        ciphertext, key_id = self.store.keyring.encrypt(text, self._aad(request.issuing_lg_code, request.request_id))
        try:
            with self.store.engine.begin() as conn:
                conn.execute(wide_area_sends.insert().values(
                    answer_ref=answer.answer_ref, issuing_lg_code=request.issuing_lg_code, request_id=request.request_id,
                    request_sha256=request.digest(), operator=request.operator, person_ids=person_ids,
                    requester=requester, whole_household=answer.whole_household, items=list(answer.items.names()),
                    answer_ciphertext=ciphertext, key_id=key_id, answer_sha256=answer.digest(), sent_at=self.clock(),
                    source="register"))
                self._audit(user, terminal, request, answer, person_ids, conn=conn)
        except sa.exc.IntegrityError:  # the same request, answered concurrently: that answer stands
            repeated = self._repeated(request)
            if repeated is None:
                raise
            self._audit(user, terminal, request, repeated[0], repeated[1], repeat=True)
            return repeated[0]
        return answer

    def _remember(self, request: WideAreaRequest, answer: WideAreaAnswer, person_ids: list[str]) -> None:
        """Mirror the answer into the buffer, so that a repeat while the register is offline gets it too
        (best effort: the send is recorded in the register already)."""
        if self.buffer is None:
            return
        try:
            self.buffer.remember(answer_ref=answer.answer_ref, issuing_lg_code=request.issuing_lg_code,
                                 request_id=request.request_id, request_sha256=request.digest(),
                                 source=answer.source, answer=answer.to_json(), person_ids=person_ids,
                                 sent_at=self.clock())
        except Exception as e:  # the buffer's database: the answer stands
            log.warning("広域交付: 中間サーバへの応答の複写に失敗 / could not mirror the answer to the buffer: %s", e)

    def _audit_fields(self, user: str, terminal: str, request: WideAreaRequest, answer: WideAreaAnswer,
                      person_ids: list[str], *, repeat: bool = False) -> dict[str, Any]:
        return dict(
            user_id=user, terminal=terminal[:64], action="wide_area.provide", subject_ids=person_ids,
            detail={"answer_ref": answer.answer_ref, "issuing_lg_code": request.issuing_lg_code,
                    "request_id": request.request_id, "persons": len(person_ids),
                    "whole_household": answer.whole_household, "items": list(answer.items.names()),
                    "source": answer.source, **({"repeat": True} if repeat else {})})

    def _audit(self, user: str, terminal: str, request: WideAreaRequest, answer: WideAreaAnswer, person_ids: list[str],
               *, repeat: bool = False, conn: sa.Connection | None = None) -> None:
        if self.audit is None:
            return
        fields = self._audit_fields(user, terminal, request, answer, person_ids, repeat=repeat)
        if conn is not None:
            self.audit.record(conn, **fields)
        else:
            self.audit.record_now(self.store.engine, **fields)

    def _refusal_fields(self, user: str, terminal: str, request: WideAreaRequest, found: list[str],
                        error: JukiError) -> dict[str, Any]:
        return dict(user_id=user, terminal=terminal[:64], action="wide_area.provide", outcome="denied",
                    subject_ids=list(found),
                    detail={"issuing_lg_code": request.issuing_lg_code, "request_id": request.request_id[:64],
                            "rules": sorted({p.rule for p in error.problems})})

    def _refused(self, user: str, terminal: str, request: WideAreaRequest, found: list[str], error: JukiError) -> None:
        if self.audit is not None:
            self.audit.record_now(self.store.engine, **self._refusal_fields(user, terminal, request, found, error))

    # --- NET-12: answering from the buffer, and reconciling afterwards -----------------------------------

    def _answer_buffered(self, request: WideAreaRequest, user: str, terminal: str) -> WideAreaAnswer:
        """The answer from the buffer (the register unreachable): the same checks and screening; the send,
        a repeat or a refusal is journaled in the buffer and reaches the register's send record and audit
        log when the register is back (:meth:`reconcile`)."""
        assert self.buffer is not None
        buffer = self.buffer
        found: list[str] = []
        answered_at = self.clock().isoformat()
        try:
            self._check_message(request)
            kept = buffer.sent(request.issuing_lg_code, request.request_id)
            if kept is not None:
                digest, data, person_ids = kept
                if digest != request.digest():
                    raise self._other_request()
                answer = WideAreaAnswer.from_json(data)
                fields = self._audit_fields(user, terminal, request, answer, person_ids, repeat=True)
                fields["detail"].update(answered_from="buffer", answered_at=answered_at)
                buffer.journal("repeat", {"audit": fields})
                return answer
            with buffer.source() as src:
                answer, person_ids, requester = self._build(request, found, src)
        except JukiError as e:
            fields = self._refusal_fields(user, terminal, request, found, e)
            fields["detail"].update(answered_from="buffer", answered_at=answered_at)
            buffer.journal("refusal", {"audit": fields})
            raise
        fields = self._audit_fields(user, terminal, request, answer, person_ids)
        fields["detail"]["answered_at"] = answered_at
        row = {"answer_ref": answer.answer_ref, "issuing_lg_code": request.issuing_lg_code,
               "request_id": request.request_id, "request_sha256": request.digest(), "operator": request.operator,
               "person_ids": person_ids, "requester": requester, "whole_household": answer.whole_household,
               "items": list(answer.items.names()), "answer": answer.to_json(), "answer_sha256": answer.digest(),
               "sent_at": answered_at}
        buffer.journal("send", {"row": row, "audit": fields},
                       remember={"answer_ref": answer.answer_ref, "issuing_lg_code": request.issuing_lg_code,
                                 "request_id": request.request_id, "request_sha256": request.digest(),
                                 "source": "buffer", "answer": answer.to_json(), "person_ids": person_ids,
                                 "sent_at": self.clock()})
        return answer

    def _reconcile_first(self) -> None:
        """Before a live answer: what was answered from the buffer goes to the register first (so a repeat
        of it is recognised).  The register's errors propagate; the buffer's are only logged."""
        assert self.buffer is not None
        try:
            pending = self.buffer.has_journal()
        except Exception as e:
            log.warning("広域交付: 中間サーバを読めません / the buffer cannot be read: %s", e)
            return
        if pending:
            self.reconcile()

    def reconcile(self) -> int:
        """Write what the buffer journaled into the register: each send as a ``wide_area_sends`` row
        (``source`` buffer) with its audit entry, each repeat and refusal as its audit entry (detail
        ``answered_from: buffer``, ``answered_at``).  Returns how many entries were written."""
        if self.buffer is None:
            return 0
        done = 0
        with self._reconciling:
            for entry_id, kind, entry in self.buffer.journaled():
                with self.store.engine.begin() as conn:
                    if kind == "send":
                        self._record_buffered(conn, entry)
                    elif self.audit is not None:
                        self.audit.record(conn, **entry["audit"])
                self.buffer.done(entry_id)
                done += 1
        return done

    def _record_buffered(self, conn: sa.Connection, entry: dict[str, Any]) -> None:
        row, fields = dict(entry["row"]), entry["audit"]
        t = wide_area_sends.c
        existing = conn.execute(sa.select(t.answer_ref).where(t.issuing_lg_code == row["issuing_lg_code"],
                                                              t.request_id == row["request_id"])).first()
        if existing is not None and existing.answer_ref == row["answer_ref"]:
            return  # recorded already (the journal entry outlived its transaction)
        if existing is not None:  # answered from the register before, the mirror missing: both stand, audited
            log.warning("広域交付: 請求番号 %s は既存住基で回答済み (%s) / request id answered before", row["request_id"],
                        existing.answer_ref)
            if self.audit is not None:
                fields["detail"].update(conflict_with=existing.answer_ref)
                self.audit.record(conn, **fields)
            return
        text = json.dumps(row.pop("answer"), ensure_ascii=False, sort_keys=True)
        ciphertext, key_id = self.store.keyring.encrypt(text, self._aad(row["issuing_lg_code"], row["request_id"]))
        sent_at = dt.datetime.fromisoformat(row.pop("sent_at"))
        conn.execute(wide_area_sends.insert().values(**row, answer_ciphertext=ciphertext, key_id=key_id, source="buffer",
                                                     sent_at=sent_at))
        if self.audit is not None:
            self.audit.record(conn, **fields)

    def sync_buffer(self) -> SyncReport | None:
        """One round of the node's worker: the buffer takes the register's new events and 支援措置, the
        journal goes to the register, the mirror forgets answers past their keeping period."""
        if self.buffer is None:
            return None
        report = self.buffer.sync(self.store)
        self.reconcile()
        self.buffer.purge_sends(self.clock() - dt.timedelta(days=self.answer_keep_days))
        return report

    def sends(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The send records, newest first (without the answers' content)."""
        t = wide_area_sends.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(wide_area_sends).order_by(t.sent_at.desc(), t.answer_ref).limit(limit)).all()
        return [{k: v for k, v in row._mapping.items() if k not in ("answer_ciphertext", "key_id")} for row in rows]


def _request_field(p: Problem, request: WideAreaRequest) -> Problem:
    """A problem of the register's check, named by the request's own fields (``subject_ids[i]`` are
    ``subjects[i]``, or ``requester`` when the subjects are the requester or their household)."""
    if p.field.startswith("subject_ids"):
        return Problem(p.field.replace("subject_ids", "subjects") if request.subjects else "subjects", p.rule, p.ja, p.en)
    if p.field == "wide_area_from":
        return Problem("issuing_lg_code", p.rule, p.ja, p.en)
    return p


# --- keeping the send records (NET-11) --------------------------------------------------------------


def purge_sends(engine: sa.Engine, *, now: dt.datetime, keep_days: int, audit: Any = None,
                actor: str = SYSTEM_USER, terminal: str = "") -> dict[str, Any]:
    """The purge run of ``wide_area_sends`` (the daily housekeeping at a municipality node): in one
    transaction, blank the answer of every record sent more than ``keep_days`` days ago (the rest of the row
    stays: a repeat of that request id is then refused, ``NET-3/request-id-expired``), and delete every
    record sent more than 7 years ago (NET-11); the run is logged in ``wide_area_purge_runs`` and audited as
    ``wide_area.purge`` naming the persons of the deleted records.  The guard lets these changes through
    only while the run's marker row exists (revision ``0015_wide_area_keep``)."""
    low, high = wa.ANSWER_KEEP_DAYS
    if not low <= keep_days <= high:
        raise ValueError(f"the answers' keeping period is {low}..{high} days, not {keep_days}")
    answer_cutoff = now - dt.timedelta(days=keep_days)
    record_cutoff = wa.record_cutoff(now)
    t = wide_area_sends.c
    blank = sa.and_(t.sent_at < answer_cutoff, t.sent_at >= record_cutoff, t.key_id != "")
    with engine.begin() as conn:
        answers = conn.execute(sa.select(sa.func.count()).select_from(wide_area_sends).where(blank)).scalar_one()
        gone = conn.execute(sa.select(t.answer_ref, t.person_ids).where(t.sent_at < record_cutoff)).all()
        key = conn.execute(wide_area_purge_runs.insert().values(
            at=now, answer_cutoff=answer_cutoff, record_cutoff=record_cutoff, keep_days=keep_days, actor=actor,
            answers=int(answers), records=len(gone))).inserted_primary_key
        assert key is not None
        run_id = int(key[0])
        conn.execute(wide_area_purge_active.insert().values(run_id=run_id, answer_cutoff=answer_cutoff,
                                                            record_cutoff=record_cutoff))
        blanked = conn.execute(wide_area_sends.update().where(blank).values(answer_ciphertext=b"", key_id="")).rowcount
        deleted = conn.execute(wide_area_sends.delete().where(t.sent_at < record_cutoff)).rowcount
        if (blanked, deleted) != (answers, len(gone)):  # pragma: no cover - one transaction, sent_at never moves
            raise RuntimeError(f"wide_area_sends purge: planned {answers}/{len(gone)}, did {blanked}/{deleted}")
        conn.execute(wide_area_purge_active.delete().where(wide_area_purge_active.c.run_id == run_id))
        detail = {"run_id": run_id, "keep_days": keep_days, "answer_cutoff": answer_cutoff.isoformat(),
                  "record_cutoff": record_cutoff.isoformat(), "answers": int(answers), "records": len(gone)}
        if audit is not None:
            persons = sorted({pid for row in gone for pid in row.person_ids})
            audit.record(conn, user_id=actor, terminal=terminal[:64], action="wide_area.purge", subject_ids=persons,
                         detail=detail)
    return detail


def housekeeping_tasks(node: Node) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The daily housekeeping's task of this feature (:mod:`juki.net.housekeeping`, municipality nodes):
    the send records' purge, and the buffer's mirror of answers past the same keeping period."""
    if node.role is not Tier.MUNICIPALITY:
        return []

    def wide_area_sends_task() -> dict[str, Any]:
        service = services(node).wide_area
        now = node.clock()
        result = purge_sends(service.store.engine, now=now, keep_days=service.answer_keep_days,
                             audit=service.audit, terminal=node.code)
        if service.buffer is not None:
            result["buffer_answers"] = service.buffer.purge_sends(now - dt.timedelta(days=service.answer_keep_days))
        return result

    return [("wide_area_sends", wide_area_sends_task)]


# --- the 交付地: asking the 住所地 --------------------------------------------------------------------


def residence_of(node: Node) -> Callable[[WideAreaRequest], WideAreaAnswer]:
    """The ``residence`` callable of :meth:`~juki.issuance.service.IssuanceService.issue_wide_area` at the
    node ``node`` (the 交付地)."""
    def ask(request: WideAreaRequest) -> WideAreaAnswer:
        peer = register_code(request.residence_lg_code)
        name = name_of(peer)
        try:
            entry = node.peers.get(peer)
        except NotFound:
            entry = None
        if entry is None or entry.tier is not Tier.MUNICIPALITY:
            raise NotFound(Problem(
                "residence_lg_code", "NET-2/peer",
                f"住所地（{name}、{peer}）は住基ネットの通信先一覧（peers.json）に市区町村としてありません。証明書は交付していません。",
                f"The municipality of residence ({peer}) is not a municipality in this node's peer directory "
                "(peers.json); nothing was issued."))
        for _ in range(ATTEMPTS):
            try:
                return WideAreaAnswer.from_json(call(node, peer, PATH, request.to_json(), timeout=30.0))
            except PeerUnavailable:
                continue
        raise Unavailable(Problem(
            "residence_lg_code", "NET-2/unavailable",
            f"住所地（{name}）の市町村CSに接続できません。時間をおいて再度お試しください。証明書は交付していません。",
            f"The municipality of residence ({peer}) cannot be reached now; try again later. Nothing was issued."))
    return ask


# --- the node feature (juki.net.node.FEATURES) -----------------------------------------------------


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1/wide-area", tags=["広域交付"])

    @r.post("/copy", name="wide_area_copy", summary="広域交付住民票情報の送信（交付地から、住基法12条の4）")
    async def wide_area_copy(request: Request) -> dict[str, Any]:
        peer = peer_of(request)
        body = await json_body(request)
        req = WideAreaRequest.from_json(body)
        user = f"{req.operator}@{peer.label}" if req.operator else peer.label
        answer = await asyncio.to_thread(services(node).wide_area.answer, req, caller_lg_code=peer.identity.code,
                                         user=user, terminal=peer.address)
        return answer.to_json()

    return r


def workers(node: Node) -> list[Worker]:
    """The buffer of NET-12 at a municipality node: :meth:`WideAreaService.sync_buffer` every round."""
    if node.role is not Tier.MUNICIPALITY:
        return []
    idle = max(node.config.poll_seconds * 10, 1.0)

    def step() -> float:
        service = services(node).wide_area
        try:
            report = service.sync_buffer()
        except UNREACHABLE as e:  # the register is offline: the buffer answers; try again later
            log.info("広域交付: 既存住基に接続できません（中間サーバの同期を待機）/ register unreachable: %s",
                     str(e).splitlines()[0][:200])
            return idle * 5
        return 0.0 if report is not None and report.left else idle

    return [Worker("wide_area_buffer", step, pause_on_error=30.0)]
