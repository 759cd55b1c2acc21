"""The 市町村CS intake: every committed change of the register updates the CS's 本人確認情報 file and, when
本人確認情報 changed, becomes a numbered notice to the prefecture (NET-1, NET-2, NET-3).

The register writes one ``outbox`` row in the same transaction as each change (``Tx.apply``); a bulk
load (``juki seed``, a migration: 異動事由 移行) writes an ``initial_load`` event and the loaded 住民票
versions instead.  The intake takes in every such event, one transaction per event, in event order:

1. it reads the event (異動事由, 異動年月日, operator, terminal) and every 住民票 version the event wrote
   (``person_versions``, the 個人番号 decrypted with the register's key ring, which this node shares);
2. for each person it builds the CS record (40 items; only the items the law lets the CS take, NET-3)
   and, when 本人確認情報 changed (:func:`~juki.domain.identity.notifiable`), the 8-item notice, numbered by
   the next **更新順番号**; for a person whose 本籍 is in the municipality also the 附票 notice (PRF-8);
3. it runs the format and logic checks of every notice against the CS file (NET-3; the same checks as
   the prefecture's, PRF-2).  A refusal writes an operator alert and **stops the intake at this event**:
   nothing of it is written and no later event is taken until an operator resolves the alert
   (``juki net resume``): retry, force (skip the logic check) or skip (record that it was skipped);
4. otherwise the CS records, their history, the notices (``net_outbound``), for a 転入 from another
   municipality its 転入通知 to that municipality (:mod:`juki.net.movein`) and the intake row
   (``cs_intake``) commit together, and the relay is woken.

Events are found by an anti-join on ``cs_intake``, in event order, not by a high-water mark: on
PostgreSQL the sequence may have gaps, and an event with a lower number may commit after a higher one
(two changes of the same person cannot: the register's optimistic concurrency orders them).  The
更新順番号 is the intake's own dense counter, so the order of the notices is the order in which the CS saw
the changes committed.  So a bulk-loaded municipality reaches the prefecture and the national server
through the same stream as every later change, and a register that ran before its CS was set up is
replayed from its first change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from juki.adapters.db.schema import events, outbox, person_versions
from juki.domain.changes import from_json
from juki.domain.errors import Problem
from juki.domain.events import ChangeKind
from juki.domain.identity import (
    ChangeFacts,
    CsRecord,
    FuhyoUpdate,
    IdentityUpdate,
    RecordFile,
    cs_record,
    format_problems,
    fuhyo_record,
    fuhyo_update,
    identity_update,
    keeps_fuhyo,
    logic_problems,
    notifiable,
)
from juki.domain.model import PersonRecord, Status, person_from_json

from .movein import notice_for_intake
from .notices import Notice, notice_to_json, split_number
from .store import OUTBOUND, NetStore
from .tables import cs_intake

log = logging.getLogger("juki.net.cs")

SCOPE = "intake"
BATCH = 50


@dataclass
class _Planned:
    notice: Notice
    record: Any
    replaces: str
    new_seq: bool  # a notice sent with a new 更新順番号 (else only the CS file changes)


class CsIntake:
    """The intake of one municipality node (see the module docstring)."""

    def __init__(self, store: NetStore, *, origin: str, municipality: str, prefecture: str,
                 on_notices: Any = None) -> None:
        self.store = store
        self.origin = origin
        self.municipality = municipality  # 札幌市 (for 本籍 in the municipality, PRF-8)
        self.prefecture = prefecture  # 北海道
        self.on_notices = on_notices or (lambda: None)

    @property
    def engine(self) -> sa.Engine:
        return self.store.engine

    # -- the loop ----------------------------------------------------------------------------------

    def step(self, idle: float = 0.5) -> float:
        """One round for the worker: up to ``BATCH`` events."""
        if self.run(BATCH):
            self.on_notices()
            return 0.0
        return idle

    def run(self, limit: int = 1_000_000) -> int:
        """Take in up to ``limit`` events; returns how many were taken.  Stops at a refused one (alert)."""
        with self.engine.connect() as conn:
            if self.store.open_alert(conn, SCOPE) is not None:
                return 0
            pending = conn.execute(
                sa.select(events.c.seq)
                .where(~sa.exists().where(cs_intake.c.event_seq == events.c.seq),
                       sa.or_(events.c.kind == ChangeKind.INITIAL_LOAD.value,
                              sa.exists().where(outbox.c.event_seq == events.c.seq)))
                .order_by(events.c.seq).limit(limit)).scalars().all()
        taken = 0
        for event_seq in pending:
            if not self.take(int(event_seq)):
                break
            taken += 1
        return taken

    # -- one outbox row ----------------------------------------------------------------------------

    def take(self, event_seq: int, *, force: bool = False) -> bool:
        """Take in one event; False when it was refused (an alert now halts the intake).  ``force`` (an
        operator's decision) skips the logic checks, never the format checks."""
        with self.engine.begin() as conn:
            return self.take_in(conn, event_seq, force=force)

    def take_in(self, conn: Connection, event_seq: int, *, force: bool = False) -> bool:
        """:meth:`take` in the caller's transaction (an operator's resolution commits with it)."""
        if conn.execute(sa.select(cs_intake.c.event_seq).where(cs_intake.c.event_seq == event_seq)).first():
            return True
        event = conn.execute(sa.select(events).where(events.c.seq == event_seq)).one()
        facts, old_code = _facts(event)
        people = self._versions(conn, event_seq)
        base = self.store.cursor(conn, OUTBOUND, lock=True)
        plans, problems, subjects = self._plan(conn, people, facts, old_code, base, check_logic=not force)
        if problems:
            self.store.raise_alert(
                conn, scope=SCOPE, ref=str(event_seq), kind="refused", rule=problems[0].rule,
                ja=f"異動 {event_seq}（{facts.kind.ja}）を市町村CSが受け付けませんでした（以降の送信は停止中）: "
                   + "／".join(p.ja for p in problems),
                en=f"The CS refused change {event_seq} ({facts.kind.value}); later changes are held: "
                   + "; ".join(p.en for p in problems),
                detail={"event_seq": event_seq, "kind": facts.kind.value, "juminhyo_codes": subjects[:50],
                        "problems": [p.as_dict() for p in problems[:50]]})
            return False
        first, last = self._write(conn, plans)
        if facts.kind is ChangeKind.MOVE_IN:  # the 転入通知 to the former municipality (住基法9条1項)
            notice_for_intake(conn, sender=self.origin, event=event, people=people, now=self.store.clock(),
                              alert=self.store.raise_alert)
        conn.execute(cs_intake.insert().values(event_seq=event_seq, outcome="applied", first_seq=first,
                                               last_seq=last, processed_at=self.store.clock()))
        if facts.kind is ChangeKind.INITIAL_LOAD and people:
            log.info("市町村CS %s: 移行 %d 人 / initial load of %d persons (event %d)", self.origin, len(people),
                     len(people), event_seq)
        return True

    def skip(self, conn: Connection, event_seq: int) -> None:
        """Record that an operator skipped a refused event (the CS file does not reflect it; the next
        整合性確認 shows the difference)."""
        conn.execute(cs_intake.insert().values(event_seq=event_seq, outcome="skipped", processed_at=self.store.clock()))

    def _versions(self, conn: Connection, event_seq: int) -> list[PersonRecord]:
        rows = conn.execute(sa.select(person_versions).where(person_versions.c.event_seq == event_seq)
                            .order_by(person_versions.c.person_id)).all()
        keyring = self.store.keyring
        return [person_from_json(dict(r.snapshot), keyring.decrypt(r.number_ciphertext, r.number_key_id, r.person_id)
                                 if r.number_ciphertext is not None else None) for r in rows]

    def _plan(self, conn: Connection, people: list[PersonRecord], facts: ChangeFacts, old_code: str, base: int, *,
              check_logic: bool) -> tuple[list[_Planned], list[Problem], list[str]]:
        plans: list[_Planned] = []
        problems: list[Problem] = []
        subjects: list[str] = []
        seq = base
        for person in people:
            if person.status is Status.VOID and facts.kind is not ChangeKind.CANCELLATION:
                continue
            replaces = old_code if old_code and old_code != person.juminhyo_code else ""
            key = replaces or person.juminhyo_code
            subjects.append(person.juminhyo_code)
            stored = self.store.current(conn, RecordFile.IDENTITY, key, lock=True)
            previous = _cs(stored.record, stored.individual_number) if stored is not None else None
            if previous is None and person.status is Status.VOID:
                continue  # created and cancelled before the CS ever saw it
            record = cs_record(person, facts, previous=previous, seq=None, old_juminhyo_code=replaces)
            if notifiable(previous, record):
                seq += 1
                record = cs_record(person, facts, previous=previous, seq=seq, old_juminhyo_code=replaces)
                update = identity_update(record, self.origin, seq)
                problems += [p.at(f"persons[{person.juminhyo_code}]") for p in self._check(
                    update, stored.notice if stored else None, check_logic)]
                plans.append(_Planned(update, record, replaces, True))
            else:
                assert stored is not None
                plans.append(_Planned(identity_update(record, self.origin, record.seq), record, replaces, False))
            if keeps_fuhyo(person, self.municipality, self.prefecture):
                fstored = self.store.current(conn, RecordFile.FUHYO, key, lock=True)
                previous_f = fstored.notice if fstored is not None else None
                assert previous_f is None or isinstance(previous_f, FuhyoUpdate)
                fu = fuhyo_update(person, origin=self.origin, seq=seq + 1, change_date=facts.change_date,
                                  previous=previous_f, old_juminhyo_code=replaces)
                if fu is not None:
                    seq += 1
                    problems += [p.at(f"fuhyo[{person.juminhyo_code}]") for p in self._check(fu, previous_f, check_logic)]
                    plans.append(_Planned(fu, fuhyo_record(fu), replaces, True))
        return plans, problems, subjects

    @staticmethod
    def _check(notice: Notice, current: Notice | None, check_logic: bool) -> list[Problem]:
        problems = format_problems(notice)
        if check_logic:
            problems += logic_problems(notice, current)
        return problems

    def _write(self, conn: Connection, plans: list[_Planned]) -> tuple[int | None, int | None]:
        history: list[dict[str, Any]] = []
        outgoing: list[tuple[str, int, str, dict[str, Any], str | None]] = []
        for plan in plans:
            self.store.put(conn, plan.notice, plan.record, current=True, replaces=plan.replaces, history=history)
            if plan.new_seq:
                payload, number = split_number(notice_to_json(plan.notice))
                file = RecordFile.IDENTITY if isinstance(plan.notice, IdentityUpdate) else RecordFile.FUHYO
                outgoing.append((self.origin, plan.notice.seq, file.value, payload, number))
        self.store.write_history(conn, history)
        seqs = self.store.append_outbound_many(conn, outgoing)
        if seqs != [o[1] for o in outgoing]:  # pragma: no cover - the cursor is locked for the transaction
            raise RuntimeError(f"更新順番号 {[o[1] for o in outgoing]} were planned but {seqs} were written")
        return (seqs[0], seqs[-1]) if seqs else (None, None)


def _cs(data: dict[str, Any], number: str | None) -> CsRecord:
    record = from_json(CsRecord, {**data, "individual_number": number}, "record")
    assert isinstance(record, CsRecord)
    return record


def _facts(event: Any) -> tuple[ChangeFacts, str]:
    """The 異動 as the CS records it (異動事由詳細 from the event's details), and the old 住民票コード of a
    住民票コードの変更 ("" otherwise)."""
    kind = ChangeKind(event.kind)
    details: dict[str, Any] = dict(event.details or {})
    old_code = str(details.get("old_juminhyo_code") or "") if kind is ChangeKind.JUMINHYO_CODE_CHANGE else ""
    if kind is ChangeKind.JUMINHYO_CODE_CHANGE:
        detail = f"旧住民票コード {old_code}"
    elif kind is ChangeKind.MOVE_IN and details.get("special"):
        detail = "特例転入"
    elif kind is ChangeKind.NAME_CHANGE:
        detail = str(details.get("cause", ""))
    elif kind is ChangeKind.INDIVIDUAL_NUMBER_CHANGE:
        detail = "指定" if details.get("designated") else "変更"
    elif kind is ChangeKind.CANCELLATION:
        detail = f"異動 {event.cancels_seq} の取消"
    else:
        detail = str(details.get("reason", ""))[:100]
    facts = ChangeFacts(kind=kind, change_date=event.effective_date, operator=event.entered_by, terminal=event.terminal,
                        recorded_at=event.recorded_at, request_ref=str(event.request_id or event.case_ref or ""),
                        detail=detail)
    return facts, old_code
