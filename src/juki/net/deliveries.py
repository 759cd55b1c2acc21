"""Messages one node owes another, delivered until they arrive (転入通知, 継続利用, card events).

A service that must tell a peer something records it with :func:`enqueue` **in the same transaction**
as the change that makes it due, so that it is neither lost (the change committed, the message not) nor
sent for nothing (the message sent, the change rolled back).  :class:`Deliveries` sends what is due,
oldest first; the receiver is idempotent on ``dedupe_key``, so a message sent twice (a crash after the
send and before the mark) does no harm.

* a transport failure (the peer down, a timeout) is retried with exponential back-off
  (:data:`FIRST_RETRY` doubling up to :data:`MAX_RETRY`);
* a refusal by the peer (a :class:`~juki.domain.errors.JukiError` from its answer) cannot be cured by
  retrying: the delivery is marked failed with the peer's reasons and shows up in
  :meth:`Deliveries.list` for an operator.

**Ordered kinds** (:data:`ORDERED`: the 転入通知, :mod:`juki.net.movein`) go to each peer one at a time,
oldest first: a message is sent only when every earlier one of its kind to that peer was delivered.  A
transport failure holds the later ones behind it; a refusal **halts** that peer's queue and raises a
blocking operator alert (scope ``peer:<kind>:<peer>``, ref the message's key) until an operator resolves
it (``juki net resume``: ``retry`` sends it again, ``skip`` replaces it by a skip marker).

Payloads never carry a 個人番号 (a test checks every kind).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.audit.chain import no_individual_number
from juki.clock import Clock, utcnow
from juki.domain.errors import JukiError

from .svc_tables import peer_deliveries

log = logging.getLogger("juki.net.deliveries")

FIRST_RETRY = dt.timedelta(seconds=2)
MAX_RETRY = dt.timedelta(minutes=30)

ORDERED: frozenset[str] = frozenset({"move_in_notice"})
"""Kinds delivered in order per peer, halting at a refusal."""

Send = Callable[[str, str, dict[str, Any], str], None]
"""``send(kind, peer, payload, dedupe_key)``: deliver one message, raise on failure."""


def enqueue(conn: Connection, *, kind: str, peer: str, dedupe_key: str, payload: dict[str, Any], now: dt.datetime) -> None:
    """Record a message for ``peer`` in the caller's transaction (a second enqueue of the same key is a
    no-op)."""
    no_individual_number(payload, "payload")
    exists = conn.execute(sa.select(peer_deliveries.c.id).where(peer_deliveries.c.dedupe_key == dedupe_key)).first()
    if exists is None:
        conn.execute(peer_deliveries.insert().values(kind=kind, peer=peer, dedupe_key=dedupe_key, payload=payload,
                                                     status="pending", next_attempt_at=now, created_at=now))


@dataclass
class Report:
    """What one round of sending did, by reference: ``done`` (delivered, designated, sent), ``failed``
    (refused by the peer: retrying cannot help) and ``retry`` (the transport failed: next round)."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retry: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryView:
    kind: str
    peer: str
    dedupe_key: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    payload: dict[str, Any]


def halt_scope(kind: str, peer: str) -> str:
    """The alert scope of a halted ordered queue."""
    return f"peer:{kind}:{peer}"


