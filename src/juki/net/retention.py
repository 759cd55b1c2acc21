"""Automatic deletion past retention at the prefecture and national servers (PRF-4: 保存期間が経過した
データをシステムにて自動判別し消去する; seed 004 II(1)6③, III(1)7 リスク3).

:class:`NodeRetention` applies the rule of :mod:`juki.domain.node_retention` (history 150 years after it
was superseded; a 消除者 record, 個人番号 included, 150 years after the last notice about it; the current
record of a living resident never) to both files of the node (本人確認情報 and 附票本人確認情報):

* :meth:`~NodeRetention.plan` -- what has expired on a day: counts per file, and per person what goes.
  Nothing is written.
* :meth:`~NodeRetention.run` -- in **one transaction**: serialises with any other run (the cursor
  ``retention:last_run``, locked), plans again, writes the run's log row (``net_retention_runs``), the
  marker and the target list the ``net_history`` guard requires, deletes the expired history rows and
  the expired 消除者 records (the ``net_records`` row: its search keys, its sealed 個人番号 and its blind
  index go with it), checks that exactly what was planned went, removes marker and list, and writes one
  audit entry ``net.retention.purge`` (subjects: the 住民票コード of everyone of whom something was
  deleted; detail: the counts).  Idempotent: a second run on the same day finds nothing more.

No four-eyes step: the law says the system decides by itself (自動判別), unlike the register's purge
(REG-R5), where a person approves the list.  The node runs it every day (:mod:`juki.net.housekeeping`);
``juki net retention plan|run|list`` shows it and runs it by hand.

**What counts as received.** A history row's ``recorded_at`` is when the node accepted the notice into
its file (the applier writes it with the 通知を受けた年月日 of PRF-1); its date in Japan is the day the
period starts.  A 住民票コードの変更 moves the current record to the new code; the old code's history was
superseded on the day the node accepted that change, which is read from the node's inbox (the applied
notice naming the old code).  If the inbox no longer has it, that last row of the old code is kept.

**Concurrency.** A record the applier changes while a run decides (a 転入 of a 消除者, say) is not
deleted: a whole record is deleted only if it is still the 消除 the run judged (same origin and 更新順番号,
still removed); otherwise that person is left for the next run.

**What this does not touch.** The transport tables -- the inbox (``net_inbox``) and, at a prefecture,
the forwarded stream (``net_outbound``) -- keep the notices as received; they are not purged here.  The
audit log has its own retention (NET-11).  The municipality's CS file is not purged here either: the
register's own purge (REG-R5) is the municipality's.
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

from .node import SYSTEM_USER
from .retention_tables import net_retention_active, net_retention_runs, net_retention_targets
from .store import NetStore
from .tables import net_history, net_inbox, net_records

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
                "counts": self.counts()}


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

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "at": self.at.isoformat(), "run_on": self.run_on.isoformat(),
                "cutoff": self.cutoff.isoformat(), "years": self.years, "actor": self.actor,
                "terminal": self.terminal, "history_rows": self.history_rows, "records": self.records,
                "counts": self.counts}


def _received_before(cutoff: dt.date) -> dt.datetime:
    """The first instant whose date in Japan is after ``cutoff``: rows recorded before it have expired
    candidates."""
    return dt.datetime.combine(cutoff + dt.timedelta(days=1), dt.time(0), tzinfo=JST).astimezone(dt.UTC)


def _replaced_on(conn: Connection, file: str, codes: Sequence[str]) -> dict[str, dt.date]:
    """For old 住民票コード without a current record: the day the node accepted the notice that moved the
    record to a new code (the earliest applied notice of ``file`` naming it as ``old_juminhyo_code``)."""
    if not codes:
        return {}
    i = net_inbox.c
    old = i.payload["old_juminhyo_code"].as_string()
    new = i.payload["juminhyo_code"].as_string()
    rows = conn.execute(sa.select(old.label("old"), sa.func.min(i.decided_at).label("at"))
                        .where(i.file == file, i.status.in_(("applied", "forced")), old.in_(list(codes)),
                               new != old, i.decided_at.is_not(None))
                        .group_by(old)).all()
    out: dict[str, dt.date] = {}
    for r in rows:
        out[str(r.old)] = jst_date(r.at)
    return out


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
    """PRF-4 retention of one node's files (see the module docstring).  ``years`` is 150 by law; a smaller
    number is for tests only."""

    def __init__(self, store: NetStore, *, audit: AuditLog, years: int = NODE_RETENTION_YEARS,
                 terminal: str = "") -> None:
        self.store = store
        self.engine = store.engine
        self.clock = store.clock
        self.audit = audit
        self.years = years
        self.terminal = terminal

    def today(self) -> dt.date:
        """The node's today (JST)."""
        return jst_date(self.clock())

    def cutoff(self, today: dt.date | None = None) -> dt.date:
        return node_cutoff(today or self.today(), self.years)

    def plan(self, today: dt.date | None = None) -> Plan:
        """What has expired on ``today`` (default: the node's today).  Writes nothing."""
        day = today or self.today()
        cutoff = self.cutoff(day)
        with self.engine.connect() as conn:
            return Plan(day, cutoff, self.years, tuple(expired_items(conn, cutoff)))

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
            plan = Plan(day, cutoff, self.years, tuple(items))
            counts = plan.counts()
            inserted = conn.execute(net_retention_runs.insert().values(
                at=now, run_on=day, cutoff=cutoff, years=self.years, actor=actor, terminal=term,
                history_rows=plan.history_rows, records=plan.records, counts=counts)).inserted_primary_key
            assert inserted is not None
            run_id = int(inserted[0])
            if items:
                self._delete(conn, run_id, plan)
            self.store.set_cursor(conn, LAST_RUN, run_id)
            self.audit.record(conn, user_id=actor, terminal=term, action="net.retention.purge", at=now,
                              subject_ids=plan.persons,
                              detail={"run_id": run_id, **plan.as_dict(), "skipped": skipped})
        return Run(run_id, now, day, cutoff, self.years, actor, term, plan.history_rows, plan.records, counts,
                   persons=len(plan.persons), skipped=skipped)

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
        ids = [hid for i in plan.items for hid in i.history_ids]
        conn.execute(net_retention_active.insert().values(run_id=run_id))
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
        conn.execute(net_retention_active.delete().where(net_retention_active.c.run_id == run_id))

    def runs(self, limit: int = 50) -> list[Run]:
        """The logged runs, newest first."""
        t = net_retention_runs.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(net_retention_runs).order_by(t.run_id.desc()).limit(limit)).all()
        return [Run(int(r.run_id), r.at, r.run_on, r.cutoff, int(r.years), r.actor, r.terminal, int(r.history_rows),
                    int(r.records), dict(r.counts or {})) for r in rows]

    def last_run(self) -> Run | None:
        runs = self.runs(1)
        return runs[0] if runs else None
