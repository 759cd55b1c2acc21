"""Issuing certificates (交付, REG-CERT): at the counter, by mail, in batches and at kiosks (SEC-3, SEC-8).

One issuance, in order:

1. ``certificate.issue`` is required of the user;
2. the register is read (the subjects, their 世帯, the requester's own record, the 印鑑登録) and the path's
   rules are checked (:func:`juki.domain.certificate_requests.check`);
3. DV 支援措置 (SEC-8): a request made by or for the offender named by an active measure (the requester,
   the 代理人, the 依頼者) is refused; any request about a protected person goes to manual handling: only
   a user holding ``certificate.protected`` (the supervisor who checked the requester) may issue it, and
   never a kiosk;
4. the :class:`~juki.domain.certificates.Document` is built -- the 個人番号 is taken out of the records
   unless it is to be printed -- and signed and rendered by the certificate issuer (``juki.adapters.pdf``);
5. one transaction writes the log row (``certificate_issuances`` + ``certificate_subjects``) and the
   audit entry ``certificate.issue`` naming the subjects (house rule 4).

A refusal writes nothing but an audit entry ``certificate.refuse`` (outcome denied) naming the subjects
asked for and the rules that refused.

**Bulk issuance** (a 公用請求 batch, or many certificates mailed at once) answers the seeds' incidents
(person B's certificate mailed in person A's envelope): every item is one subject with its envelope; all
are rendered first, then each PDF is read back (:mod:`.proof`) and must show its own subject's name and
address and no other subject of the batch, and each envelope must be the one the request implies (the
requester at their registered address, or the office at its stated address).  Any mismatch stops the
batch and nothing is logged as issued.

**Copies and 再表示** (CTR-1, ``0017_mail_requests``): a certificate issued from a counter preview (with
its one-time ``request_token``) or from a 郵送請求 keeps its signed PDF in ``certificate_copies``,
encrypted with the register's key ring (AAD: the certificate id).  A second submit of the same preview
gets that very certificate again (:meth:`IssuanceService.redisplay`: same id, same bytes, checked against
the log's ``pdf_sha256``), audited as ``certificate.redisplay``; it is never rendered or signed again, so
no second certificate exists.  Re-rendering was not chosen: the signature carries its signing time and
the register may have changed since, so a re-rendered PDF would not be the certificate handed out.
A copy is kept :data:`~.tables.COPY_KEEP_DAYS` days: :meth:`IssuanceService.purge_copies` deletes older
ones in one logged transaction (``certificate_copy_purges``; the database lets no other DELETE through),
by itself at most once a day after an issuance that stored a copy, or by ``juki cert purge-copies``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.access import policy
from juki.access.model import Principal, Requester
from juki.adapters.db.engine import read_only
from juki.adapters.db.store import Reads, Store
from juki.clock import Clock, jst_date
from juki.domain import certificate_requests as cr
from juki.domain import wide_area as wa
from juki.domain.certificates import (
    STATUTORY_ITEMS,
    CertificateKind,
    Document,
    HistoryLine,
    MoveOutDetails,
    new_certificate_id,
)
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, Problem, RuleViolation
from juki.domain.events import ChangeKind
from juki.domain.model import HouseholdRecord, PersonRecord, Status
from juki.domain.municipalities import register_code
from juki.domain.register import Jurisdiction
from juki.services.reading import ReadService

from . import proof
from .proof import Envelope
from .seals import SealRegistration, SealService
from .tables import (
    COPY_KEEP_DAYS,
    certificate_copies,
    certificate_copy_purge_active,
    certificate_copy_purges,
    certificate_issuances,
    certificate_subjects,
)

log = logging.getLogger(__name__)
COPY_PURGE_ACTOR = "system:juki"

REQUEST_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
"""A counter preview's one-time token (:func:`new_request_token`)."""


def new_request_token() -> str:
    """A one-time token for one preview at the counter: :meth:`IssuanceService.issue` issues at most one
    certificate per token (a double click on 交付する, a resubmitted form), CTR-1."""
    return secrets.token_urlsafe(32)


