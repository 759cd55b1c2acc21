"""Daily housekeeping of every node (the municipality's CS, the prefecture and national servers): what the
seeds say the system deletes by itself (自動判別し消去).

Feature ``housekeeping`` (every node role, worker ``housekeeping``): once a day, at ``housekeeping_at``
in Japan's time on the node's clock (``node.json``, default ``"02:00"``; ``""`` turns it off), the node
runs:

====================  ===========================  =====================================================
task                  where                        what
====================  ===========================  =====================================================
``retention``         every node                   PRF-4: history and 消除者 past 150 years, both files
                                                   (at a municipality: the CS's file, seeds 000/001/003);
                                                   and the transport copies (inbox, outgoing stream)
                                                   ``transport_keep_days`` after they were decided or
                                                   acknowledged: notice and sealed 個人番号 redacted
                                                   (:class:`juki.net.retention.NodeRetention`)
``temporary_numbers`` prefecture                   PRF-8: the 個人番号 of 国外転出者 held with a 附票
                                                   provision, past their keeping period (under 1 year)
                                                   (:meth:`~juki.net.provision.ProvisionService.purge_temporary_numbers`)
``provision_log``     prefecture                   PRF-6: provision records older than 7 years
                                                   (:meth:`~juki.net.provision.ProvisionService.purge_log`)
``wide_area_sends``   municipality                 NET-11: 広域交付 send records -- the answer after its
                                                   keeping period (default 1 day), the record after 7 years
                                                   (:func:`juki.net.wide_area.purge_sends`)
====================  ===========================  =====================================================

The provision log and the temporary area exist at the prefecture only (the provision to the
prefecture's organs, PRF-5..8, is the prefecture's); the national server has only its file.

* **When.** The first run is at the first ``housekeeping_at`` after the node first started the timer
  (the anchor); each later run at the first ``housekeeping_at`` after the last run, so it runs once a
  day however often the worker wakes, and once (not once per missed day) after the node was down.  A run
  in which a task failed is tried again after :data:`RETRY_AFTER`.
* **What stays.** Each run is one audit entry ``net.housekeeping.run`` (by ``system:jukinet``) with each
  task's result (counts only); the retention task writes its own ``net.retention.purge`` entry naming the
  persons, and the provision-log purge its ``provision.log.purge``.  The cursor
  ``housekeeping:last_run`` points at the run's entry and carries its time.  ``juki net status`` (and
  ``GET /net/v1/status``) shows the last run and when the next is due.
* **Alerts.** A task that fails (the others still run) makes the run ``failed`` and raises a
  non-blocking operator alert ``housekeeping_failed`` (acknowledged with ``juki net resume``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection

from juki.clock import JST

from . import timers
from .node import Node, Worker
from .pki import Tier
from .timers import RETRY_AFTER, SYSTEM_USER

log = logging.getLogger("juki.net.housekeeping")

LAST_RUN = "housekeeping:last_run"


def time_of_day(text: str) -> dt.time | None:
    """``"HH:MM"`` (Japan's time) as a time, or None for ``""`` (off); anything else is a ValueError."""
    if not text:
        return None
    try:
        hours, minutes = text.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"housekeeping_at is HH:MM (Japan's time) or empty, not {text!r}") from None


def next_at(after: dt.datetime, at: dt.time) -> dt.datetime:
    """The first instant strictly after ``after`` whose time in Japan is ``at`` (UTC)."""
    local = after.astimezone(JST)
    when = dt.datetime.combine(local.date(), at, tzinfo=JST)
    if when <= local:
        when += dt.timedelta(days=1)
    return when.astimezone(dt.UTC)


def last_run(node: Node, conn: Connection | None = None) -> dict[str, Any] | None:
    """The last run (its audit entry's detail, with ``audit_seq``), or None."""
    return timers.last_run(node, LAST_RUN, conn)


