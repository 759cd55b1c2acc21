"""総合受付 (CTR-2): receptions per life event, their steps, links to 届出 and certificates, closing.

Each operation is one transaction and writes its audit entry in it (SEC-3).  The rules are the domain's
(:mod:`juki.domain.life_events`); this module stores, loads, derives and guards:

* **Opening** (:meth:`ReceptionService.open`): the persons concerned in the register are read through
  :class:`~juki.services.reading.ReadService` (screened, audited as ``person.read``); the day's next
  受付番号 is taken (unique per day: two clerks opening at once on PostgreSQL retry on the constraint); the
  event's checklist becomes the steps, and revision 1 (``open``) is written.
* **Progress.** A step's recorded status is its latest ``reception_updates`` row; a step whose latest row
  links a 届出 follows that request's decision (決裁待ち → 完了, 差戻し) without anyone writing anything
  when the approver decides (the same decision as 引越しワンストップ's: status derived, rows insert-only).
* **Optimistic concurrency.** Every write inserts the reception's next revision.  A clerk's write names
  the revision the clerk saw (the page's hidden ``revision``): another revision in between refuses it
  with ``CTR-2/revision`` (409), and the primary key (reception, revision) decides a race on PostgreSQL.
  Links written in a submission's or an issuance's transaction take the next revision whatever it is
  (they do not depend on what a page showed), retrying in a savepoint if another write took it.
* **Closing** needs every step 完了 or 不要 (``CTR-2/open-steps``, naming each open step); after the closing
  row a closed reception refuses every later write (``CTR-2/closed``) but one:
* **Reopening** (:meth:`ReceptionService.reopen`, 受付の再開): a closed reception, with a reason, on the
  revision the clerk saw; the ``reopen`` row makes it open again (its steps as they were).
* **庁内連携 hand-offs.** A step of a procedure handled by another section (:attr:`Procedure.section`) gets a
  ``reception_handoffs`` row in the transaction that creates the step (opening, a step added).  That
  section's system, logged in as a staff account of the section holding ``reception.handoff``, pulls its
  pending hand-offs (:meth:`ReceptionService.handoffs`: only its own section's, no 個人番号, audited as a
  read of the persons named) and acknowledges each (:meth:`ReceptionService.acknowledge`): one
  ``reception_handoff_acks`` row (once: the primary key) and a ``handoff`` revision completing the step.
  A hand-off's status is derived (:func:`~juki.domain.life_events.handoff_status`): a step marked 不要 (or
  完了) at the counter withdraws it.

Reads for a user (:meth:`get`, :meth:`queue`, :meth:`guidance`) are audited with the registered persons
they show (``reception.read``, ``reception.guidance``: read actions for the bulk-read alert).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from juki.access import policy
from juki.access.model import Principal
from juki.adapters.db.engine import read_only
from juki.adapters.db.reception_tables import (
    reception_handoff_acks,
    reception_handoffs,
    reception_persons,
    reception_steps,
    reception_updates,
    receptions,
)
from juki.adapters.db.schema import change_decisions, person_versions, persons
from juki.clock import JST, Clock, jst_date
from juki.domain.certificates import CertificateKind
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, Problems, RuleViolation
from juki.domain.events import ChangeKind
from juki.domain.intake import FiledBy
from juki.domain.life_events import (
    PROCEDURES,
    GuidanceLetter,
    HandoffStatus,
    LifeEvent,
    Opening,
    Procedure,
    StepKind,
    StepState,
    StepStatus,
    check_acknowledge,
    check_certificate_link,
    check_close,
    check_opening,
    check_reopen,
    check_request_link,
    check_status_change,
    checklist,
    guidance_letter,
    handoff_status,
    number_text,
    procedure,
    status_label,
    step_status,
)
from juki.services.reading import ReadService

MANAGE = "reception.manage"
HANDOFF = "reception.handoff"
RETRIES = 5
STEP_ACTIONS = ("open", "status", "request", "certificate", "add_step", "handoff")
"""The actions whose row records a step's status."""

ACTION_JA = {"open": "受付", "status": "状況の変更", "request": "届出の入力", "certificate": "証明書の交付",
             "add_step": "手続の追加", "close": "受付の終了", "reopen": "受付の再開", "handoff": "庁内連携の処理済み"}


@dataclass(frozen=True)
class HandoffView:
    """A step's 庁内連携 hand-off as it stands."""

    handoff_id: int
    section: str
    status: HandoffStatus
    created_at: dt.datetime
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class ReceptionPerson:
    """A person concerned: in the register (``person_id``, name and 世帯 from the register now) or new to
    it (``person_id`` None, the name the visitor gave)."""

    position: int
    person_id: str | None
    name: str
    household_id: str | None = None
    resident: bool = False


