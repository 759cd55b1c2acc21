"""Use cases of the 異動: submit a change, approve, return or reject it (REG-EVENTS, REG-R3, REG-R4).

A change entered by one user takes effect only when a *different* user approves it (四つの目, REG-R3).
On submission the command is checked whole against the current register (a dry run of the domain with
placeholder ids, so nothing is allocated or written when it is refused) and stored as a request with the
household versions the clerk saw.  On approval it is decided again against the register as it is then;
the event, every new version, the current projections and the outbox row are written in one transaction,
and a household changed by someone else in between makes the approval fail with a conflict (REG-R1 排他).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from juki.adapters.db.history import cancellation_target, last_change_dates
from juki.adapters.db.store import Reads, RequestRow, Store, Tx
from juki.clock import Clock, jst_date, utcnow
from juki.domain import identifiers
from juki.domain.changes import Cancellation, Command, command_from_json
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, RuleViolation
from juki.domain.events import ChangeKind, Origin, Outcome, Provenance
from juki.domain.model import HouseholdRecord, PersonRecord, to_json
from juki.domain.register import CancellationTarget, Context, Jurisdiction, decide, lookups


@dataclass(frozen=True)
class Actor:
    """Who acts and from where (操作者ID, 端末ID): every service call takes one."""

    user_id: str
    terminal: str
    session_id: str | None = None


@dataclass(frozen=True)
class Submitted:
    request_id: int
    kind: ChangeKind
    summary: str
    late: bool
    duplicate: bool = False  # the same idempotency key was submitted before


@dataclass(frozen=True)
class Approved:
    request_id: int
    event_seq: int
    outcome: Outcome


@dataclass(frozen=True)
class Preview:
    """What a pending request would do if approved now: the records it touches as they are (``before``)
    and the new versions (``outcome``), or why the register would now refuse it (``problems``)."""

    request: RequestRow
    before_persons: dict[str, PersonRecord]
    before_households: dict[str, HouseholdRecord]
    outcome: Outcome | None
    problems: tuple[Problem, ...] = ()


class _PlaceholderIds:
    """Ids for the dry run at submission: nothing is allocated until approval."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def person_id(self) -> str:
        return f"新規{next(self._n)}"

    def household_id(self) -> str:
        return f"新世帯{next(self._n)}"

    def juminhyo_code(self) -> str:
        return f"未付番{next(self._n)}"


_RANDOM = random.SystemRandom()


