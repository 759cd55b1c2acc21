"""引越しワンストップ (CTR-3): online 転出届 and 転入予約 / 転居予約 arrive here from マイナポータル.

The relay that fetches applications from the portal logs in like any client (a staff account with the
counter clerk's rights, from a registered terminal) and posts each one; clerks see the queue with its
status in the counter UI (``/ui/onestop``) and complete each application there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from juki.api.common import Principal_, actor, json_body
from juki.api.security import Rule
from juki.config import Register
from juki.services.onestop import OneStopService

QUEUE = ("change.submit", "change.approve", "change.decide")

RULES: dict[str, Rule] = {
    "onestop_receive": "change.submit",
    "onestop_list": QUEUE,
    "onestop_get": QUEUE,
}


def service(reg: Register) -> OneStopService:
    return reg.onestop


def router(reg: Register) -> APIRouter:
    r = APIRouter(prefix="/api/v1/onestop", tags=["引越しワンストップ"])
    svc = service(reg)

    @r.post("/applications", name="onestop_receive", status_code=201,
            summary="オンライン転出届・転入予約を受け付ける（マイナポータルから）")
    async def receive(request: Request, principal: Principal_ = None) -> JSONResponse:
        assert principal is not None
        app_id, duplicate = svc.receive(await json_body(request), actor=actor(principal))
        return JSONResponse({"application_id": app_id, "status": "received", "duplicate": duplicate},
                            status_code=200 if duplicate else 201)

    @r.get("/applications", name="onestop_list", summary="申請の一覧と状態")
    def applications(principal: Principal_ = None, status: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        assert principal is not None
        rows = svc.applications(status=status, limit=limit)
        reg.reads.audit(principal, "onestop.read", [], applications=[a["application_id"] for a in rows])
        return rows

    @r.get("/applications/{application_id}", name="onestop_get", summary="申請の内容と経過")
    def application(application_id: int, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        found = svc.application(application_id)
        reg.reads.audit(principal, "onestop.read", [], applications=[application_id])
        return found

    return r