@dataclass(frozen=True)
class StepView:
    step_no: int
    procedure: Procedure
    status: StepStatus
    label: str  # as shown: 処理中（決裁待ち）, 完了（決裁済み）, 差戻し …
    linked: bool  # the latest record links a 届出
    request_id: int | None
    certificate_ids: tuple[str, ...]
    note: str
    updated_by: str
    updated_at: dt.datetime
    handoff: HandoffView | None = None

    @property
    def state(self) -> StepState:
        return StepState(self.step_no, self.procedure, self.status, self.linked)


@dataclass(frozen=True)
class HistoryRow:
    revision: int
    action: str
    action_ja: str
    step_no: int | None
    procedure: str  # its name
    status_ja: str
    request_id: int | None
    certificate_id: str | None
    note: str
    by_user: str
    at: dt.datetime


@dataclass(frozen=True)
class Reception:
    """One 受付 as it stands."""

    reception_id: int
    day: dt.date
    number: int
    event: LifeEvent
    filed_by: FiledBy
    visitor_name: str
    opened_by: str
    opened_at: dt.datetime
    persons: tuple[ReceptionPerson, ...]
    steps: tuple[StepView, ...]
    history: tuple[HistoryRow, ...]
    revision: int
    closed_at: dt.datetime | None
    closed_by: str | None
    entered: tuple[ReceptionPerson, ...]
    """Persons the approved 届出 of this reception recorded (a 転入's new residents, with their 宛名番号)."""

    @property
    def number_text(self) -> str:
        return number_text(self.number)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def remaining(self) -> tuple[StepView, ...]:
        return tuple(s for s in self.steps if not s.status.finished)

    @property
    def person_ids(self) -> list[str]:
        """Registered persons shown with the reception (for the audit entry of a read)."""
        return sorted({p.person_id for p in (*self.persons, *self.entered) if p.person_id})

    def step(self, step_no: int) -> StepView:
        for s in self.steps:
            if s.step_no == step_no:
                return s
        raise NotFound(Problem("step", "CTR-2", f"受付 {self.number_text} に手続 {step_no} はありません。",
                               f"Reception {self.reception_id} has no step {step_no}."))

    def household_id(self) -> str | None:
        """The 世帯 a 届出 or certificate of this reception is about: of the first registered person, else of
        the first person its 届出 recorded."""
        for p in (*self.persons, *self.entered):
            if p.household_id:
                return p.household_id
        return None


# --- loading ---------------------------------------------------------------------------------------


def _chunks(ids: Sequence[Any], n: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(ids), n):
        yield ids[i:i + n]


