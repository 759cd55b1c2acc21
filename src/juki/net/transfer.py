"""特例転入 between two municipalities (住基法24条の2, NET-6): the services at both ends.

At the **new municipality** (転入地), :class:`TransferService`:

1. :meth:`~TransferService.fetch_certificate` -- the card check at the national server's card
   management system, then the 転出証明書情報の送信依頼 to the former municipality (住民票コード, no 個人番号)
   and its answer, kept encrypted (it carries the 個人番号) in ``moveout_certificates_received``;
2. :meth:`~TransferService.submit_move_in` -- the 転入 built from it (:func:`juki.domain.transfer.move_in_command`),
   entered through the register's normal workflow: a second person approves it (REG-R3);
3. :meth:`~TransferService.complete` -- once approved, the 転入通知 to the former municipality and the
   継続利用 of the card at the national server are recorded for delivery (:mod:`juki.net.deliveries`);
   the update to the prefecture leaves through the register's outbox like every change (NET-2);
4. :meth:`~TransferService.purge` -- 転出証明書情報 past its keeping period (転出予定日 + 30 days) is
   deleted, used or not: once used, its content lives in the register.

At the **former municipality** (転出地), the same class answers:

* :meth:`~TransferService.answer_certificate` -- the 転出証明書情報 of everyone the same 転出届 removed,
  if that move-out is not confirmed yet; a person under a 支援措置 is flagged so the new municipality
  handles it by hand (SEC-8);
* :meth:`~TransferService.receive_notice` -- the 転入通知 (after a 特例転入 or an ordinary 転入,
  :mod:`juki.net.movein`): the confirmed new address is recorded on each 除票 (転出確定,
  :class:`~juki.domain.changes.MoveOutConfirmed`, a 通知 change), once however often the notice arrives,
  in the sender's 通知番号 order.

The peers are passed in as callables (over mutual TLS in a node, directly in the storage tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from juki.adapters.db.store import Store
from juki.api.common import json_body
from juki.clock import Clock, jst_date, utcnow
from juki.domain import transfer as tr
from juki.domain.cards import CardEvent, CardNotice
from juki.domain.changes import from_json
from juki.domain.errors import Conflict, Forbidden, NotFound, Problem, RuleViolation
from juki.domain.events import ChangeKind, Origin
from juki.domain.model import RemovalReason, Status, to_json
from juki.domain.municipalities import register_code
from juki.domain.register import Jurisdiction
from juki.services.changes import Actor, ChangeService, Submitted

from .cards import report_card_event
from .movein import KIND as MOVE_IN_NOTICE
from .movein import enqueue_notice, mark_taken, take_in_order
from .node import Node, Worker, allow, peer_of
from .numbers import SYSTEM_ACTOR
from .pki import NATIONAL_CODE, Tier
from .services import call, services
from .svc_tables import move_in_notices_received, moveout_certificates_received

Former = Callable[[str, tr.CertificateRequest], tr.MoveOutCertificate]
"""``former(lg_code, request)``: ask the former municipality ``lg_code`` for its 転出証明書情報."""
CardCheck = Callable[[str, str], None]
"""``card_check(card_serial, juminhyo_code)``: the national server's card check; raises when refused."""

MASK = "************"


@dataclass(frozen=True)
class ReceivedCertificate:
    """What the counter sees of received 転出証明書情報 (個人番号 masked)."""

    id: int
    juminhyo_code: str
    from_lg_code: str
    planned_move_out: dt.date
    delete_on: dt.date
    status: str
    change_request_id: int | None
    event_seq: int | None
    certificate: dict[str, Any]


