"""The 住基ネット at the municipal counter (register API feature ``jukinet``): 本人確認情報検索 (NET-4), 特例転入
(NET-6), 個人番号の変更要求 (NET-7) and card events (NET-9), for clerks in their sessions.

These routes reach the network through the municipality node the register runs in (``reg.net``, set by
the node; :mod:`juki.net.services`).  A register served without its node answers 409 ``NET-2/not-connected``.
Every call is audited like any other read or write of the register (SEC-3).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from juki.access import policy
from juki.api.common import Principal_, actor, json_body
from juki.api.security import Rule
from juki.config import Register
from juki.domain.cards import CardEvent, CardNotice
from juki.domain.changes import from_json
from juki.domain.errors import Conflict, InvalidInput, JukiError, NotFound, Problem
from juki.domain.identity_search import IdentityQuery, Scope
from juki.domain.model import Address, to_json
from juki.domain.transfer import Arrival

RULES: dict[str, Rule] = {
    "jukinet_search": "person.search",
    "special_move_in_certificate": "change.submit",
    "special_move_in_certificate_view": "change.submit",
    "special_move_in_submit": "change.submit",
    "number_change_request": "number.view",
    "number_requests": "number.view",
    "card_event": "change.submit",
}


def _net(reg: Register) -> Any:
    net = getattr(reg, "net", None)
    if net is None:
        raise Conflict(Problem("net", "NET-2/not-connected", "この住民基本台帳は住基ネットのノードとして動いていません。",
                               "This register is not running as a node of the 住基ネット."))
    return net


def _fields(data: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    problems = [Problem(k, "REG-R2", "受け付けない項目です。", "This item is not accepted.") for k in sorted(set(data) - allowed)]
    problems += [Problem(k, "REG-R2", "必須項目です。", "This item is required.") for k in sorted(required - set(data))]
    if problems:
        raise InvalidInput(problems)


def _date(value: Any, field: str) -> dt.date:
    result = from_json(dt.date, value, field)
    assert isinstance(result, dt.date)
    return result


def router(reg: Register) -> APIRouter:
    from juki.net.cards import report_card_event
    from juki.net.transfer import card_check_of, former_of

    r = APIRouter(prefix="/api/v1/jukinet", tags=["住基ネット"])

    @r.get("/search", name="jukinet_search", summary="本人確認情報検索（市町村CS → 都道府県サーバ → 全国サーバ）")
    def jukinet_search(
        principal: Principal_ = None,
        juminhyo_code: Annotated[str, Query(description="住民票コード")] = "",
        individual_number: Annotated[str, Query(description="個人番号（番号利用事務のみ）")] = "",
        card_serial: Annotated[str, Query(description="個人番号カードの管理番号")] = "",
        name: Annotated[str, Query(description="氏名（漢字またはカナ）")] = "",
        address: Annotated[str, Query(description="住所（前方一致）")] = "",
        birth_date: Annotated[dt.date | None, Query(description="生年月日")] = None,
        sex: Annotated[str, Query(description="性別 1 男 / 2 女")] = "",
        scope: Annotated[Scope, Query(description="どこまで検索するか")] = Scope.NATIONAL,
    ) -> dict[str, Any]:
        assert principal is not None
        net = _net(reg)
        query = IdentityQuery(juminhyo_code, individual_number, card_serial, name, address, birth_date, sex)
        try:
            if individual_number and not policy.can(principal, "number.search"):
                raise policy.forbidden("number.search")
            result = net.search.search(query, scope=scope, operator=principal.user_id,
                                       number=policy.may_see_number(principal))
        except JukiError as e:
            net.search.audit(user=principal.user_id, terminal=principal.terminal_id, query=query, result=None, error=e)
            raise
        net.search.audit(user=principal.user_id, terminal=principal.terminal_id, query=query, result=result)
        return dict(result)

    @r.post("/special-move-in/certificates", name="special_move_in_certificate",
            summary="特例転入: カード確認と転出証明書情報の送信依頼")
    async def special_move_in_certificate(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"juminhyo_code", "from_lg_code", "card_serial", "case_ref"}, {"juminhyo_code", "from_lg_code", "card_serial"})
        net = _net(reg)
        received = await asyncio.to_thread(
            net.transfer.fetch_certificate, juminhyo_code=str(data["juminhyo_code"]), from_lg_code=str(data["from_lg_code"]),
            card_serial=str(data["card_serial"]), actor=actor(principal), card_check=card_check_of(net.node),
            former=former_of(net.node), case_ref=str(data.get("case_ref", "")))
        return to_json(received)  # type: ignore[no-any-return]

    @r.get("/special-move-in/certificates/{certificate_id}", name="special_move_in_certificate_view",
           summary="受信した転出証明書情報（個人番号は表示しない）")
    def special_move_in_certificate_view(certificate_id: int, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        received = _net(reg).transfer.received(certificate_id)
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action="moveout.certificate.read",
                             detail={"certificate_id": certificate_id, "juminhyo_code": received.juminhyo_code})
        return to_json(received)  # type: ignore[no-any-return]

    @r.post("/special-move-in/certificates/{certificate_id}/move-in", name="special_move_in_submit",
            summary="特例転入の届出（決裁待ち）")
    async def special_move_in_submit(certificate_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"address", "juminhyo_codes", "relationships", "join_household_id", "effective_date", "notified_date"},
                {"address", "effective_date", "notified_date"})
        address = from_json(Address, data["address"], "address")
        relationships = data.get("relationships") or {}
        if not isinstance(relationships, dict):
            raise InvalidInput(Problem("relationships", "REG-R2", "住民票コード→続柄の対応で指定してください。",
                                       "Give relationships as resident record code → relationship."))
        arrival = Arrival(address=address, juminhyo_codes=tuple(data.get("juminhyo_codes") or ()),
                          relationships=tuple((str(k), str(v)) for k, v in relationships.items()),
                          join_household_id=str(data.get("join_household_id", "")))
        submitted = await asyncio.to_thread(
            _net(reg).transfer.submit_move_in, certificate_id, arrival, actor=actor(principal),
            effective_date=_date(data["effective_date"], "effective_date"),
            notified_date=_date(data["notified_date"], "notified_date"))
        return {"request_id": submitted.request_id, "status": "pending", "kind": submitted.kind.value,
                "summary": submitted.summary, "late": submitted.late}

    @r.post("/numbers/change-requests", name="number_change_request", summary="個人番号の変更要求（番号法第7条第2項）")
    async def number_change_request(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"person_id", "reason"}, {"person_id", "reason"})
        ref = await asyncio.to_thread(_net(reg).designation.request_change, str(data["person_id"]), str(data["reason"]),
                                      actor=actor(principal))
        return {"request_ref": ref, "status": "pending"}

    @r.get("/numbers/requests", name="number_requests", summary="個人番号の生成要求・変更要求の状況")
    def number_requests(principal: Principal_ = None, person_id: str = "", status: str = "") -> dict[str, Any]:
        assert principal is not None
        views = _net(reg).designation.requests(person_id=person_id or None, status=status or None)
        return {"requests": [to_json(v) for v in views]}

    @r.post("/cards/events", name="card_event", summary="個人番号カードの交付・廃止・回収・一時停止解除・返還の通知")
    async def card_event(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"event", "card_serial", "person_id", "on", "expires_on"}, {"event", "card_serial", "person_id"})
        person = reg.store.person_current(str(data["person_id"]))
        if person is None:
            raise NotFound(Problem("person_id", "NET-9/person", "この宛名番号の住民票はありません。", "There is no such record."))
        event = from_json(CardEvent, data["event"], "event")
        on = _date(data["on"], "on") if data.get("on") else reg.changes.today()
        notice = CardNotice(event, str(data["card_serial"]), person.juminhyo_code, reg.jurisdiction.lg_code, on,
                            _date(data["expires_on"], "expires_on") if data.get("expires_on") else None).check()
        net = _net(reg)
        key = f"card:{reg.jurisdiction.lg_code}:{notice.card_serial}:{event.value}:{reg.now().timestamp()}"
        with reg.engine.begin() as conn:
            report_card_event(conn, notice, now=reg.now(), dedupe_key=key)
            reg.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action=f"card.{event.value}", subject_ids=[person.person_id],
                             detail={"card_serial": notice.card_serial})
        net.node.wake("transfer")
        return {"status": "queued", "event": event.value, "dedupe_key": key}

    return r
