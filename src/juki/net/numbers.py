"""個人番号の生成・指定 (NET-7): the national server generates, the municipality requests and designates.

**National server** (:class:`NumberingService`, 機構): answers a 生成要求 with the number derived from the
住民票コード (:mod:`juki.domain.numbering`), unique through its table of given numbers, and answers the
same code with the same number however often it is asked; answers a 変更要求 (番号法7条2項) by retiring
the current number and giving the next free one.  The secret and the index key live in a file outside
the database (:class:`NumberingKeys`, mode 0600); the table holds no 個人番号, only the attempt and a
keyed digest.  Only the municipality named in a request may send it (its certificate says who it is).

**Municipality** (:class:`NumberDesignation`, 市町村CS): every resident without a 個人番号 (出生, 国外か
らの転入, 職権記載 without a carried number) gets a 生成要求 (:meth:`~NumberDesignation.collect`); a clerk
in number-use work may ask for a 変更要求.  :meth:`~NumberDesignation.send_pending` sends them, matches each
answer to the 住民票コード and 依頼管理番号 of its request, and designates the number in the register
through :meth:`juki.services.changes.ChangeService.apply_notice` (a 職権 個人番号の指定/変更 event, 通知),
so that the change reaches the prefecture and the national server like any other (NET-2).  A transport
failure leaves the request pending for the next run; a refusal marks it failed with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.engine import Engine

from juki.adapters.db.schema import persons
from juki.adapters.db.store import Store
from juki.api.common import json_body
from juki.clock import Clock, jst_date, utcnow
from juki.domain import numbering as nb
from juki.domain.changes import from_json
from juki.domain.errors import Forbidden, JukiError, NotFound, Problem, RuleViolation
from juki.domain.events import ChangeKind
from juki.domain.model import Status, to_json
from juki.services.changes import Actor, ChangeService

from .deliveries import Report
from .node import SYSTEM_USER, Node, Worker, allow, peer_of
from .pki import NATIONAL_CODE, Tier
from .services import call, services
from .svc_tables import individual_number_assignments as assignments
from .svc_tables import individual_number_requests as number_requests

SYSTEM_ACTOR = Actor(SYSTEM_USER, "CS")
"""Who the register records for changes the 住基ネット services make on a notice (no clerk typed them)."""

KEY_BYTES = 32


class NumberingKeys:
    """機構's numbering secret (the HMAC key of the derivation) and its index key (for the digest that
    keeps numbers unique without storing them), in a JSON file readable by the service account only."""

    def __init__(self, derivation: bytes, index: bytes, path: Path | None = None) -> None:
        if len(derivation) != KEY_BYTES or len(index) != KEY_BYTES:
            raise ValueError(f"numbering keys must be {KEY_BYTES} bytes each")
        self.derivation = derivation
        self.index = index
        self.path = path

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> NumberingKeys:
        p = Path(path)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            keys = cls(secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES), p)
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls.load_or_create(p)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"derivation": base64.b64encode(keys.derivation).decode(),
                           "index": base64.b64encode(keys.index).decode()}, f)
            return keys
        if os.name == "posix" and p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError(f"numbering key file {p} is accessible by group/others; chmod 600 it")
        data = json.loads(p.read_text(encoding="utf-8"))
        return cls(base64.b64decode(data["derivation"]), base64.b64decode(data["index"]), p)

    def digest(self, number: str) -> str:
        return hmac.new(self.index, number.encode("ascii"), hashlib.sha256).hexdigest()


# --- the national server ---------------------------------------------------------------------------


class NumberingService:
    """個人番号の生成 at the national server (機構, 番号法8条)."""

    def __init__(self, engine: Engine, keys: NumberingKeys, *, clock: Clock = utcnow, audit: Any = None) -> None:
        self.engine = engine
        self.keys = keys
        self.clock = clock
        self.audit = audit  # juki.audit.log.AuditLog of this node

    def answer(self, request: nb.GenerationRequest, *, caller_lg_code: str) -> nb.NumberResult:
        """The 生成結果 / 変更結果 for ``request``, sent by the municipality ``caller_lg_code``.

        Idempotent: the same 依頼管理番号 gets the same answer, and a 生成要求 for a code that already
        has a number gets that number (``repeated``).  Refused: a request on behalf of another
        municipality, a malformed request, a 変更要求 for an unknown code or naming a number that is
        not the code's current one."""
        request.check()
        if caller_lg_code != request.lg_code:
            raise Forbidden(Problem("lg_code", "NET-7/caller", "他の市町村の依頼管理番号で要求することはできません。",
                                    "A municipality may only send its own requests."))
        for _ in range(5):  # a concurrent allocation of the same number or code: read again and retry
            try:
                with self.engine.begin() as conn:
                    result = self._answer(conn, request)
                    self._audit(conn, request, result)
                    return result
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError("individual number allocation kept colliding")  # pragma: no cover

    def _number(self, code: str, attempt: int) -> str:
        return nb.derive_individual_number(self.keys.derivation, code, attempt)

    def _answer(self, conn: sa.Connection, request: nb.GenerationRequest) -> nb.NumberResult:
        code = request.juminhyo_code
        if conn.dialect.name == "postgresql":
            # one answer per 住民票コード at a time: otherwise two concurrent 生成要求 both read "no number
            # yet", the second finds attempt 0 taken by the first and allocates attempt 1 -- two numbers for
            # one person.  (SQLite serialises write transactions already.)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"juki-number:{code}"})
        done = conn.execute(sa.select(assignments).where(assignments.c.request_ref == request.request_ref)).first()
        if done is not None:
            if done.juminhyo_code != code or done.kind != request.kind:
                raise RuleViolation(Problem("request_ref", "NET-7/request-ref",
                                            "この依頼管理番号は別の要求に使われています。",
                                            "This request reference was used for another request."))
            return nb.NumberResult(request.request_ref, code, self._number(code, done.attempt), request.kind, repeated=True)
        current = conn.execute(
            sa.select(assignments.c.attempt).where(assignments.c.juminhyo_code == code)
            .order_by(assignments.c.attempt.desc()).limit(1)
        ).scalar()
        if request.kind == nb.RequestKind.GENERATE:
            if current is not None:
                return nb.NumberResult(request.request_ref, code, self._number(code, current), request.kind, repeated=True)
            start = 0
        else:
            if current is None:
                raise NotFound(Problem("juminhyo_code", "NET-7/unknown-code", "この住民票コードに個人番号は生成されていません。",
                                       "No individual number was generated for this resident record code."))
            if not hmac.compare_digest(self._number(code, current), request.current_number):
                raise RuleViolation(Problem("current_number", "NET-7/current-number",
                                            "現在の個人番号が機構の記録と一致しません。",
                                            "The current individual number does not match 機構's record."))
            start = current + 1

        def taken(number: str) -> bool:
            digest = self.keys.digest(number)
            return conn.execute(sa.select(assignments.c.id).where(assignments.c.number_digest == digest)).first() is not None

        got = nb.allocate(self.keys.derivation, code, taken, start=start)
        conn.execute(assignments.insert().values(
            juminhyo_code=code, attempt=got.attempt, number_digest=self.keys.digest(got.individual_number),
            kind=request.kind, request_ref=request.request_ref, lg_code=request.lg_code, created_at=self.clock(),
        ))
        return nb.NumberResult(request.request_ref, code, got.individual_number, request.kind)

    def _audit(self, conn: sa.Connection, request: nb.GenerationRequest, result: nb.NumberResult) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=f"node:{request.lg_code}", terminal="", action=f"number.{request.kind}",
                              subject_ids=[request.juminhyo_code],
                              detail={"request_ref": request.request_ref, "repeated": result.repeated})

    def current_number(self, juminhyo_code: str) -> str | None:
        """The code's current 個人番号 (None when none was generated)."""
        with self.engine.connect() as conn:
            attempt = conn.execute(
                sa.select(assignments.c.attempt).where(assignments.c.juminhyo_code == juminhyo_code)
                .order_by(assignments.c.attempt.desc()).limit(1)
            ).scalar()
        return None if attempt is None else self._number(juminhyo_code, attempt)


