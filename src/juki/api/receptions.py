"""総合窓口 (CTR-2) over the API: the 総合受付 as the pages have it, and the 庁内連携 hand-offs for other
sections' systems.

* ``/api/v1/receptions…`` (``reception.manage``: 窓口担当, 番号利用事務担当) -- open a reception for a life
  event, the day's queue, one reception with its steps and history, a step's status, a step added, close,
  reopen (with a reason), the 案内文書 as PDF.  Every write names the ``revision`` it was made on (the
  reception's ``revision`` as last read); another write in between refuses it with ``CTR-2/revision`` (409).
* ``/api/v1/handoffs…`` (``reception.handoff``: a section's integration account, 庁内連携) -- the pending
  hand-offs of the caller's own section (no 個人番号; audited as a read of the persons named), and the
  acknowledgement of one (処理済み: completes the step at the counter).

Refusals are the app's: ``{"error", "problems": [{"field", "rule", "message_ja", "message_en"}]}`` with the
status of their kind (:func:`juki.api.common.refusal_response`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from juki.adapters.pdf.guidance import render_guidance
from juki.api.common import Principal_, json_body
from juki.api.security import Rule
from juki.config import Register
from juki.domain.errors import InvalidInput, Problem
from juki.domain.life_events import LifeEvent
from juki.services.life_events import Reception, parse_opening

MANAGE = "reception.manage"
HANDOFF = "reception.handoff"

RULES: dict[str, Rule] = {
    "reception_open": MANAGE,
    "reception_queue": MANAGE,
    "reception_get": MANAGE,
    "reception_step": MANAGE,
    "reception_add_step": MANAGE,
    "reception_close": MANAGE,
    "reception_reopen": MANAGE,
    "reception_guidance": MANAGE,
    "handoff_list": HANDOFF,
    "handoff_acknowledge": HANDOFF,
}


def _fields(data: dict[str, Any], allowed: set[str], required: frozenset[str] | set[str] = frozenset()) -> None:
    problems = [Problem(k, "API-JSON", "受け付けない項目です。", "This item is not accepted.") for k in sorted(set(data) - allowed)]
    problems += [Problem(k, "API-JSON", "必須項目です。", "This item is required.") for k in sorted(required - set(data))]
    if problems:
        raise InvalidInput(problems)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(Problem(key, "API-JSON", "文字列で指定してください。", "Must be a string."))
    return value


def _texts(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(Problem(key, "API-JSON", "文字列の配列で指定してください。", "Must be an array of strings."))
    return value


def _revision(data: dict[str, Any]) -> int:
    value = data.get("revision")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(Problem("revision", "CTR-2/revision", "受付の版（revision）を整数で指定してください。",
                                   "Give the reception's revision you read, as an integer."))
    return value


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def reception_view(r: Reception) -> dict[str, Any]:
    """A reception as JSON: the persons (宛名番号 and name only), the steps with their 窓口, status and
    hand-off, the history; ``revision`` is what the next write names."""
    return {
        "reception_id": r.reception_id, "number": r.number_text, "date": r.day.isoformat(), "event": r.event.value,
        "event_ja": r.event.ja, "filed_by": r.filed_by.value, "visitor_name": r.visitor_name,
        "opened_by": r.opened_by, "opened_at": _ts(r.opened_at), "revision": r.revision,
        "state": "open" if r.is_open else "closed", "closed_at": _ts(r.closed_at), "closed_by": r.closed_by,
        "persons": [{"person_id": p.person_id, "name": p.name, "new_to_register": p.person_id is None}
                    for p in r.persons],
        "entered": [{"person_id": p.person_id, "name": p.name} for p in r.entered],
        "steps": [{
            "step_no": s.step_no, "procedure": s.procedure.code, "name": s.procedure.name, "kind": s.procedure.kind.value,
            "desk": s.procedure.desk, "bring": list(s.procedure.bring), "status": s.status.value, "label": s.label,
            "linked": s.linked, "request_id": s.request_id, "certificate_ids": list(s.certificate_ids),
            "note": s.note, "updated_by": s.updated_by, "updated_at": _ts(s.updated_at),
            "handoff": None if s.handoff is None else {
                "handoff_id": s.handoff.handoff_id, "section": s.handoff.section, "status": s.handoff.status.value,
                "status_ja": s.handoff.status.ja, "acknowledged_by": s.handoff.acknowledged_by,
                "acknowledged_at": _ts(s.handoff.acknowledged_at), "note": s.handoff.note},
        } for s in r.steps],
        "history": [{"revision": h.revision, "action": h.action, "action_ja": h.action_ja, "step_no": h.step_no,
                     "procedure": h.procedure, "status_ja": h.status_ja, "request_id": h.request_id,
                     "certificate_id": h.certificate_id, "note": h.note, "by_user": h.by_user, "at": _ts(h.at)}
                    for h in r.history],
    }


def router(reg: Register) -> APIRouter:
    r = APIRouter(tags=["総合窓口"])

    @r.post("/api/v1/receptions", name="reception_open", status_code=201,
            summary="総合受付を始める（ライフイベント、対象の方、来庁者）: 受付番号と手続の一覧")
    async def open_(request: Request, principal: Principal_ = None) -> JSONResponse:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"event", "person_ids", "newcomers", "filed_by", "visitor_name"}, {"event"})
        opening = parse_opening(_text(data, "event"), _texts(data, "person_ids"), _texts(data, "newcomers"),
                                _text(data, "filed_by") or "self", _text(data, "visitor_name"))
        return JSONResponse(reception_view(reg.receptions.open(principal, opening)), status_code=201)

    @r.get("/api/v1/receptions", name="reception_queue", summary="その日の総合受付（既定: 今日の受付中）")
    def queue(principal: Principal_ = None, day: dt.date | None = None,
              state: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
              event: LifeEvent | None = None, desk: str = "") -> list[dict[str, Any]]:
        assert principal is not None
        return [reception_view(x) for x in reg.receptions.queue(principal, day=day, state=state, event=event, desk=desk)]

    @r.get("/api/v1/receptions/{reception_id}", name="reception_get", summary="総合受付: 手続と経過")
    def get(reception_id: int, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        return reception_view(reg.receptions.get(principal, reception_id))

    @r.post("/api/v1/receptions/{reception_id}/steps/{step_no}", name="reception_step",
            summary="手続の状況を記録する（未着手・処理中・完了・不要、備考）")
    async def step(reception_id: int, step_no: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"status", "note", "revision"}, {"status", "revision"})
        return reception_view(reg.receptions.set_status(principal, reception_id, step_no, _text(data, "status"),
                                                        note=_text(data, "note"), revision=_revision(data)))

    @r.post("/api/v1/receptions/{reception_id}/steps", name="reception_add_step", summary="手続を追加する")
    async def add_step(reception_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"procedure", "revision"}, {"procedure", "revision"})
        return reception_view(reg.receptions.add_step(principal, reception_id, _text(data, "procedure"),
                                                      revision=_revision(data)))

    @r.post("/api/v1/receptions/{reception_id}/close", name="reception_close",
            summary="受付を終了する（すべての手続が完了または不要のとき）")
    async def close(reception_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"revision"}, {"revision"})
        return reception_view(reg.receptions.close(principal, reception_id, revision=_revision(data)))

    @r.post("/api/v1/receptions/{reception_id}/reopen", name="reception_reopen",
            summary="終了した受付を再開する（理由必須）")
    async def reopen(reception_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"reason", "revision"}, {"reason", "revision"})
        return reception_view(reg.receptions.reopen(principal, reception_id, reason=_text(data, "reason"),
                                                    revision=_revision(data)))

    @r.get("/api/v1/receptions/{reception_id}/guidance", name="reception_guidance",
           summary="案内文書（PDF）", response_class=Response)
    def guidance(reception_id: int, principal: Principal_ = None) -> Response:
        assert principal is not None
        letter = reg.receptions.guidance(principal, reception_id)
        return Response(render_guidance(letter), media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="guidance-{reception_id}-{letter.number}.pdf"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @r.get("/api/v1/handoffs", name="handoff_list", tags=["庁内連携"],
           summary="自課への未処理の連携（総合受付の手続、対象の方。個人番号なし）")
    def handoffs(principal: Principal_ = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        assert principal is not None
        return reg.receptions.handoffs(principal, limit=limit)

    @r.post("/api/v1/handoffs/{handoff_id}/acknowledge", name="handoff_acknowledge", tags=["庁内連携"],
            summary="連携を処理済みにする（総合受付の手続が完了になる）")
    async def acknowledge(handoff_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request) if await request.body() else {}
        _fields(data, {"note"})
        r = reg.receptions.acknowledge(principal, handoff_id, note=_text(data, "note"))
        step = next(s for s in r.steps if s.handoff is not None and s.handoff.handoff_id == handoff_id)
        return {"handoff_id": handoff_id, "status": "acknowledged", "reception_id": r.reception_id,
                "step_no": step.step_no, "step_status": step.status.value}

    return r