def load(conn: Connection, reception_ids: Sequence[int]) -> dict[int, Reception]:
    """Receptions by id, each with its persons, steps (status derived) and history."""
    ids = list(dict.fromkeys(reception_ids))
    if not ids:
        return {}
    heads: dict[int, Any] = {}
    people: dict[int, list[Any]] = {}
    steps: dict[int, list[Any]] = {}
    updates: dict[int, list[Any]] = {}
    handoffs: dict[tuple[int, int], Any] = {}
    for chunk in _chunks(ids):
        for r in conn.execute(sa.select(receptions).where(receptions.c.reception_id.in_(chunk))):
            heads[r.reception_id] = r
        for r in conn.execute(sa.select(reception_persons).where(reception_persons.c.reception_id.in_(chunk))
                              .order_by(reception_persons.c.reception_id, reception_persons.c.position)):
            people.setdefault(r.reception_id, []).append(r)
        for r in conn.execute(sa.select(reception_steps).where(reception_steps.c.reception_id.in_(chunk))
                              .order_by(reception_steps.c.reception_id, reception_steps.c.step_no)):
            steps.setdefault(r.reception_id, []).append(r)
        for r in conn.execute(sa.select(reception_updates).where(reception_updates.c.reception_id.in_(chunk))
                              .order_by(reception_updates.c.reception_id, reception_updates.c.revision)):
            updates.setdefault(r.reception_id, []).append(r)
        for r in conn.execute(sa.select(reception_handoffs, reception_handoff_acks.c.by_user.label("ack_by"),
                                        reception_handoff_acks.c.at.label("ack_at"),
                                        reception_handoff_acks.c.note.label("ack_note"))
                              .outerjoin(reception_handoff_acks,
                                         reception_handoff_acks.c.handoff_id == reception_handoffs.c.handoff_id)
                              .where(reception_handoffs.c.reception_id.in_(chunk))):
            handoffs[(r.reception_id, r.step_no)] = r
    request_ids = sorted({u.request_id for us in updates.values() for u in us if u.request_id is not None})
    decisions: dict[int, tuple[str, int | None]] = {}
    for chunk in _chunks(request_ids):
        for d in conn.execute(sa.select(change_decisions.c.request_id, change_decisions.c.decision,
                                        change_decisions.c.event_seq).where(change_decisions.c.request_id.in_(chunk))):
            decisions[d.request_id] = (d.decision, d.event_seq)
    event_seqs = sorted({seq for decision, seq in decisions.values() if decision == "approved" and seq is not None})
    entered_by_event: dict[int, list[str]] = {}
    for chunk in _chunks(event_seqs):
        for v in conn.execute(sa.select(person_versions.c.event_seq, person_versions.c.person_id)
                              .where(person_versions.c.event_seq.in_(chunk)).order_by(person_versions.c.person_id)):
            entered_by_event.setdefault(v.event_seq, []).append(v.person_id)
    person_ids = sorted({p.person_id for ps in people.values() for p in ps if p.person_id}
                        | {pid for pids in entered_by_event.values() for pid in pids})
    registered: dict[str, Any] = {}
    for chunk in _chunks(person_ids):
        for p in conn.execute(sa.select(persons.c.person_id, persons.c.name, persons.c.household_id, persons.c.status)
                              .where(persons.c.person_id.in_(chunk))):
            registered[p.person_id] = p

    def person(position: int, person_id: str | None, name: str) -> ReceptionPerson:
        row = registered.get(person_id) if person_id else None
        if row is None:
            return ReceptionPerson(position, person_id, name)
        return ReceptionPerson(position, person_id, row.name, row.household_id, row.status == "resident")

    out: dict[int, Reception] = {}
    for rid, head in heads.items():
        us = updates.get(rid, [])
        latest: dict[int, Any] = {}
        certificates: dict[int, list[str]] = {}
        closed = None
        for u in us:
            if u.step_no is not None and u.action in STEP_ACTIONS:
                latest[u.step_no] = u
            if u.certificate_id is not None and u.step_no is not None:
                certificates.setdefault(u.step_no, []).append(u.certificate_id)
            if u.action == "close":
                closed = u
            elif u.action == "reopen":
                closed = None
        views = []
        for s in steps.get(rid, []):
            proc = procedure(s.procedure)
            last = latest.get(s.step_no)
            recorded = StepStatus(last.status) if last is not None and last.status else StepStatus.NOT_STARTED
            request_id = last.request_id if last is not None else None
            linked = request_id is not None
            decision = decisions.get(request_id, (None, None))[0] if request_id is not None else None
            status = step_status(recorded, decision, linked=linked)
            h = handoffs.get((rid, s.step_no))
            handoff = None if h is None else HandoffView(
                h.handoff_id, h.section, handoff_status(h.ack_at is not None, status), h.created_at, h.ack_by,
                h.ack_at, h.ack_note or "")
            views.append(StepView(s.step_no, proc, status, status_label(status, linked=linked), linked, request_id,
                                  tuple(certificates.get(s.step_no, ())), last.note if last is not None else "",
                                  last.by_user if last is not None else head.opened_by,
                                  last.at if last is not None else head.opened_at, handoff))
        names = {s.step_no: procedure(s.procedure).name for s in steps.get(rid, [])}
        history = tuple(HistoryRow(u.revision, u.action, ACTION_JA.get(u.action, u.action), u.step_no,
                                   names.get(u.step_no, "") if u.step_no is not None else "",
                                   StepStatus(u.status).ja if u.status else "", u.request_id, u.certificate_id,
                                   u.note, u.by_user, u.at) for u in us)
        listed = {p.person_id for p in people.get(rid, []) if p.person_id}
        entered: list[ReceptionPerson] = []
        for u in us:
            decision_row = decisions.get(u.request_id) if u.request_id is not None else None
            if decision_row is None or decision_row[0] != "approved" or decision_row[1] is None:
                continue
            for pid in entered_by_event.get(decision_row[1], []):
                if pid not in listed and all(e.person_id != pid for e in entered):
                    entered.append(person(len(entered), pid, ""))
        out[rid] = Reception(
            rid, head.reception_date, head.number, LifeEvent(head.event), FiledBy(head.filed_by), head.visitor_name,
            head.opened_by, head.opened_at, tuple(person(p.position, p.person_id, p.name) for p in people.get(rid, [])),
            tuple(views), history, us[-1].revision if us else 0, closed.at if closed is not None else None,
            closed.by_user if closed is not None else None, tuple(entered))
    return out


