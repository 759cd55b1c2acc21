"""開示 (SEC-7): for one person, their record now, its full history, and who accessed it.

Decision on the 個人番号: the export is for the person themself, who may see their own number (番号法
§30 / 個人情報保護法 開示), but the file leaves the counter on paper or media and is easy to mislay.  So
the number is **masked by default**; the clerk includes it only on explicit request
(``include_individual_number=True``, CLI ``--with-number``), which the access layer must allow only
for a user in number-use work, and the ``export`` audit entry records that it was included.

The access log lists every audit entry about the person: when, who, terminal, action, outcome.  Staff
user ids are shown as recorded (whether to show them to the resident is the municipality's 開示 policy;
pass ``redact_users=True`` to replace them with the role-neutral 職員).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.adapters.db.engine import json_default, read_only
from juki.adapters.db.store import Store
from juki.clock import JST
from juki.services.queries import QueryService

from .log import ACTIONS, AuditLog
from .schema import audit_entries, audit_subjects

FORMAT = "juki-disclosure/1"


def accesses(engine: Engine, person_id: str, *, redact_users: bool = False) -> list[dict[str, Any]]:
    """Every audit entry about ``person_id``, oldest first (an index range on audit_subjects)."""
    e, s = audit_entries.c, audit_subjects.c
    q = (sa.select(e.seq, e.at, e.user_id, e.terminal, e.action, e.outcome)
         .select_from(audit_subjects.join(audit_entries, e.seq == s.seq))
         .where(s.person_id == person_id)
         .order_by(s.seq))
    with read_only(engine.connect()) as conn:
        return [
            {
                "seq": int(r.seq),
                "at": r.at.astimezone(JST).isoformat(),
                "user_id": "職員" if redact_users else r.user_id,
                "terminal": r.terminal,
                "action": r.action,
                "action_ja": ACTIONS.get(r.action, r.action),
                "outcome": r.outcome,
            }
            for r in conn.execute(q)
        ]


def disclose(
    store: Store,
    engine: Engine,
    person_id: str,
    *,
    requested_by: str,
    terminal: str,
    audit: AuditLog | None = None,
    include_individual_number: bool = False,
    redact_users: bool = False,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The 開示 of ``person_id`` as a JSON-ready dict, recorded as an ``export`` audit entry.

    Raises NotFound (nothing recorded) when the person does not exist."""
    queries = QueryService(store)
    record = queries.person(person_id, number_use=include_individual_number)
    history = queries.person_history(person_id, number_use=include_individual_number)
    log = accesses(engine, person_id, redact_users=redact_users)
    seq = (audit or AuditLog()).record_now(
        engine,
        user_id=requested_by,
        terminal=terminal,
        session_id=session_id,
        action="export",
        subject_ids=[person_id],
        detail={"purpose": "disclosure", "format": FORMAT, "included_individual_number": include_individual_number,
                "history_versions": len(history), "access_entries": len(log)},
    )
    return {
        "format": FORMAT,
        "title": "保有個人情報開示 / disclosure of personal information",
        "person_id": person_id,
        "generated_at": dt.datetime.now(JST).isoformat(),
        "generated_by": requested_by,
        "audit_seq": seq,
        "individual_number_included": include_individual_number,
        "record": record,
        "history": history,
        "accesses": log,
    }


def write_json(disclosure: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.write_text(json.dumps(disclosure, ensure_ascii=False, indent=2, default=json_default), encoding="utf-8")
    return p


ACCESS_COLUMNS = ("seq", "at", "user_id", "terminal", "action", "action_ja", "outcome")
ACCESS_HEADER_JA = ("番号", "日時", "利用者", "端末", "操作", "操作名", "結果")


def write_access_csv(disclosure: dict[str, Any], path: str | Path) -> Path:
    """The access log of a disclosure as CSV (UTF-8 with BOM so that Excel opens it; Japanese header)."""
    p = Path(path)
    with p.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(ACCESS_HEADER_JA)
        for row in disclosure["accesses"]:
            w.writerow([row[c] for c in ACCESS_COLUMNS])
    return p