# --- the municipality ------------------------------------------------------------------------------

National = Callable[[nb.GenerationRequest], nb.NumberResult]
"""The national server as the municipality reaches it (over mutual TLS in a node; directly in tests)."""


@dataclass(frozen=True)
class RequestView:
    request_ref: str
    kind: str
    person_id: str
    juminhyo_code: str
    status: str
    attempts: int
    last_error: str | None
    event_seq: int | None


class NumberDesignation:
    """生成要求 / 変更要求 and the designation of the answer, at the municipality (NET-7)."""

    def __init__(self, store: Store, changes: ChangeService, lg_code: str, *, clock: Clock = utcnow, audit: Any = None) -> None:
        self.store = store
        self.changes = changes
        self.lg_code = lg_code
        self.clock = clock
        self.audit = audit

    def collect(self) -> int:
        """A pending 生成要求 for every resident without a 個人番号 and without an open or answered
        request; returns how many were added."""
        open_ = sa.select(number_requests.c.person_id).where(number_requests.c.kind == nb.RequestKind.GENERATE,
                                                      number_requests.c.status.in_(("pending", "designated")))
        with self.store.engine.begin() as conn:
            rows = conn.execute(
                sa.select(persons.c.person_id, persons.c.juminhyo_code)
                .where(persons.c.number_index.is_(None), persons.c.status == Status.RESIDENT.value,
                       persons.c.person_id.not_in(open_))
                .order_by(persons.c.person_id)
            ).all()
            for r in rows:
                self._add(conn, nb.RequestKind.GENERATE, r.person_id, r.juminhyo_code, "", SYSTEM_ACTOR.user_id)
        return len(rows)

    def request_change(self, person_id: str, reason: str, *, actor: Actor) -> str:
        """A 変更要求 for a resident's 個人番号 (番号法7条2項); the number changes when 機構 answers."""
        if not reason.strip():
            raise RuleViolation(Problem("reason", "NET-7/reason", "変更の理由を入力してください。", "Give the reason for the change."))
        person = self.store.person_current(person_id)
        if person is None or not person.is_resident:
            raise NotFound(Problem("person_id", "NET-7/person", f"宛名番号 {person_id} の住民はいません。",
                                   f"There is no resident {person_id}."))
        if person.individual_number is None:
            raise RuleViolation(Problem("person_id", "NET-7/no-number", "個人番号が未指定のため変更要求はできません。",
                                        "The person has no individual number yet, so it cannot be changed."))
        with self.store.engine.begin() as conn:
            busy = conn.execute(sa.select(number_requests.c.request_ref).where(
                number_requests.c.person_id == person_id, number_requests.c.status == "pending")).first()
            if busy is not None:
                raise RuleViolation(Problem("person_id", "NET-7/pending", f"処理中の要求 {busy.request_ref} があります。",
                                            f"Request {busy.request_ref} for this person is still pending."))
            ref = self._add(conn, nb.RequestKind.CHANGE, person_id, person.juminhyo_code, reason.strip(), actor.user_id)
            if self.audit is not None:
                self.audit.record(conn, user_id=actor.user_id, terminal=actor.terminal, session_id=actor.session_id,
                                  action="number.change.request", subject_ids=[person_id], detail={"request_ref": ref})
        return ref

    def _add(self, conn: sa.Connection, kind: str, person_id: str, code: str, reason: str, by: str) -> str:
        now = self.clock()
        inserted = conn.execute(number_requests.insert().values(
            request_ref=f"tmp-{secrets.token_hex(12)}", kind=kind, person_id=person_id, juminhyo_code=code,
            reason=reason, requested_by=by, status="pending", created_at=now,
        )).inserted_primary_key
        assert inserted is not None
        rid = inserted[0]
        ref = nb.request_ref(self.lg_code, int(rid))
        conn.execute(number_requests.update().where(number_requests.c.id == rid).values(request_ref=ref))
        return ref

    def requests(self, *, person_id: str | None = None, status: str | None = None, limit: int = 100) -> list[RequestView]:
        q = sa.select(number_requests).order_by(number_requests.c.id).limit(limit)
        if person_id:
            q = q.where(number_requests.c.person_id == person_id)
        if status:
            q = q.where(number_requests.c.status == status)
        with self.store.engine.connect() as conn:
            return [RequestView(r.request_ref, r.kind, r.person_id, r.juminhyo_code, r.status, r.attempts, r.last_error,
                                r.event_seq) for r in conn.execute(q)]

    def send_pending(self, national: National, limit: int = 100) -> Report:
        """Send pending requests to 機構 and designate each answer (one transaction per request)."""
        report = Report()
        with self.store.engine.connect() as conn:
            pending = conn.execute(sa.select(number_requests).where(number_requests.c.status == "pending")
                                   .order_by(number_requests.c.id).limit(limit)).all()
        for row in pending:
            self._send_one(row, national, report)
        return report

    def _send_one(self, row: Any, national: National, report: Report) -> None:
        person = self.store.person_current(row.person_id)
        current = person.individual_number if person is not None else None
        request = nb.GenerationRequest(kind=row.kind, request_ref=row.request_ref, lg_code=self.lg_code,
                                       juminhyo_code=row.juminhyo_code,
                                       current_number=(current or "") if row.kind == nb.RequestKind.CHANGE else "",
                                       reason=row.reason if row.kind == nb.RequestKind.CHANGE else "")
        try:
            answer = national(request)
        except JukiError as e:  # 機構 refused: no retry can help
            self._finish(row, "failed", error=_problems_text(e))
            report.failed.append(row.request_ref)
            return
        except Exception as e:  # the network or the other node failed: try again next run
            self._finish(row, "pending", error=f"{type(e).__name__}: {e}")
            report.retry.append(row.request_ref)
            return
        try:
            number = nb.match_result(request, answer)
            if person is None or person.individual_number != number:
                seq, _ = self.changes.apply_notice(
                    ChangeKind.INDIVIDUAL_NUMBER_CHANGE,
                    {"person_id": row.person_id, "new_number": number,
                     "reason": f"{nb.REQUEST_KIND_JA[row.kind]}に対する機構の回答（依頼管理番号 {row.request_ref}）"},
                    actor=SYSTEM_ACTOR,
                    legal_basis="番号法第7条第1項" if row.kind == nb.RequestKind.GENERATE else "番号法第7条第2項",
                    effective_date=jst_date(self.clock()), case_ref=row.request_ref,
                )
            else:  # designated before (a repeated run after a crash)
                seq = None
        except JukiError as e:
            self._finish(row, "failed", error=_problems_text(e))
            report.failed.append(row.request_ref)
            return
        self._finish(row, "designated", event_seq=seq)
        report.done.append(row.request_ref)

    def _finish(self, row: Any, status: str, *, error: str | None = None, event_seq: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "attempts": number_requests.c.attempts + 1, "last_error": error}
        if status != "pending":
            values["answered_at"] = self.clock()
        if event_seq is not None:
            values["event_seq"] = event_seq
        with self.store.engine.begin() as conn:
            conn.execute(number_requests.update().where(number_requests.c.id == row.id).values(**values))


