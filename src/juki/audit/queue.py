"""Audit entries for reads, appended in batches by a background writer (SEC-3 at the speed of reads).

Every read of a person is audited (house rule 5), and a read is far cheaper than a write transaction.
Writing each read's entry in a transaction of its own cost a read four to five times its time (see
``docs/benchmarks.md``).  So reads hand their entry to an :class:`AuditQueue`: the entry is checked and
time-stamped at once (a bad entry fails the read), then a writer thread appends everything queued in one
transaction, at most ``max_delay`` seconds later, keeping the chain, the subjects index and the
bulk-read alert exactly as :meth:`AuditLog.record` would.

The price, stated plainly: if the process dies, the read entries of the last ``max_delay`` seconds (0.2 s
by default) that were not yet written are lost.  Changes, decisions, logins and denials never go through
the queue: they are written synchronously, a change's entry in the change's own transaction.  A database
error does not drop entries: the writer keeps them and retries with back-off, and :meth:`flush` waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy.engine import Engine

from .log import AuditLog, Prepared

log = logging.getLogger("juki.audit")


class AuditQueue:
    def __init__(self, audit: AuditLog, engine: Engine, *, max_delay: float = 0.2, max_batch: int = 1000) -> None:
        self.audit = audit
        self.engine = engine
        self.max_delay = max_delay
        self.max_batch = max_batch
        self._pending: deque[Prepared] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="juki-audit-writer", daemon=True)
        self._thread.start()

    def submit(self, **fields: Any) -> None:
        """Check and queue one entry (the fields of :meth:`AuditLog.prepare`); raises on a bad entry."""
        entry = self.audit.prepare(**fields)
        with self._cond:
            if self._closed:
                raise RuntimeError("the audit queue is closed")
            self._pending.append(entry)
            if len(self._pending) >= self.max_batch:
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far is written (raises TimeoutError otherwise)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("audit entries not yet written")
                self._cond.wait(min(left, 0.05))

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.1
        while True:
            with self._cond:
                if not self._pending:
                    if self._closed:
                        return
                    self._cond.wait(self.max_delay)
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), self.max_batch))]
                self._in_flight = len(batch)
            if not batch:
                continue
            try:
                with self.engine.begin() as conn:
                    self.audit.record_many(conn, batch)
                backoff = 0.1
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()
            except Exception:  # keep the entries; an audit entry is never dropped for a passing fault
                log.exception("audit writer: could not append %d entries; retrying", len(batch))
                with self._cond:
                    self._pending.extendleft(reversed(batch))
                    self._in_flight = 0
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
