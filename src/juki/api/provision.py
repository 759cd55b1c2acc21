"""The prefecture's provision of 本人確認情報 (register API feature ``provision``; PRF-5..PRF-7): the routes
behind the CLI's ``juki net provision``, for the prefecture's operators in their staff sessions.

These routes work where the API is served by a **prefecture node** (``juki serve --role prefecture`` with
``api_port`` in node.json): the node gives its register the services (``reg.net``) and
:class:`juki.net.provision.ProvisionService` runs over the prefecture's files.  Anywhere else they answer
409 ``NET-2/not-prefecture``.

Rights (SEC-2, :mod:`juki.access.roles`): ``provision.provide`` (本人確認情報提供担当: single requests,
batches, asking for an approval), ``provision.approve`` (決裁者: a large batch's prior approval, by someone
other than who asked), ``provision.manage`` (the 別表 uses), ``provision.disclose`` (開示, 訂正等の申出),
``provision.log.read`` (the provision log).  Every provision, transfer, 開示 and refusal is a
``provision_log`` row kept 7 years (PRF-6) and an audit entry; reads of the log and the uses are audited
here.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from juki.api.common import Principal_, actor, json_body
from juki.api.security import Rule
from juki.config import Register
from juki.domain.changes import from_json
from juki.domain.errors import Conflict, InvalidInput, Problem
from juki.domain.identity_search import IdentityQuery
from juki.domain.model import to_json

RULES: dict[str, Rule] = {
    "provision_uses": "provision.provide",
    "provision_uses_load": "provision.manage",
    "provision_provide": "provision.provide",
    "provision_batch": "provision.provide",
    "provision_approval_request": "provision.provide",
    "provision_approval_approve": "provision.approve",
    "provision_log": "provision.log.read",
    "provision_disclose": "provision.disclose",
    "provision_correction_add": "provision.disclose",
    "provision_correction_close": "provision.disclose",
}


def _service(reg: Register) -> Any:
    from juki.net.pki import Tier

    net = getattr(reg, "net", None)
    if net is None or net.node.role is not Tier.PREFECTURE:
        raise Conflict(Problem("net", "NET-2/not-prefecture", "この API は都道府県サーバのノードで動いていません。",
                               "This API is not served by a prefecture node."))
    return net.provision


def _fields(data: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    problems = [Problem(k, "PRF-5/format", "受け付けない項目です。", "This item is not accepted.") for k in sorted(set(data) - allowed)]
    problems += [Problem(k, "PRF-5/format", "必須項目です。", "This item is required.") for k in sorted(required - set(data))]
    if problems:
        raise InvalidInput(problems)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise InvalidInput(Problem(key, "PRF-5/format", "文字列で指定してください。", "Must be a string."))
    return value


def router(reg: Register) -> APIRouter:
    from juki.net.provision import disclosure_pdf

    r = APIRouter(prefix="/api/v1/provision", tags=["本人確認情報の提供（都道府県）"])

    def audit_read(principal: Any, action: str, subjects: list[str], detail: dict[str, Any]) -> None:
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action=action, subject_ids=subjects, detail=detail)

    @r.get("/uses", name="provision_uses", summary="設定されている利用事務（別表第5・第6）")
    def provision_uses(principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        uses = _service(reg).uses()
        audit_read(principal, "provision.uses.read", [], {"uses": len(uses)})
        return {"uses": [to_json(u) for u in uses.values()]}

    @r.post("/uses", name="provision_uses_load", summary="利用事務の設定を登録（全体を置き換え）")
    async def provision_uses_load(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"uses"}, {"uses"})
        uses = await asyncio.to_thread(_service(reg).load_uses, data["uses"], actor=actor(principal))
        return {"uses": [u.code for u in uses]}

    @r.post("/provide", name="provision_provide", summary="提供・移転（1件の照会）")
    async def provision_provide(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"recipient", "use_code", "query", "fuhyo", "individual_number_wanted"},
                {"recipient", "use_code", "query"})
        query = from_json(IdentityQuery, data["query"], "query")
        got = await asyncio.to_thread(
            _service(reg).provide, recipient=_text(data, "recipient"), use_code=_text(data, "use_code"), query=query,
            actor=actor(principal), fuhyo=bool(data.get("fuhyo", False)),
            want_number=bool(data.get("individual_number_wanted", False)))
        return {"log_id": got.log_id, "outcome": got.outcome, "records": got.records}

    @r.post("/batches", name="provision_batch", summary="一括提供（条件ファイル → 結果ファイル、指定端末のみ）")
    async def provision_batch(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"recipient", "use_code", "conditions", "approval_id"}, {"recipient", "use_code", "conditions"})
        approval = data.get("approval_id")
        if approval is not None and not isinstance(approval, int):
            raise InvalidInput(Problem("approval_id", "PRF-5/format", "承認番号は整数です。", "The approval id is an integer."))
        result = await asyncio.to_thread(
            _service(reg).provide_batch, recipient=_text(data, "recipient"), use_code=_text(data, "use_code"),
            conditions=_text(data, "conditions"), actor=actor(principal), approval_id=approval)
        return to_json(result)  # type: ignore[no-any-return]

    @r.post("/approvals", name="provision_approval_request", summary="大量出力の事前承認を依頼")
    async def provision_approval_request(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"recipient", "use_code", "max_rows", "reason"}, {"recipient", "use_code", "max_rows", "reason"})
        if not isinstance(data["max_rows"], int):
            raise InvalidInput(Problem("max_rows", "PRF-5/format", "件数の上限は整数です。", "max_rows is an integer."))
        approval_id = await asyncio.to_thread(
            _service(reg).request_approval, recipient=_text(data, "recipient"), use_code=_text(data, "use_code"),
            max_rows=data["max_rows"], reason=_text(data, "reason"), actor=actor(principal))
        return {"approval_id": approval_id, "status": "requested"}

    @r.post("/approvals/{approval_id}/approve", name="provision_approval_approve", summary="大量出力の事前承認（依頼者以外）")
    async def provision_approval_approve(approval_id: int, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        await asyncio.to_thread(_service(reg).approve, approval_id, actor=actor(principal))
        return {"approval_id": approval_id, "status": "approved"}

    @r.get("/log", name="provision_log", summary="提供記録（7年保存）")
    def provision_log(principal: Principal_ = None,
                      juminhyo_code: Annotated[str, Query(description="住民票コード")] = "",
                      recipient: Annotated[str, Query(description="提供先")] = "") -> dict[str, Any]:
        assert principal is not None
        entries = _service(reg).log_entries(juminhyo_code=juminhyo_code or None, recipient=recipient or None)
        subjects = sorted({c for e in entries for c in e.get("subjects", [])})
        audit_read(principal, "provision.log.read", subjects,
                   {"juminhyo_code": juminhyo_code, "recipient": recipient, "entries": len(entries)})
        return {"entries": entries}

    @r.post("/disclosures", name="provision_disclose", summary="開示（本人確認情報と提供状況、PDF）")
    async def provision_disclose(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"juminhyo_code", "identity_check"}, {"juminhyo_code", "identity_check"})
        service = _service(reg)
        doc = await asyncio.to_thread(service.disclose, _text(data, "juminhyo_code"), actor=actor(principal),
                                      identity_check=_text(data, "identity_check"))
        pdf = await asyncio.to_thread(disclosure_pdf, doc, prefecture=service.files.node.name)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="kaiji.pdf"', "Cache-Control": "no-store"})

    @r.post("/corrections", name="provision_correction_add", summary="訂正等の申出を記録（30条の35）")
    async def provision_correction_add(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"juminhyo_code", "content"}, {"juminhyo_code", "content"})
        correction_id = await asyncio.to_thread(_service(reg).record_correction, _text(data, "juminhyo_code"),
                                                _text(data, "content"), actor=actor(principal))
        return {"correction_id": correction_id, "status": "open"}

    @r.post("/corrections/{correction_id}/close", name="provision_correction_close", summary="訂正等の申出の調査結果")
    async def provision_correction_close(correction_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"corrected", "result"}, {"corrected", "result"})
        await asyncio.to_thread(_service(reg).close_correction, correction_id, corrected=bool(data["corrected"]),
                                result=_text(data, "result"), actor=actor(principal))
        return {"correction_id": correction_id, "status": "closed"}

    return r