def _problems_text(e: JukiError) -> str:
    return " / ".join(f"{p.field}: {p.ja} [{p.rule}]" for p in e.problems)


# --- the node feature (juki.net.node.FEATURES) -----------------------------------------------------
# national: POST /net/v1/numbers (生成要求 / 変更要求 from a municipality's CS)
# municipality: worker "numbers": collect → send → designate; then the 送付先情報 of what was designated

ROLES = frozenset({Tier.MUNICIPALITY, Tier.NATIONAL})
RULES = {"number_request": allow(Tier.MUNICIPALITY)}


def request_from_json(data: Any) -> nb.GenerationRequest:
    result = from_json(nb.GenerationRequest, data, "")
    assert isinstance(result, nb.GenerationRequest)
    return result


def result_from_json(data: Any) -> nb.NumberResult:
    result = from_json(nb.NumberResult, data, "")
    assert isinstance(result, nb.NumberResult)
    return result


def national_of(node: Node) -> National:
    """The national server's numbering, over mutual TLS."""
    return lambda request: result_from_json(call(node, NATIONAL_CODE, "/net/v1/numbers", to_json(request)))


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1", tags=["個人番号"])
    if node.role is Tier.MUNICIPALITY:
        node.register.net = services(node)  # the register's API reaches the network through it (api/jukinet.py)
    if node.role is Tier.NATIONAL:
        @r.post("/numbers", name="number_request", summary="個人番号の生成要求・変更要求（機構が生成結果・変更結果を返す）")
        async def number_request(request: Request) -> dict[str, Any]:
            peer = peer_of(request)
            req = request_from_json(await json_body(request))
            answer = await asyncio.to_thread(services(node).numbering.answer, req, caller_lg_code=peer.identity.code)
            data: dict[str, Any] = to_json(answer)
            return data
    return r


def workers(node: Node) -> list[Worker]:
    if node.role is not Tier.MUNICIPALITY:
        return []
    idle = max(node.config.poll_seconds * 4, 1.0)

    def send_sending_info(payload: dict[str, Any]) -> None:
        call(node, NATIONAL_CODE, "/net/v1/sending-info", payload)

    def step() -> float:
        s = services(node)
        s.designation.collect()
        report = s.designation.send_pending(national_of(node))
        s.sending.collect()
        s.sending.send_due(send_sending_info)
        s.sending.purge()
        return 0.0 if report.done else idle

    return [Worker("numbers", step)]
