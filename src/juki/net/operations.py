"""What a node's operator does: look at the node's state and resolve the alerts that halt a stream.

* :func:`status` -- one dict with the node's streams: its file (counts by state), the outgoing stream
  and how far each destination acknowledged it, what it received from whom and applied per
  municipality, the inbox, open alerts and the halts among them;
* :func:`resolve` -- an operator's decision on an alert (``juki net resume``), recorded with who and why
  (``net_alert_resolutions``) and in the node's audit log:

  ``retry``  check the halted update again (after the data it was checked against was put right);
  ``force``  apply it without the logic check (format checks still apply): the operator vouches for it;
  ``skip``   do not apply it; the stream goes on and the skip is recorded (and forwarded as a marker by a
             prefecture, so no tier waits for it).  The difference it leaves shows in the next 整合性確認;
             for a refused 転入通知 (scope ``peer:move_in_notice:<code>``) a skip marker takes its place;
  ``acknowledge``  for a non-blocking alert (a failing delivery, a halt reported by the next tier).

Refusals are never skipped silently: only an operator, by name and with a reason, moves a halted stream
past a refused update.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from juki.adapters.db.schema import events
from juki.domain.errors import Conflict, InvalidInput, NotFound, Problem

from .node import Node
from .pki import Tier
from .store import Alert
from .tables import cs_intake

ACTIONS = ("retry", "force", "skip", "acknowledge")


def status(node: Node) -> dict[str, Any]:
    """The node's streams at a glance (no personal data)."""
    store = node.store
    with store.engine.connect() as conn:
        head = store.outbound_head(conn)
        deliveries = [{
            "destination": d.destination, "acked_through": d.acked_through, "pending": max(head - d.acked_through, 0),
            "attempts": d.attempts, "last_error": d.last_error,
            "last_success_at": d.last_success_at.isoformat() if d.last_success_at else None,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
            "remote_halts": (d.remote or {}).get("halts", []),
        } for d in store.deliveries(conn)]
        alerts = store.alerts(conn=conn)
        out: dict[str, Any] = {
            "node": {"role": node.role.value, "role_ja": node.role.ja, "code": node.code, "name": node.name},
            "records": store.record_counts(conn),
            "outbound": head,
            "deliveries": deliveries,
            "received": store.cursors(conn, "received:"),
            "applied": store.cursors(conn, "applied:"),
            "inbox": store.inbox_counts(conn),
            "alerts_open": len(alerts),
            "halts": [a.as_dict() for a in alerts if a.blocking],
        }
        if node.role is Tier.MUNICIPALITY:
            pending = conn.execute(sa.select(sa.func.count()).select_from(events)
                                   .where(~sa.exists().where(cs_intake.c.event_seq == events.c.seq))).scalar_one()
            out["intake"] = {"pending": int(pending), "halted": any(a.scope == "intake" for a in alerts if a.blocking)}
            from .schedule import status as schedule_status

            out["consistency"] = schedule_status(node, conn)
        from .housekeeping import status as housekeeping_status

        out["housekeeping"] = housekeeping_status(node, conn)
    try:
        out["crl_stale"] = node.tls.revocations.stale(node.now())
    except Exception:  # a node without its certificate yet still reports its streams
        out["crl_stale"] = None
    return out


def resolve(node: Node, alert_id: int, *, action: str, actor: str, reason: str) -> Alert:
    """Resolve an alert (see the module docstring); returns it as resolved.  The work the decision
    implies (taking in or applying the halted update) commits in the same transaction."""
    problems = []
    if action not in ACTIONS:
        problems.append(Problem("action", "NET-ALERT/action", f"操作は {', '.join(ACTIONS)} のいずれかです。",
                                f"The action must be one of {', '.join(ACTIONS)}."))
    if not actor.strip():
        problems.append(Problem("actor", "NET-ALERT/actor", "実行者の利用者IDを指定してください。", "Name the operator (user id)."))
    if not reason.strip():
        problems.append(Problem("reason", "NET-ALERT/reason", "理由を入力してください。", "Give a reason."))
    if problems:
        raise InvalidInput(problems)
    store = node.store
    with store.engine.begin() as conn:
        alert = store.alert(conn, alert_id)
        if alert.blocking == (action == "acknowledge"):
            raise Conflict(Problem("action", "NET-ALERT/action",
                                   "停止中の警告は retry / force / skip で、他の警告は acknowledge で解決します。",
                                   "A halting alert is resolved by retry, force or skip; any other alert by acknowledge."))
        resolved = store.resolve(conn, alert_id, action=action, by=actor, reason=reason)
        if alert.blocking and alert.scope == "intake":
            event_seq = int(alert.ref)
            if action == "force":
                node.intake.take_in(conn, event_seq, force=True)
            elif action == "skip":
                node.intake.skip(conn, event_seq)
        elif alert.blocking and alert.scope.startswith("peer:"):
            _resolve_delivery(node, conn, alert, action=action, actor=actor, reason=reason)
        elif alert.blocking and alert.scope.startswith("origin:"):
            origin = alert.scope.removeprefix("origin:")
            row = store.inbox_entry(conn, origin, int(alert.ref), "refused")
            if row is None:
                raise NotFound(Problem("alert_id", "NET-ALERT", f"警告 {alert_id} の更新が受信箱にありません。",
                                       f"The update of alert {alert_id} is not in the inbox."))
            if action == "retry":
                store.set_status(conn, row, "pending")
            elif action == "force":
                node.applier.apply(conn, row, force=True)
                store.set_cursor(conn, f"applied:{origin}", row.entry.origin_seq)
            else:
                node.applier.skip(conn, row, alert_id=alert_id, by=actor, reason=reason)
        node.audit.record(conn, user_id=actor, terminal="CLI", action="net.resolve",
                          detail={"alert_id": alert_id, "action": action, "scope": alert.scope, "ref": alert.ref,
                                  "rule": alert.rule, "reason": reason})
    if alert.scope.startswith("origin:"):
        node.applier.drain([alert.scope.removeprefix("origin:")])
    return resolved



def _resolve_delivery(node: Node, conn: Any, alert: Alert, *, action: str, actor: str, reason: str) -> None:
    """A halted ordered delivery (a refused 転入通知, :mod:`juki.net.movein`): retry or skip it."""
    from .movein import skip_marker
    from .services import services

    deliveries = services(node).deliveries
    key = alert.ref
    if action == "force":
        raise Conflict(Problem("action", "NET-ALERT/action",
                               "相手方が拒否した通知は force できません（retry か skip）。",
                               "A message the peer refused cannot be forced: retry or skip it."))
    payload = deliveries.failed_payload(conn, key)
    if payload is None:
        raise NotFound(Problem("alert_id", "NET-ALERT", f"警告 {alert.alert_id} の通知 {key} は送信失敗の状態にありません。",
                               f"The message {key} of alert {alert.alert_id} is not failed."))
    if action == "retry":
        deliveries.retry_failed(key, conn)
    else:
        deliveries.skip_failed(conn, key, skip_marker(payload, by=actor, reason=reason, alert_id=alert.alert_id))
