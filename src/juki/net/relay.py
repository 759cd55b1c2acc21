"""The relay: sends a node's outgoing stream to the next tier over mutual TLS, until the receiver has it
all (NET-2, PRF-3).

Delivery is **at least once** from here and **exactly once in effect** at the receiver:

* the relay sends the entries after what the receiver last acknowledged, in batches, in seq order;
* the receiver stores them (ignoring any it already has) and answers ``received_through``: the highest
  seq up to which it holds *every* entry.  That becomes the new acknowledgement -- even if it is lower
  than before (a receiver restored from a backup asks again for what it lost);
* anything not acknowledged (a lost batch, a gap from a reordered delivery, a node that was down) is sent
  again next round;
* on a failure (connection refused, timeout, TLS refusal, a peer that is not the expected node, 5xx)
  the relay waits with **exponential back-off** (0.5 s doubling to 60 s, ±20 % jitter) and tries again,
  forever; after :data:`ALERT_AFTER` failures in a row it raises a (non-blocking) operator alert, which
  it resolves itself when delivery works again.  A node down for an hour catches up when it returns.

The receiver also reports the streams it has halted (a refused notice); the relay records each as a
non-blocking alert at this node, so both operators see it.

An entry redacted by the node's retention run (PRF-4, :mod:`juki.net.transport`: ``transport_keep_days``
after the receiver acknowledged it) can no longer be sent.  If a receiver asks for one again (restored
from a backup older than that), the relay sends nothing, raises a non-blocking alert
``resend_redacted`` (scope ``resend:<destination>``, once) and waits: the receiver is repaired by a
整合性確認 with repair (NET-10) or a newer backup, not from the stream.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from typing import Any

import httpx

from juki.domain.transport_retention import is_redacted

from .store import NetStore

log = logging.getLogger("juki.net.relay")

BATCH = 200
BASE_DELAY = 0.5
MAX_DELAY = 60.0
ALERT_AFTER = 5
SYSTEM = "juki-system"


def backoff(attempts: int, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``attempts`` failures in a row (≥ 1)."""
    delay = min(BASE_DELAY * float(2 ** max(attempts - 1, 0)), MAX_DELAY)
    jitter = rng.uniform(0.8, 1.2) if rng is not None else random.uniform(0.8, 1.2)
    return delay * jitter


