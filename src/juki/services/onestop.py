"""The 引越しワンストップ queue (CTR-3): online applications received through the API, their status, and
their completion at the counter.

Status is the latest step (insert-only ``online_application_steps``), except that an application whose
change request was approved is 完了 and one whose request was returned or rejected is back to 受付 (the
clerk enters it again): :func:`applications` reads both.  Receiving and each step are audited in the same
transaction (SEC-3).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from juki.adapters.db.counter import online_application_steps as steps
from juki.adapters.db.counter import online_applications as apps
from juki.adapters.db.engine import read_only
from juki.adapters.db.schema import change_decisions
from juki.audit.log import AuditLog
from juki.domain.errors import Conflict, InvalidInput, NotFound, Problem
from juki.domain.model import to_json
from juki.domain.onestop import ApplicationKind, ApplicationStatus, parse_application
from juki.services.changes import Actor


class OneStopService:
    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime], audit: AuditLog | None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit

    def _record(self, conn: Connection, actor: Actor, action: str, detail: dict[str, Any],
                subjects: list[str] | None = None) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=actor.user_id, terminal=actor.terminal, session_id=actor.session_id,
                              action=action, subject_ids=subjects or [], detail=detail)

    def receive(self, data: dict[str, Any], *, actor: Actor) -> tuple[int, bool]:
        """Queue an application; returns (application id, whether it was already there).  The same 申請番号
        with the same content is one application (a resend); with other content it is refused."""
        app = parse_application(data)
        payload = json.dumps(to_json(app), ensure_ascii=False, sort_keys=True)
        with self.engine.begin() as conn:
            old = conn.execute(sa.select(apps.c.application_id, apps.c.payload).where(apps.c.reference == app.reference)).first()
            if old is not None:
                if old.payload != payload:
                    raise Conflict(Problem("reference", "CTR-3/duplicate", "同じ申請番号で内容の異なる申請が既にあります。",
                                           "An application with this reference and other content exists."))
                return int(old.application_id), True
            now = self.clock()
            try:
                res = conn.execute(apps.insert().values(
                    kind=app.kind.value, reference=app.reference, channel=app.channel, applicant_name=app.applicant.name,
                    applicant_kana=app.applicant.name_kana, applicant_birth_date=app.applicant.birth_date,
                    planned_date=app.planned_date, visit_date=app.visit_date, payload=payload,
                    received_by=actor.user_id, received_at=now))
            except IntegrityError:
                raise Conflict(Problem("reference", "CTR-3/duplicate", "同じ申請番号の申請が同時に届きました。",
                                       "An application with this reference arrived at the same time.")) from None
            key = res.inserted_primary_key
            assert key is not None
            app_id = int(key[0])
            conn.execute(steps.insert().values(application_id=app_id, status="received", by_user=actor.user_id, at=now))
            self._record(conn, actor, "onestop.receive", {"application_id": app_id, "kind": app.kind.value})
        return app_id, False

    def applications(self, *, status: str | None = None, application_id: int | None = None,
                     limit: int = 200) -> list[dict[str, Any]]:
        """The queue, newest first, each with its current status and steps."""
        q = sa.select(apps).order_by(apps.c.application_id.desc()).limit(limit)
        if application_id is not None:
            q = q.where(apps.c.application_id == application_id)
        with read_only(self.engine.connect()) as conn:
            rows = list(conn.execute(q))
            ids = [r.application_id for r in rows]
            all_steps: dict[int, list[Any]] = {}
            for s in conn.execute(sa.select(steps).where(steps.c.application_id.in_(ids)).order_by(steps.c.step_id)):
                all_steps.setdefault(s.application_id, []).append(s)
            request_ids = [s.request_id for ss in all_steps.values() for s in ss if s.request_id is not None]
            decisions = dict(conn.execute(sa.select(change_decisions.c.request_id, change_decisions.c.decision)
                                          .where(change_decisions.c.request_id.in_(request_ids))).all())
        out = []
        for r in rows:
            ss = all_steps.get(r.application_id, [])
            last = ss[-1] if ss else None
            current = ApplicationStatus(last.status) if last else ApplicationStatus.RECEIVED
            request_id = last.request_id if last is not None else None
            decision = decisions.get(request_id) if request_id is not None else None
            if current is ApplicationStatus.IN_PROGRESS and decision == "approved":
                current = ApplicationStatus.COMPLETED
            elif current is ApplicationStatus.IN_PROGRESS and decision in ("returned", "rejected"):
                current = ApplicationStatus.RECEIVED
            if status is not None and current.value != status:
                continue
            kind = ApplicationKind(r.kind)
            out.append({
                "application_id": r.application_id, "reference": r.reference, "kind": kind.value, "kind_ja": kind.ja,
                "channel": r.channel, "applicant_name": r.applicant_name, "applicant_kana": r.applicant_kana,
                "applicant_birth_date": r.applicant_birth_date.isoformat(), "planned_date": r.planned_date.isoformat(),
                "visit_date": r.visit_date.isoformat() if r.visit_date else None,
                "received_at": r.received_at.isoformat(), "status": current.value, "status_ja": current.ja,
                "request_id": request_id, "request_decision": decision, "application": json.loads(r.payload),
                "steps": [{"status": s.status, "status_ja": ApplicationStatus(s.status).ja, "by": s.by_user,
                           "at": s.at.isoformat(), "request_id": s.request_id, "note": s.note} for s in ss],
            })
        return out

    def application(self, application_id: int) -> dict[str, Any]:
        found = self.applications(application_id=application_id)
        if not found:
            raise NotFound(Problem("application_id", "CTR-3", f"申請 {application_id} はありません。",
                                   f"There is no application {application_id}."))
        return found[0]

    def started(self, application_id: int, *, actor: Actor) -> Callable[[Connection, int], None]:
        """The step to write, in the submission's transaction, when the clerk enters the change for it."""
        current = self.application(application_id)
        if current["status"] != ApplicationStatus.RECEIVED.value:
            raise Conflict(Problem("application_id", "CTR-3/status",
                                   f"申請 {application_id} は{current['status_ja']}です。受付の申請だけを処理できます。",
                                   f"Application {application_id} is {current['status']}; only received ones can be processed."))

        def write(conn: Connection, request_id: int) -> None:
            conn.execute(steps.insert().values(application_id=application_id, status="in_progress", request_id=request_id,
                                               by_user=actor.user_id, at=self.clock()))
            self._record(conn, actor, "onestop.process", {"application_id": application_id, "request_id": request_id})

        return write

    def close(self, application_id: int, status: str, note: str, *, actor: Actor) -> None:
        """取下げ or 不受理, with a reason."""
        if status not in (ApplicationStatus.WITHDRAWN.value, ApplicationStatus.REFUSED.value):
            raise InvalidInput(Problem("status", "CTR-3", "取下げ（withdrawn）か不受理（refused）を指定してください。",
                                       "Give withdrawn or refused."))
        if not note.strip():
            raise InvalidInput(Problem("note", "CTR-3", "理由を入力してください。", "A reason is required."))
        current = self.application(application_id)
        if current["status"] not in (ApplicationStatus.RECEIVED.value,):
            raise Conflict(Problem("application_id", "CTR-3/status", f"申請 {application_id} は{current['status_ja']}です。",
                                   f"Application {application_id} is {current['status']}."))
        with self.engine.begin() as conn:
            conn.execute(steps.insert().values(application_id=application_id, status=status, note=note.strip(),
                                               by_user=actor.user_id, at=self.clock()))
            self._record(conn, actor, f"onestop.{status}", {"application_id": application_id})