class Deliveries:
    """``store`` (the node's :class:`~juki.net.store.NetStore`, same database) receives the alerts of
    halted ordered queues."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow, store: Any = None) -> None:
        self.engine = engine
        self.clock = clock
        self.store = store

    def deliver_due(self, send: Send, *, kinds: tuple[str, ...] | None = None, limit: int = 100) -> Report:
        """Send every pending message whose time has come (one peer call and one update each)."""
        report = Report()
        q = (sa.select(peer_deliveries)
             .where(peer_deliveries.c.status == "pending", peer_deliveries.c.next_attempt_at <= self.clock())
             .order_by(peer_deliveries.c.id).limit(limit))
        if kinds:
            q = q.where(peer_deliveries.c.kind.in_(kinds))
        earlier = peer_deliveries.alias("earlier")
        q = q.where(sa.or_(peer_deliveries.c.kind.not_in(sorted(ORDERED)), ~sa.exists().where(
            earlier.c.kind == peer_deliveries.c.kind, earlier.c.peer == peer_deliveries.c.peer,
            earlier.c.id < peer_deliveries.c.id, earlier.c.status != "delivered")))
        with self.engine.connect() as conn:
            due = conn.execute(q).all()
        for row in due:
            try:
                send(row.kind, row.peer, dict(row.payload), row.dedupe_key)
            except JukiError as e:
                reasons = " / ".join(f"{p.field}: {p.ja} [{p.rule}]" for p in e.problems)
                log.warning("delivery %s to %s refused: %s", row.dedupe_key, row.peer, reasons)
                self._mark(row.id, status="failed", attempts=row.attempts + 1, error=reasons)
                if row.kind in ORDERED:
                    self._halt(row, e)
                report.failed.append(row.dedupe_key)
            except Exception as e:
                wait = min(FIRST_RETRY * (2 ** row.attempts), MAX_RETRY)
                self._mark(row.id, status="pending", attempts=row.attempts + 1, error=f"{type(e).__name__}: {e}",
                           next_at=self.clock() + wait)
                report.retry.append(row.dedupe_key)
            else:
                self._mark(row.id, status="delivered", attempts=row.attempts + 1, error=None, delivered=True)
                report.done.append(row.dedupe_key)
        return report

    def _halt(self, row: Any, e: JukiError) -> None:
        if self.store is None:
            return
        ja = "／".join(p.ja for p in e.problems)
        en = "; ".join(p.en for p in e.problems)
        with self.engine.begin() as conn:
            self.store.raise_alert(
                conn, scope=halt_scope(row.kind, row.peer), ref=row.dedupe_key, kind="delivery_refused",
                rule=e.problems[0].rule if e.problems else "NET-2/peer",
                ja=f"{row.peer} が {row.dedupe_key} を受け付けませんでした（{row.peer} への以降の通知は停止中）: {ja}",
                en=f"{row.peer} refused {row.dedupe_key} (later messages to {row.peer} are held): {en}",
                detail={"peer": row.peer, "kind": row.kind, "dedupe_key": row.dedupe_key,
                        "problems": [p.as_dict() for p in e.problems]})

    def failed_payload(self, conn: Connection, dedupe_key: str) -> dict[str, Any] | None:
        payload = conn.execute(sa.select(peer_deliveries.c.payload).where(
            peer_deliveries.c.dedupe_key == dedupe_key, peer_deliveries.c.status == "failed")).scalar()
        return dict(payload) if payload is not None else None

    def skip_failed(self, conn: Connection, dedupe_key: str, marker: dict[str, Any]) -> bool:
        """An operator skipped a refused ordered message (in the caller's transaction): ``marker`` takes
        its place and is sent (the receiver records the skip and takes the next message)."""
        no_individual_number(marker, "payload")
        res = conn.execute(peer_deliveries.update()
                           .where(peer_deliveries.c.dedupe_key == dedupe_key, peer_deliveries.c.status == "failed")
                           .values(status="pending", payload=marker, next_attempt_at=self.clock()))
        return res.rowcount == 1

    def _mark(self, row_id: int, *, status: str, attempts: int, error: str | None,
              next_at: dt.datetime | None = None, delivered: bool = False) -> None:
        values: dict[str, Any] = {"status": status, "attempts": attempts, "last_error": error}
        if next_at is not None:
            values["next_attempt_at"] = next_at
        if delivered:
            values["delivered_at"] = self.clock()
        with self.engine.begin() as conn:
            conn.execute(peer_deliveries.update().where(peer_deliveries.c.id == row_id).values(**values))

    def list(self, *, status: str | None = None, kind: str | None = None, limit: int = 100) -> list[DeliveryView]:
        q = sa.select(peer_deliveries).order_by(peer_deliveries.c.id.desc()).limit(limit)
        if status:
            q = q.where(peer_deliveries.c.status == status)
        if kind:
            q = q.where(peer_deliveries.c.kind == kind)
        with self.engine.connect() as conn:
            return [DeliveryView(r.kind, r.peer, r.dedupe_key, r.status, r.attempts, r.last_error, r.next_attempt_at,
                                 dict(r.payload)) for r in conn.execute(q)]

    def retry_failed(self, dedupe_key: str, conn: Connection | None = None) -> bool:
        """An operator sends a failed message again (after fixing what the peer refused)."""
        if conn is None:
            with self.engine.begin() as c:
                return self.retry_failed(dedupe_key, c)
        res = conn.execute(peer_deliveries.update()
                           .where(peer_deliveries.c.dedupe_key == dedupe_key, peer_deliveries.c.status == "failed")
                           .values(status="pending", next_attempt_at=self.clock()))
        return res.rowcount == 1
