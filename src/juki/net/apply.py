"""Applying received notices at the prefecture and the national server (PRF-1..4, §6).

Received entries wait in ``net_inbox`` (stored on receipt, so a sender's retry or a reordered batch
never loses or doubles anything).  The applier takes each municipality's notices **strictly in 更新順番号
order**: it applies ``applied:<origin> + 1`` and nothing else.  So:

* a notice numbered at or below what was applied is a duplicate (marked so, never applied twice);
* a notice whose predecessor has not arrived waits (the sender's acknowledgement, which counts only
  contiguous seqs, makes it resend the missing one);
* each notice is checked: parsed (NET-3 format), then against the current record (PRF-2 logic: a 転入
  of someone already living in that municipality, a 転居 that changes more than the address, a 消除 of
  someone already removed, a 附票 消除 of someone already removed).  A refused notice is marked
  ``refused``, an operator alert is raised, and **that municipality's stream halts there**: later notices
  of the same municipality wait, other municipalities go on.  ``juki net resume`` resolves it;
* an accepted notice updates the file and its history in the same transaction as the cursor; at a
  prefecture it is also appended to the outgoing stream to the national server (PRF-3), with its
  origin and 更新順番号, so the national server applies each municipality's notices in the same order.

A skip marker (an operator skipped a notice upstream) moves the cursor without touching the file and is
forwarded too, so no tier waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from juki.clock import jst_date
from juki.domain.changes import from_json
from juki.domain.errors import InvalidInput, Problem
from juki.domain.identity import (
    FuhyoUpdate,
    IdentityUpdate,
    PrefectureRecord,
    effect,
    format_problems,
    fuhyo_record,
    logic_problems,
    prefecture_record,
)

from .notices import SKIPPED, Notice, file_of
from .store import InboxRow, NetStore, applied_cursor

log = logging.getLogger("juki.net.apply")

BATCH = 500


def origin_scope(origin: str) -> str:
    return f"origin:{origin}"


@dataclass
class _Batch:
    """Rows of one transaction written in one go at its end (history, forwarded notices)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    forward: list[tuple[str, int, str, dict[str, Any], str | None]] = field(default_factory=list)


