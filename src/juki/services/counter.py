"""The counter's submission of a 届出 (CTR-1): the change with its 本人確認 and 代理人, in one transaction.

The change goes through :meth:`juki.services.changes.ChangeService.submit` (checked whole, sent for
approval, audited); the intake row is written in the same transaction, so a 届出 is never recorded without
the record of who filed it and what was checked.  The agent's name also goes into the change's provenance
(``agent``), where the history and the resident's 開示 show it (the forged 委任状 incident, 002 別紙2).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.db.counter import counter_intakes
from juki.adapters.db.engine import read_only
from juki.domain.changes import from_json
from juki.domain.errors import InvalidInput, Problems
from juki.domain.events import Origin
from juki.domain.intake import DOCUMENTS, FiledBy, Intake, check_intake
from juki.services.changes import Actor, ChangeService, Submitted

ENVELOPE_DATES = ("effective_date", "notified_date")


def parse_intake(data: dict[str, Any], problems: Problems) -> Intake | None:
    try:
        filed_by = FiledBy(data.get("filed_by") or "")
    except ValueError:
        problems.add("filed_by", "CTR-1/filed-by", "届出人（本人・同一世帯の者・代理人）を選んでください。",
                     "Choose who files: the person, a household member or an agent.")
        return None
    intake = Intake(filed_by, tuple(data.get("identity_documents") or ()), data.get("agent_name", ""),
                    data.get("agent_address", ""), bool(data.get("power_of_attorney")))
    check_intake(intake, problems)
    return intake


def submit(changes: ChangeService, engine: Engine, kind: str, envelope: dict[str, Any], change: dict[str, Any],
           intake: dict[str, Any] | None, *, actor: Actor, clock: Callable[[], dt.datetime],
           also: Callable[[Connection, int], None] | None = None) -> Submitted:
    """Check the envelope, the intake (when the 届出 is made at the counter) and the change, reporting
    every fault of the first two at once; then submit, writing the intake row in the same transaction."""
    problems = Problems()
    dates: dict[str, dt.date] = {}
    for k in ENVELOPE_DATES:
        if not envelope.get(k):
            problems.add(k, "REG-R2", "必須項目です。", "This item is required.")
            continue
        try:
            dates[k] = from_json(dt.date, envelope[k], k)
        except InvalidInput as e:
            problems.extend(e.problems)
    parsed = parse_intake(intake, problems) if intake is not None else None
    problems.raise_if_any()

    def write(conn: Connection, request_id: int) -> None:
        if parsed is not None:
            conn.execute(counter_intakes.insert().values(
                request_id=request_id, filed_by=parsed.filed_by.value,
                identity_documents=json.dumps(list(parsed.identity_documents)), agent_name=parsed.agent_name,
                agent_address=parsed.agent_address, power_of_attorney=parsed.power_of_attorney,
                recorded_by=actor.user_id, terminal=actor.terminal, recorded_at=clock()))
        if also is not None:
            also(conn, request_id)

    agent = ""
    if parsed is not None and parsed.filed_by is FiledBy.AGENT:
        agent = f"{parsed.agent_name}（{parsed.agent_address}、委任状あり）"
    return changes.submit(kind, change, actor=actor, origin=Origin(envelope["origin"]),
                          legal_basis=envelope["legal_basis"], effective_date=dates["effective_date"],
                          notified_date=dates["notified_date"], case_ref=envelope.get("case_ref") or "",
                          agent=agent, also=write)


def intake_of(engine: Engine, request_id: int) -> dict[str, Any] | None:
    """The counter's record of a request (for the approver), with the documents' names."""
    with read_only(engine.connect()) as conn:
        row = conn.execute(sa.select(counter_intakes).where(counter_intakes.c.request_id == request_id)).first()
    if row is None:
        return None
    docs = json.loads(row.identity_documents)
    return {"filed_by": row.filed_by, "filed_by_ja": FiledBy(row.filed_by).ja,
            "identity_documents": [DOCUMENTS.get(d, d) for d in docs], "agent_name": row.agent_name,
            "agent_address": row.agent_address, "power_of_attorney": row.power_of_attorney,
            "recorded_by": row.recorded_by}