class Rendered(Protocol):
    """What the certificate issuer (``juki.adapters.pdf``) returns for one signed PDF."""

    @property
    def pdf(self) -> bytes: ...

    @property
    def certificate_id(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...

    @property
    def content_sha256(self) -> str: ...


CertificateIssuer = Callable[[Document, str], Rendered]
"""``issuer(document, issued_by) -> Rendered``: render, sign, and return the PDF."""

Residence = Callable[[wa.WideAreaRequest], wa.WideAreaAnswer]
"""``residence(request) -> answer``: ask the 住所地 for its 広域交付住民票情報 (over the 住基ネット in a node,
:func:`juki.net.wide_area.residence_of`); a refusal or an unreachable 住所地 raises a JukiError."""


@dataclass(frozen=True)
class Issued:
    """One certificate handed out (and logged)."""

    certificate_id: str
    kind: CertificateKind
    subject_ids: tuple[str, ...]
    pdf: bytes = field(repr=False)
    content_sha256: str
    pdf_sha256: str
    issued_at: dt.datetime
    envelope: Envelope | None = None
    batch_id: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One rendered certificate before it is logged, with where it goes: what a caller that prints it with
    something else (the 送付状 of a 郵送請求, :mod:`.mail`) checks before anything is issued."""

    certificate_id: str
    kind: CertificateKind
    subjects: tuple[PersonRecord, ...]
    envelope: Envelope | None
    pdf: bytes = field(repr=False)
    issued_on: dt.date


Outgoings = Callable[[list[Outgoing]], None]
"""``outgoing(items)``: runs after rendering (and the batch's proof), before the log transaction; a
JukiError it raises refuses the issuance (audited as ``certificate.refuse``) and nothing is logged."""


@dataclass(frozen=True)
class KioskContext:
    """Who issues at a kiosk: the kiosk, the card, and the kiosk transaction (one id on every entry)."""

    kiosk_id: str
    card_id: str
    transaction_id: str

    @property
    def user_id(self) -> str:
        return f"kiosk:{self.kiosk_id}"


@dataclass(frozen=True)
class _Prepared:
    request: cr.CertificateRequest
    checked: cr.Checked
    document: Document
    subjects: tuple[PersonRecord, ...]
    envelope: Envelope | None
    intended: Envelope | None
    seal: SealRegistration | None
    detail: dict[str, Any] = field(default_factory=dict)  # kept in the log's request detail (広域交付: 住所地, answer)


def _same(a: str, b: str) -> bool:
    """Names and addresses compared as a person checking an envelope would (see :func:`proof.normalise`)."""
    return proof.normalise(a) == proof.normalise(b)


def _requester(p: cr.Person) -> Requester:
    return Requester(person_id=p.person_id or None, name=p.name or None, name_kana=p.name_kana or None,
                     birth_date=p.birth_date)


def subject_history(reads: Reads, person_id: str) -> tuple[HistoryLine, ...]:
    """異動履歴 of one subject, from their own versions only (no other person's name can appear): the day,
    the kind, and what changed on this person's 住民票."""
    rows = reads.person_history(person_id)
    cancelled = {e.cancels_seq for e, _ in rows if e.cancels_seq is not None}
    lines: list[HistoryLine] = []
    before: PersonRecord | None = None
    for event, record in rows:
        if event.seq in cancelled or event.cancels_seq is not None or event.kind is ChangeKind.INITIAL_LOAD:
            before = record
            continue
        changed = []
        if before is None or before.address != record.address:
            changed.append(f"住所 {record.address.text}")
        if before is not None and before.name != record.name:
            changed.append(f"氏名 {record.name}")
        if before is not None and before.relationship != record.relationship:
            changed.append(f"続柄 {record.relationship}")
        lines.append(HistoryLine(event.effective_date, event.kind.ja, "　".join(changed), person_id))
        before = record
    return tuple(lines)


def relation_of(requester: PersonRecord | None, subject: PersonRecord) -> cr.Relation:
    """The requester's relation to a subject: 本人; 同一世帯 (both in it now, or -- for a 除票 or 転出証明書 --
    the household the subject left, 住基法15条の4第1項); else none.  (広域交付's 住所地 decides it the same way.)"""
    if requester is None:
        return cr.Relation.NONE
    if requester.person_id == subject.person_id:
        return cr.Relation.SELF
    if requester.household_id == subject.household_id and (
            subject.status is Status.REMOVED or requester.status is Status.RESIDENT):
        return cr.Relation.HOUSEHOLD
    return cr.Relation.NONE


def _wide_area_detail(sent: wa.WideAreaRequest) -> dict[str, Any]:
    return {"residence_lg_code": sent.residence_lg_code, "request_id": sent.request_id}


class IssuanceService:
    def __init__(self, store: Store, engine: Engine, reads: ReadService, seals: SealService,
                 jurisdiction: Jurisdiction, *, clock: Clock, issuer: Callable[[], CertificateIssuer],
                 mayor: Callable[[], str], audit: Any = None) -> None:
        self.store = store
        self.engine = engine
        self.reads = reads
        self.seals = seals
        self.jurisdiction = jurisdiction
        self.clock = clock
        self._issuer = issuer
        self._mayor = mayor
        self.audit = audit

    # --- the public operations ---------------------------------------------------------------------

    def issue(self, principal: Principal, request: cr.CertificateRequest, *,
              envelope: Envelope | None = None, request_token: str | None = None,
              also: Callable[[Connection, Issued], None] | None = None, keep_copy: bool | None = None,
              outgoing: Outgoings | None = None) -> Issued:
        """Issue one certificate at the counter (or by mail, with its ``envelope``).

        ``request_token`` (the counter's one-time token of the preview, :func:`new_request_token`) is
        claimed in the transaction that writes the log row (a unique column of the log): a second issue
        with the same token -- a double click, even two requests racing -- is refused with
        ``REG-CERT/issue-once`` naming the certificate already issued, audited as a refusal, and logs
        nothing.

        ``also(conn, issued)`` runs in the transaction that logs the certificate (the 総合受付's step it
        completes, CTR-2): if it raises, nothing is logged.  ``outgoing`` sees the rendered certificate
        before that transaction (:data:`Outgoings`).

        ``keep_copy`` (by default: when a ``request_token`` is given) stores the signed PDF, encrypted, so
        that :meth:`redisplay` can hand the same certificate out again."""
        def work() -> list[tuple[_Prepared, Rendered]]:
            policy.require(principal, "certificate.issue")
            if request_token is not None:
                self._claimable(request_token)
            done = self._render(principal, [self._prepare(principal, request, envelope)])
            if outgoing is not None:
                outgoing(self._outgoing(done))
            return done

        keep = request_token is not None if keep_copy is None else keep_copy
        return self._issue_once(principal, request, work, request_token, also=also, keep_copy=keep)

    def _issue_once(self, principal: Principal, request: cr.CertificateRequest,
                    work: Callable[[], list[tuple[_Prepared, Rendered]]], request_token: str | None, *,
                    also: Callable[[Connection, Issued], None] | None = None,
                    extra: dict[str, Any] | None = None, keep_copy: bool = False) -> Issued:
        """Run ``work`` (refusals audited, with ``extra``) and log the one certificate it rendered, claiming
        ``request_token``; a token another request claimed first is refused as :meth:`_claimable` does."""
        done = self._guarded(principal, [request], work, extra=extra)
        try:
            return self._commit(principal, done, None, request_token=request_token, also=also, keep_copies=keep_copy)[0]
        except sa.exc.IntegrityError:
            if request_token is None or self._issued_with(request_token) is None:
                raise
            # the same preview was issued by a request that committed first: refuse (audited), log nothing
            self._guarded(principal, [request], lambda: self._claimable(request_token), extra=extra)  # raises Conflict
            raise

    def _issued_with(self, token: str) -> Any:
        t = certificate_issuances
        with read_only(self.engine.connect()) as conn:
            return conn.execute(sa.select(t.c.certificate_id, t.c.issued_at).where(t.c.request_token == token)).first()

    def redisplay(self, principal: Principal, request_token: str) -> Issued | None:
        """The certificate already issued with ``request_token`` (a second submit of one preview or one
        mail form), handed out again: the same id and the same stored PDF, not a second issuance (CTR-1).
        None when nothing was issued with the token.  Only the user who issued it gets it (the token
        lives in their session's page); audited as ``certificate.redisplay`` with the subjects."""
        policy.require(principal, "certificate.issue")
        if not REQUEST_TOKEN.fullmatch(request_token):
            return None
        t = certificate_issuances
        with read_only(self.engine.connect()) as conn:
            row = conn.execute(sa.select(t).where(t.c.request_token == request_token)).first()
        if row is None:
            return None
        if row.issued_by != principal.user_id:
            raise Forbidden(Problem("request_token", "REG-CERT/redisplay",
                                    "この証明書は別の職員が交付しました。交付した職員の画面でだけ再表示できます。",
                                    "Another user issued this certificate; only they can show it again."))
        return self.copy_of(principal, row.certificate_id, _row=row)

    def copy_of(self, principal: Principal, certificate_id: str, *, _row: Any = None) -> Issued:
        """The stored copy of one certificate (see :meth:`redisplay`; the mail service uses it for the
        print file of an issued 郵送請求), audited as ``certificate.redisplay``.  A certificate issued
        without a copy (API, kiosk, before ``0017_mail_requests``) is refused: it is never re-rendered."""
        policy.require(principal, "certificate.issue")
        t, c = certificate_issuances, certificate_copies
        with read_only(self.engine.connect()) as conn:
            row = _row if _row is not None else conn.execute(sa.select(t).where(t.c.certificate_id == certificate_id)).first()
            copy = conn.execute(sa.select(c).where(c.c.certificate_id == certificate_id)).first()
        if row is None or copy is None:
            raise NotFound(Problem("certificate_id", "REG-CERT/redisplay",
                                   f"証明書 {certificate_id} の控え（PDF）は保存されていません。再表示はできません。",
                                   f"No copy of certificate {certificate_id} is stored; it cannot be shown again."))
        pdf = base64.b64decode(self.store.keyring.decrypt(copy.pdf_ciphertext, copy.key_id, certificate_id))
        if hashlib.sha256(pdf).hexdigest() != row.pdf_sha256:  # the copy is the certificate logged, or nothing
            raise Conflict(Problem("certificate_id", "REG-CERT/redisplay",
                                   f"証明書 {certificate_id} の控えが交付記録と一致しません。再表示しません。",
                                   f"The stored copy of {certificate_id} does not match the issuance log."))
        subject_ids = tuple(json.loads(row.subject_ids))
        if self.audit is not None:
            self.audit.record_now(self.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                  session_id=principal.session_id, action="certificate.redisplay",
                                  subject_ids=list(subject_ids),
                                  detail={"certificate_id": certificate_id, "kind": row.kind, "issued_by": row.issued_by,
                                          "issued_at": row.issued_at.isoformat()})
        envelope = (Envelope(row.envelope_addressee, row.envelope_address)
                    if row.envelope_addressee is not None else None)
        return Issued(certificate_id, CertificateKind(row.kind), subject_ids, pdf, row.content_sha256, row.pdf_sha256,
                      row.issued_at, envelope, row.batch_id)

    def _claimable(self, token: str) -> None:
        """Refuse a malformed token, or one a certificate was already issued with."""
        if not REQUEST_TOKEN.fullmatch(token):
            raise InvalidInput(Problem("request_token", "REG-CERT/issue-once", "交付の確認番号の形式が正しくありません。",
                                       "The issue token is malformed."))
        row = self._issued_with(token)
        if row is not None:
            raise Conflict(Problem(
                "request_token", "REG-CERT/issue-once",
                f"この確認内容の証明書は既に交付しました（証明書番号 {row.certificate_id}）。二重に交付しないよう、"
                "今回の操作では交付していません。もう一通必要なときは「確認し直す」を押してから交付してください。",
                f"This preview was already issued (certificate {row.certificate_id}); nothing was issued this time. "
                "To issue another copy, preview again first."))

    def preview(self, principal: Principal, request: cr.CertificateRequest) -> Document:
        """What :meth:`issue` would print for ``request`` at the counter, checked and screened exactly as
        it is (a refusal is audited and raised the same way), but neither signed nor logged: the counter
        shows it before issuing.  Audited as ``certificate.preview`` with the subjects (the clerk sees
        them)."""
        def work() -> _Prepared:
            policy.require(principal, "certificate.issue")
            return self._prepare(principal, request, None)

        return self._previewed(principal, self._guarded(principal, [request], work))

    def _previewed(self, principal: Principal, prepared: _Prepared) -> Document:
        """The previewed document, audited as ``certificate.preview`` with its subjects (the clerk sees them)."""
        if self.audit is not None:
            self.audit.record_now(self.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                  session_id=principal.session_id, action="certificate.preview",
                                  subject_ids=list(prepared.document.subject_ids),
                                  detail={"kind": prepared.request.kind.value, "path": prepared.request.path.value,
                                          "items": list(prepared.checked.items.names()), **prepared.detail})
        return prepared.document

    def issue_bulk(self, principal: Principal, items: Sequence[tuple[cr.CertificateRequest, Envelope]], *,
                   also: Callable[[Connection, Issued], None] | None = None, keep_copies: bool = False,
                   outgoing: Outgoings | None = None, batch_id: str | None = None) -> tuple[str, list[Issued]]:
        """Issue a batch of mailed certificates, one subject per envelope, proven before anything is logged
        (see the module docstring).  Returns the batch id and the certificates in the order given.

        ``outgoing``, ``also`` and ``keep_copies`` as for :meth:`issue` (the 郵送請求 queue records each
        request's outcome in the log's transaction, and prints and proves the 送付状 before it)."""
        batch_id = batch_id or "B" + secrets.token_hex(8).upper()
        requests = [r for r, _ in items]

        def prepare() -> list[tuple[_Prepared, Rendered]]:
            policy.require(principal, "certificate.issue")
            if not items:
                raise InvalidInput(Problem("items", "REG-CERT/bulk", "交付する証明書がありません。", "The batch is empty."))
            bad = [Problem(f"items[{i}].subject_ids", "REG-CERT/bulk-one-subject",
                           "一括交付では一通に一人だけを記載します（封筒と証明書を一対一で照合するため）。",
                           "In a batch each certificate holds exactly one subject (to match it with its envelope).")
                   for i, (r, _) in enumerate(items) if len(r.subject_ids) != 1]
            bad += [Problem(f"items[{i}].channel", "REG-CERT/bulk", "一括交付は郵送（channel=mail）です。",
                            "A batch is mailed (channel=mail).")
                    for i, (r, _) in enumerate(items) if r.channel is not cr.Channel.MAIL]
            if bad:
                raise InvalidInput(bad)
            prepared: list[_Prepared] = []
            failed: list[JukiError] = []
            for i, (r, e) in enumerate(items):  # every item checked: the clerk sees each one refused at once
                try:
                    prepared.append(self._prepare(principal, r, e, field_prefix=f"items[{i}]."))
                except JukiError as error:
                    failed.append(error)
            if failed:
                raise type(failed[0])(p for error in failed for p in error.problems)
            done = self._render(principal, prepared)
            everyone = [p.subjects[0] for p, _ in done]
            mismatches: list[Problem] = []
            for i, (p, rendered) in enumerate(done):
                assert p.envelope is not None and p.intended is not None
                mismatches += [x.at(f"items[{i}]") for x in proof.check_output(
                    rendered.pdf, p.subjects[0], everyone, p.envelope, p.intended)]
            if mismatches:
                raise RuleViolation(mismatches)
            if outgoing is not None:
                outgoing(self._outgoing(done))
            return done

        done = self._guarded(principal, requests, prepare, batch_id=batch_id)
        return batch_id, self._commit(principal, done, batch_id, also=also, keep_copies=keep_copies)

    @staticmethod
    def _outgoing(done: Sequence[tuple[_Prepared, Rendered]]) -> list[Outgoing]:
        return [Outgoing(r.certificate_id, p.request.kind, p.subjects, p.envelope, r.pdf, p.document.issued_on)
                for p, r in done]

    def check_mail(self, principal: Principal, request: cr.CertificateRequest, envelope: Envelope | None) -> Document:
        """A 郵送請求 checked exactly as :meth:`issue` would check it -- the path's rules, DV 支援措置 and the
        返信用封筒 against where it must go -- but neither rendered nor logged: the mail queue records a
        request only when it could be issued as it stands.  Audited as :meth:`preview` is."""
        def work() -> _Prepared:
            policy.require(principal, "certificate.issue")
            return self._prepare(principal, request, envelope)

        return self._previewed(principal, self._guarded(principal, [request], work))

    def issue_at_kiosk(self, kiosk: KioskContext, request: cr.CertificateRequest) -> Issued:
        """A kiosk's request (:mod:`.kiosk` authenticated the card and checked the transaction)."""
        principal = Principal(user_id=kiosk.user_id, terminal_id=kiosk.kiosk_id, session_id=kiosk.transaction_id,
                              section="kiosk", roles=frozenset(), permissions=frozenset())
        done = self._guarded(principal, [request], lambda: self._render(
            principal, [self._prepare(principal, request, None, kiosk=kiosk)]), kiosk=kiosk)
        return self._commit(principal, done, None, kiosk=kiosk)[0]

    # --- 広域交付 at the 交付地 (住基法12条の4) -----------------------------------------------------------

    def issue_wide_area(self, principal: Principal, request: wa.WideAreaRequest, residence: Residence, *,
                        request_token: str | None = None) -> Issued:
        """広域交付: this municipality is the 交付地.  It checks the request (12条の4, the relation left to the
        住所地), asks the 住所地 for the 広域交付住民票情報 (``residence``), and its own mayor issues the copy:
        this municipality's name, code and mayor on the form, signed with its key, logged here (path
        ``wide_area``, the 住所地 and the answer's reference in the request detail; the subjects are the
        answer's references ``W…-n``, never a 宛名番号 of the 住所地).  A refusal by the 住所地, or a 住所地
        unknown or unreachable, is audited here as ``certificate.refuse`` and nothing is logged as issued.

        ``request_token`` (the counter's preview, :meth:`preview_wide_area`) is also the request id sent,
        so the 住所地 answers the preview and the issue with the same content, recorded once there."""
        sent = self._wide_area_sent(principal, request, request_token)

        def work() -> list[tuple[_Prepared, Rendered]]:
            policy.require(principal, "certificate.issue")
            if request_token is not None:
                self._claimable(request_token)
            return self._render(principal, [self._prepare_wide_area(sent, residence)])

        return self._issue_once(principal, sent.certificate_request(()), work, request_token,
                                extra=_wide_area_detail(sent), keep_copy=request_token is not None)

    def preview_wide_area(self, principal: Principal, request: wa.WideAreaRequest, residence: Residence, *,
                          request_token: str) -> Document:
        """What :meth:`issue_wide_area` with the same ``request_token`` will print (the 住所地 is asked
        already: its answer is what the clerk sees, and what the issue gets again), unsigned and not logged;
        audited as ``certificate.preview`` with the answer's references."""
        sent = self._wide_area_sent(principal, request, request_token)

        def work() -> _Prepared:
            policy.require(principal, "certificate.issue")
            return self._prepare_wide_area(sent, residence)

        return self._previewed(principal, self._guarded(principal, [sent.certificate_request(())], work,
                                                        extra=_wide_area_detail(sent)))

    def _wide_area_sent(self, principal: Principal, request: wa.WideAreaRequest,
                        request_token: str | None) -> wa.WideAreaRequest:
        if request_token is not None and not REQUEST_TOKEN.fullmatch(request_token):
            raise InvalidInput(Problem("request_token", "REG-CERT/issue-once", "交付の確認番号の形式が正しくありません。",
                                       "The issue token is malformed."))
        return request.sent(request_id=request_token or secrets.token_urlsafe(32),
                            issuing_lg_code=self.jurisdiction.lg_code, operator=principal.user_id)

    def _prepare_wide_area(self, sent: wa.WideAreaRequest, residence: Residence) -> _Prepared:
        sent.check(self.jurisdiction.lg_code)
        answer = residence(sent)
        bad = answer.problems(sent, register_code(sent.residence_lg_code))
        if bad:
            raise RuleViolation(bad)
        today = jst_date(self.clock())
        lg_code = self.jurisdiction.lg_code
        document = answer.document(municipality=self.jurisdiction.name, lg_code=lg_code, mayor=self._mayor(),
                                   issued_on=today, certificate_id=new_certificate_id(lg_code, today),
                                   purpose=sent.purpose)
        request = sent.certificate_request(document.subject_ids, issuing_lg_code=lg_code)
        checked = cr.Checked(CertificateKind.RESIDENT_COPY, answer.layout, answer.items,
                             tuple(p.relation for p in answer.persons))
        detail = {"residence_lg_code": answer.residence_lg_code, "answer_ref": answer.answer_ref,
                  "request_id": sent.request_id, "source": answer.source}
        if answer.synced_at is not None:  # the 住所地 answered from its buffer, the register offline (NET-12)
            detail["synced_at"] = answer.synced_at.isoformat()
        return _Prepared(request, checked, document, document.persons, None, None, None, detail)

    # --- preparing one certificate -----------------------------------------------------------------

    def _guarded(self, principal: Principal, requests: Sequence[cr.CertificateRequest], work: Callable[[], Any], *,
                 batch_id: str | None = None, kiosk: KioskContext | None = None,
                 extra: dict[str, Any] | None = None) -> Any:
        """Run ``work``; a refusal is audited (``certificate.refuse``) and re-raised, nothing else written."""
        try:
            return work()
        except JukiError as e:
            if self.audit is not None:
                subjects = sorted({s for r in requests for s in r.subject_ids if isinstance(s, str)})
                detail: dict[str, Any] = {
                    "kinds": sorted({r.kind.value for r in requests}), "paths": sorted({r.path.value for r in requests}),
                    "rules": sorted({p.rule for p in e.problems}), "fields": [p.field for p in e.problems][:20],
                }
                if batch_id:
                    detail["batch_id"] = batch_id
                if kiosk:
                    detail.update(card_id=kiosk.card_id, transaction_id=kiosk.transaction_id)
                detail.update(extra or {})
                self.audit.record_now(self.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                      session_id=principal.session_id, action="certificate.refuse", outcome="denied",
                                      subject_ids=subjects, detail=detail)
            raise

    def _prepare(self, principal: Principal, request: cr.CertificateRequest, envelope: Envelope | None, *,
                 kiosk: KioskContext | None = None, field_prefix: str = "") -> _Prepared:
        if request.path is cr.Path.WIDE_AREA:  # 12条の4: the 交付地 issues (issue_wide_area), never the 住所地
            raise RuleViolation(Problem(
                f"{field_prefix}path", "REG-CERT/wide-area",
                "広域交付の住民票の写しは、請求を受けた交付地の市町村長が住基ネットで住所地に照会して交付します。"
                "この画面・この請求では交付しません（交付地で広域交付として受け付けてください）。",
                "A 広域交付 copy is issued by the municipality where it is asked for, which asks the municipality "
                "of residence over the 住基ネット (POST /api/v1/certificates/wide-area there); not on this path."))
        today = jst_date(self.clock())
        with self.store.read() as r:
            found = r.persons(request.subject_ids)
            missing = [Problem(f"{field_prefix}subject_ids[{i}]", "REG-CERT/subjects", f"住民 {pid} はいません。",
                               f"There is no person {pid}.")
                       for i, pid in enumerate(request.subject_ids) if pid not in found or found[pid].status is Status.VOID]
            if missing:
                raise NotFound(missing)
            subjects = tuple(found[pid] for pid in request.subject_ids)
            requester_record = self._requester_record(r, request, field_prefix)
            seal = None
            if request.kind is CertificateKind.SEAL and len(subjects) == 1:
                card = None if kiosk is not None else request.seal_card_number
                seal = self.seals.certificate_registration(r.connection, subjects[0].person_id, card)
            facts = cr.Facts(tuple(cr.SubjectFacts(p.person_id, p.status, relation_of(requester_record, p),
                                                   p.removal_reason, p.is_foreign) for p in subjects),
                             self.jurisdiction.lg_code, seal_card_valid=seal is not None)
            try:
                checked = cr.check(request, facts)
            except JukiError as e:
                raise type(e)(p.at(field_prefix.rstrip(".")) if field_prefix else p for p in e.problems) from None
            self._screen(principal, request, subjects, kiosk)
            household = None
            if subjects[0].status is Status.RESIDENT:
                household = r.household_current(subjects[0].household_id)
            intended = self._intended_envelope(request, checked, requester_record, subjects, field_prefix)
            if request.channel is cr.Channel.MAIL:
                if envelope is None:
                    raise InvalidInput(Problem(f"{field_prefix}envelope", "REG-CERT/envelope", "郵送の宛名と住所を指定してください。",
                                               "A mailed certificate needs its envelope (addressee and address)."))
                assert intended is not None
                wrong = [(name, ja) for name, ja, given, meant in (
                    ("addressee", "宛名", envelope.addressee, intended.addressee),
                    ("address", "住所", envelope.address, intended.address)) if not _same(given, meant)]
                if wrong:  # each at its own field (the mail form shows it there)
                    raise RuleViolation(Problem(
                        f"{field_prefix}envelope.{name}", "REG-CERT/envelope",
                        f"封筒の{ja}が請求と一致しません（送付先は {intended.addressee}、{intended.address}）。",
                        f"The envelope's {name} does not match the request (it must go to {intended.addressee}, "
                        f"{intended.address}).") for name, ja in wrong)
            elif envelope is not None:
                raise InvalidInput(Problem(f"{field_prefix}envelope", "REG-CERT/envelope", "封筒は郵送（channel=mail）のときだけ指定します。",
                                           "An envelope is given for a mailed certificate (channel=mail) only."))
            document = self._document(r, request, checked, subjects, household, seal, today)
        return _Prepared(request, checked, document, subjects, envelope, intended, seal)

    def _requester_record(self, r: Reads, request: cr.CertificateRequest, prefix: str) -> PersonRecord | None:
        pid = request.requester.person_id
        if not pid:
            return None
        rec = r.person_current(pid)
        if rec is None or rec.status is Status.VOID:
            raise NotFound(Problem(f"{prefix}requester.person_id", "REG-CERT/requester", f"請求者 {pid} は住民基本台帳にいません。",
                                   f"The requester {pid} is not on the register."))
        return rec

    def _screen(self, principal: Principal, request: cr.CertificateRequest, subjects: tuple[PersonRecord, ...],
                kiosk: KioskContext | None) -> None:
        """SEC-8: refuse a request by or for the offender; send any request about a protected person to
        the supervisor (``certificate.protected``); a kiosk never issues about a protected person."""
        for p in subjects:
            for who in request.screened_persons():
                self.reads.check_requester(p.person_id, _requester(who))
        protected = self.reads.protected([p.person_id for p in subjects])
        if not protected:
            return
        if kiosk is not None or not policy.can(principal, "certificate.protected"):
            raise Forbidden(Problem(
                "subject_ids", "SEC-8/manual-handling",
                "この請求は担当の責任者による確認が必要です。窓口の責任者にお問い合わせください。",
                "This request must be checked by the supervisor in charge; please ask at the counter."))

    def _intended_envelope(self, request: cr.CertificateRequest, checked: cr.Checked, requester: PersonRecord | None,
                           subjects: tuple[PersonRecord, ...], prefix: str) -> Envelope | None:
        """Where a mailed certificate must go: the person (or, for a copy with the 個人番号 asked for by an
        agent, the subject) at the registered address; an office or a third party at its stated address."""
        if request.channel is not cr.Channel.MAIL:
            return None
        if request.path is cr.Path.SELF or request.kind is CertificateKind.SEAL:
            person = subjects[0] if checked.mail_to_subject or requester is None else requester
            address = (person.moved_out_to if person.status is Status.REMOVED and person.moved_out_to else person.address)
            return Envelope(person.name, address.text)
        who = request.public_body.office if request.public_body else (request.requester.organisation or request.requester.name)
        if not request.requester.address.strip():
            raise InvalidInput(Problem(f"{prefix}requester.address", "REG-CERT/envelope", "送付先の住所（請求者の住所）を記入してください。",
                                       "The requester's address (where to mail it) is required."))
        return Envelope(who, request.requester.address)

    def _document(self, r: Reads, request: cr.CertificateRequest, checked: cr.Checked,
                  subjects: tuple[PersonRecord, ...], household: HouseholdRecord | None,
                  seal: SealRegistration | None, today: dt.date) -> Document:
        kind = request.kind
        statutory = STATUTORY_ITEMS.get(kind)
        printed = checked.items | statutory if statutory else checked.items
        persons = tuple(p if printed.individual_number else replace(p, individual_number=None) for p in subjects)
        history: tuple[HistoryLine, ...] = ()
        if checked.items.history:
            history = tuple(line for p in subjects for line in subject_history(r, p.person_id))
        move_out = None
        if kind is CertificateKind.MOVE_OUT:
            p = subjects[0]
            notified = max((e.notified_date for e in r.events_for_person(p.person_id) if e.kind is ChangeKind.MOVE_OUT),
                           default=p.address_notified_on)
            if p.moved_out_to is not None and p.removal_date is not None:
                move_out = MoveOutDetails(p.moved_out_to, p.removal_date, notified)
        municipality, lg_code, mayor = self.jurisdiction.name, self.jurisdiction.lg_code, self._mayor()
        return Document(
            kind=kind, layout=checked.layout, items=checked.items, persons=persons, household=household,
            history=history, municipality=municipality, lg_code=lg_code, mayor=mayor, issued_on=today,
            certificate_id=new_certificate_id(lg_code, today), purpose=request.purpose,
            seal=seal.imprint() if seal is not None else None, move_out=move_out)

    # --- rendering and the log ---------------------------------------------------------------------

    def _render(self, principal: Principal, prepared: Sequence[_Prepared]) -> list[tuple[_Prepared, Rendered]]:
        issuer = self._issuer()
        return [(p, issuer(p.document, principal.user_id)) for p in prepared]

    def _commit(self, principal: Principal, done: Sequence[tuple[_Prepared, Rendered]], batch_id: str | None,
                *, kiosk: KioskContext | None = None, request_token: str | None = None,
                also: Callable[[Connection, Issued], None] | None = None, keep_copies: bool = False) -> list[Issued]:
        """The log rows and the audit entries of rendered certificates, in one transaction (the row of a
        single certificate claims ``request_token``; ``keep_copies`` stores each signed PDF, encrypted)."""
        assert request_token is None or len(done) == 1
        now = self.clock()
        out: list[Issued] = []
        with self.engine.begin() as conn:
            for p, rendered in done:
                out.append(self._log(conn, principal, p, rendered, now, batch_id, kiosk, request_token))
            if keep_copies:
                conn.execute(certificate_copies.insert(), [self._copy_row(issued, now) for issued in out])
            if also is not None:
                for issued in out:
                    also(conn, issued)
            if self.audit is not None:
                self.audit.record_many(conn, [self.audit.prepare(
                    user_id=principal.user_id, terminal=principal.terminal_id, session_id=principal.session_id,
                    action="certificate.issue", subject_ids=list(issued.subject_ids), at=now,
                    detail=self._audit_detail(p, issued, batch_id, kiosk)) for (p, _), issued in zip(done, out, strict=True)])
        if keep_copies:
            self._purge_copies_daily(now)
        return out

    def purge_copies(self, *, actor: str = COPY_PURGE_ACTOR, terminal: str = "", days: int = COPY_KEEP_DAYS) -> int:
        """Delete the stored copies older than ``days`` (:data:`~.tables.COPY_KEEP_DAYS`) in one transaction:
        the purge's log row (when, cutoff, who, how many) and its marker come first, so that the database's
        guard lets exactly these deletions through; an audit entry ``certificate.copy.purge`` says how many.
        The certificates' log rows stay (they are the record); a later 再表示 of a purged copy is refused.
        Returns the number of copies deleted (0 logs nothing)."""
        now = self.clock()
        cutoff = now - dt.timedelta(days=days)
        c, purges, active = certificate_copies, certificate_copy_purges, certificate_copy_purge_active
        with self.engine.begin() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(c).where(c.c.stored_at < cutoff)).scalar_one()
            if not count:
                return 0
            purge_id = conn.execute(purges.insert().values(at=now, cutoff=cutoff, actor=actor, copies=count)
                                    .returning(purges.c.purge_id)).scalar_one()
            conn.execute(active.insert().values(purge_id=purge_id))
            deleted = conn.execute(c.delete().where(c.c.stored_at < cutoff)).rowcount
            conn.execute(active.delete().where(active.c.purge_id == purge_id))
            if deleted != count:  # a copy stored before the cutoff appeared meanwhile: do it again next time
                raise Conflict(Problem("certificate_copies", "SEC-8/copy-purge",
                                       "控えの削除中に件数が変わりました。もう一度実行してください。",
                                       f"The copies changed during the purge ({deleted} of {count}); run it again."))
            if self.audit is not None:
                self.audit.record(conn, user_id=actor, terminal=terminal, action="certificate.copy.purge", at=now,
                                  detail={"purge_id": purge_id, "copies": count, "cutoff": cutoff.isoformat(),
                                          "days": days})
        return int(count)

    def _purge_copies_daily(self, now: dt.datetime) -> None:
        """After an issuance that stored a copy: :meth:`purge_copies` unless a purge ran in the last day.  The
        certificate is already issued; a failure here is logged, never the clerk's problem."""
        try:
            with read_only(self.engine.connect()) as conn:
                last = conn.execute(sa.select(sa.func.max(certificate_copy_purges.c.at))).scalar()
            if last is not None and now - last < dt.timedelta(days=1):  # UTCDateTime: always aware
                return
            self.purge_copies()
        except Exception:
            log.exception("could not purge the expired certificate copies")

    def _copy_row(self, issued: Issued, now: dt.datetime) -> dict[str, Any]:
        ciphertext, key_id = self.store.keyring.encrypt(base64.b64encode(issued.pdf).decode("ascii"), issued.certificate_id)
        return {"certificate_id": issued.certificate_id, "pdf_ciphertext": ciphertext, "key_id": key_id, "stored_at": now}

    @staticmethod
    def _audit_detail(p: _Prepared, issued: Issued, batch_id: str | None, kiosk: KioskContext | None) -> dict[str, Any]:
        r = p.request
        detail: dict[str, Any] = {"certificate_id": issued.certificate_id, "kind": r.kind.value, "path": r.path.value,
                                  "channel": r.channel.value, "items": list(p.checked.items.names()),
                                  "relations": [x.value for x in p.checked.relations]}
        if batch_id:
            detail["batch_id"] = batch_id
        if kiosk:
            detail.update(card_id=kiosk.card_id, transaction_id=kiosk.transaction_id)
        detail.update(p.detail)
        return detail

    def _log(self, conn: Connection, principal: Principal, p: _Prepared, rendered: Rendered, now: dt.datetime,
             batch_id: str | None, kiosk: KioskContext | None, request_token: str | None = None) -> Issued:
        r = p.request
        relations = {x for x in p.checked.relations}
        relation = ("self" if relations == {cr.Relation.SELF} else "household" if relations <= {cr.Relation.SELF, cr.Relation.HOUSEHOLD}
                    else r.path.value)
        if r.agent is not None:
            relation = "agent"
        subject_ids = p.document.subject_ids
        pdf_sha = hashlib.sha256(rendered.pdf).hexdigest()
        conn.execute(certificate_issuances.insert().values(
            certificate_id=rendered.certificate_id, kind=r.kind.value, layout=p.checked.layout.value,
            channel=r.channel.value, path=r.path.value, subject_ids=json.dumps(list(subject_ids)),
            subject_count=len(subject_ids), requester_person_id=r.requester.person_id or None,
            requester_name=r.requester.name or r.requester.organisation, requester_address=r.requester.address,
            requester_relation=relation, requester_organisation=r.requester.organisation,
            agent_name=r.agent.name if r.agent else "", reason=r.reason.value if r.reason else "",
            purpose=r.purpose, legal_basis=(r.public_body.statute if r.public_body else ""),
            request_detail=json.dumps(cr.summary(r) | p.detail, ensure_ascii=False, sort_keys=True),
            items=json.dumps(list(p.checked.items.names())), issued_by=principal.user_id,
            terminal=principal.terminal_id, session_id=principal.session_id,
            kiosk_transaction_id=kiosk.transaction_id if kiosk else None, card_id=kiosk.card_id if kiosk else None,
            batch_id=batch_id, issued_at=now, issued_on=p.document.issued_on, content_sha256=rendered.content_sha256,
            pdf_sha256=pdf_sha, envelope_addressee=p.envelope.addressee if p.envelope else None,
            envelope_address=p.envelope.address if p.envelope else None,
            seal_registration_number=p.seal.registration_number if p.seal else None, request_token=request_token))
        conn.execute(certificate_subjects.insert(), [
            {"certificate_id": rendered.certificate_id, "person_id": pid, "issued_at": now} for pid in subject_ids])
        return Issued(rendered.certificate_id, r.kind, subject_ids, rendered.pdf, rendered.content_sha256, pdf_sha, now,
                      p.envelope, batch_id)

    # --- the log, read back ------------------------------------------------------------------------

    def log(self, principal: Principal, *, since: dt.date | None = None, until: dt.date | None = None,
            person_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The issuance log (交付記録), newest first; reading it is audited with the subjects it shows."""
        policy.require(principal, "certificate.log.read")
        t = certificate_issuances
        q = sa.select(t).order_by(t.c.issued_at.desc(), t.c.certificate_id).limit(max(1, min(limit, 1000)))
        if since is not None:
            q = q.where(t.c.issued_on >= since)
        if until is not None:
            q = q.where(t.c.issued_on <= until)
        if person_id is not None:
            q = q.where(t.c.certificate_id.in_(sa.select(certificate_subjects.c.certificate_id)
                                               .where(certificate_subjects.c.person_id == person_id)))
        with read_only(self.engine.connect()) as conn:
            rows = [_log_view(row) for row in conn.execute(q)]
        if self.audit is not None:
            self.audit.record_now(self.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                  session_id=principal.session_id, action="certificate.log.read",
                                  subject_ids=sorted({s for row in rows for s in row["subject_ids"]}),
                                  detail={"since": since.isoformat() if since else None,
                                          "until": until.isoformat() if until else None,
                                          "person_id": person_id, "rows": len(rows)})
        return rows

    def counts(self, principal: Principal, *, since: dt.date, until: dt.date) -> dict[str, Any]:
        """交付件数: certificates (and the persons on them) by kind, channel and path, between two days
        (inclusive, JST)."""
        policy.require(principal, "certificate.log.read")
        if until < since:
            raise InvalidInput(Problem("until", "REG-CERT/period", "期間の終わりが始まりより前です。", "until is before since."))
        t = certificate_issuances
        q = (sa.select(t.c.kind, t.c.channel, t.c.path, sa.func.count().label("n"), sa.func.sum(t.c.subject_count).label("p"))
             .where(t.c.issued_on >= since, t.c.issued_on <= until).group_by(t.c.kind, t.c.channel, t.c.path)
             .order_by(t.c.kind, t.c.channel, t.c.path))
        with read_only(self.engine.connect()) as conn:
            rows = [{"kind": r.kind, "kind_ja": CertificateKind(r.kind).ja, "channel": r.channel,
                     "channel_ja": cr.Channel(r.channel).ja, "path": r.path, "path_ja": cr.Path(r.path).ja,
                     "certificates": int(r.n), "persons": int(r.p or 0)} for r in conn.execute(q)]
        by_kind: dict[str, int] = {}
        for row in rows:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["certificates"]
        return {"since": since.isoformat(), "until": until.isoformat(), "rows": rows, "by_kind": by_kind,
                "total": sum(by_kind.values())}


def _log_view(row: Any) -> dict[str, Any]:
    return {
        "certificate_id": row.certificate_id, "kind": row.kind, "kind_ja": CertificateKind(row.kind).ja,
        "layout": row.layout, "channel": row.channel, "path": row.path, "subject_ids": json.loads(row.subject_ids),
        "requester_person_id": row.requester_person_id, "requester_name": row.requester_name,
        "requester_relation": row.requester_relation, "requester_organisation": row.requester_organisation,
        "agent_name": row.agent_name, "reason": row.reason, "purpose": row.purpose, "legal_basis": row.legal_basis,
        "request": json.loads(row.request_detail), "items": json.loads(row.items), "issued_by": row.issued_by,
        "terminal": row.terminal, "kiosk_transaction_id": row.kiosk_transaction_id, "card_id": row.card_id,
        "batch_id": row.batch_id, "issued_at": row.issued_at.isoformat(), "issued_on": row.issued_on.isoformat(),
        "content_sha256": row.content_sha256, "pdf_sha256": row.pdf_sha256,
        "envelope": ({"addressee": row.envelope_addressee, "address": row.envelope_address}
                     if row.envelope_addressee is not None else None),
        "seal_registration_number": row.seal_registration_number,
    }
