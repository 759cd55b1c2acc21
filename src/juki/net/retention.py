"""Automatic deletion past retention at every node: the prefecture and national servers and the
municipality's CS (PRF-4: 保存期間が経過したデータをシステムにて自動判別し消去する; seed 004 II(1)6③, III(1)7
リスク3; for the CS's 本人確認情報ファイル seeds 000, 001 and 003, see :mod:`juki.domain.node_retention`).

:class:`NodeRetention` applies the rule of :mod:`juki.domain.node_retention` (history 150 years after it
was superseded; a 消除者 record, 個人番号 included, 150 years after the last notice about it; the current
record of a living resident never) to both files of the node (本人確認情報 and 附票本人確認情報), and the
rule of :mod:`juki.domain.transport_retention` to its transport copies (the inbox and the outgoing
stream: the notices and their sealed 個人番号, ``transport_keep_days`` after they were decided or
acknowledged; :mod:`juki.net.transport`):

* :meth:`~NodeRetention.plan` -- what has expired on a day: counts per file, and per person what goes;
  and how many transport copies a run would redact now.  Nothing is written.
* :meth:`~NodeRetention.run` -- in **one transaction**: serialises with any other run (the cursor
  ``retention:last_run``, locked), plans again, writes the run's log row (``net_retention_runs``, with
  the highest outgoing seq it may redact), the marker and the target list the guards require, deletes
  the expired history rows and the expired 消除者 records (the ``net_records`` row: its search keys, its
  sealed 個人番号 and its blind index go with it), redacts the transport copies no longer needed, checks
  that exactly what was planned went, removes marker and list, and writes one audit entry
  ``net.retention.purge`` (subjects: the 住民票コード of everyone of whom something was deleted from the
  file; detail: the counts per file and per transport table).  Idempotent: a second run on the same day
  finds nothing more.

No four-eyes step: the law says the system decides by itself (自動判別), unlike the register's purge
(REG-R5), where a person approves the list.  The node runs it every day (:mod:`juki.net.housekeeping`);
``juki net retention plan|run|list`` shows it and runs it by hand.

**What counts as received.** A history row's ``recorded_at`` is when the node accepted the notice into
its file (the applier writes it with the 通知を受けた年月日 of PRF-1; at a municipality the CS intake, when
it took in the register's change); its date in Japan is the day the period starts.  A 住民票コードの変更
moves the current record to the new code; the old code's history was superseded on the day the node
accepted that change, which is read from the node's inbox (the applied notice naming the old code) or,
at a municipality, from its own outgoing stream (a redacted row keeps the two codes for this).  If
neither has it, that last row of the old code is kept.

**Concurrency.** A record the applier changes while a run decides (a 転入 of a 消除者, say) is not
deleted: a whole record is deleted only if it is still the 消除 the run judged (same origin and 更新順番号,
still removed); otherwise that person is left for the next run.

**What this does not touch.** The audit log has its own retention (NET-11).  At a municipality the
register (住民基本台帳ファイル and its 除票) has its own purge, with a person's approval (REG-R5); this run
purges the CS's 本人確認情報 file and its transport copies only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from juki.audit.log import AuditLog
from juki.clock import JST, jst_date
from juki.domain.errors import Conflict, Problem, RuleViolation
from juki.domain.identity import RecordFile, RecordState
from juki.domain.node_retention import NODE_RETENTION_YEARS, Expiry, HistoryFacts, expiry, node_cutoff
from juki.domain.transport_retention import TRANSPORT_KEEP_DAYS, keep_period

from . import transport as transport_copies
from .node import SYSTEM_USER
from .retention_tables import net_retention_active, net_retention_runs, net_retention_targets
from .store import NetStore
from .tables import net_history, net_records

RULE = "PRF-4/retention"
LAST_RUN = "retention:last_run"
CHUNK = 500
FILES: tuple[str, ...] = tuple(f.value for f in RecordFile)


@dataclass(frozen=True)
class Item:
    """One (file, 住民票コード) of a plan: the history rows that go and, if ``whole``, the current record
    (which must still be the notice ``record_origin`` / ``record_seq`` when the run deletes it)."""

    file: str
    juminhyo_code: str
    history_ids: tuple[int, ...]
    whole: bool
    record_origin: str = ""
    record_seq: int = 0


@dataclass(frozen=True)
class Plan:
    """What has expired on ``today`` (cutoff: the newest day of receipt that has expired)."""

    today: dt.date
    cutoff: dt.date
    years: int
    items: tuple[Item, ...]
    transport: dict[str, int] = field(default_factory=lambda: dict.fromkeys(transport_copies.TABLES, 0))
    """Transport copies redacted (per table), as of the node's now (:mod:`juki.net.transport`)."""

    def counts(self) -> dict[str, dict[str, int]]:
        """Per file: history rows and whole records that go."""
        out = {f: {"history": 0, "records": 0} for f in FILES}
        for i in self.items:
            out[i.file]["history"] += len(i.history_ids)
            out[i.file]["records"] += int(i.whole)
        return out

    @property
    def history_rows(self) -> int:
        return sum(len(i.history_ids) for i in self.items)

    @property
    def records(self) -> int:
        return sum(1 for i in self.items if i.whole)

    @property
    def persons(self) -> list[str]:
        """The 住民票コード of whom something goes (sorted, each once)."""
        return sorted({i.juminhyo_code for i in self.items})

    def as_dict(self) -> dict[str, Any]:
        return {"today": self.today.isoformat(), "cutoff": self.cutoff.isoformat(), "years": self.years,
                "history_rows": self.history_rows, "records": self.records, "persons": len(self.persons),
                "counts": self.counts(), "transport": self.transport}


