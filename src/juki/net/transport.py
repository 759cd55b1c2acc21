"""Redaction of the transport copies (転送用の写し, PRF-4): the inbox and the outgoing stream keep a notice's
items and its sealed 個人番号 only as long as they are needed, plus ``transport_keep_days``
(:mod:`juki.domain.transport_retention` says what is needed for what, and why rows are redacted in place
rather than deleted).

Part of every retention run (:meth:`juki.net.retention.NodeRetention.run`), in its one transaction, on
every node role:

* :func:`plan` -- what the run would redact now: inbox rows decided before ``now - keep`` (settled, or
  refused with no open alert), and outgoing entries up to :func:`~juki.domain.transport_retention.outbound_through`
  (created before ``now - keep``, acknowledged by every destination now and at the last run at least
  ``keep`` ago, whose logged acknowledgements say so).  Writes nothing.
* :func:`redact` -- inside the run, after its log row (with ``outbound_through``) and its marker are
  written: each planned row's payload becomes the redacted form and its sealed 個人番号 and key id NULL.
  The database lets exactly that through while the marker exists (``0014_net_transport``,
  :mod:`juki.net.retention_tables`).

Concurrency: the run selects the rows ``FOR UPDATE`` (PostgreSQL; on SQLite its write transaction holds
the database), so the applier or an operator's ``juki net resume`` cannot change them between the choice
and the redaction; each UPDATE also repeats the status and decision time it chose on.  Should a row still
differ, the run redacts fewer rows than planned and rolls back whole (the housekeeping retries it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from juki.domain.transport_retention import SETTLED, inbox_redactable, outbound_through, redacted_payload

from .retention_tables import net_retention_runs
from .tables import net_alert_resolutions, net_alerts, net_deliveries, net_inbox, net_outbound

TABLES = ("net_inbox", "net_outbound")
CHUNK = 500


def _redacted_on(column: Any) -> Any:
    """SQL: the day a row was redacted, NULL for a row still whole."""
    return column["redacted"]["on"].as_string()


@dataclass(frozen=True)
class TransportPlan:
    """What a run redacts: the inbox rows by key and the outgoing entries up to ``outbound_through``."""

    before: dt.datetime
    keep_days: int
    inbox: tuple[tuple[str, int, str, dt.datetime, dict[str, Any]], ...] = ()
    outbound: tuple[tuple[int, dict[str, Any]], ...] = ()
    outbound_through: int = 0
    acked: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"net_inbox": len(self.inbox), "net_outbound": len(self.outbound)}

    def as_dict(self) -> dict[str, Any]:
        """What the run log's ``transport`` column and the audit entry keep (no personal data)."""
        return {**self.counts(), "keep_days": self.keep_days, "before": self.before.isoformat(),
                "outbound_through": self.outbound_through, "acked": self.acked}


def _acked_now(conn: Connection) -> dict[str, int]:
    return {r.destination: int(r.acked_through)
            for r in conn.execute(sa.select(net_deliveries.c.destination, net_deliveries.c.acked_through))}


def _acked_then(conn: Connection, before: dt.datetime) -> list[int] | None:
    """What every destination had acknowledged at the last run at least a keeping period ago (None: no
    such run, or one logged before ``0014_net_transport``)."""
    t = net_retention_runs.c
    logged = conn.execute(sa.select(t.transport).where(t.at <= before).order_by(t.run_id.desc()).limit(1)).scalar()
    if not isinstance(logged, dict) or not isinstance(logged.get("acked"), dict):
        return None
    return [int(v) for v in logged["acked"].values()]


def _open_refusals(conn: Connection) -> set[tuple[str, str]]:
    """(scope, ref) of every open blocking alert about a refused notice (``origin:<code>``, 更新順番号)."""
    a = net_alerts.c
    rows = conn.execute(sa.select(a.scope, a.ref).select_from(net_alerts.outerjoin(
        net_alert_resolutions, net_alert_resolutions.c.alert_id == a.alert_id))
        .where(net_alert_resolutions.c.alert_id.is_(None), a.blocking.is_(True), a.scope.startswith("origin:")))
    return {(r.scope, r.ref) for r in rows}


