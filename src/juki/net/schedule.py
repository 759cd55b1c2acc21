"""The yearly 整合性確認 (住基法14条, NET-10: 「年1回程度及び随時」, PRF-9), run by the municipality node itself.

Feature ``schedule`` (municipality nodes, worker ``consistency``): every ``consistency_days`` days
(``node.json``, default 365; 0 turns the timer off) the CS compares both of its files (本人確認情報 and
附票本人確認情報, :mod:`juki.net.consistency`) with its prefecture and the national server.  With
``consistency_repair`` it also re-sends what differs; otherwise differences wait for an operator
(``juki net consistency --repair``).

* **When.** The first run is one period after the node first started the timer (the anchor); each later
  run one period after the last.  A run that could not reach a peer is tried again after
  :data:`RETRY_AFTER`.  The timer reads the node's clock, so a test moves it by hand.
* **What stays.** Each run is one audit entry (``consistency.run``, by ``system:jukinet``) holding its result
  per peer and file (counts only; the 住民票コード that differ are its subjects); the node's cursor
  ``consistency:last_run`` points at that entry and carries the run's time.  ``juki net status`` (and
  ``GET /net/v1/status``) shows the last run, its result and when the next is due.
* **Alerts.** A run that found differences, or could not finish, raises a non-blocking operator alert
  (``consistency_differs`` / ``consistency_failed``), acknowledged with ``juki net resume``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter
from sqlalchemy.engine import Connection

from juki.domain.identity import RecordFile

from . import timers
from .node import Node, Worker, prefecture_of
from .pki import NATIONAL_CODE, Tier
from .timers import RETRY_AFTER, SYSTEM_USER

log = logging.getLogger("juki.net.schedule")

LAST_RUN = "consistency:last_run"


def last_run(node: Node, conn: Connection | None = None) -> dict[str, Any] | None:
    """The last scheduled run (its audit entry's detail, with ``audit_seq``), or None."""
    return timers.last_run(node, LAST_RUN, conn)


def next_due(node: Node, conn: Connection, *, start: bool = True) -> dt.datetime | None:
    """When the next run is due (None: the timer is off, or not started and ``start`` is False)."""
    days = node.config.consistency_days
    if days <= 0:
        return None
    row = timers.anchor(node, conn, LAST_RUN) if start else timers.cursor(conn, LAST_RUN)
    if row is None:
        return None
    last = last_run(node, conn)
    wait = RETRY_AFTER if last is not None and last.get("result") == "failed" else dt.timedelta(days=days)
    when: dt.datetime = row.updated_at + wait
    return when


def status(node: Node, conn: Connection) -> dict[str, Any]:
    """What ``juki net status`` shows about the timer (no personal data)."""
    due = next_due(node, conn, start=False)
    last = last_run(node, conn)
    return {"every_days": node.config.consistency_days, "repair": node.config.consistency_repair,
            "next_due": due.isoformat() if due else None, "last_run": last}


def run(node: Node, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """One run: both files against the prefecture and the national server; recorded and audited."""
    from .consistency import check, repair_at

    at = now or node.clock()
    reports: list[dict[str, Any]] = []
    subjects: list[str] = []
    failed = False
    for peer in (prefecture_of(node.code), NATIONAL_CODE):
        for file in RecordFile:
            try:
                report = check(node, peer, file=file)
                if node.config.consistency_repair and not report.consistent:
                    repair_at(node, report)
            except Exception as e:  # a peer down: this run is incomplete, the next try is in RETRY_AFTER
                failed = True
                log.warning("整合性確認 %s %s に失敗 / consistency check with %s (%s) failed: %s", peer, file.value, peer,
                            file.value, e)
                reports.append({"peer": peer, "file": file.value, "error": f"{type(e).__name__}: {e}"[:300]})
                continue
            subjects += [f.juminhyo_code for f in report.findings]
            reports.append({"peer": peer, "file": file.value, "consistent": report.consistent,
                            "local_count": report.local_count, "remote_count": report.remote_count,
                            "differences": len(report.findings), "resent": len(report.resent),
                            "to_investigate": len(report.to_investigate)})
    differences = sum(r.get("differences", 0) for r in reports)
    result = "failed" if failed else ("differences" if differences else "consistent")
    detail = {"at": at.isoformat(), "result": result, "differences": differences, "reports": reports,
              "every_days": node.config.consistency_days, "repair": node.config.consistency_repair}
    store = node.store
    with node.engine.begin() as conn:
        seq = node.audit.record(conn, user_id=SYSTEM_USER, terminal="CS", action="consistency.run",
                                subject_ids=sorted(set(subjects)), detail=detail)
        timers.record_run(node, conn, LAST_RUN, seq, at)
        if result != "consistent":
            store.raise_alert(
                conn, scope="consistency", ref=str(seq), kind=f"consistency_{result}", blocking=False, rule="NET-10",
                ja=("定期の整合性確認を完了できませんでした（1時間後に再実行）" if failed else
                    f"定期の整合性確認で差異が {differences} 件見つかりました（juki net consistency で確認・修復）"),
                en=("The scheduled consistency check could not finish (retried in an hour)" if failed else
                    f"The scheduled consistency check found {differences} differences (see juki net consistency)"),
                detail={"audit_seq": seq, "reports": reports})
    log.info("定期の整合性確認 / scheduled consistency check: %s (%d differences)", result, differences)
    return {**detail, "audit_seq": seq}


def step(node: Node) -> float:
    """The worker's round (:func:`juki.net.timers.step`; ``node.wake("consistency")`` cuts its sleep short)."""
    return timers.step(node, lambda conn: next_due(node, conn), lambda now: run(node, now=now))


# --- the node feature (juki.net.node.FEATURES): a worker, no routes -----------------------------------

ROLES = frozenset({Tier.MUNICIPALITY})
RULES: dict[str, Any] = {}


def router(node: Node) -> APIRouter:
    return APIRouter()


def workers(node: Node) -> list[Worker]:
    return [Worker("consistency", lambda: step(node), pause_on_error=60.0)]