@dataclass(frozen=True)
class Run:
    """A retention run as logged (``net_retention_runs``)."""

    run_id: int
    at: dt.datetime
    run_on: dt.date
    cutoff: dt.date
    years: int
    actor: str
    terminal: str
    history_rows: int
    records: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    persons: int = 0  # only known for the run just made (the audit entry names them)
    skipped: int = 0  # records changed while the run decided: left for the next run
    transport: dict[str, Any] = field(default_factory=dict)  # rows redacted per transport table, keep_days, …

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "at": self.at.isoformat(), "run_on": self.run_on.isoformat(),
                "cutoff": self.cutoff.isoformat(), "years": self.years, "actor": self.actor,
                "terminal": self.terminal, "history_rows": self.history_rows, "records": self.records,
                "counts": self.counts, "transport": self.transport}

    @property
    def redacted(self) -> dict[str, int]:
        """Transport copies redacted, per table (0 for a run logged before ``0014_net_transport``)."""
        return {t: int(self.transport.get(t, 0)) for t in transport_copies.TABLES}


def _received_before(cutoff: dt.date) -> dt.datetime:
    """The first instant whose date in Japan is after ``cutoff``: rows recorded before it have expired
    candidates."""
    return dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time(0), tzinfo=JST).astimezone(dt.UTC)


def _replaced_on(conn: Connection, file: str, codes: Sequence[str]) -> dict[str, dt.date]:
    """For old 住民票コード without a current record: the day the node accepted the notice that moved the
    record to a new code (the earliest applied notice of ``file`` naming it as ``old_juminhyo_code``, or
    the earliest such entry of the node's own outgoing stream: :func:`juki.net.transport.replaced_on`)."""
    return {code: jst_date(at) for code, at in transport_copies.replaced_on(conn, file, codes).items()}