def receptions_of_person(conn: Connection, person_id: str) -> list[int]:
    """Receptions about a person: naming them, or whose 届出 recorded them, or whose certificate names
    them; newest first (for the 総合照会)."""
    from juki.issuance.tables import certificate_subjects

    named = sa.select(reception_persons.c.reception_id).where(reception_persons.c.person_id == person_id)
    by_request = (sa.select(reception_updates.c.reception_id)
                  .join(change_decisions, change_decisions.c.request_id == reception_updates.c.request_id)
                  .join(person_versions, person_versions.c.event_seq == change_decisions.c.event_seq)
                  .where(person_versions.c.person_id == person_id, change_decisions.c.decision == "approved"))
    by_certificate = (sa.select(reception_updates.c.reception_id)
                      .join(certificate_subjects, certificate_subjects.c.certificate_id == reception_updates.c.certificate_id)
                      .where(certificate_subjects.c.person_id == person_id))
    ids = {r for q in (named, by_request, by_certificate) for r in conn.execute(q).scalars()}
    return sorted(ids, reverse=True)


# --- the service -----------------------------------------------------------------------------------


def _closed(r: Reception) -> Conflict:
    return Conflict(Problem("reception", "CTR-2/closed", f"受付 {r.number_text} は終了しています。",
                            f"Reception {r.reception_id} is closed."))


def _not_closed(r: Reception) -> Conflict:
    return Conflict(check_reopen(False, "-").items)


def _stale(r: Reception, seen: int) -> Conflict:
    return Conflict(Problem(
        "revision", "CTR-2/revision",
        f"受付 {r.number_text} は、この画面を開いた後に他の職員（または届出・交付）によって更新されました"
        f"（版 {seen} → {r.revision}）。画面を開き直し、最新の状況を確かめてから操作してください。",
        f"Reception {r.reception_id} was updated by someone else since this page was opened (revision {seen} -> "
        f"{r.revision}); reload it and try again."))