class TransferService:
    def __init__(self, store: Store, changes: ChangeService, jurisdiction: Jurisdiction, *, clock: Clock = utcnow,
                 audit: Any = None, protected: Callable[[list[str]], set[str]] | None = None) -> None:
        self.store = store
        self.changes = changes
        self.jurisdiction = jurisdiction
        self.clock = clock
        self.audit = audit
        self.protected = protected or (lambda ids: set())

    @property
    def lg_code(self) -> str:
        return self.jurisdiction.lg_code

    def today(self) -> dt.date:
        return jst_date(self.clock())

    def _record(self, conn: sa.Connection, *, user_id: str, terminal: str, action: str, subjects: list[str],
                detail: dict[str, Any], outcome: str = "allowed", session_id: str | None = None) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=user_id, terminal=terminal, session_id=session_id, action=action,
                              outcome=outcome, subject_ids=subjects, detail=detail)

    # --- the former municipality -----------------------------------------------------------------

    def answer_certificate(self, request: tr.CertificateRequest, *, caller_lg_code: str) -> tr.MoveOutCertificate:
        """転出証明書情報 for the 住民票コード of ``request`` (asked by ``caller_lg_code``)."""
        request.check()
        if caller_lg_code != request.requesting_lg_code:
            raise Forbidden(Problem("requesting_lg_code", "NET-6/caller", "送信依頼の要求元が通信相手と一致しません。",
                                    "The requesting municipality is not the one that sent the request."))
        with self.store.read() as r:
            pid = r.person_id_by_juminhyo_code(request.juminhyo_code)
            holder = r.person_current(pid) if pid else None
            problem = tr.certificate_problem([holder] if holder else [], request.juminhyo_code)
            persons = []
            notified_on = self.today()
            if problem is None and holder is not None:
                event = next((e for e, _ in reversed(r.person_history(holder.person_id))
                              if e.kind is ChangeKind.MOVE_OUT), None)
                ids = list(event.details.get("person_ids", [holder.person_id])) if event else [holder.person_id]
                notified_on = event.notified_date if event else notified_on
                found = r.persons(ids)
                persons = [p for i in ids if (p := found.get(i)) is not None and p.status is Status.REMOVED
                           and p.removal_reason is RemovalReason.MOVE_OUT and not p.move_out_confirmed]
        if problem is not None:
            with self.store.engine.begin() as conn:
                self._record(conn, user_id=f"node:{caller_lg_code}", terminal="", action="moveout.certificate.provide",
                             outcome="denied", subjects=[pid] if pid else [],
                             detail={"juminhyo_code": request.juminhyo_code, "rule": problem.rule})
            raise (NotFound if problem.rule == "NET-6/not-found" else RuleViolation)(problem)
        ids = [p.person_id for p in persons]
        flagged = self.protected(ids)
        cert = tr.certificate_from_records(from_lg_code=self.lg_code, from_name=self.jurisdiction.name, persons=persons,
                                           notified_on=notified_on, support_measure=bool(flagged))
        with self.store.engine.begin() as conn:
            self._record(conn, user_id=f"node:{caller_lg_code}", terminal="", action="moveout.certificate.provide",
                         subjects=ids, detail={"juminhyo_code": request.juminhyo_code, "case_ref": request.case_ref,
                                               "support_measure": bool(flagged)})
        return cert

    def receive_notice(self, notice: tr.MoveInNotice, *, caller_lg_code: str) -> list[int]:
        """転入通知 (住基法9条1項): record 転出確定 on each 除票 named; once per notice, in the sender's
        通知番号 order (:mod:`juki.net.movein`).  Returns the events."""
        notice.check()
        if caller_lg_code != notice.from_lg_code or notice.to_lg_code != self.lg_code:
            raise Forbidden(Problem("from_lg_code", "NET-6/caller", "転入通知の送信元・宛先が通信相手と一致しません。",
                                    "The notice's sender or addressee is not this exchange's."))
        with self.store.engine.connect() as conn:
            done = conn.execute(sa.select(move_in_notices_received.c.event_seqs).where(
                move_in_notices_received.c.from_lg_code == notice.from_lg_code,
                move_in_notices_received.c.event_ref == notice.event_ref)).first()
        if done is not None:
            return list(done.event_seqs)
        targets = []
        try:
            self._in_order(notice.from_lg_code, notice.seq)
            with self.store.read() as r:
                for i, code in enumerate(notice.juminhyo_codes):
                    pid = r.person_id_by_juminhyo_code(code)
                    p = r.person_current(pid) if pid else None
                    if p is None or p.removal_reason is not RemovalReason.MOVE_OUT or p.is_resident:
                        raise NotFound(Problem(f"juminhyo_codes[{i}]", "NET-6/not-moved-out",
                                               "この住民票コードの転出による除票はありません。",
                                               "There is no record removed by a move-out with this resident record code."))
                    targets.append(p)
        except (NotFound, Conflict) as e:
            with self.store.engine.begin() as conn:
                self._record(conn, user_id=f"node:{caller_lg_code}", terminal="", action="move_in_notice.receive",
                             outcome="denied", subjects=[],
                             detail={"event_ref": notice.event_ref, "seq": notice.seq, "rule": e.problems[0].rule,
                                     "juminhyo_codes": list(notice.juminhyo_codes)})
            raise
        seqs = []
        for p in targets:
            if p.move_out_confirmed:  # confirmed by an earlier, interrupted delivery of this notice
                continue
            seq, _ = self.changes.apply_notice(
                ChangeKind.MOVE_OUT_CONFIRMED,
                {"person_id": p.person_id, "confirmed_address": to_json(notice.address),
                 "moved_in_on": notice.moved_in_on.isoformat()},
                actor=Actor(f"node:{caller_lg_code}", "CS"), legal_basis="住民基本台帳法第9条第1項",
                effective_date=self.today(), case_ref=notice.event_ref,
            )
            seqs.append(seq)
        with self.store.engine.begin() as conn:
            self._taken(conn, notice.from_lg_code, notice.seq)
            conn.execute(move_in_notices_received.insert().values(
                from_lg_code=notice.from_lg_code, event_ref=notice.event_ref, juminhyo_codes=list(notice.juminhyo_codes),
                event_seqs=seqs, received_at=self.clock()))
            self._record(conn, user_id=f"node:{caller_lg_code}", terminal="", action="move_in_notice.receive",
                         subjects=[p.person_id for p in targets],
                         detail={"event_ref": notice.event_ref, "seq": notice.seq, "event_seqs": seqs})
        return seqs

    def receive_skip(self, skip: tr.MoveInNoticeSkip, *, caller_lg_code: str) -> None:
        """The sender's operator skipped 転入通知 ``skip.seq``: record it (audited) and take the next."""
        if caller_lg_code != skip.from_lg_code or skip.to_lg_code != self.lg_code:
            raise Forbidden(Problem("from_lg_code", "NET-6/caller", "転入通知の送信元・宛先が通信相手と一致しません。",
                                    "The notice's sender or addressee is not this exchange's."))
        with self.store.engine.connect() as conn:
            if conn.execute(sa.select(move_in_notices_received.c.id).where(
                    move_in_notices_received.c.from_lg_code == skip.from_lg_code,
                    move_in_notices_received.c.event_ref == f"skip:{skip.seq}")).first() is not None:
                return
        self._in_order(skip.from_lg_code, skip.seq)
        with self.store.engine.begin() as conn:
            self._taken(conn, skip.from_lg_code, skip.seq)
            conn.execute(move_in_notices_received.insert().values(
                from_lg_code=skip.from_lg_code, event_ref=f"skip:{skip.seq}", juminhyo_codes=[], event_seqs=[],
                received_at=self.clock()))
            self._record(conn, user_id=f"node:{caller_lg_code}", terminal="", action="move_in_notice.skipped",
                         subjects=[], detail={"seq": skip.seq, "event_ref": skip.event_ref, "by": skip.skipped_by,
                                              "reason": skip.reason})

    def _in_order(self, sender: str, seq: int) -> None:
        if not seq:  # an unnumbered notice (from a node before 通知番号): taken as it comes
            return
        with self.store.engine.begin() as conn:
            if not take_in_order(conn, sender, seq, self.clock()):
                raise Conflict(Problem("seq", "NET-6/order", f"転入通知の通知番号 {seq} は既に別の通知で使われています。",
                                       f"Move-in notice number {seq} was already used by another notice."))

    def _taken(self, conn: sa.Connection, sender: str, seq: int) -> None:
        if seq:
            if not take_in_order(conn, sender, seq, self.clock()):
                raise Conflict(Problem("seq", "NET-6/order", f"転入通知の通知番号 {seq} は既に受けています。",
                                       f"Move-in notice number {seq} was already taken."))
            mark_taken(conn, sender, seq, self.clock())

    # --- the new municipality --------------------------------------------------------------------

    def fetch_certificate(self, *, juminhyo_code: str, from_lg_code: str, card_serial: str, actor: Actor,
                          card_check: CardCheck, former: Former, case_ref: str = "") -> ReceivedCertificate:
        """Card check, then 転出証明書情報 from the former municipality, kept for the 転入 (NET-6)."""
        request = tr.CertificateRequest(juminhyo_code, self.lg_code, card_serial, case_ref).check()
        peer = register_code(from_lg_code)
        if peer == self.lg_code:
            raise RuleViolation(Problem("from_lg_code", "REG-R1/move-in-from-outside",
                                        "転出地が同じ市区町村です。転居届として入力してください。",
                                        "The former municipality is this one: enter a move within (転居)."))
        try:
            card_check(card_serial, juminhyo_code)
            cert = former(peer, request)
        except Exception as e:
            with self.store.engine.begin() as conn:
                self._record(conn, user_id=actor.user_id, terminal=actor.terminal, session_id=actor.session_id,
                             action="moveout.certificate.request", outcome="denied", subjects=[],
                             detail={"juminhyo_code": juminhyo_code, "from": peer, "error": type(e).__name__})
            raise
        if cert.person(juminhyo_code) is None or cert.from_lg_code != peer:
            raise RuleViolation(Problem("juminhyo_code", "NET-6/answer", "受信した転出証明書情報が依頼と一致しません。",
                                        "The move-out certificate received does not answer the request."))
        text = json.dumps(cert.to_json(), ensure_ascii=False)
        ciphertext, key_id = self.store.keyring.encrypt(text, _aad(juminhyo_code, peer))
        with self.store.engine.begin() as conn:
            inserted = conn.execute(moveout_certificates_received.insert().values(
                juminhyo_code=juminhyo_code, from_lg_code=peer, planned_move_out=cert.planned_move_out,
                delete_on=tr.deletion_date(cert.planned_move_out), certificate_ciphertext=ciphertext, key_id=key_id,
                card_serial=card_serial, case_ref=case_ref, received_by=actor.user_id, received_at=self.clock(),
                status="received")).inserted_primary_key
            assert inserted is not None
            self._record(conn, user_id=actor.user_id, terminal=actor.terminal, session_id=actor.session_id,
                         action="moveout.certificate.request", subjects=[],
                         detail={"juminhyo_code": juminhyo_code, "from": peer, "certificate_id": int(inserted[0]),
                                 "persons": len(cert.persons), "support_measure": cert.support_measure})
        return self.received(int(inserted[0]))

    def _load(self, cert_id: int) -> tuple[Any, tr.MoveOutCertificate]:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(moveout_certificates_received)
                               .where(moveout_certificates_received.c.id == cert_id)).first()
        if row is None:
            raise NotFound(Problem("certificate_id", "NET-6/not-found", f"受信した転出証明書情報 {cert_id} はありません（削除済みの場合を含む）。",
                                   f"There is no received move-out certificate {cert_id} (it may have been deleted)."))
        text = self.store.keyring.decrypt(row.certificate_ciphertext, row.key_id, _aad(row.juminhyo_code, row.from_lg_code))
        return row, tr.MoveOutCertificate.from_json(json.loads(text))

    def received(self, cert_id: int) -> ReceivedCertificate:
        row, cert = self._load(cert_id)
        shown = cert.to_json()
        for p in shown["persons"]:
            p["individual_number"] = MASK if p["individual_number"] else None
        return ReceivedCertificate(row.id, row.juminhyo_code, row.from_lg_code, row.planned_move_out, row.delete_on,
                                   row.status, row.change_request_id, row.event_seq, shown)

    def submit_move_in(self, cert_id: int, arrival: tr.Arrival, *, actor: Actor, effective_date: dt.date,
                       notified_date: dt.date) -> Submitted:
        """The 特例転入, entered from the certificate for approval by another user (REG-R3)."""
        _, cert = self._load(cert_id)
        command = tr.move_in_command(cert, arrival, moved_in_on=effective_date, today=self.today())
        cert_row = moveout_certificates_received.c
        with self.store.engine.begin() as conn:  # claim the certificate first: one 転入 per certificate
            claimed = conn.execute(moveout_certificates_received.update()
                                   .where(cert_row.id == cert_id, cert_row.status == "received")
                                   .values(status="submitted")).rowcount
        if claimed != 1:
            raise RuleViolation(Problem("certificate_id", "NET-6/used", "この転出証明書情報は既に転入の届出に使われています。",
                                        "This move-out certificate is already used by a move-in."))
        try:
            submitted = self.changes.submit(
                ChangeKind.MOVE_IN, to_json(command), actor=actor, origin=Origin.NOTIFICATION,
                legal_basis="住民基本台帳法第22条・第24条の2", effective_date=effective_date, notified_date=notified_date,
                case_ref=self._case_ref(cert_id),
            )
        except BaseException:
            with self.store.engine.begin() as conn:
                conn.execute(moveout_certificates_received.update().where(cert_row.id == cert_id)
                             .values(status="received"))
            raise
        with self.store.engine.begin() as conn:
            conn.execute(moveout_certificates_received.update().where(cert_row.id == cert_id)
                         .values(change_request_id=submitted.request_id))
        return submitted

    def _case_ref(self, cert_id: int) -> str:
        with self.store.engine.connect() as conn:
            return str(conn.execute(sa.select(moveout_certificates_received.c.case_ref)
                                    .where(moveout_certificates_received.c.id == cert_id)).scalar() or "")

    def complete(self) -> list[int]:
        """For every 特例転入 decided since: approved → 転入通知 and 継続利用 recorded for delivery, the
        certificate marked used; returned or rejected → the certificate can be used again.  Returns the
        ids of certificates used now."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(moveout_certificates_received)
                                .where(moveout_certificates_received.c.status == "submitted")).all()
        used = []
        for row in rows:
            if row.change_request_id is None:  # being submitted right now
                continue
            request = self.store.request(row.change_request_id)
            if request is None or request.decision is None:
                continue
            if request.decision.decision != "approved" or request.decision.event_seq is None:
                with self.store.engine.begin() as conn:
                    conn.execute(moveout_certificates_received.update()
                                 .where(moveout_certificates_received.c.id == row.id)
                                 .values(status="received", change_request_id=None))
                continue
            seq = request.decision.event_seq
            _, cert = self._load(row.id)
            entered = self._entered(seq)
            now = self.clock()
            with self.store.engine.begin() as conn:
                enqueue_notice(conn, sender=self.lg_code, peer=cert.from_lg_code, event_seq=seq, persons=entered, now=now)
                if row.card_serial and any(p.juminhyo_code == row.juminhyo_code for p in entered):
                    report_card_event(conn, CardNotice(CardEvent.CONTINUE, row.card_serial, row.juminhyo_code,
                                                       self.lg_code, self.today()),
                                      now=now, dedupe_key=f"card_continue:{self.lg_code}:{seq}")
                conn.execute(moveout_certificates_received.update().where(moveout_certificates_received.c.id == row.id)
                             .values(status="used", event_seq=seq, used_at=now))
                self._record(conn, user_id=SYSTEM_ACTOR.user_id, terminal=SYSTEM_ACTOR.terminal,
                             action="moveout.certificate.use", subjects=[p.person_id for p in entered],
                             detail={"certificate_id": row.id, "event_seq": seq, "to": cert.from_lg_code})
            used.append(row.id)
        return used

    def _entered(self, seq: int) -> list[Any]:
        with self.store.read() as r:
            ev = r.event(seq)
            assert ev is not None
            found = r.persons(ev.details.get("person_ids", []))
        return [found[i] for i in ev.details.get("person_ids", []) if i in found]

    def purge(self) -> int:
        """Delete received 転出証明書情報 past its keeping period (転出予定日 + 30 days, NET-6); returns how
        many.  A certificate waiting for an approval is kept until the request is decided."""
        today = self.today()
        with self.store.engine.begin() as conn:
            gone = conn.execute(sa.select(moveout_certificates_received.c.id, moveout_certificates_received.c.juminhyo_code,
                                          moveout_certificates_received.c.status)
                                .where(moveout_certificates_received.c.delete_on <= today,
                                       moveout_certificates_received.c.status != "submitted")).all()
            if gone:
                conn.execute(moveout_certificates_received.delete()
                             .where(moveout_certificates_received.c.id.in_([g.id for g in gone])))
                self._record(conn, user_id=SYSTEM_ACTOR.user_id, terminal=SYSTEM_ACTOR.terminal,
                             action="moveout.certificate.purge", subjects=[],
                             detail={"deleted": len(gone), "unused": sum(g.status == "received" for g in gone),
                                     "on": today.isoformat()})
        return len(gone)

    def certificates(self, *, status: str | None = None) -> list[ReceivedCertificate]:
        q = sa.select(moveout_certificates_received.c.id).order_by(moveout_certificates_received.c.id)
        if status:
            q = q.where(moveout_certificates_received.c.status == status)
        with self.store.engine.connect() as conn:
            ids = [r.id for r in conn.execute(q)]
        return [self.received(i) for i in ids]


def _aad(juminhyo_code: str, from_lg_code: str) -> str:
    return f"moveout-certificate:{from_lg_code}:{juminhyo_code}"


def notice_from_json(data: dict[str, Any]) -> tr.MoveInNotice:
    result = from_json(tr.MoveInNotice, data, "notice")
    assert isinstance(result, tr.MoveInNotice)
    return result


# --- the node feature (juki.net.node.FEATURES) -----------------------------------------------------
# municipality: POST /net/v1/transfer/certificate (転出証明書情報の送信依頼, from the new municipality),
#               POST /net/v1/transfer/move-in-notice (転入通知); worker "transfer": completes approved
#               特例転入, delivers 転入通知 and card events, deletes expired certificates.

ROLES = frozenset({Tier.MUNICIPALITY})
RULES = {"moveout_certificate": allow(Tier.MUNICIPALITY), "move_in_notice": allow(Tier.MUNICIPALITY)}
PURGE_EVERY = dt.timedelta(hours=1)


def skip_from_json(data: Any) -> tr.MoveInNoticeSkip:
    result = from_json(tr.MoveInNoticeSkip, data, "skip")
    assert isinstance(result, tr.MoveInNoticeSkip)
    return result


def request_from_json(data: Any) -> tr.CertificateRequest:
    result = from_json(tr.CertificateRequest, data, "")
    assert isinstance(result, tr.CertificateRequest)
    return result


def card_check_of(node: Node) -> CardCheck:
    def check(card_serial: str, juminhyo_code: str) -> None:
        call(node, NATIONAL_CODE, "/net/v1/cards/check", {"card_serial": card_serial, "juminhyo_code": juminhyo_code})
    return check


def former_of(node: Node) -> Former:
    def former(lg_code: str, request: tr.CertificateRequest) -> tr.MoveOutCertificate:
        return tr.MoveOutCertificate.from_json(call(node, lg_code, "/net/v1/transfer/certificate", to_json(request)))
    return former


def send_of(node: Node) -> Callable[[str, str, dict[str, Any], str], None]:
    def send(kind: str, peer: str, payload: dict[str, Any], dedupe_key: str) -> None:
        if kind == MOVE_IN_NOTICE:
            call(node, peer, "/net/v1/transfer/move-in-notice", payload)
        elif kind == "card_event":
            call(node, NATIONAL_CODE, "/net/v1/cards/events", {"notice": payload, "dedupe_key": dedupe_key})
        else:
            raise ValueError(f"unknown delivery kind {kind!r}")
    return send


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1/transfer", tags=["特例転入"])

    @r.post("/certificate", name="moveout_certificate", summary="転出証明書情報の送信依頼（転入地から、個人番号を含まない）")
    async def moveout_certificate(request: Request) -> dict[str, Any]:
        peer = peer_of(request)
        req = request_from_json(await json_body(request))
        cert = await asyncio.to_thread(services(node).transfer.answer_certificate, req, caller_lg_code=peer.identity.code)
        return cert.to_json()

    @r.post("/move-in-notice", name="move_in_notice", summary="転入通知（転出確定の記録）")
    async def move_in_notice(request: Request) -> dict[str, Any]:
        peer = peer_of(request)
        body = await json_body(request)
        transfer = services(node).transfer
        if isinstance(body, dict) and set(body) == {"skip"}:
            skip = skip_from_json(body["skip"])
            await asyncio.to_thread(transfer.receive_skip, skip, caller_lg_code=peer.identity.code)
            return {"event_seqs": [], "skipped": skip.seq}
        notice = notice_from_json(body)
        seqs = await asyncio.to_thread(transfer.receive_notice, notice, caller_lg_code=peer.identity.code)
        return {"event_seqs": seqs}

    return r


def workers(node: Node) -> list[Worker]:
    idle = max(node.config.poll_seconds * 4, 1.0)
    last_purge: list[dt.datetime] = []

    def step() -> float:
        s = services(node)
        used = s.transfer.complete()
        report = s.deliveries.deliver_due(send_of(node))
        now = node.clock()
        if not last_purge or now - last_purge[0] >= PURGE_EVERY:
            s.transfer.purge()
            last_purge[:] = [now]
        return 0.0 if used or report.done else idle

    return [Worker("transfer", step)]