def expired_items(conn: Connection, cutoff: dt.date) -> list[Item]:
    """The rule applied to every (file, 住民票コード) with a history row received on or before ``cutoff``
    (nothing else can have expired: a row is superseded only by a later one, and a 消除者 goes only when
    all its rows are that old)."""
    h = net_history.c
    candidates = conn.execute(sa.select(h.file, h.juminhyo_code).where(h.recorded_at < _received_before(cutoff))
                              .distinct().order_by(h.file, h.juminhyo_code)).all()
    by_file: dict[str, list[str]] = {}
    for f, code in candidates:
        by_file.setdefault(f, []).append(code)
    out: list[Item] = []
    r = net_records.c
    for file, codes in sorted(by_file.items()):
        for n in range(0, len(codes), CHUNK):
            chunk = codes[n:n + CHUNK]
            facts: dict[str, list[HistoryFacts]] = {}
            for row in conn.execute(sa.select(h.history_id, h.juminhyo_code, h.current, h.recorded_at)
                                    .where(h.file == file, h.juminhyo_code.in_(chunk))):
                facts.setdefault(row.juminhyo_code, []).append(
                    HistoryFacts(int(row.history_id), bool(row.current), jst_date(row.recorded_at)))
            records = {row.juminhyo_code: row for row in conn.execute(
                sa.select(r.juminhyo_code, r.state, r.origin, r.origin_seq)
                .where(r.file == file, r.juminhyo_code.in_(chunk)))}
            replaced = _replaced_on(conn, file, [c for c in chunk if c not in records])
            for code in chunk:
                rec = records.get(code)
                state = RecordState(rec.state) if rec is not None else None
                e: Expiry | None = expiry(facts.get(code, []), state, cutoff, replaced_on=replaced.get(code))
                if e is None:
                    continue
                out.append(Item(file, code, e.history_ids, e.whole,
                                rec.origin if rec is not None and e.whole else "",
                                int(rec.origin_seq) if rec is not None and e.whole else 0))
    return out


