"""Certificate issuance over HTTP (REG-CERT, SEC-3, SEC-8): at the counter, by mail, in batches; the
issuance log and the counts by type.

* ``POST /api/v1/certificates`` -- one certificate: the body is the request
  (:class:`juki.domain.certificate_requests.CertificateRequest` as JSON) plus ``envelope`` when mailed;
  the answer is the signed PDF (``application/pdf``), its id in ``X-Juki-Certificate-Id``.
* ``POST /api/v1/certificates/wide-area`` -- 広域交付 (住基法12条の4) at this municipality as the 交付地: the
  body is :class:`juki.domain.wide_area.WideAreaRequest` as JSON (the 住所地's code, the requester as
  identified, 世帯全員 or the subjects, items, purpose); the 住所地 is asked over the 住基ネット and this
  municipality's mayor issues the copy (signed PDF, as above).  Only a register running as a municipality
  node can ask (409 ``NET-2/not-connected`` otherwise); an unreachable 住所地 is 503 ``NET-2/unavailable``.
* ``POST /api/v1/certificates/bulk`` -- ``{"items": [{"request": …, "envelope": …}, …]}``: one subject per
  envelope, every PDF read back and matched with its envelope before anything is logged; the answer holds
  each PDF in base64 with its envelope.
* ``GET /api/v1/certificates/mail`` -- the 郵送請求 waiting for the day's batch (``until``: received on or
  before that day, default today); ``POST /api/v1/certificates/mail`` -- record one letter:
  ``{"request": …(channel mail), "envelope": {addressee, address}, "fee": {method, yen}, "issue_now": bool,
  "form_token"?}``; queued, or issued at once with its print file (送付状 + certificate);
  ``POST /api/v1/certificates/mail/batch`` -- ``{"request_ids": […]}``: issue them in one batch (one
  combined print file in envelope order, with the 発送一覧); ``POST /api/v1/certificates/mail/{id}/return``
  -- ``{"note": …}``: 返戻 (:mod:`juki.issuance.mail`).
* ``GET /api/v1/certificates/log`` and ``GET /api/v1/certificates/counts`` -- for the supervisor
  (``certificate.log.read``).

A refusal is a JSON error naming the field and the rule; it is audited by the service
(``certificate.refuse``), so the router answers it itself instead of auditing it twice.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from juki.api.common import Principal_, error_response, json_body, refusal_response
from juki.api.security import Rule
from juki.clock import jst_date
from juki.config import Register
from juki.domain.certificate_requests import request_from_json
from juki.domain.changes import from_json
from juki.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    JukiError,
    Problem,
)
from juki.domain.wide_area import WideAreaAnswer, WideAreaRequest
from juki.issuance.mail import Fee, Mailed
from juki.issuance.proof import Envelope

RULES: dict[str, Rule] = {
    "certificate_issue": "certificate.issue",
    "certificate_wide_area": "certificate.issue",
    "certificate_bulk": "certificate.issue",
    "certificate_mail_queue": "certificate.issue",
    "certificate_mail_record": "certificate.issue",
    "certificate_mail_batch": "certificate.issue",
    "certificate_mail_return": "certificate.issue",
    "certificate_log": "certificate.log.read",
    "certificate_counts": "certificate.log.read",
}

T = TypeVar("T")


def answered(work: Callable[[], T]) -> T | JSONResponse:
    """Run a service call whose refusals the service has audited already: answer them here (a Forbidden
    would otherwise be audited a second time by the app's handler)."""
    try:
        return work()
    except Forbidden as e:
        return error_response(401 if e.kind == "unauthenticated" else 403, e.problems, e.kind)
    except JukiError as e:
        return refusal_response(e)


def envelope_from(data: Any, field: str) -> Envelope | None:
    if data is None:
        return None
    env: Envelope = from_json(Envelope, data, field)
    return env


def pdf_response(pdf: bytes, certificate_id: str) -> Response:
    return Response(pdf, media_type="application/pdf", headers={
        "X-Juki-Certificate-Id": certificate_id,
        "Content-Disposition": f'attachment; filename="{certificate_id}.pdf"'})


def mailed_view(mailed: Mailed) -> dict[str, Any]:
    """Mailed certificates as JSON: the print file and each certificate (its signed PDF) with its envelope."""
    return {"batch_id": mailed.batch_id, "count": len(mailed.certificates), "again": mailed.again,
            "request_ids": list(mailed.request_ids),
            "print_pdf_base64": base64.b64encode(mailed.print_pdf).decode("ascii"),
            "certificates": [{"certificate_id": c.certificate_id, "kind": c.kind.value, "subject_ids": list(c.subject_ids),
                              "envelope": c.envelope.view() if c.envelope else None, "pdf_sha256": c.pdf_sha256,
                              "pdf_base64": base64.b64encode(c.pdf).decode("ascii")} for c in mailed.certificates]}


def residence_for(reg: Register) -> Callable[[WideAreaRequest], WideAreaAnswer]:
    """The 住所地 of a 広域交付, asked through the municipality node this register runs in (``reg.net``)."""
    net = getattr(reg, "net", None)
    if net is None:
        raise Conflict(Problem("net", "NET-2/not-connected",
                               "この住民基本台帳は住基ネットのノードとして動いていないため、広域交付の照会ができません。",
                               "This register is not running as a node of the 住基ネット: it cannot ask a 住所地."))
    from juki.net.wide_area import residence_of

    return residence_of(net.node)


def router(reg: Register) -> APIRouter:
    r = APIRouter(tags=["証明書の交付"])

    @r.post("/api/v1/certificates", name="certificate_issue",
            summary="証明書の交付（住民票の写し・記載事項証明書・除票の写し・転出証明書・住民票コード通知書・印鑑登録証明書）",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def certificate_issue(request: Request, principal: Principal_ = None) -> Any:
        assert principal is not None
        data = await json_body(request)
        envelope = envelope_from(data.pop("envelope", None), "envelope")
        req = request_from_json(data)
        issued = answered(lambda: reg.issuance.issue(principal, req, envelope=envelope))
        if isinstance(issued, JSONResponse):
            return issued
        return pdf_response(issued.pdf, issued.certificate_id)

    @r.post("/api/v1/certificates/wide-area", name="certificate_wide_area",
            summary="広域交付（住基法12条の4）: 住所地に住基ネットで照会し、この市区町村長が住民票の写しを交付",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
    async def certificate_wide_area(request: Request, principal: Principal_ = None) -> Any:
        assert principal is not None
        data = await json_body(request)
        set_by_node = sorted(set(data) & {"request_id", "issuing_lg_code", "operator"})
        if set_by_node:
            raise InvalidInput([Problem(k, "REG-R2", "この項目は交付地のシステムが設定します。", "This item is set by the system.")
                                for k in set_by_node])
        req = WideAreaRequest.from_json(data)
        residence = residence_for(reg)
        issued = await asyncio.to_thread(answered, lambda: reg.issuance.issue_wide_area(principal, req, residence))
        if isinstance(issued, JSONResponse):
            return issued
        return pdf_response(issued.pdf, issued.certificate_id)

    @r.post("/api/v1/certificates/bulk", name="certificate_bulk",
            summary="一括交付（郵送・公用請求）: 一通に一人、封筒と照合してから交付")
    async def certificate_bulk(request: Request, principal: Principal_ = None) -> Any:
        assert principal is not None
        data = await json_body(request)
        items = data.get("items")
        extra = sorted(set(data) - {"items"})
        if extra or not isinstance(items, list):
            raise InvalidInput([Problem(k, "REG-CERT/bulk", "受け付けない項目です。", "This item is not accepted.")
                                for k in extra] or [Problem("items", "REG-CERT/bulk", "items（配列）を指定してください。",
                                                            "items (a list) is required.")])
        pairs = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or set(item) - {"request", "envelope"}:
                raise InvalidInput(Problem(f"items[{i}]", "REG-CERT/bulk", "request と envelope を指定してください。",
                                           "Each item is {request, envelope}."))
            env = envelope_from(item.get("envelope"), f"items[{i}].envelope")
            if env is None:
                raise InvalidInput(Problem(f"items[{i}].envelope", "REG-CERT/envelope", "封筒の宛名と住所を指定してください。",
                                           "The envelope is required."))
            try:
                pairs.append((request_from_json(item.get("request")), env))
            except InvalidInput as e:
                raise InvalidInput(p.at(f"items[{i}].request") for p in e.problems) from None
        result = answered(lambda: reg.issuance.issue_bulk(principal, pairs))
        if isinstance(result, JSONResponse):
            return result
        batch_id, issued = result
        return {"batch_id": batch_id, "count": len(issued), "certificates": [
            {"certificate_id": c.certificate_id, "kind": c.kind.value, "subject_ids": list(c.subject_ids),
             "envelope": c.envelope.view() if c.envelope else None, "pdf_sha256": c.pdf_sha256,
             "pdf_base64": base64.b64encode(c.pdf).decode("ascii")} for c in issued]}

    @r.get("/api/v1/certificates/mail", name="certificate_mail_queue", summary="郵送請求（一括交付を待っているもの）")
    def certificate_mail_queue(principal: Principal_ = None, until: dt.date | None = None) -> list[dict[str, Any]]:
        assert principal is not None
        return reg.mail.queue(principal, until=until)

    @r.post("/api/v1/certificates/mail", name="certificate_mail_record",
            summary="郵送請求の受付: 今すぐ交付（送付状つき）又は本日の一括交付に回す")
    async def certificate_mail_record(request: Request, principal: Principal_ = None) -> Any:
        assert principal is not None
        data = await json_body(request)
        extra = sorted(set(data) - {"request", "envelope", "fee", "issue_now", "form_token"})
        if extra:
            raise InvalidInput([Problem(k, "REG-CERT/mail", "受け付けない項目です。", "This item is not accepted.")
                                for k in extra])
        envelope = envelope_from(data.get("envelope"), "envelope")
        if envelope is None:
            raise InvalidInput(Problem("envelope", "REG-CERT/envelope", "返信用封筒の宛名と住所を指定してください。",
                                       "The envelope (addressee and address) is required."))
        fee: Fee = from_json(Fee, data.get("fee"), "fee")
        issue_now, token = data.get("issue_now", False), data.get("form_token")
        if not isinstance(issue_now, bool) or not (token is None or isinstance(token, str)):
            raise InvalidInput(Problem("issue_now", "REG-R2", "issue_now は true か false、form_token は文字列です。",
                                       "issue_now is a boolean and form_token a string."))
        try:
            req = request_from_json(data.get("request"))
        except InvalidInput as e:
            raise InvalidInput(p.at("request") for p in e.problems) from None
        result = await asyncio.to_thread(answered, lambda: reg.mail.record(principal, req, envelope, fee,
                                                                           issue_now=issue_now, form_token=token))
        if isinstance(result, JSONResponse):
            return result
        request_id, mailed = result
        if mailed is None:
            return {"request_id": request_id, "status": "queued"}
        return {"request_id": request_id, "status": "issued", **mailed_view(mailed)}

    @r.post("/api/v1/certificates/mail/batch", name="certificate_mail_batch",
            summary="郵送請求の一括交付: 一通に一人、封筒と照合し、送付状と発送一覧を一つの印刷用ファイルに")
    async def certificate_mail_batch(request: Request, principal: Principal_ = None) -> Any:
        assert principal is not None
        data = await json_body(request)
        ids = data.get("request_ids")
        if set(data) - {"request_ids"} or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidInput(Problem("request_ids", "REG-CERT/bulk", "request_ids（郵送受付番号の配列）を指定してください。",
                                       "request_ids (a list of mail request ids) is required."))
        result = await asyncio.to_thread(answered, lambda: reg.mail.issue_batch(principal, ids))
        if isinstance(result, JSONResponse):
            return result
        return mailed_view(result)

    @r.post("/api/v1/certificates/mail/{request_id}/return", name="certificate_mail_return",
            summary="郵送請求の返戻（交付しないで請求者に返す）")
    async def certificate_mail_return(request_id: str, request: Request, principal: Principal_ = None) -> Any:
        assert principal is not None
        data = await json_body(request)
        note = data.get("note", "")
        result = answered(lambda: reg.mail.return_request(principal, request_id, note if isinstance(note, str) else ""))
        if isinstance(result, JSONResponse):
            return result
        return {"request_id": request_id, "status": "returned"}

    @r.get("/api/v1/certificates/log", name="certificate_log", summary="交付記録（誰が、誰に、誰の、どの証明書を）")
    def certificate_log(principal: Principal_ = None, since: dt.date | None = None, until: dt.date | None = None,
                        person_id: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        assert principal is not None
        return reg.issuance.log(principal, since=since, until=until, person_id=person_id, limit=limit)

    @r.get("/api/v1/certificates/counts", name="certificate_counts", summary="交付件数（種類・方法・請求の根拠別）")
    def certificate_counts(principal: Principal_ = None, since: dt.date | None = None,
                           until: dt.date | None = None) -> dict[str, Any]:
        assert principal is not None
        today = jst_date(reg.now())
        return reg.issuance.counts(principal, since=since or today.replace(day=1), until=until or today)

    return r
