"""郵送請求 (requests by mail) at the counter: recorded, issued at once or queued for the day's 一括交付
(REG-CERT, CTR-1; the 002 別紙2 incidents: person B's certificate mailed in person A's envelope).

A clerk opens a letter and records what it holds (:meth:`MailService.record`): the certificate request
(請求者, 対象者, items, purpose; channel ``mail``), the kinds of 本人確認書類 whose copies are enclosed, the
手数料 received (定額小為替, 現金書留; none for a 公用請求) and the 返信用封筒's 宛名・住所.  The request is
checked exactly as the issuance service will issue it (:meth:`IssuanceService.check_mail`): the path's
rules, DV 支援措置, and the envelope against where the certificate must go -- the 請求者 at their registered
address on the 本人 path (or the subject, when an agent asked for the 個人番号), an office or a third party
at its stated address (:meth:`IssuanceService._intended_envelope`).  A mismatch is refused at the
envelope's field (``envelope.addressee`` / ``envelope.address``).  Then either

* **issue now**: the certificate is issued (signed, logged, its copy kept) with the request and its
  outcome written in the log's transaction, and the print file is its 送付状 then its pages; or
* **queue**: the request waits (insert-only ``mail_requests``, no outcome yet) for the day's batch.

The batch (:meth:`MailService.issue_batch`) issues the selected queued requests through
:meth:`IssuanceService.issue_bulk` -- one subject per envelope, every PDF read back against its envelope
-- and prints one combined file in envelope order: the 発送一覧 (count and envelopes, to compare with the
envelopes before posting), then per envelope its 送付状 (addressed for a window envelope) and its
certificate (:mod:`juki.adapters.pdf.mailing`).  The combined file is read back too
(:func:`.proof.check_print_file`) before anything is logged.  Any refusal or mismatch issues nothing and
names the request (``requests[M…]``) and why; the outcomes (``mail_request_outcomes``, one per request:
the database refuses a second) are written in the log's transaction, so two clerks issuing the same
request at once issue it once.  A request that cannot be issued is returned to the requester (返戻,
:meth:`MailService.return_request`) with a note.

The one-time ``form_token`` of the mail form makes recording idempotent: a second submit of the same form
records nothing; for a request issued at once it gets the same certificate again
(:meth:`MailService.again`, audited as ``certificate.redisplay``).

Audit: recording is ``certificate.mail.record`` (the subjects), listing the queue is
``certificate.mail.read`` (the subjects listed), a return is ``certificate.mail.return``; issuance and
refusals are the issuance service's own entries.  The 個人番号 is never read into a list or a form here.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.access import policy
from juki.access.model import Principal
from juki.adapters.db.engine import read_only
from juki.adapters.db.store import Store
from juki.clock import Clock, jst_date
from juki.domain import certificate_requests as cr
from juki.domain.certificates import CertificateKind
from juki.domain.errors import Conflict, InvalidInput, JukiError, NotFound, Problem, RuleViolation
from juki.domain.mailing import Enclosure, MailingSet
from juki.domain.model import to_json

from . import proof
from .proof import Envelope
from .service import REQUEST_TOKEN, IssuanceService, Issued, Outgoing
from .tables import MAIL_FEE_METHODS, mail_request_outcomes, mail_requests

FEE_JA = {"postal_order": "定額小為替", "cash_registered": "現金書留", "exempt": "なし（公用請求）"}
"""How the 手数料 of a 郵送請求 came."""
assert tuple(FEE_JA) == MAIL_FEE_METHODS


@dataclass(frozen=True)
class Fee:
    """手数料 received with the letter: how (:data:`FEE_JA`) and how much (円)."""

    method: str
    yen: int = 0


@dataclass(frozen=True)
class Mailed:
    """Certificates to post: the print file (see the module docstring) and what is in it."""

    certificates: tuple[Issued, ...]
    print_pdf: bytes = field(repr=False)
    request_ids: tuple[str, ...]
    batch_id: str | None = None
    again: bool = False  # the same certificate handed out again (a second submit), nothing issued now


def fee_problems(fee: Fee, request: cr.CertificateRequest) -> list[Problem]:
    """The 手数料 as recorded: a known way, an amount for a paid request, none for a 公用請求 only."""
    if fee.method not in FEE_JA:
        return [Problem("fee.method", "REG-CERT/mail-fee", "手数料の納付方法を選んでください。",
                        f"Choose how the fee was paid: {', '.join(FEE_JA)}.")]
    if fee.method == "exempt":
        if request.path is not cr.Path.PUBLIC_BODY:
            return [Problem("fee.method", "REG-CERT/mail-fee", "手数料が不要なのは国・地方公共団体の機関の請求（公用請求）だけです。",
                            "Only a request by a public body (12条の2) is free of the fee.")]
        return [] if fee.yen == 0 else [Problem("fee.yen", "REG-CERT/mail-fee", "公用請求の手数料は 0 円です。",
                                                "A public body's request has no fee (0 yen).")]
    if not 0 < fee.yen <= 100_000:
        return [Problem("fee.yen", "REG-CERT/mail-fee", "受け取った手数料の金額（円）を入力してください。",
                        "Enter the fee received (yen, more than 0).")]
    return []


class MailService:
    def __init__(self, engine: Engine, store: Store, issuance: IssuanceService, *, clock: Clock,
                 municipality: Callable[[], str] = lambda: "", audit: Any = None) -> None:
        self.engine = engine
        self.store = store
        self.issuance = issuance
        self.clock = clock
        self._municipality = municipality  # the sender of the 送付状, with the clerk's section
        self.audit = audit

    # --- recording a letter --------------------------------------------------------------------------

    def record(self, principal: Principal, request: cr.CertificateRequest, envelope: Envelope, fee: Fee, *,
               issue_now: bool, form_token: str | None = None) -> tuple[str, Mailed | None]:
        """Record one 郵送請求 and issue it now (the print file is returned) or queue it (None).  Refusals
        name their field; nothing is recorded then."""
        policy.require(principal, "certificate.issue")
        bad = fee_problems(fee, request)
        if request.channel is not cr.Channel.MAIL:
            bad.append(Problem("channel", "REG-CERT/mail", "郵送請求は channel=mail です。", "A mailed request has channel=mail."))
        if form_token is not None and not REQUEST_TOKEN.fullmatch(form_token):
            bad.append(Problem("form_token", "REG-CERT/issue-once", "受付の確認番号の形式が正しくありません。",
                               "The form token is malformed."))
        if not issue_now and len(request.subject_ids) != 1:
            bad.append(Problem("subject_ids", "REG-CERT/bulk-one-subject",
                               "一括交付に回す請求は一通に一人だけです（封筒と証明書を一対一で照合するため）。"
                               "世帯の複数の人を記載するときは「今すぐ交付する」を使ってください。",
                               "A queued request certifies exactly one person (matched one to one with its "
                               "envelope); issue a certificate of several persons now."))
        if bad:
            raise InvalidInput(bad)
        if form_token is not None:
            self._not_recorded(form_token)
        request_id = "M" + secrets.token_hex(8).upper()
        if not issue_now:
            self.issuance.check_mail(principal, request, envelope)  # audited (preview, or the refusal)
            try:
                with self.engine.begin() as conn:
                    self._insert(conn, principal, request_id, request, envelope, fee, form_token)
            except sa.exc.IntegrityError:
                if form_token is not None:
                    self._not_recorded(form_token)  # raises: the same form was recorded by a racing submit
                raise
            return request_id, None

        printed: list[bytes] = []

        def outgoing(items: list[Outgoing]) -> None:
            printed.append(self._print_file(principal, items, [request_id], None))

        def also(conn: Connection, issued: Issued) -> None:
            self._insert(conn, principal, request_id, request, envelope, fee, form_token)
            self._outcome(conn, principal, request_id, "issued", issued.certificate_id, None)

        issued = self.issuance.issue(principal, request, envelope=envelope, request_token=form_token, also=also,
                                     keep_copy=True, outgoing=outgoing)
        return request_id, Mailed((issued,), printed[0], (request_id,))

    def again(self, principal: Principal, form_token: str) -> Mailed | None:
        """A mail form sent again (double submit): the certificate issued from it, the same one, with its
        送付状 (:meth:`IssuanceService.redisplay`, audited); None when it issued nothing (queued or not
        recorded: see :meth:`recorded`)."""
        issued = self.issuance.redisplay(principal, form_token)
        if issued is None:
            return None
        rid = self._request_of(issued.certificate_id)
        with self.store.read() as r:
            subjects = tuple(r.persons(issued.subject_ids)[pid] for pid in issued.subject_ids)
        out = Outgoing(issued.certificate_id, issued.kind, subjects, issued.envelope, issued.pdf,
                       jst_date(issued.issued_at))
        return Mailed((issued,), self._print_file(principal, [out], [rid or ""], None), (rid or "",), again=True)

    def recorded(self, form_token: str) -> str | None:
        """The request a mail form's token recorded, if any."""
        if not REQUEST_TOKEN.fullmatch(form_token):
            return None
        t = mail_requests
        with read_only(self.engine.connect()) as conn:
            return conn.execute(sa.select(t.c.request_id).where(t.c.form_token == form_token)).scalar()

    def _not_recorded(self, form_token: str) -> None:
        rid = self.recorded(form_token)
        if rid is not None:
            raise Conflict(Problem("form_token", "REG-CERT/issue-once",
                                   f"この郵送請求は既に受け付けました（郵送受付番号 {rid}）。二重に受け付けていません。",
                                   f"This mail request was recorded already ({rid}); nothing was recorded again."))

    def _insert(self, conn: Connection, principal: Principal, request_id: str, request: cr.CertificateRequest,
                envelope: Envelope, fee: Fee, form_token: str | None) -> None:
        now = self.clock()
        conn.execute(mail_requests.insert().values(
            request_id=request_id, received_on=jst_date(now), received_at=now, entered_by=principal.user_id,
            terminal=principal.terminal_id, subject_ids=json.dumps(list(request.subject_ids)),
            requester_person_id=request.requester.person_id or None,
            request=json.dumps(to_json(request), ensure_ascii=False, sort_keys=True),
            envelope_addressee=envelope.addressee, envelope_address=envelope.address, fee_method=fee.method,
            fee_yen=fee.yen, form_token=form_token))
        if self.audit is not None:
            self.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                              session_id=principal.session_id, action="certificate.mail.record",
                              subject_ids=list(request.subject_ids), at=now,
                              detail={"request_id": request_id, "kind": request.kind.value, "path": request.path.value,
                                      "fee_method": fee.method, "fee_yen": fee.yen})

    def _outcome(self, conn: Connection, principal: Principal, request_id: str, outcome: str,
                 certificate_id: str | None, batch_id: str | None, note: str = "") -> None:
        conn.execute(mail_request_outcomes.insert().values(
            request_id=request_id, outcome=outcome, certificate_id=certificate_id, batch_id=batch_id,
            decided_by=principal.user_id, terminal=principal.terminal_id, decided_at=self.clock(), note=note))

    def _request_of(self, certificate_id: str) -> str | None:
        o = mail_request_outcomes
        with read_only(self.engine.connect()) as conn:
            return conn.execute(sa.select(o.c.request_id).where(o.c.certificate_id == certificate_id)).scalar()

    # --- the queue -----------------------------------------------------------------------------------

    def queue(self, principal: Principal, *, until: dt.date | None = None) -> list[dict[str, Any]]:
        """The requests still waiting (no outcome), received on or before ``until`` (default today, JST),
        oldest first, with each subject's name and address as the register has them now (never the
        個人番号).  Audited as ``certificate.mail.read`` with the subjects listed."""
        policy.require(principal, "certificate.issue")
        day = until or jst_date(self.clock())
        t, o = mail_requests, mail_request_outcomes
        q = (sa.select(t).where(t.c.received_on <= day, ~sa.exists().where(o.c.request_id == t.c.request_id))
             .order_by(t.c.received_at, t.c.request_id))
        with read_only(self.engine.connect()) as conn:
            rows = list(conn.execute(q))
        ids = sorted({pid for row in rows for pid in json.loads(row.subject_ids)})
        with self.store.read() as r:
            found = {pid: replace(p, individual_number=None) for pid, p in r.persons(ids).items()}
        out = []
        for row in rows:
            request = cr.request_from_json(json.loads(row.request))
            subjects = [found[pid] for pid in json.loads(row.subject_ids) if pid in found]
            out.append({
                "request_id": row.request_id, "received_on": row.received_on.isoformat(),
                "received_at": row.received_at.isoformat(), "entered_by": row.entered_by,
                "kind": request.kind.value, "kind_ja": request.kind.ja, "path": request.path.value,
                "path_ja": request.path.ja, "items": list(request.items.names()), "purpose": request.purpose,
                "requester_name": request.requester.name or request.requester.organisation,
                "subjects": [{"person_id": p.person_id, "name": p.name, "address": p.address.text,
                              "birth_date": p.birth_date.isoformat()} for p in subjects],
                "envelope": {"addressee": row.envelope_addressee, "address": row.envelope_address},
                "fee": {"method": row.fee_method, "method_ja": FEE_JA[row.fee_method], "yen": row.fee_yen},
                "today": row.received_on == day,
            })
        if self.audit is not None:
            self.audit.record_now(self.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                                  session_id=principal.session_id, action="certificate.mail.read", subject_ids=ids,
                                  detail={"until": day.isoformat(), "rows": len(out)})
        return out

    def _open(self, request_ids: Sequence[str]) -> list[Any]:
        """The rows of ``request_ids`` in the queue's order; a request unknown or decided already refuses."""
        t, o = mail_requests, mail_request_outcomes
        with read_only(self.engine.connect()) as conn:
            rows = {r.request_id: r for r in conn.execute(sa.select(t).where(t.c.request_id.in_(list(request_ids))))}
            done = {r.request_id: r.outcome for r in conn.execute(sa.select(o).where(o.c.request_id.in_(list(request_ids))))}
        bad = [Problem(f"requests[{rid}]", "REG-CERT/mail-queue", f"郵送請求 {rid} はありません。", f"No mail request {rid}.")
               for rid in request_ids if rid not in rows]
        if bad:
            raise NotFound(bad)
        bad = [Problem(f"requests[{rid}]", "REG-CERT/mail-queue",
                       f"郵送請求 {rid} は既に{'交付' if done[rid] == 'issued' else '返戻'}しました。",
                       f"Mail request {rid} was {done[rid]} already.") for rid in request_ids if rid in done]
        if bad:
            raise Conflict(bad)
        return sorted(rows.values(), key=lambda r: (r.received_at, r.request_id))

    # --- the batch -----------------------------------------------------------------------------------

    def issue_batch(self, principal: Principal, request_ids: Sequence[str]) -> Mailed:
        """Issue the selected queued requests in one batch (see the module docstring).  Refusals name the
        request (``requests[M…]…``) and the rule; nothing is issued then."""
        policy.require(principal, "certificate.issue")
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            raise InvalidInput(Problem("requests", "REG-CERT/bulk", "一括交付する郵送請求を選んでください。",
                                       "Choose the mail requests to issue."))
        rows = self._open(ids)
        order = [r.request_id for r in rows]
        items = [(cr.request_from_json(json.loads(r.request)), Envelope(r.envelope_addressee, r.envelope_address))
                 for r in rows]
        printed: list[bytes] = []
        batch_id = "B" + secrets.token_hex(8).upper()
        position = iter(order)  # ``also`` sees the certificates in the order of the items

        def outgoing(out: list[Outgoing]) -> None:
            printed.append(self._print_file(principal, out, order, batch_id))

        def also(conn: Connection, issued: Issued) -> None:
            self._outcome(conn, principal, next(position), "issued", issued.certificate_id, issued.batch_id)

        try:
            _, issued = self.issuance.issue_bulk(principal, items, also=also, keep_copies=True, outgoing=outgoing,
                                                 batch_id=batch_id)
        except JukiError as e:
            raise type(e)(_named(p, order) for p in e.problems) from None
        except sa.exc.IntegrityError:  # another clerk's batch issued one of these first: nothing was logged
            self._open(ids)  # raises, naming it
            raise
        return Mailed(tuple(issued), printed[0], tuple(order), batch_id)

    def return_request(self, principal: Principal, request_id: str, note: str) -> None:
        """返戻: a queued request that will not be issued (e.g. the requester moved; the fee short) goes
        back to the requester; ``note`` says why.  Audited as ``certificate.mail.return``."""
        policy.require(principal, "certificate.issue")
        if not note.strip():
            raise InvalidInput(Problem("note", "REG-CERT/mail-return", "返戻の理由を入力してください。",
                                       "Say why the request is returned."))
        [row] = self._open([request_id])
        try:
            with self.engine.begin() as conn:
                self._outcome(conn, principal, request_id, "returned", None, None, note.strip())
                if self.audit is not None:
                    self.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                                      session_id=principal.session_id, action="certificate.mail.return",
                                      subject_ids=json.loads(row.subject_ids),
                                      detail={"request_id": request_id, "note": note.strip()})
        except sa.exc.IntegrityError:
            self._open([request_id])
            raise

    # --- the print file ------------------------------------------------------------------------------

    def _print_file(self, principal: Principal, out: list[Outgoing], request_ids: Sequence[str],
                    batch_id: str | None) -> bytes:
        """送付状 (and the 発送一覧 of a batch) with the certificates, proven by reading it back; a mismatch
        refuses (nothing is logged: this runs before the log transaction)."""
        from juki.adapters.pdf.mailing import print_file

        assert len(out) == len(request_ids)
        envelopes = []
        for i, (o, rid) in enumerate(zip(out, request_ids, strict=True)):
            assert o.envelope is not None
            envelopes.append(Enclosure(i + 1, o.envelope.addressee, o.envelope.address, o.certificate_id,
                                       CertificateKind(o.kind).ja, rid))
        municipality = self._municipality()
        mailing = MailingSet(municipality, f"{municipality}　{principal.section}".strip("　"), out[0].issued_on,
                             tuple(envelopes), batch_id or "")
        made = print_file(mailing, [o.pdf for o in out])
        segments = [proof.Segment(o.envelope, o.certificate_id, o.subjects, first, pages)
                    for o, (first, pages) in zip(out, made.segments, strict=True) if o.envelope is not None]
        problems = proof.check_print_file(made.pdf, made.list_pages, segments)
        if problems:
            raise RuleViolation(_named(p, list(request_ids), "envelopes") for p in problems)
        return made.pdf


def _named(p: Problem, order: Sequence[str], prefix: str = "items") -> Problem:
    """``items[i]…`` (the batch's position) as ``requests[M…]…`` (the request the clerk can find)."""
    head = f"{prefix}["
    if p.field.startswith(head) and "]" in p.field:
        i, rest = p.field[len(head):].split("]", 1)
        if i.isdigit() and int(i) < len(order) and order[int(i)]:
            return replace(p, field=f"requests[{order[int(i)]}]{rest}")
    return p