def plan(conn: Connection, now: dt.datetime, keep: dt.timedelta, *, lock: bool = False) -> TransportPlan:
    """What is redacted now (see the module docstring)."""
    before = now - keep
    i = net_inbox.c
    q = (sa.select(i.source, i.source_seq, i.origin, i.origin_seq, i.status, i.decided_at, i.payload)
         .where(i.status.in_(sorted(SETTLED | {"refused"})), i.decided_at < before, _redacted_on(i.payload).is_(None))
         .order_by(i.source, i.source_seq))
    if lock:
        q = q.with_for_update()
    refusals = _open_refusals(conn)
    inbox = tuple(
        (r.source, int(r.source_seq), r.status, r.decided_at, dict(r.payload))
        for r in conn.execute(q)
        if inbox_redactable(r.status, r.decided_at, before=before,
                            refusal_open=(f"origin:{r.origin}", str(r.origin_seq)) in refusals))
    o = net_outbound.c
    acked = _acked_now(conn)
    created = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(o.seq), 0)).where(o.created_at <= before)).scalar_one())
    through = outbound_through(created_through=created, acked_now=acked.values(), acked_then=_acked_then(conn, before))
    outbound: tuple[tuple[int, dict[str, Any]], ...] = ()
    if through:
        oq = (sa.select(o.seq, o.payload).where(o.seq <= through, o.created_at <= before, _redacted_on(o.payload).is_(None))
              .order_by(o.seq))
        if lock:
            oq = oq.with_for_update()
        outbound = tuple((int(r.seq), dict(r.payload)) for r in conn.execute(oq))
    return TransportPlan(before, keep.days, inbox, outbound, through, acked)


def redact(conn: Connection, p: TransportPlan, *, run_id: int, on: dt.date) -> dict[str, int]:
    """Redact what ``p`` lists, inside the run ``run_id`` (judged ``on``) whose log row
    (``outbound_through``) and marker exist; returns the rows redacted per table."""
    i = net_inbox.c
    inbox = 0
    update_inbox = net_inbox.update().where(
        i.source == sa.bindparam("b_source"), i.source_seq == sa.bindparam("b_seq"),
        i.status == sa.bindparam("b_status"), i.decided_at == sa.bindparam("b_decided"))
    for source, seq, status, decided, payload in p.inbox:
        inbox += int(conn.execute(update_inbox, {
            "b_source": source, "b_seq": seq, "b_status": status, "b_decided": decided,
            "payload": redacted_payload(payload, run_id=run_id, on=on), "number_ciphertext": None, "number_key_id": None}).rowcount or 0)
    o = net_outbound.c
    outbound = 0
    update_outbound = net_outbound.update().where(o.seq == sa.bindparam("b_seq"))
    for seq, payload in p.outbound:
        outbound += int(conn.execute(update_outbound, {"b_seq": seq, "payload": redacted_payload(payload, run_id=run_id, on=on),
                                                       "number_ciphertext": None,
                                                       "number_key_id": None}).rowcount or 0)
    return {"net_inbox": inbox, "net_outbound": outbound}


def replaced_on(conn: Connection, file: str, codes: Sequence[str]) -> dict[str, dt.datetime]:
    """For old 住民票コード: when this node first took in a notice of ``file`` moving the record to a new
    code -- an applied inbox row (prefecture, national: when it was decided) or an entry of the node's own
    outgoing stream (a municipality's CS: when it was numbered).  Redacted rows keep both codes, so this
    outlives the notices' redaction."""
    if not codes:
        return {}
    out: dict[str, dt.datetime] = {}
    i, o = net_inbox.c, net_outbound.c
    for table, at, extra in ((net_inbox, i.decided_at, [i.status.in_(("applied", "forced")), i.decided_at.is_not(None)]),
                             (net_outbound, o.created_at, [])):
        old = table.c.payload["old_juminhyo_code"].as_string()
        new = table.c.payload["juminhyo_code"].as_string()
        for n in range(0, len(codes), CHUNK):
            rows = conn.execute(sa.select(old.label("old"), sa.func.min(at).label("at"))
                                .where(table.c.file == file, old.in_(list(codes[n:n + CHUNK])), new != old, *extra)
                                .group_by(old)).all()
            for r in rows:
                code = str(r.old)
                out[code] = min(out.get(code, r.at), r.at)
    return out