class _StoreIds:
    """Real ids at approval: 宛名番号/世帯番号 from the register's counters; 住民票コード random with its
    check digit and unique in this register (issued by 機構 once the 住基ネット node is connected)."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def person_id(self) -> str:
        return self.tx.allocate_ids("person", 1)[0]

    def household_id(self) -> str:
        return self.tx.allocate_ids("household", 1)[0]

    def juminhyo_code(self) -> str:
        while True:
            code = identifiers.new_juminhyo_code(_RANDOM)
            if self.tx.person_id_by_juminhyo_code(code) is None:
                return code


class ChangeService:
    """届出 and 職権 changes with the four-eyes approval (REG-R3)."""

    def __init__(self, store: Store, jurisdiction: Jurisdiction, clock: Clock = utcnow, audit: Any = None) -> None:
        self.store = store
        self.jurisdiction = jurisdiction
        self.clock = clock
        self.audit = audit
        """A :class:`juki.audit.log.AuditLog`: every submission and decision is recorded in the same
        transaction as the change itself (SEC-3, house rule 4).  None only for benchmarks."""

    def _record(self, tx: Tx, actor: Actor, action: str, subject_ids: list[str], detail: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.record(tx.connection, user_id=actor.user_id, terminal=actor.terminal, session_id=actor.session_id,
                              action=action, subject_ids=subject_ids, detail=detail)

    def today(self) -> dt.date:
        """Today in Japan (JST), the date every 届出 is dated by."""
        return jst_date(self.clock())

    # --- submission ------------------------------------------------------------------------------

    def submit(
        self,
        kind: ChangeKind | str,
        payload: dict[str, Any],
        *,
        actor: Actor,
        origin: Origin,
        legal_basis: str,
        effective_date: dt.date,
        notified_date: dt.date,
        case_ref: str = "",
        agent: str = "",
        idempotency_key: str | None = None,
        also: Callable[[Connection, int], None] | None = None,
    ) -> Submitted:
        """Check a change whole and queue it for approval; nothing is written when it is refused.

        ``also(connection, request_id)`` writes what an entry point records with the request (the
        counter's 本人確認, an online application's step) in the same transaction (house rule 4)."""
        command = command_from_json(kind, payload)
        provenance = Provenance(origin, legal_basis, effective_date, notified_date, actor.user_id,
                                actor.terminal, case_ref, agent)
        canonical = to_json(command)
        with self.store.transaction() as tx:
            if idempotency_key:
                previous = tx.request_by_idempotency_key(idempotency_key)
                if previous is not None:
                    if previous.kind != command.kind.value or previous.payload != canonical:
                        raise Conflict(Problem(
                            "idempotency_key", "REG-R3/duplicate",
                            "同じ受付キーで内容の異なる届出が既にあります。",
                            "A different change was already submitted with this idempotency key."))
                    return Submitted(previous.request_id, command.kind, previous.summary, False, duplicate=True)
            ctx = self._context(tx, command, provenance, _PlaceholderIds())
            outcome = decide(command, ctx)
            household_ids = sorted({h.household_id for h in outcome.households if h.household_id in ctx.households})
            expected = {hid: ctx.versions[hid] for hid in household_ids}
            request_id = tx.add_request(
                kind=command.kind.value, payload=canonical, provenance=provenance, household_ids=household_ids,
                expected_versions=expected, summary=outcome.summary_ja, idempotency_key=idempotency_key,
            )
            if also is not None:
                also(tx.connection, request_id)
            self._record(tx, actor, "change.submit", [p.person_id for p in outcome.persons if p.person_id in ctx.persons],
                         {"request_id": request_id, "kind": command.kind.value, "summary": outcome.summary_ja})
        return Submitted(request_id, command.kind, outcome.summary_ja, outcome.late)

    def preview(self, request_id: int) -> Preview:
        """The before and after of a request (for the approver's side-by-side view, REG-R3): decided as a
        dry run against the register as it is now, with placeholder ids; nothing is written.  Unaudited:
        users see it through :meth:`juki.services.reading.ReadService.change_preview`."""
        with self.store.read() as r:
            row = r.request(request_id)
            if row is None:
                raise NotFound(Problem("request_id", "REG-R3", f"届出 {request_id} はありません。",
                                       f"There is no request {request_id}."))
            command = command_from_json(row.kind, row.payload)
            ctx = self._context(r, command, row.provenance, _PlaceholderIds())
            try:
                outcome: Outcome | None = decide(command, ctx)
                problems: tuple[Problem, ...] = ()
            except (RuleViolation, NotFound, InvalidInput, Conflict) as e:
                outcome, problems = None, e.problems
        touched_p = {p.person_id for p in outcome.persons} if outcome else set(ctx.persons)
        touched_h = {h.household_id for h in outcome.households} if outcome else set(ctx.households)
        return Preview(row, {k: v for k, v in ctx.persons.items() if k in touched_p},
                       {k: v for k, v in ctx.households.items() if k in touched_h}, outcome, problems)

    # --- decisions -------------------------------------------------------------------------------

    def approve(self, request_id: int, *, actor: Actor) -> Approved:
        """決裁: a second user makes the change effective (REG-R3), in one transaction (house rule 4)."""
        with self.store.transaction() as tx:
            row = self._pending(tx, request_id, actor)
            command = command_from_json(row.kind, row.payload)
            provenance = row.provenance
            ctx = self._context(tx, command, provenance, _StoreIds(tx))
            try:
                outcome = decide(command, ctx)
            except (RuleViolation, NotFound, InvalidInput) as e:
                # It passed these checks when entered, so the register has changed since.
                raise Conflict([
                    Problem("request_id", "REG-CONCURRENCY",
                            "受付後に住民票が変更されたため、この届出はそのままでは決裁できません。差し戻してください。",
                            "The register changed after this request was entered; return it to the clerk."),
                    *e.problems,
                ]) from None
            seq = tx.apply(outcome, provenance, approved_by=actor.user_id, request_id=request_id,
                           expected_versions=row.expected_versions)
            tx.add_decision(request_id=request_id, decision="approved", decided_by=actor.user_id,
                            terminal=actor.terminal, reason="", event_seq=seq)
            self._record(tx, actor, "change.approve", [p.person_id for p in outcome.persons],
                         {"request_id": request_id, "event_seq": seq, "kind": outcome.kind.value})
        return Approved(request_id, seq, outcome)

    def apply_notice(
        self,
        kind: ChangeKind | str,
        payload: dict[str, Any],
        *,
        actor: Actor,
        legal_basis: str,
        effective_date: dt.date,
        case_ref: str = "",
    ) -> tuple[int, Outcome]:
        """A change the register makes on a notice from the 住基ネット, with no clerk entering it: the
        designation of a 個人番号 that 機構 generated (番号法7条1項, NET-7) and the 転出確定 on a 転入通知
        (住基法9条1項, NET-6).  Nothing is typed by a person, so there is no second person to confirm it
        (REG-R3 covers what people enter): it is decided and applied in one transaction with origin
        通知, entered and approved by ``actor`` (the network service's system id), and audited.  Returns the
        event's seq and the outcome."""
        command = command_from_json(kind, payload)
        provenance = Provenance(Origin.NOTICE, legal_basis, effective_date, self.today(), actor.user_id,
                                actor.terminal, case_ref)
        with self.store.transaction() as tx:
            ctx = self._context(tx, command, provenance, _StoreIds(tx))
            outcome = decide(command, ctx)
            seq = tx.apply(outcome, provenance, approved_by=actor.user_id, request_id=None, expected_versions={})
            self._record(tx, actor, "change.notice", [p.person_id for p in outcome.persons],
                         {"event_seq": seq, "kind": outcome.kind.value, "case_ref": case_ref})
        return seq, outcome

    def return_request(self, request_id: int, *, actor: Actor, reason: str) -> None:
        """差戻し: back to the clerk with a reason; the request is closed and entered anew."""
        self._decide(request_id, actor, "returned", reason)

    def reject(self, request_id: int, *, actor: Actor, reason: str) -> None:
        """却下: the change is refused, with a reason."""
        self._decide(request_id, actor, "rejected", reason)

    def _decide(self, request_id: int, actor: Actor, decision: str, reason: str) -> None:
        if not reason or not reason.strip():
            raise InvalidInput(Problem("reason", "REG-R3/reason", "理由を入力してください。",
                                       "A reason is required."))
        with self.store.transaction() as tx:
            row = self._pending(tx, request_id, actor, allow_self=decision == "returned")
            tx.add_decision(request_id=request_id, decision=decision, decided_by=actor.user_id,
                            terminal=actor.terminal, reason=reason.strip(), event_seq=None)
            self._record(tx, actor, "change.return" if decision == "returned" else "change.reject", [],
                         {"request_id": request_id, "kind": row.kind, "reason": reason.strip()})

    def _pending(self, tx: Tx, request_id: int, actor: Actor, *, allow_self: bool = False) -> RequestRow:
        row = tx.request(request_id)
        if row is None:
            raise NotFound(Problem("request_id", "REG-R3", f"届出 {request_id} はありません。",
                                   f"There is no request {request_id}."))
        if row.decision is not None:
            done = row.decision.decision
            done_ja = {"approved": "決裁済み", "returned": "差戻し済み", "rejected": "却下済み"}.get(done, done)
            raise Conflict(Problem("request_id", "REG-R3/decided",
                                   f"届出 {request_id} は既に処理されています（{done_ja}、{row.decision.decided_by}）。",
                                   f"Request {request_id} has already been decided ({done} by {row.decision.decided_by})."))
        if not allow_self and row.entered_by == actor.user_id:
            raise Forbidden(Problem("approved_by", "REG-R3/four-eyes",
                                    "入力した職員は自分の届出を決裁できません。別の職員が確認してください。",
                                    "The user who entered a change cannot approve it; another user must."))
        return row

    # --- the context the domain decides in -------------------------------------------------------

    def _context(self, tx: Reads, command: Command, provenance: Provenance, ids: Any) -> Context:
        """Load what ``command`` names: its households with all their members, its persons, the persons
        found by the 住民票コード / 個人番号 of anyone entering, and for a 取消 the versions around the
        cancelled change.  Households and their members are read in two queries whatever their number."""
        ctx = Context(jurisdiction=self.jurisdiction, provenance=provenance, today=self.today(), ids=ids)
        persons = tx.persons(command.named_person_ids())
        household_ids = set(command.named_household_ids())
        household_ids.update(p.household_id for p in persons.values() if p.is_resident)
        codes, numbers = lookups(command)
        found: dict[str, tuple[str, str]] = {}
        for what, value, pid in [*(("code", c, tx.person_id_by_juminhyo_code(c)) for c in codes),
                                 *(("number", n, tx.person_id_by_individual_number(n)) for n in numbers)]:
            if pid is not None:
                found[pid] = (what, value)
        wanted = set(found)
        if isinstance(command, Cancellation):
            ctx.cancellation = cancellation_target(tx, command.event_seq)
            if ctx.cancellation is not None:
                wanted.update(ctx.cancellation.persons_after)
                household_ids.update(ctx.cancellation.households_after)
        loaded = tx.households(sorted(household_ids))
        ctx.versions = {hid: version for hid, (_, version) in loaded.items()}
        ctx.households = {hid: household for hid, (household, _) in loaded.items()}
        wanted.update(m for h in ctx.households.values() for m in h.member_ids)
        persons.update(tx.persons(wanted - set(persons)))  # the named persons are read already
        for pid, (what, value) in found.items():
            (ctx.by_juminhyo_code if what == "code" else ctx.by_individual_number)[value] = persons[pid]
        ctx.persons.update(persons)
        ctx.last_change.update(last_change_dates(tx, ctx.persons, ctx.households))
        return ctx


__all__ = ["Actor", "Approved", "CancellationTarget", "ChangeService", "Preview", "Submitted"]