class Applier:
    """Applies the inbox of one node.  ``forward`` (a prefecture) appends every applied notice to the
    outgoing stream; ``on_forwarded`` is called when something was appended (to wake the relay)."""

    def __init__(self, store: NetStore, *, forward: bool, node_code: str,
                 on_forwarded: Callable[[], None] | None = None) -> None:
        self.store = store
        self.forward = forward
        self.node_code = node_code
        self.on_forwarded = on_forwarded or (lambda: None)
        self._lock = threading.Lock()

    def step(self, idle: float = 0.5) -> float:
        return 0.0 if self.drain() else idle

    def drain(self, origins: Iterable[str] | None = None) -> int:
        """Apply what can be applied now; returns the number of notices applied."""
        with self._lock:
            if origins is None:
                with self.store.engine.connect() as conn:
                    origins = self.store.pending_origins(conn)
            total = sum(self._drain(origin) for origin in sorted(set(origins)))
        if total and self.forward:
            self.on_forwarded()
        return total

    def _drain(self, origin: str) -> int:
        total = 0
        while True:
            with self.store.engine.begin() as conn:
                name = applied_cursor(origin)
                applied = self.store.cursor(conn, name, lock=True)
                self.store.mark_duplicates(conn, origin, applied)
                if self.store.open_alert(conn, origin_scope(origin)) is not None:
                    return total
                rows = self.store.inbox_from(conn, origin, applied, BATCH)
                progressed = 0
                stopped = False
                batch = _Batch()
                for row in rows:
                    if row.entry.origin_seq <= applied:  # the same notice from another source
                        self.store.set_status(conn, row, "duplicate")
                        continue
                    if row.entry.origin_seq != applied + 1:
                        stopped = True  # a gap: wait for the missing notice
                        break
                    if not self.apply(conn, row, batch=batch):
                        stopped = True
                        break
                    applied += 1
                    progressed += 1
                self._flush(conn, batch)
                if progressed:
                    self.store.set_cursor(conn, name, applied)
            total += progressed
            if stopped or len(rows) < BATCH or not progressed:
                return total

    def _flush(self, conn: Connection, batch: _Batch) -> None:
        self.store.write_history(conn, batch.history)
        self.store.append_outbound_many(conn, batch.forward)
        batch.history.clear()
        batch.forward.clear()

    def apply(self, conn: Connection, row: InboxRow, *, force: bool = False, batch: _Batch | None = None) -> bool:
        """Check and apply one notice in ``conn``; False when refused (alert raised, row marked).
        ``force`` (an operator's decision) skips the logic checks; a notice that cannot even be read
        cannot be forced.  With ``batch``, history and forwarded rows wait there for the caller's flush."""
        own = batch is None
        batch = batch or _Batch()
        try:
            return self._apply(conn, row, force=force, batch=batch)
        finally:
            if own:
                self._flush(conn, batch)

    def _apply(self, conn: Connection, row: InboxRow, *, force: bool, batch: _Batch) -> bool:
        entry = row.entry
        if entry.skipped is not None:
            self.store.set_status(conn, row, "skipped")
            self._forward(row, batch)
            return True
        problems: list[Problem]
        notice: Notice | None = None
        current = None
        try:
            notice = entry.notice()
        except InvalidInput as e:
            problems = list(e.problems)
        else:
            problems = self._envelope_problems(entry.origin, entry.origin_seq, notice)
            current = self.store.current(conn, file_of(notice), _key(notice), lock=True)
            problems += format_problems(notice)
            if not force:
                problems += logic_problems(notice, current.notice if current else None)
        if problems:
            if force and notice is None:
                raise InvalidInput(problems)
            self.store.set_status(conn, row, "refused")
            self.store.raise_alert(
                conn, scope=origin_scope(entry.origin), ref=str(entry.origin_seq), kind="refused",
                rule=problems[0].rule,
                ja=f"{entry.origin} の更新順番号 {entry.origin_seq} の更新を受け付けませんでした（以降の更新は停止中）: "
                   + "／".join(p.ja for p in problems),
                en=f"Refused update {entry.origin_seq} of {entry.origin} (its later updates are held): "
                   + "; ".join(p.en for p in problems),
                detail={"origin": entry.origin, "origin_seq": entry.origin_seq, "source": row.source,
                        "source_seq": row.source_seq, "file": entry.file,
                        "juminhyo_code": str(entry.payload.get("juminhyo_code", "")),
                        "problems": [p.as_dict() for p in problems]})
            return False
        assert notice is not None
        if isinstance(notice, IdentityUpdate):
            previous = _prefecture(current.record, current.individual_number) if current is not None else None
            record: Any = prefecture_record(notice, notified_on=jst_date(self.store.clock()), previous=previous)
        else:
            assert isinstance(notice, FuhyoUpdate)
            record = fuhyo_record(notice)
        replaces = notice.old_juminhyo_code if notice.old_juminhyo_code != notice.juminhyo_code else ""
        self.store.put(conn, notice, record, current=effect(notice, current.notice if current else None),
                       replaces=replaces, history=batch.history)
        self.store.set_status(conn, row, "forced" if force else "applied")
        self._forward(row, batch)
        return True

    def _forward(self, row: InboxRow, batch: _Batch) -> None:
        if self.forward:
            e = row.entry
            batch.forward.append((e.origin, e.origin_seq, e.file, e.payload, e.number))

    def skip(self, conn: Connection, row: InboxRow, *, alert_id: int, by: str, reason: str) -> None:
        """An operator skipped a refused notice: the cursor moves past it and a skip marker goes on."""
        self.store.set_status(conn, row, "skipped")
        name = applied_cursor(row.entry.origin)
        applied = self.store.cursor(conn, name, lock=True)
        if applied + 1 == row.entry.origin_seq:
            self.store.set_cursor(conn, name, applied + 1)
        if self.forward:
            marker = {SKIPPED: {"node": self.node_code, "alert_id": alert_id, "by": by, "reason": reason,
                                "file": row.entry.file}}
            self.store.append_outbound(conn, origin=row.entry.origin, origin_seq=row.entry.origin_seq,
                                       file=row.entry.file, payload=marker, number=None)

    @staticmethod
    def _envelope_problems(origin: str, origin_seq: int, notice: Notice) -> list[Problem]:
        if notice.origin != origin or notice.seq != origin_seq:
            return [Problem("notice.origin", "NET-3/envelope",
                            f"通知の市町村コード・更新順番号（{notice.origin} {notice.seq}）が送信内容（{origin} {origin_seq}）と異なります。",
                            f"The notice says {notice.origin} {notice.seq} but was sent as {origin} {origin_seq}.")]
        return []


def _key(notice: Notice) -> str:
    """The 住民票コード the receiver's current record is under (the old one for a code change)."""
    return notice.old_juminhyo_code or notice.juminhyo_code


def _prefecture(data: dict[str, Any], number: str | None) -> PrefectureRecord:
    record = from_json(PrefectureRecord, {**data, "individual_number": number}, "record")
    assert isinstance(record, PrefectureRecord)
    return record