class ReceptionService:
    """総合受付: open, follow, link, close; the 案内文書's content."""

    def __init__(self, engine: Engine, reads: ReadService, *, clock: Clock, municipality: Callable[[], str],
                 audit: Any = None) -> None:
        self.engine = engine
        self.reads = reads
        self.clock = clock
        self.municipality = municipality
        self.audit = audit

    # --- helpers ---------------------------------------------------------------------------------

    def _record(self, conn: Connection, principal: Principal, action: str, subjects: list[str],
                **detail: Any) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                              session_id=principal.session_id, action=action, subject_ids=subjects, detail=detail)

    def _one(self, conn: Connection, reception_id: int) -> Reception:
        found = load(conn, [reception_id]).get(reception_id)
        if found is None:
            raise NotFound(Problem("reception_id", "CTR-2", f"受付 {reception_id} はありません。",
                                   f"There is no reception {reception_id}."))
        return found

    def _insert(self, conn: Connection, r: Reception, principal: Principal, action: str, *, step_no: int | None = None,
                status: StepStatus | None = None, request_id: int | None = None, certificate_id: str | None = None,
                note: str = "", expected: int | None) -> int:
        """Write the reception's next revision.  ``expected``: the revision the clerk saw (a stale one is
        refused); None for a link made in another write's transaction (it retries on a race instead).  Only a
        ``reopen`` is written on a closed reception."""
        if r.is_open == (action == "reopen"):
            raise _closed(r) if action != "reopen" else _not_closed(r)
        if expected is not None and expected != r.revision:
            raise _stale(r, expected)
        values = {"reception_id": r.reception_id, "action": action, "step_no": step_no,
                  "status": status.value if status is not None else None, "request_id": request_id,
                  "certificate_id": certificate_id, "note": note, "by_user": principal.user_id,
                  "terminal": principal.terminal_id, "at": self.clock()}
        if expected is not None:
            try:
                with conn.begin_nested():
                    conn.execute(reception_updates.insert().values(revision=r.revision + 1, **values))
            except IntegrityError:  # another write took this revision first (PostgreSQL)
                raise _stale(self._one(conn, r.reception_id), expected) from None
            return r.revision + 1
        current = r
        for _ in range(RETRIES):
            try:
                with conn.begin_nested():
                    conn.execute(reception_updates.insert().values(revision=current.revision + 1, **values))
                return current.revision + 1
            except IntegrityError:
                current = self._one(conn, r.reception_id)
                if not current.is_open:
                    raise _closed(current) from None
        raise Conflict(Problem("reception", "CTR-2/revision", "受付が同時に更新されています。もう一度操作してください。",
                               "The reception is being updated by others; try again."))

    @staticmethod
    def _hand_off(conn: Connection, reception_id: int, steps: Sequence[tuple[int, Procedure]],
                  now: dt.datetime) -> None:
        """The 庁内連携 hand-offs of new steps: one per step of a procedure another section handles."""
        rows = [{"reception_id": reception_id, "step_no": no, "section": p.section, "procedure": p.code,
                 "created_at": now} for no, p in steps if p.handed_off]
        if rows:
            conn.execute(reception_handoffs.insert(), rows)

    # --- opening ---------------------------------------------------------------------------------

    def open(self, principal: Principal, opening: Opening) -> Reception:
        """Open a reception (受付) for a visitor's life event: the day's next 受付番号 and the checklist."""
        policy.require(principal, MANAGE)
        problems = check_opening(opening)
        ids = [p.strip() for p in opening.person_ids]
        if not problems:
            for i, pid in enumerate(ids):
                try:
                    view = self.reads.person(principal, pid)  # screened, masked, audited (person.read)
                except NotFound:
                    problems.add(f"person_ids[{i}]", "CTR-2/registered", f"宛名番号 {pid} の住民票はありません。",
                                 f"There is no person {pid}.")
                    continue
                if view["status"] != "resident":
                    problems.add(f"person_ids[{i}]", "CTR-2/registered",
                                 f"宛名番号 {pid}（{view['name']}）の住民票は{view['status_ja']}です。住民だけを指定できます。",
                                 f"Person {pid} is not a resident ({view['status']}).")
        problems.raise_if_any()
        names = [n.strip() for n in opening.newcomers]
        day = jst_date(self.clock())
        for attempt in range(RETRIES):
            try:
                with self.engine.begin() as conn:
                    number = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(receptions.c.number), 0))
                                              .where(receptions.c.reception_date == day)).scalar_one()) + 1
                    now = self.clock()
                    res = conn.execute(receptions.insert().values(
                        reception_date=day, number=number, event=opening.event.value, filed_by=opening.filed_by.value,
                        visitor_name=opening.visitor_name.strip(), opened_by=principal.user_id,
                        terminal=principal.terminal_id, opened_at=now))
                    key = res.inserted_primary_key
                    assert key is not None
                    rid = int(key[0])
                    rows = [{"reception_id": rid, "position": i, "person_id": pid, "name": ""} for i, pid in enumerate(ids)]
                    rows += [{"reception_id": rid, "position": len(ids) + i, "person_id": None, "name": n}
                             for i, n in enumerate(names)]
                    conn.execute(reception_persons.insert(), rows)
                    steps = list(enumerate(checklist(opening.event), start=1))
                    conn.execute(reception_steps.insert(), [
                        {"reception_id": rid, "step_no": no, "procedure": p.code} for no, p in steps])
                    self._hand_off(conn, rid, steps, now)
                    conn.execute(reception_updates.insert().values(
                        reception_id=rid, revision=1, action="open", by_user=principal.user_id,
                        terminal=principal.terminal_id, at=now))
                    self._record(conn, principal, "reception.open", sorted(ids), reception_id=rid,
                                 number=number_text(number), event=opening.event.value, newcomers=len(names),
                                 filed_by=opening.filed_by.value)
                    return self._one(conn, rid)
            except IntegrityError:  # two clerks took the same 受付番号 at once (PostgreSQL): take the next
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # --- reading ---------------------------------------------------------------------------------

    def get(self, principal: Principal, reception_id: int) -> Reception:
        policy.require(principal, MANAGE)
        with read_only(self.engine.connect()) as conn:
            r = self._one(conn, reception_id)
        self.reads.audit(principal, "reception.read", r.person_ids, reception_id=reception_id)
        return r

    def queue(self, principal: Principal, *, day: dt.date | None = None, state: str = "open",
              event: LifeEvent | None = None, desk: str = "") -> list[Reception]:
        """The day's receptions (today by default), oldest first: ``state`` open, closed or all; an event;
        a 窓口 with a step still to do there."""
        policy.require(principal, MANAGE)
        day = day or jst_date(self.clock())
        q = sa.select(receptions.c.reception_id).where(receptions.c.reception_date == day)
        if event is not None:
            q = q.where(receptions.c.event == event.value)
        with read_only(self.engine.connect()) as conn:
            ids = list(conn.execute(q.order_by(receptions.c.number)).scalars())
            found = load(conn, ids)
        rows = [found[i] for i in ids]
        if state == "open":
            rows = [r for r in rows if r.is_open]
        elif state == "closed":
            rows = [r for r in rows if not r.is_open]
        if desk:
            rows = [r for r in rows if any(s.procedure.desk == desk for s in r.remaining)]
        self.reads.audit(principal, "reception.read", sorted({p for r in rows for p in r.person_ids}),
                         queue=day.isoformat(), state=state, event=event.value if event else None, desk=desk or None,
                         receptions=[r.reception_id for r in rows])
        return rows

    def guidance(self, principal: Principal, reception_id: int) -> GuidanceLetter:
        """The 案内文書 for the reception as it stands (audited as ``reception.guidance`` with the persons
        it names)."""
        policy.require(principal, MANAGE)
        with read_only(self.engine.connect()) as conn:
            r = self._one(conn, reception_id)
        now = self.clock().astimezone(JST)
        letter = guidance_letter(municipality=self.municipality(), number=r.number, day=r.day, event=r.event,
                                 persons=[p.name for p in r.persons], steps=[s.state for s in r.steps],
                                 printed_at=now)
        self.reads.audit(principal, "reception.guidance", sorted({p.person_id for p in r.persons if p.person_id}),
                         reception_id=reception_id, revision=r.revision, remaining=len(letter.remaining))
        return letter

    # --- progress --------------------------------------------------------------------------------

    def set_status(self, principal: Principal, reception_id: int, step_no: int, status: str, *, note: str = "",
                   revision: int) -> Reception:
        """A clerk records a step's status (with an optional note), on the revision the page showed."""
        policy.require(principal, MANAGE)
        try:
            new = StepStatus(status)
        except ValueError:
            new = StepStatus.RETURNED  # refused below as not a recordable status
        if len(note) > 500:
            raise InvalidInput(Problem(f"steps[{step_no}].note", "CTR-2/status", "備考は500文字までです。",
                                       "A note is at most 500 characters."))
        with self.engine.begin() as conn:
            r = self._one(conn, reception_id)
            if not r.is_open:
                raise _closed(r)
            step = r.step(step_no)
            problems = check_status_change(step.procedure, step.status, new, field=f"steps[{step_no}].status",
                                           pending_request=step.linked and step.status is StepStatus.IN_PROGRESS)
            problems.raise_if_any(RuleViolation)
            rev = self._insert(conn, r, principal, "status", step_no=step_no, status=new, note=note.strip(),
                               expected=revision)
            self._record(conn, principal, "reception.update", r.person_ids, reception_id=reception_id, revision=rev,
                         step=step_no, procedure=step.procedure.code, status=new.value)
            return self._one(conn, reception_id)

    def add_step(self, principal: Principal, reception_id: int, code: str, *, revision: int) -> Reception:
        """Add a procedure the checklist did not have (any of :data:`PROCEDURES`, once per reception)."""
        policy.require(principal, MANAGE)
        if code not in PROCEDURES:
            raise InvalidInput(Problem("procedure", "CTR-2/procedure", "追加する手続を選んでください。",
                                       "Choose a procedure to add."))
        with self.engine.begin() as conn:
            r = self._one(conn, reception_id)
            if not r.is_open:
                raise _closed(r)
            if any(s.procedure.code == code for s in r.steps):
                raise InvalidInput(Problem("procedure", "CTR-2/procedure",
                                           f"{PROCEDURES[code].name}は既にこの受付の手続にあります。",
                                           f"{code} is already a step of this reception."))
            step_no = max((s.step_no for s in r.steps), default=0) + 1
            rev = self._insert(conn, r, principal, "add_step", step_no=step_no, status=StepStatus.NOT_STARTED,
                               expected=revision)
            conn.execute(reception_steps.insert().values(reception_id=reception_id, step_no=step_no, procedure=code))
            self._hand_off(conn, reception_id, [(step_no, PROCEDURES[code])], self.clock())
            self._record(conn, principal, "reception.update", r.person_ids, reception_id=reception_id, revision=rev,
                         step=step_no, procedure=code, added=True)
            return self._one(conn, reception_id)

    def close(self, principal: Principal, reception_id: int, *, revision: int) -> Reception:
        """Close the reception: refused while any step is neither 完了 nor 不要 (each one named)."""
        policy.require(principal, MANAGE)
        with self.engine.begin() as conn:
            r = self._one(conn, reception_id)
            if not r.is_open:
                raise _closed(r)
            if revision != r.revision:
                raise _stale(r, revision)
            check_close([s.state for s in r.steps]).raise_if_any(RuleViolation)
            rev = self._insert(conn, r, principal, "close", expected=revision)
            self._record(conn, principal, "reception.close", r.person_ids, reception_id=reception_id, revision=rev,
                         steps={s.procedure.code: s.status.value for s in r.steps})
            return self._one(conn, reception_id)

    def reopen(self, principal: Principal, reception_id: int, *, reason: str, revision: int) -> Reception:
        """Reopen a closed reception (受付の再開), with a reason, on the revision the clerk saw: refused while
        it is open (``CTR-2/reopen``) and on a stale revision (``CTR-2/revision``)."""
        policy.require(principal, MANAGE)
        with self.engine.begin() as conn:
            r = self._one(conn, reception_id)
            problems = check_reopen(not r.is_open, reason)
            if not r.is_open:
                problems.raise_if_any()
            elif problems.items[0].field == "reception":
                raise Conflict(problems.items)
            if revision != r.revision:
                raise _stale(r, revision)
            rev = self._insert(conn, r, principal, "reopen", note=reason.strip(), expected=revision)
            self._record(conn, principal, "reception.reopen", r.person_ids, reception_id=reception_id, revision=rev,
                         reason=reason.strip(), closed_by=r.closed_by)
            return self._one(conn, reception_id)

    # --- 庁内連携 hand-offs (another section's system: reception.handoff) -----------------------------

    def handoffs(self, principal: Principal, *, limit: int = 100) -> list[dict[str, Any]]:
        """The pending hand-offs of the caller's section (``principal.section``), oldest first: what the
        section's system needs to take the procedure up -- the reception (number, day, life event), the
        procedure, and the persons concerned by 宛名番号, 氏名, ふりがな and 生年月日 (no 個人番号, no
        address; a person under 支援措置 is flagged ``manual_handling``).  Audited as a read of those
        persons (``reception.handoff.read``)."""
        policy.require(principal, HANDOFF)
        h, u, later = reception_handoffs.c, reception_updates.c, reception_updates.alias("later").c
        latest = (sa.select(sa.func.max(later.revision))  # of the step (correlated with the row below)
                  .where(later.reception_id == u.reception_id, later.step_no == u.step_no,
                         later.action.in_(STEP_ACTIONS))
                  .scalar_subquery())
        settled = sa.exists().where(u.reception_id == h.reception_id, u.step_no == h.step_no, u.revision == latest,
                                    u.status.in_((StepStatus.DONE.value, StepStatus.NOT_NEEDED.value)))
        q = (sa.select(h.handoff_id, h.reception_id, h.step_no)
             .outerjoin(reception_handoff_acks, reception_handoff_acks.c.handoff_id == h.handoff_id)
             .where(h.section == principal.section, reception_handoff_acks.c.handoff_id.is_(None), ~settled)
             .order_by(h.handoff_id).limit(limit))
        with read_only(self.engine.connect()) as conn:
            candidates = conn.execute(q).all()
            found = load(conn, sorted({c.reception_id for c in candidates}))
            pending: list[tuple[Reception, StepView]] = []
            for c in candidates:
                step = found[c.reception_id].step(c.step_no)
                if step.handoff is not None and step.handoff.status is HandoffStatus.PENDING:  # as derived
                    pending.append((found[c.reception_id], step))
            ids = sorted({p.person_id for r, _ in pending for p in (*r.persons, *r.entered) if p.person_id})
            people: dict[str, Any] = {}
            for chunk in _chunks(ids):
                for row in conn.execute(sa.select(persons.c.person_id, persons.c.name, persons.c.name_kana,
                                                  persons.c.birth_date).where(persons.c.person_id.in_(chunk))):
                    people[row.person_id] = row
        protected = self.reads.protected(ids) if ids else set()

        def person(p: ReceptionPerson, entered: bool) -> dict[str, Any]:
            row = people.get(p.person_id) if p.person_id else None
            return {"person_id": p.person_id, "name": row.name if row is not None else p.name,
                    "name_kana": row.name_kana if row is not None else None,
                    "birth_date": row.birth_date.isoformat() if row is not None else None,
                    "new_to_register": p.person_id is None, "entered_by_notice": entered,
                    "manual_handling": p.person_id in protected}

        out = []
        for r, step in pending:
            assert step.handoff is not None
            out.append({
                "handoff_id": step.handoff.handoff_id, "section": step.handoff.section,
                "status": step.handoff.status.value, "created_at": step.handoff.created_at.isoformat(),
                "procedure": step.procedure.code, "procedure_name": step.procedure.name, "desk": step.procedure.desk,
                "reception_id": r.reception_id, "reception_number": r.number_text, "reception_date": r.day.isoformat(),
                "event": r.event.value, "event_ja": r.event.ja, "step_no": step.step_no,
                "persons": [person(p, False) for p in r.persons] + [person(p, True) for p in r.entered]})
        self.reads.audit(principal, "reception.handoff.read", ids, section=principal.section,
                         handoffs=[x["handoff_id"] for x in out])
        return out

    def acknowledge(self, principal: Principal, handoff_id: int, *, note: str = "") -> Reception:
        """The section's system has taken the hand-off up (処理済み): once, only its own section's, only a
        pending one.  Completes the step (a ``handoff`` revision, whatever revision the counter is at)."""
        policy.require(principal, HANDOFF)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(reception_handoffs).where(reception_handoffs.c.handoff_id == handoff_id)).first()
            if row is None:
                raise NotFound(Problem("handoff_id", "CTR-2/handoff", f"連携 {handoff_id} はありません。",
                                       f"There is no hand-off {handoff_id}."))
            r = self._one(conn, row.reception_id)
            step = r.step(row.step_no)
            assert step.handoff is not None
            problems = check_acknowledge(principal.section, row.section, step.handoff.status, note=note)
            if problems and problems.items[0].rule == "SEC-2/section":
                raise Forbidden(problems.items)
            if problems and problems.items[0].field == "handoff_id":
                raise Conflict(problems.items)
            problems.raise_if_any()
            rev = self._insert(conn, r, principal, "handoff", step_no=step.step_no, status=StepStatus.DONE,
                               note=note.strip(), expected=None)
            try:
                with conn.begin_nested():
                    conn.execute(reception_handoff_acks.insert().values(
                        handoff_id=handoff_id, reception_id=r.reception_id, revision=rev, note=note.strip(),
                        by_user=principal.user_id, terminal=principal.terminal_id, at=self.clock()))
            except IntegrityError:  # acknowledged at the same moment by another call (PostgreSQL)
                raise Conflict(Problem("handoff_id", "CTR-2/handoff", "この連携は処理済みです。",
                                       "This hand-off is already acknowledged.")) from None
            self._record(conn, principal, "reception.handoff.acknowledge", r.person_ids, reception_id=r.reception_id,
                         revision=rev, handoff_id=handoff_id, step=step.step_no, procedure=step.procedure.code,
                         section=row.section)
            return self._one(conn, r.reception_id)

    # --- links (written in the 届出's or the certificate's own transaction) ----------------------

    def request_link(self, principal: Principal, reception_id: int, step_no: int,
                     kind: ChangeKind) -> Callable[[Connection, int], None]:
        """Check now that a 届出 of ``kind`` may be entered for the step, and return the writer that links
        the request to it in the submission's transaction (:meth:`ChangeService.submit`'s ``also``): checked
        again there, so a reception closed (or a step completed) meanwhile refuses the whole submission."""
        policy.require(principal, MANAGE)

        def check(r: Reception) -> StepView:
            if not r.is_open:
                raise _closed(r)
            step = r.step(step_no)
            check_request_link(step.procedure, kind, step.status, field="reception").raise_if_any(RuleViolation)
            return step

        with read_only(self.engine.connect()) as conn:
            check(self._one(conn, reception_id))

        def write(conn: Connection, request_id: int) -> None:
            r = self._one(conn, reception_id)
            step = check(r)
            rev = self._insert(conn, r, principal, "request", step_no=step_no, status=StepStatus.IN_PROGRESS,
                               request_id=request_id, expected=None)
            self._record(conn, principal, "reception.update", r.person_ids, reception_id=reception_id, revision=rev,
                         step=step_no, procedure=step.procedure.code, request_id=request_id)

        return write

    def certificate_link(self, principal: Principal, reception_id: int, step_no: int,
                         kind: CertificateKind) -> Callable[[Connection, Any], None]:
        """Like :meth:`request_link`, for a certificate issued from a step: the writer runs in the issuance's
        transaction (:meth:`IssuanceService.issue`'s ``also``) and completes the step with the certificate."""
        policy.require(principal, MANAGE)

        def check(r: Reception) -> StepView:
            if not r.is_open:
                raise _closed(r)
            step = r.step(step_no)
            check_certificate_link(step.procedure, kind, field="reception").raise_if_any(RuleViolation)
            return step

        with read_only(self.engine.connect()) as conn:
            check(self._one(conn, reception_id))

        def write(conn: Connection, issued: Any) -> None:
            r = self._one(conn, reception_id)
            step = check(r)
            rev = self._insert(conn, r, principal, "certificate", step_no=step_no, status=StepStatus.DONE,
                               certificate_id=issued.certificate_id, expected=None)
            self._record(conn, principal, "reception.update", r.person_ids, reception_id=reception_id, revision=rev,
                         step=step_no, procedure=step.procedure.code, certificate_id=issued.certificate_id)

        return write