def next_due(node: Node, conn: Connection, *, start: bool = True) -> dt.datetime | None:
    """When the next run is due (None: off, or the timer not started and ``start`` is False)."""
    at = time_of_day(node.config.housekeeping_at)
    if at is None:
        return None
    row = timers.anchor(node, conn, LAST_RUN) if start else timers.cursor(conn, LAST_RUN)
    if row is None:
        return None
    last = last_run(node, conn)
    if last is not None and last.get("result") == "failed":
        retry: dt.datetime = row.updated_at + RETRY_AFTER
        return retry
    return next_at(row.updated_at, at)


def status(node: Node, conn: Connection) -> dict[str, Any]:
    """What ``juki net status`` shows about the daily housekeeping (no personal data)."""
    due = next_due(node, conn, start=False)
    return {"at": node.config.housekeeping_at or None, "tasks": [name for name, _ in tasks(node)],
            "next_due": due.isoformat() if due else None, "last_run": last_run(node, conn)}


def tasks(node: Node) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The tasks of this node's role, in the order they run."""

    def retention() -> dict[str, Any]:
        from .retention import NodeRetention

        run = NodeRetention(node.store, audit=node.audit, terminal=node.code,
                            keep_days=node.config.transport_keep_days).run(actor=SYSTEM_USER)
        return {"run_id": run.run_id, "cutoff": run.cutoff.isoformat(), "history_rows": run.history_rows,
                "records": run.records, "persons": run.persons, "counts": run.counts, "skipped": run.skipped,
                "redacted": run.redacted}

    out: list[tuple[str, Callable[[], dict[str, Any]]]] = [("retention", retention)]
    if node.role is Tier.PREFECTURE:
        from juki.services.changes import Actor

        from .services import services

        def temporary_numbers() -> dict[str, Any]:
            return {"deleted": services(node).provision.purge_temporary_numbers()}

        def provision_log() -> dict[str, Any]:
            return {"deleted": services(node).provision.purge_log(actor=Actor(SYSTEM_USER, node.code))}

        out += [("temporary_numbers", temporary_numbers), ("provision_log", provision_log)]
    if node.role is Tier.MUNICIPALITY:  # 広域交付's send records (NET-11), kept in net/wide_area.py
        from .wide_area import housekeeping_tasks

        out += housekeeping_tasks(node)
    return out


def run(node: Node, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """One run of every task of the node's role (a failing task does not stop the others); recorded and
    audited, an alert if any failed."""
    at = now or node.clock()
    results: dict[str, dict[str, Any]] = {}
    failed = []
    for name, task in tasks(node):
        try:
            results[name] = task()
        except Exception as e:
            failed.append(name)
            log.warning("定期処理 %s に失敗 / housekeeping task %s failed: %s", name, name, e, exc_info=True)
            results[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    result = "failed" if failed else "done"
    detail = {"at": at.isoformat(), "result": result, "tasks": results, "housekeeping_at": node.config.housekeeping_at}
    with node.engine.begin() as conn:
        seq = node.audit.record(conn, user_id=SYSTEM_USER, terminal=node.code, action="net.housekeeping.run",
                                detail=detail)
        timers.record_run(node, conn, LAST_RUN, seq, at)
        if failed:
            node.store.raise_alert(
                conn, scope="housekeeping", ref=str(seq), kind="housekeeping_failed", blocking=False, rule="PRF-4",
                ja=f"定期処理（保存期間経過後の消去など）の一部が失敗しました: {', '.join(failed)}（1時間後に再実行）",
                en=f"Daily housekeeping failed in: {', '.join(failed)} (retried in an hour)",
                detail={"audit_seq": seq, "failed": failed, "tasks": results})
    log.info("定期処理 / housekeeping: %s %s", result, {k: v for k, v in results.items()})
    return {**detail, "audit_seq": seq}


def step(node: Node) -> float:
    """The worker's round (:func:`juki.net.timers.step`; ``node.wake("housekeeping")`` cuts its sleep short)."""
    return timers.step(node, lambda conn: next_due(node, conn), lambda now: run(node, now=now))


# --- the node feature (juki.net.node.FEATURES): a worker, no routes -----------------------------------

ROLES = frozenset({Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL})
RULES: dict[str, Any] = {}


def router(node: Node) -> APIRouter:
    return APIRouter()


def workers(node: Node) -> list[Worker]:
    return [Worker("housekeeping", lambda: step(node), pause_on_error=60.0)]