class NodeRetention:
    """PRF-4 retention of one node's files and transport copies (see the module docstring).  ``years``
    is 150 by law; a smaller number is for tests only.  ``keep_days`` is the node's
    ``transport_keep_days`` (:mod:`juki.domain.transport_retention`)."""

    def __init__(self, store: NetStore, *, audit: AuditLog, years: int = NODE_RETENTION_YEARS,
                 terminal: str = "", keep_days: int = TRANSPORT_KEEP_DAYS) -> None:
        self.store = store
        self.engine = store.engine
        self.clock = store.clock
        self.audit = audit
        self.years = years
        self.terminal = terminal
        self.keep = keep_period(keep_days)

    def today(self) -> dt.date:
        """The node's today (JST)."""
        return jst_date(self.clock())

    def cutoff(self, today: dt.date | None = None) -> dt.date:
        return node_cutoff(today or self.today(), self.years)

    def plan(self, today: dt.date | None = None) -> Plan:
        """What has expired on ``today`` (default: the node's today), and what of the transport copies
        a run would redact now.  Writes nothing."""
        day = today or self.today()
        cutoff = self.cutoff(day)
        with self.engine.connect() as conn:
            copies = transport_copies.plan(conn, self.clock(), self.keep)
            return Plan(day, cutoff, self.years, tuple(expired_items(conn, cutoff)), copies.counts())

    def run(self, *, actor: str = SYSTEM_USER, terminal: str | None = None, today: dt.date | None = None) -> Run:
        """Delete what has expired on ``today`` (default and latest allowed: the node's today), in one
        transaction; logged and audited even when nothing has expired."""
        now = self.clock()
        day = today or jst_date(now)
        if day > jst_date(now):
            raise RuleViolation(Problem(
                "today", RULE, f"保存期間の判定日は今日（{jst_date(now).isoformat()}）より後にできません。",
                f"Retention cannot be judged on a day after today ({jst_date(now).isoformat()})."))
        term = self.terminal if terminal is None else terminal
        cutoff = self.cutoff(day)
        with self.engine.begin() as conn:
            self.store.cursor(conn, LAST_RUN, lock=True)  # one run at a time (PostgreSQL: row lock)
            items, skipped = self._still_expired(conn, expired_items(conn, cutoff))
            copies = transport_copies.plan(conn, now, self.keep, lock=True)
            plan = Plan(day, cutoff, self.years, tuple(items), copies.counts())
            counts = plan.counts()
            logged = copies.as_dict()
            inserted = conn.execute(net_retention_runs.insert().values(
                at=now, run_on=day, cutoff=cutoff, years=self.years, actor=actor, terminal=term,
                history_rows=plan.history_rows, records=plan.records, counts=counts,
                outbound_through=copies.outbound_through, transport=logged)).inserted_primary_key
            assert inserted is not None
            run_id = int(inserted[0])
            if items or copies.inbox or copies.outbound:
                conn.execute(net_retention_active.insert().values(run_id=run_id))
                self._delete(conn, run_id, plan)
                redacted = transport_copies.redact(conn, copies, run_id=run_id, on=day)
                if redacted != copies.counts():  # rolls back the whole run: nothing is half done
                    raise Conflict(Problem("run", RULE, f"写しの消去が予定と異なります（予定 {copies.counts()}、実際 {redacted}）。",
                                           f"Redacted {redacted} transport rows where {copies.counts()} were planned."))
                conn.execute(net_retention_active.delete().where(net_retention_active.c.run_id == run_id))
            self.store.set_cursor(conn, LAST_RUN, run_id)
            self.audit.record(conn, user_id=actor, terminal=term, action="net.retention.purge", at=now,
                              subject_ids=plan.persons,
                              detail={"run_id": run_id, **plan.as_dict(), "skipped": skipped})
        return Run(run_id, now, day, cutoff, self.years, actor, term, plan.history_rows, plan.records, counts,
                   persons=len(plan.persons), skipped=skipped, transport=logged)

    def _still_expired(self, conn: Connection, items: Iterable[Item]) -> tuple[list[Item], int]:
        """Delete each whole record now, only if it is still the 消除 the rule judged; a record changed
        meanwhile is left (with its history) for the next run."""
        r = net_records.c
        kept: list[Item] = []
        skipped = 0
        for item in items:
            if item.whole:
                gone = conn.execute(sa.delete(net_records).where(
                    r.file == item.file, r.juminhyo_code == item.juminhyo_code, r.origin == item.record_origin,
                    r.origin_seq == item.record_seq,
                    r.state.in_([RecordState.REMOVED.value, RecordState.VOID.value]))).rowcount
                if gone != 1:
                    skipped += 1
                    continue
            kept.append(item)
        return kept, skipped

    def _delete(self, conn: Connection, run_id: int, plan: Plan) -> None:
        """Delete the planned history rows (the run's marker exists)."""
        ids = [hid for i in plan.items for hid in i.history_ids]
        if not ids:
            return
        for n in range(0, len(ids), CHUNK):
            conn.execute(net_retention_targets.insert(), [{"run_id": run_id, "history_id": h} for h in ids[n:n + CHUNK]])
        deleted = 0
        for n in range(0, len(ids), CHUNK):
            deleted += int(conn.execute(sa.delete(net_history).where(
                net_history.c.history_id.in_(ids[n:n + CHUNK]))).rowcount or 0)
        if deleted != len(ids):  # rolls back the whole run: nothing is half done
            raise Conflict(Problem("run", RULE, f"消去した履歴が予定と異なります（予定 {len(ids)} 件、消去 {deleted} 件）。",
                                   f"Deleted {deleted} history rows where {len(ids)} were planned."))
        conn.execute(net_retention_targets.delete().where(net_retention_targets.c.run_id == run_id))

    def runs(self, limit: int = 50) -> list[Run]:
        """The logged runs, newest first."""
        t = net_retention_runs.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(net_retention_runs).order_by(t.run_id.desc()).limit(limit)).all()
        return [Run(int(r.run_id), r.at, r.run_on, r.cutoff, int(r.years), r.actor, r.terminal, int(r.history_rows),
                    int(r.records), dict(r.counts or {}), transport=dict(r.transport or {})) for r in rows]

    def last_run(self) -> Run | None:
        runs = self.runs(1)
        return runs[0] if runs else None
