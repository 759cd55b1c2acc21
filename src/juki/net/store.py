"""Storage of a node's streams, file, alerts and deliveries (the tables of :mod:`juki.net.tables`).

Every method takes the caller's connection, so that one step of work -- e.g. apply a notice, record it
in the history, forward it and move the cursor -- is one transaction (house rule 4): a crash in the
middle leaves none of it, and the step is simply done again (the receivers are idempotent).

The 個人番号 is never in a JSON column: it is sealed with the node's key ring (AES-GCM) with associated
data naming the row (``net_records|identity|<住民票コード>``, ``net_outbound|<origin>|<origin seq>``, …), so a
ciphertext copied to another row does not open, plus an HMAC blind index on the current record.

Serialisation: the counters in ``net_cursors`` are read ``FOR UPDATE`` on PostgreSQL; on SQLite a write
transaction already holds the database lock (``BEGIN IMMEDIATE``).  Each node runs one writer per stream
(the CS intake, the applier), so the locks are for safety, not for throughput.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.keys import Keyring
from juki.domain.errors import Conflict, NotFound, Problem
from juki.domain.identity import FuhyoUpdate, IdentityUpdate, RecordFile
from juki.domain.kana import address_key, kana_key, name_key
from juki.domain.model import to_json

from .notices import Entry, Notice, file_of, notice_from_json, notice_to_json, split_number
from .tables import (
    net_alert_resolutions,
    net_alerts,
    net_cursors,
    net_deliveries,
    net_history,
    net_inbox,
    net_outbound,
    net_records,
)

log = logging.getLogger("juki.net")

OUTBOUND = "outbound"

# Statements built once: the per-notice paths execute them with parameter dicts, so SQLAlchemy compiles
# each once instead of building a statement per row (that dominated the cost of applying a notice).
_RECORD_UPDATE = net_records.update().where(net_records.c.file == sa.bindparam("b_file"),
                                            net_records.c.juminhyo_code == sa.bindparam("b_code"))
_RECORD_DELETE = net_records.delete().where(net_records.c.file == sa.bindparam("b_file"),
                                            net_records.c.juminhyo_code == sa.bindparam("b_code"))
_RECORD_SELECT = sa.select(net_records).where(net_records.c.file == sa.bindparam("b_file"),
                                              net_records.c.juminhyo_code == sa.bindparam("b_code"))
_STATUS_UPDATE = net_inbox.update().where(net_inbox.c.source == sa.bindparam("b_source"),
                                          net_inbox.c.source_seq == sa.bindparam("b_seq"))
_CURSOR_UPDATE = net_cursors.update().where(net_cursors.c.name == sa.bindparam("b_name"))


def received_cursor(source: str) -> str:
    return f"received:{source}"


def applied_cursor(origin: str) -> str:
    return f"applied:{origin}"


@dataclass(frozen=True)
class StoredRecord:
    """The current record of one person in one file of this node."""

    file: RecordFile
    juminhyo_code: str
    origin: str
    origin_seq: int
    state: str
    notice: Notice  # the last accepted notice (what the checks compare with)
    record: dict[str, Any]  # the file's items at this tier (without the 個人番号)
    individual_number: str | None


@dataclass(frozen=True)
class InboxRow:
    source: str
    source_seq: int
    entry: Entry
    status: str


@dataclass(frozen=True)
class Alert:
    """An operator alert (and its resolution, once resolved)."""

    alert_id: int
    at: dt.datetime
    scope: str
    ref: str
    kind: str
    blocking: bool
    rule: str
    message_ja: str
    message_en: str
    detail: dict[str, Any]
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    action: str | None = None
    reason: str | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id, "at": self.at.isoformat(), "scope": self.scope, "ref": self.ref,
            "kind": self.kind, "blocking": self.blocking, "rule": self.rule, "message_ja": self.message_ja,
            "message_en": self.message_en, "detail": self.detail, "open": self.open,
            "resolution": None if self.open else {
                "at": self.resolved_at.isoformat() if self.resolved_at else None, "by": self.resolved_by,
                "action": self.action, "reason": self.reason},
        }


@dataclass(frozen=True)
class Delivery:
    destination: str
    acked_through: int
    attempts: int
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_error: str | None
    remote: dict[str, Any] | None


class NetStore:
    """The node tables on one engine, with the node's key ring."""

    def __init__(self, engine: Engine, keyring: Keyring, clock: Callable[[], dt.datetime]) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock

    # -- sealing the 個人番号 ------------------------------------------------------------------------

    def _seal(self, number: str | None, aad: str) -> tuple[bytes | None, str | None]:
        if not number:
            return None, None
        return self.keyring.encrypt(number, aad)

    def _open(self, ciphertext: bytes | None, key_id: str | None, aad: str) -> str | None:
        if ciphertext is None or key_id is None:
            return None
        return self.keyring.decrypt(bytes(ciphertext), key_id, aad)

    # -- cursors -----------------------------------------------------------------------------------

    def cursor(self, conn: Connection, name: str, *, lock: bool = False) -> int:
        q = sa.select(net_cursors.c.value).where(net_cursors.c.name == name)
        if lock:
            q = q.with_for_update()
        value = conn.execute(q).scalar()
        if value is None:
            try:
                with conn.begin_nested():
                    conn.execute(net_cursors.insert().values(name=name, value=0, updated_at=self.clock()))
            except sa.exc.IntegrityError:
                pass
            value = conn.execute(q).scalar()
        return int(value or 0)

    def set_cursor(self, conn: Connection, name: str, value: int) -> None:
        conn.execute(_CURSOR_UPDATE, {"b_name": name, "value": value, "updated_at": self.clock()})

    def cursors(self, conn: Connection, prefix: str) -> dict[str, int]:
        rows = conn.execute(sa.select(net_cursors.c.name, net_cursors.c.value)
                            .where(net_cursors.c.name.startswith(prefix))).all()
        return {r.name[len(prefix):]: int(r.value) for r in rows}

    # -- the outgoing stream -----------------------------------------------------------------------

    def append_outbound(self, conn: Connection, *, origin: str, origin_seq: int, file: str,
                        payload: dict[str, Any], number: str | None) -> int:
        """Append one entry to the node's outgoing stream; returns its seq (dense from 1)."""
        return self.append_outbound_many(conn, [(origin, origin_seq, file, payload, number)])[0]

    def append_outbound_many(self, conn: Connection,
                             entries: Sequence[tuple[str, int, str, dict[str, Any], str | None]]) -> list[int]:
        """Append entries ``(origin, origin_seq, file, payload, number)`` in order; returns their seqs."""
        if not entries:
            return []
        first = self.cursor(conn, OUTBOUND, lock=True) + 1
        now = self.clock()
        rows = []
        for i, (origin, origin_seq, file, payload, number) in enumerate(entries):
            ct, kid = self._seal(number, f"net_outbound|{origin}|{origin_seq}")
            rows.append(dict(seq=first + i, origin=origin, origin_seq=origin_seq, file=file, payload=payload,
                             number_ciphertext=ct, number_key_id=kid, created_at=now))
        conn.execute(net_outbound.insert(), rows)
        self.set_cursor(conn, OUTBOUND, first + len(rows) - 1)
        return list(range(first, first + len(rows)))

    def outbound_after(self, after: int, limit: int) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(net_outbound).where(net_outbound.c.seq > after)
                                .order_by(net_outbound.c.seq).limit(limit)).all()
        return [Entry(seq=int(r.seq), origin=r.origin, origin_seq=int(r.origin_seq), file=r.file,
                      payload=dict(r.payload),
                      number=self._open(r.number_ciphertext, r.number_key_id, f"net_outbound|{r.origin}|{r.origin_seq}"))
                for r in rows]

    def outbound_head(self, conn: Connection | None = None) -> int:
        if conn is None:
            with self.engine.connect() as c:
                return self.outbound_head(c)
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(net_outbound.c.seq), 0))).scalar_one())

    # -- the inbox ---------------------------------------------------------------------------------

    def receive(self, conn: Connection, source: str, entries: Sequence[Entry]) -> int:
        """Store received entries (a (source, seq) already stored is ignored: at-least-once delivery
        becomes exactly-once here) and return up to which seq everything from ``source`` is stored."""
        if entries:
            seqs = [e.seq for e in entries]
            known = {int(s) for s in conn.execute(
                sa.select(net_inbox.c.source_seq).where(net_inbox.c.source == source,
                                                        net_inbox.c.source_seq.in_(seqs))).scalars()}
            rows = []
            now = self.clock()
            for e in entries:
                if e.seq in known:
                    continue
                known.add(e.seq)
                ct, kid = self._seal(e.number, f"net_inbox|{source}|{e.seq}")
                rows.append(dict(source=source, source_seq=e.seq, origin=e.origin, origin_seq=e.origin_seq,
                                 file=e.file, payload=e.payload, number_ciphertext=ct, number_key_id=kid,
                                 received_at=now, status="pending", decided_at=None))
            if rows:
                conn.execute(net_inbox.insert(), rows)
        name = received_cursor(source)
        through = self.cursor(conn, name, lock=True)
        advanced = through
        while True:
            nxt = conn.execute(sa.select(net_inbox.c.source_seq).where(
                net_inbox.c.source == source, net_inbox.c.source_seq > advanced,
                net_inbox.c.source_seq <= advanced + 1000).order_by(net_inbox.c.source_seq)).scalars().all()
            run = 0
            for s in nxt:
                if int(s) == advanced + run + 1:
                    run += 1
                else:
                    break
            advanced += run
            if run < 1000:
                break
        if advanced != through:
            self.set_cursor(conn, name, advanced)
        return advanced

    def _inbox_row(self, r: Any) -> InboxRow:
        number = self._open(r.number_ciphertext, r.number_key_id, f"net_inbox|{r.source}|{r.source_seq}")
        return InboxRow(r.source, int(r.source_seq),
                        Entry(seq=int(r.source_seq), origin=r.origin, origin_seq=int(r.origin_seq), file=r.file,
                              payload=dict(r.payload), number=number), r.status)

    def pending_origins(self, conn: Connection) -> list[str]:
        return list(conn.execute(sa.select(net_inbox.c.origin).where(net_inbox.c.status == "pending")
                                 .distinct().order_by(net_inbox.c.origin)).scalars())

    def inbox_from(self, conn: Connection, origin: str, after: int, limit: int) -> list[InboxRow]:
        """Pending entries of ``origin`` numbered after ``after``, in 更新順番号 order (then by arrival)."""
        rows = conn.execute(sa.select(net_inbox).where(
            net_inbox.c.origin == origin, net_inbox.c.status == "pending", net_inbox.c.origin_seq > after)
            .order_by(net_inbox.c.origin_seq, net_inbox.c.source, net_inbox.c.source_seq).limit(limit)).all()
        return [self._inbox_row(r) for r in rows]

    def inbox_entry(self, conn: Connection, origin: str, origin_seq: int, status: str) -> InboxRow | None:
        r = conn.execute(sa.select(net_inbox).where(
            net_inbox.c.origin == origin, net_inbox.c.origin_seq == origin_seq, net_inbox.c.status == status)
            .order_by(net_inbox.c.source, net_inbox.c.source_seq).limit(1)).first()
        return self._inbox_row(r) if r is not None else None

    def set_status(self, conn: Connection, row: InboxRow, status: str) -> None:
        conn.execute(_STATUS_UPDATE, {"b_source": row.source, "b_seq": row.source_seq, "status": status,
                                      "decided_at": self.clock()})

    def mark_duplicates(self, conn: Connection, origin: str, through: int) -> int:
        """Pending entries of ``origin`` already applied (numbered ≤ ``through``) become duplicates."""
        res = conn.execute(net_inbox.update().where(
            net_inbox.c.origin == origin, net_inbox.c.status == "pending", net_inbox.c.origin_seq <= through)
            .values(status="duplicate", decided_at=self.clock()))
        return int(res.rowcount or 0)

    def inbox_counts(self, conn: Connection) -> dict[str, int]:
        rows = conn.execute(sa.select(net_inbox.c.status, sa.func.count()).group_by(net_inbox.c.status)).all()
        return {r[0]: int(r[1]) for r in rows}

    # -- the file (本人確認情報 / 附票本人確認情報) --------------------------------------------------------

    def _stored(self, r: Any) -> StoredRecord:
        number = self._open(r.number_ciphertext, r.number_key_id, f"net_records|{r.file}|{r.juminhyo_code}")
        return StoredRecord(file=RecordFile(r.file), juminhyo_code=r.juminhyo_code, origin=r.origin,
                            origin_seq=int(r.origin_seq), state=r.state,
                            notice=notice_from_json(r.file, dict(r.notice), number=number),
                            record=dict(r.record), individual_number=number)

    def current(self, conn: Connection, file: RecordFile, juminhyo_code: str, *, lock: bool = False) -> StoredRecord | None:
        q = _RECORD_SELECT.with_for_update() if lock else _RECORD_SELECT
        r = conn.execute(q, {"b_file": file.value, "b_code": juminhyo_code}).first()
        return self._stored(r) if r is not None else None

    def record_of(self, file: RecordFile, juminhyo_code: str) -> StoredRecord | None:
        with self.engine.connect() as conn:
            return self.current(conn, file, juminhyo_code)

    def put(self, conn: Connection, notice: Notice, record: Any, *, current: bool, replaces: str = "",
            history: list[dict[str, Any]] | None = None) -> None:
        """Record an accepted notice: the history always; the current record when ``current`` (a notice
        kept as history only leaves the current record alone).  ``replaces`` is the old 住民票コード of a
        住民票コードの変更: its current row moves to the new code.  With ``history``, the history row is
        appended there for the caller to write in one go (:meth:`write_history`)."""
        file = file_of(notice)
        now = self.clock()
        notice_json, number = split_number(notice_to_json(notice))
        record_json = {k: v for k, v in to_json(record).items() if k != "individual_number"}
        if isinstance(notice, IdentityUpdate):
            lg, reason = notice.lg_code, notice.reason.value
        else:
            assert isinstance(notice, FuhyoUpdate)
            lg, reason = notice.address_lg_code, f"fuhyo_{notice.notice.value}"
        state = notice.state.value
        hct, hkid = self._seal(number, f"net_history|{file.value}|{notice.juminhyo_code}|{notice.origin}|{notice.seq}")
        row = dict(file=file.value, juminhyo_code=notice.juminhyo_code, origin=notice.origin, origin_seq=notice.seq,
                   reason=reason, change_date=notice.change_date, state=state, current=current, record=record_json,
                   number_ciphertext=hct, number_key_id=hkid, recorded_at=now)
        if history is None:
            self.write_history(conn, [row])
        else:
            history.append(row)
        if not current:
            return
        if replaces and replaces != notice.juminhyo_code:
            conn.execute(_RECORD_DELETE, {"b_file": file.value, "b_code": replaces})
        ct, kid = self._seal(number, f"net_records|{file.value}|{notice.juminhyo_code}")
        values = dict(origin=notice.origin, origin_seq=notice.seq, state=state, lg_code=lg or "",
                      name_key=name_key(notice.name), kana_key=kana_key(notice.name_kana),
                      birth_date=notice.birth_date, sex=notice.sex, address_key=address_key(notice.address),
                      number_index=self.keyring.blind_index(number) if number else None,
                      number_ciphertext=ct, number_key_id=kid, notice=notice_json, record=record_json, updated_at=now)
        res = conn.execute(_RECORD_UPDATE, {"b_file": file.value, "b_code": notice.juminhyo_code, **values})
        if res.rowcount == 0:
            conn.execute(net_records.insert(), {"file": file.value, "juminhyo_code": notice.juminhyo_code, **values})

    @staticmethod
    def write_history(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(net_history.insert(), rows)

    def record_counts(self, conn: Connection) -> dict[str, dict[str, int]]:
        rows = conn.execute(sa.select(net_records.c.file, net_records.c.state, sa.func.count())
                            .group_by(net_records.c.file, net_records.c.state)).all()
        out: dict[str, dict[str, int]] = {}
        for f, state, n in rows:
            out.setdefault(f, {})[state] = int(n)
        return out

    def fingerprint(self, conn: Connection, file: RecordFile) -> list[tuple[str, str, str, str]]:
        """(住民票コード, state, origin, 8-item digest) of every record of ``file``, in code order: what
        the tests compare across tiers (the 整合性確認 of NET-10 compares by hash ranges)."""
        out = []
        for r in conn.execute(sa.select(net_records).where(net_records.c.file == file.value)
                              .order_by(net_records.c.juminhyo_code)):
            stored = self._stored(r)
            n = stored.notice
            items = ([n.juminhyo_code, n.name, n.birth_date.isoformat(), n.sex, n.address, n.individual_number]
                     if isinstance(n, IdentityUpdate) else
                     [n.juminhyo_code, n.name, n.birth_date.isoformat(), n.sex, n.address, n.managing_lg_code])
            digest = hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:16]
            out.append((stored.juminhyo_code, stored.state, stored.origin, digest))
        return out

    # -- alerts ------------------------------------------------------------------------------------

    def raise_alert(self, conn: Connection, *, scope: str, ref: str, kind: str, rule: str, ja: str, en: str,
                    detail: dict[str, Any] | None = None, blocking: bool = True) -> int:
        """Insert an operator alert (in the caller's transaction) and log it."""
        res = conn.execute(net_alerts.insert().values(at=self.clock(), scope=scope, ref=ref, kind=kind,
                                                      blocking=blocking, rule=rule, message_ja=ja, message_en=en,
                                                      detail=detail or {}))
        key = res.inserted_primary_key
        assert key is not None
        alert_id = int(key[0])
        (log.error if blocking else log.warning)(
            "運用者への警告 %d [%s %s] %s / alert %d [%s %s] %s", alert_id, scope, ref, ja, alert_id, rule, kind, en)
        return alert_id

    def _alerts_query(self) -> sa.Select[Any]:
        return (sa.select(net_alerts, net_alert_resolutions.c.at.label("resolved_at"),
                          net_alert_resolutions.c.resolved_by, net_alert_resolutions.c.action,
                          net_alert_resolutions.c.reason)
                .select_from(net_alerts.outerjoin(net_alert_resolutions,
                                                  net_alert_resolutions.c.alert_id == net_alerts.c.alert_id))
                .order_by(net_alerts.c.alert_id))

    @staticmethod
    def _alert(r: Any) -> Alert:
        return Alert(alert_id=int(r.alert_id), at=r.at, scope=r.scope, ref=r.ref, kind=r.kind, blocking=bool(r.blocking),
                     rule=r.rule, message_ja=r.message_ja, message_en=r.message_en, detail=dict(r.detail or {}),
                     resolved_at=r.resolved_at, resolved_by=r.resolved_by, action=r.action, reason=r.reason)

    def open_alert(self, conn: Connection, scope: str, *, ref: str | None = None, kind: str | None = None,
                   blocking: bool | None = True) -> Alert | None:
        """The oldest open alert of ``scope`` (blocking ones only unless ``blocking`` is None)."""
        q = self._alerts_query().where(net_alerts.c.scope == scope, net_alert_resolutions.c.alert_id.is_(None))
        if blocking is not None:
            q = q.where(net_alerts.c.blocking.is_(blocking))
        if ref is not None:
            q = q.where(net_alerts.c.ref == ref)
        if kind is not None:
            q = q.where(net_alerts.c.kind == kind)
        r = conn.execute(q.limit(1)).first()
        return self._alert(r) if r is not None else None

    def alerts(self, *, open_only: bool = True, conn: Connection | None = None) -> list[Alert]:
        if conn is None:
            with self.engine.connect() as c:
                return self.alerts(open_only=open_only, conn=c)
        q = self._alerts_query()
        if open_only:
            q = q.where(net_alert_resolutions.c.alert_id.is_(None))
        return [self._alert(r) for r in conn.execute(q)]

    def alert(self, conn: Connection, alert_id: int) -> Alert:
        r = conn.execute(self._alerts_query().where(net_alerts.c.alert_id == alert_id)).first()
        if r is None:
            raise NotFound(Problem("alert_id", "NET-ALERT", f"警告 {alert_id} はありません。", f"There is no alert {alert_id}."))
        return self._alert(r)

    def resolve(self, conn: Connection, alert_id: int, *, action: str, by: str, reason: str) -> Alert:
        """Record the resolution of an open alert (insert-only; one resolution per alert)."""
        a = self.alert(conn, alert_id)
        if not a.open:
            raise Conflict(Problem("alert_id", "NET-ALERT/resolved",
                                   f"警告 {alert_id} は {a.resolved_by} により解決済みです（{a.action}）。",
                                   f"Alert {alert_id} was already resolved by {a.resolved_by} ({a.action})."))
        conn.execute(net_alert_resolutions.insert().values(alert_id=alert_id, at=self.clock(), resolved_by=by,
                                                           action=action, reason=reason))
        return self.alert(conn, alert_id)

    # -- deliveries --------------------------------------------------------------------------------

    def delivery(self, conn: Connection, destination: str) -> Delivery:
        r = conn.execute(sa.select(net_deliveries).where(net_deliveries.c.destination == destination)).first()
        if r is None:
            try:
                with conn.begin_nested():
                    conn.execute(net_deliveries.insert().values(destination=destination, acked_through=0, attempts=0))
            except sa.exc.IntegrityError:
                pass
            r = conn.execute(sa.select(net_deliveries).where(net_deliveries.c.destination == destination)).one()
        return Delivery(destination=r.destination, acked_through=int(r.acked_through), attempts=int(r.attempts),
                        last_attempt_at=r.last_attempt_at, next_attempt_at=r.next_attempt_at,
                        last_success_at=r.last_success_at, last_error=r.last_error,
                        remote=dict(r.remote) if r.remote else None)

    def update_delivery(self, conn: Connection, destination: str, **values: Any) -> None:
        conn.execute(net_deliveries.update().where(net_deliveries.c.destination == destination).values(**values))

    def deliveries(self, conn: Connection) -> list[Delivery]:
        return [self.delivery(conn, d) for d in conn.execute(sa.select(net_deliveries.c.destination)).scalars()]