class Relay:
    """Delivers the outgoing stream of one node to ``destination`` (a peer code)."""

    def __init__(self, store: NetStore, *, source: str, destination: str,
                 client: Callable[[], httpx.Client], batch: int = BATCH,
                 generation: Callable[[], int] = lambda: 0) -> None:
        self.store = store
        self.source = source
        self.destination = destination
        self._make_client = client
        self._client: httpx.Client | None = None
        self._generation = generation  # the node's certificate generation: a renewed one means a new client
        self._client_generation = -1
        self.batch = batch
        self._started = False  # the first round after a (re)start ignores the stored back-off

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def step(self, idle: float = 0.5) -> float:
        """One round: returns how long to sleep (0 when there is more to send at once)."""
        now = self.store.clock()
        with self.store.engine.begin() as conn:
            d = self.store.delivery(conn, self.destination)
        if self._started and d.next_attempt_at is not None and d.next_attempt_at > now:
            return min((d.next_attempt_at - now).total_seconds(), idle * 4)
        self._started = True
        entries = self.store.outbound_after(d.acked_through, self.batch)
        if entries and is_redacted(entries[0].payload):
            return self._redacted(entries[0].seq)
        if not entries and d.attempts == 0 and d.last_success_at is not None and (now - d.last_success_at) < dt.timedelta(seconds=30):
            return idle
        body = {"source": self.source, "entries": [e.to_wire() for e in entries]}
        try:
            if self._client is not None and self._client_generation != self._generation():
                self.close()  # the node's certificate was renewed: present the new one
            if self._client is None:
                self._client = self._make_client()
                self._client_generation = self._generation()
            response = self._client.post("/net/v1/updates", json=body)
            if response.status_code != 200:
                raise _Refused(response)
            answer = response.json()
            through = int(answer["received_through"])
        except (httpx.HTTPError, _Refused, ValueError, KeyError, TypeError, OSError) as e:
            self.close()
            return self._failed(now, d.attempts + 1, _describe(e))
        self._succeeded(now, d.attempts, through, answer.get("halts") or [])
        more = bool(entries) and (through >= entries[-1].seq and len(entries) == self.batch)
        if entries and through < entries[-1].seq:
            return idle  # the receiver is missing something before; it was just told, resend next round
        return 0.0 if more else idle

    def _redacted(self, seq: int) -> float:
        with self.store.engine.begin() as conn:
            if self.store.open_alert(conn, f"resend:{self.destination}", blocking=False) is None:
                self.store.raise_alert(
                    conn, scope=f"resend:{self.destination}", ref=str(seq), kind="resend_redacted", blocking=False,
                    rule="PRF-4/transport",
                    ja=f"{self.destination} が送信済みの {seq} 番以降を再要求していますが、保存期間の経過により内容を消去済みのため"
                       "再送できません（整合性確認による修復か、新しいバックアップからの復元が必要です）",
                    en=f"{self.destination} asks again for entries from {seq}, already redacted after their keeping period "
                       "(PRF-4): they cannot be resent; repair the receiver by a consistency check or a newer backup",
                    detail={"destination": self.destination, "seq": seq})
        log.error("再送不可 / %s asks for redacted entry %d", self.destination, seq)
        return MAX_DELAY

    def _failed(self, now: dt.datetime, attempts: int, error: str) -> float:
        delay = backoff(attempts)
        with self.store.engine.begin() as conn:
            self.store.update_delivery(conn, self.destination, attempts=attempts, last_attempt_at=now,
                                       next_attempt_at=now + dt.timedelta(seconds=delay), last_error=error[:1000])
            if attempts == ALERT_AFTER and self.store.open_alert(conn, _scope(self.destination), blocking=False) is None:
                self.store.raise_alert(
                    conn, scope=_scope(self.destination), ref="", kind="delivery_failing", blocking=False,
                    rule="NET-2/delivery",
                    ja=f"{self.destination} への送信が {attempts} 回続けて失敗しています（再送を続けます）: {error[:200]}",
                    en=f"Delivery to {self.destination} failed {attempts} times in a row (still retrying): {error[:200]}",
                    detail={"destination": self.destination, "attempts": attempts})
        log.warning("送信失敗 / delivery to %s failed (%d): %s; next try in %.1f s", self.destination, attempts, error, delay)
        return delay

    def _succeeded(self, now: dt.datetime, attempts: int, through: int, halts: list[Any]) -> None:
        with self.store.engine.begin() as conn:
            self.store.update_delivery(conn, self.destination, acked_through=through, attempts=0, last_attempt_at=now,
                                       next_attempt_at=None, last_success_at=now, last_error=None,
                                       remote={"halts": halts})
            if attempts:
                failing = self.store.open_alert(conn, _scope(self.destination), blocking=False)
                if failing is not None:
                    self.store.resolve(conn, failing.alert_id, action="acknowledge", by=SYSTEM,
                                       reason="送信が回復しました / delivery works again")
            self._record_halts(conn, halts)

    def _record_halts(self, conn: Any, halts: list[Any]) -> None:
        scope = f"remote:{self.destination}"
        reported = set()
        for h in halts:
            if not isinstance(h, dict):
                continue
            ref = f"{h.get('origin')}:{h.get('origin_seq')}"
            reported.add(ref)
            if self.store.open_alert(conn, scope, ref=ref, blocking=False) is None:
                self.store.raise_alert(
                    conn, scope=scope, ref=ref, kind="remote_halt", blocking=False, rule=str(h.get("rule", "PRF-2")),
                    ja=f"{self.destination} が {h.get('origin')} の更新順番号 {h.get('origin_seq')} を受け付けず、以降を停止しています: "
                       f"{h.get('message_ja', '')}",
                    en=f"{self.destination} refused update {h.get('origin_seq')} of {h.get('origin')} and holds the later ones: "
                       f"{h.get('message_en', '')}",
                    detail={"destination": self.destination, **{k: h.get(k) for k in ("origin", "origin_seq", "alert_id", "rule")}})
        for alert in self.store.alerts(conn=conn):
            if alert.scope == scope and alert.ref not in reported:
                self.store.resolve(conn, alert.alert_id, action="acknowledge", by=SYSTEM,
                                   reason=f"{self.destination} の運用者が解決しました / resolved at {self.destination}")


def _scope(destination: str) -> str:
    return f"delivery:{destination}"


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        try:
            problems = response.json().get("problems") or []
            text = "; ".join(f"{p.get('rule')}: {p.get('message_en')}" for p in problems)
        except (ValueError, AttributeError):
            text = response.text[:300]
        super().__init__(f"HTTP {response.status_code}: {text}")


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