def parse_opening(event: str, person_ids: Sequence[str], newcomers: Sequence[str], filed_by: str,
                  visitor_name: str) -> Opening:
    """The opening form as a domain :class:`Opening` (unknown codes refused at their fields)."""
    problems = Problems()
    try:
        ev = LifeEvent(event)
    except ValueError:
        problems.add("event", "CTR-2/event", "ライフイベントを選んでください。", "Choose the life event.")
        ev = LifeEvent.MOVE_IN
    try:
        by = FiledBy(filed_by)
    except ValueError:
        problems.add("filed_by", "CTR-2/visitor", "来庁者（本人・同一世帯の者・代理人）を選んでください。",
                     "Choose who came: the person, a household member or an agent.")
        by = FiledBy.SELF
    opening = Opening(ev, tuple(p for p in (x.strip() for x in person_ids) if p),
                      tuple(n for n in (x.strip() for x in newcomers) if n), by, visitor_name)
    if not problems:
        check_opening(opening, problems)
    elif not opening.person_ids and not opening.newcomers:  # reported with the event's fault, all at once
        problems.add("persons", "CTR-2/persons", "対象となる人を1人以上指定してください。",
                     "Name at least one person concerned.")
    problems.raise_if_any()
    return opening


__all__ = ["Reception", "ReceptionService", "StepKind", "StepView", "load", "parse_opening", "receptions_of_person"]
