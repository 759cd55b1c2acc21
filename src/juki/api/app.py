"""The register's HTTP API (FastAPI; the contract is published at ``/openapi.json``).

Entry point only: it translates HTTP to service calls and errors to status codes, and holds no rules.
Every call names its actor (``X-Juki-User``) and terminal (``X-Juki-Terminal``); the access-control layer
(sessions, second factor, rights) replaces these headers with an authenticated session.

Errors are ``{"error": kind, "problems": [{"field", "rule", "message_ja", "message_en"}]}`` with 404 (not
found), 409 (conflict), 403 (forbidden), 413 (body too large), 422 (invalid input or refused by a rule).
"""

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import TypeAdapter
from starlette.middleware.base import BaseHTTPMiddleware

from juki import __version__
from juki.adapters.db.store import SearchCriteria
from juki.config import Register
from juki.domain.changes import COMMANDS
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, Problem, RuleViolation
from juki.domain.events import ChangeKind, Origin
from juki.services.changes import Actor

MAX_BODY_BYTES = 1_000_000
User = Annotated[str | None, Header(alias="X-Juki-User", description="操作者ID")]
Terminal = Annotated[str | None, Header(alias="X-Juki-Terminal", description="端末ID")]
AsOf = Annotated[dt.date | None, Query(description="この日の時点の内容 (YYYY-MM-DD)")]
STATUS = {InvalidInput: 422, RuleViolation: 422, NotFound: 404, Conflict: 409, Forbidden: 403}
ENVELOPE_FIELDS = {"origin", "legal_basis", "effective_date", "notified_date", "case_ref", "agent",
                   "idempotency_key", "change"}


def _error(status: int, problems: list[Problem] | tuple[Problem, ...], kind: str) -> JSONResponse:
    return JSONResponse({"error": kind, "problems": [p.as_dict() for p in problems]}, status_code=status)


class _BodyLimit(BaseHTTPMiddleware):
    """Refuse bodies over ``MAX_BODY_BYTES`` before they are read whole."""

    async def dispatch(self, request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, [Problem("body", "API-LIMIT", f"リクエストが大きすぎます（上限 {MAX_BODY_BYTES} バイト）。",
                                        f"The request body is too large (limit {MAX_BODY_BYTES} bytes).")], "too_large")
        if request.method in ("POST", "PUT", "PATCH") and length is None:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return _error(413, [Problem("body", "API-LIMIT", "リクエストが大きすぎます。",
                                                "The request body is too large.")], "too_large")
            request._body = body
        return await call_next(request)


def _actor(user: str | None, terminal: str | None) -> Actor:
    problems = []
    if not user or not user.strip():
        problems.append(Problem("X-Juki-User", "SEC-3", "操作者IDがありません。", "The acting user is missing."))
    if not terminal or not terminal.strip():
        problems.append(Problem("X-Juki-Terminal", "SEC-3", "端末IDがありません。", "The terminal id is missing."))
    if problems:
        raise InvalidInput(problems)
    assert user and terminal
    return Actor(user.strip(), terminal.strip())


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(Problem("body", "API-JSON", "JSONとして読めません。", "The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise InvalidInput(Problem("body", "API-JSON", "JSONオブジェクトを送ってください。", "The body must be a JSON object."))
    return data


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(Problem(field, "REG-R2", "存在する日付をYYYY-MM-DD形式で指定してください。", "Must be a real date as YYYY-MM-DD."))


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    problems = [Problem(k, "REG-R2", "受け付けない項目です。", "This item is not accepted.") for k in sorted(set(data) - ENVELOPE_FIELDS)]
    for k in ("origin", "legal_basis", "effective_date", "notified_date", "change"):
        if k not in data:
            problems.append(Problem(k, "REG-R2", "必須項目です。", "This item is required."))
    if problems:
        raise InvalidInput(problems)
    try:
        origin = Origin(data["origin"])
    except ValueError:
        raise InvalidInput(Problem("origin", "REG-R2", "届出・職権・通知（notification / ex_officio / notice）のいずれかです。",
                                   "Must be notification, ex_officio or notice.")) from None
    for k in ("legal_basis", "case_ref", "agent", "idempotency_key"):
        if k in data and data[k] is not None and not isinstance(data[k], str):
            raise InvalidInput(Problem(k, "REG-R2", "文字列で指定してください。", "Must be a string."))
    if not isinstance(data["change"], dict):
        raise InvalidInput(Problem("change", "REG-R2", "オブジェクトで指定してください。", "Must be an object."))
    return {
        "origin": origin,
        "legal_basis": data["legal_basis"],
        "effective_date": _date(data["effective_date"], "effective_date"),
        "notified_date": _date(data["notified_date"], "notified_date"),
        "case_ref": data.get("case_ref") or "",
        "agent": data.get("agent") or "",
        "idempotency_key": data.get("idempotency_key"),
    }


def _change_schema(kind: ChangeKind) -> dict[str, Any]:
    schema = TypeAdapter(COMMANDS[kind]).json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    body = {
        "type": "object",
        "additionalProperties": False,
        "required": ["origin", "legal_basis", "effective_date", "notified_date", "change"],
        "properties": {
            "origin": {"type": "string", "enum": [o.value for o in Origin], "description": "届出 / 職権 / 通知"},
            "legal_basis": {"type": "string", "description": "根拠法令"},
            "effective_date": {"type": "string", "format": "date", "description": "異動日"},
            "notified_date": {"type": "string", "format": "date", "description": "届出日"},
            "case_ref": {"type": "string", "description": "受付番号"},
            "agent": {"type": "string", "description": "代理人（委任状）"},
            "idempotency_key": {"type": "string", "description": "受付キー: the same key twice is one request"},
            "change": schema,
        },
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}, "x-defs": defs}


def create_app(register: Register | None = None) -> FastAPI:
    reg = register or Register()
    app = FastAPI(
        title="juki 住民基本台帳 API",
        version=__version__,
        description="既存住基: 住民票・世帯・異動（届出・決裁）・履歴・検索。Errors name the field and the rule in Japanese and English.",
    )
    app.add_middleware(_BodyLimit)
    app.state.register = reg

    @app.exception_handler(JukiError)
    async def _juki_error(_request: Request, exc: JukiError) -> JSONResponse:
        return _error(STATUS.get(type(exc), 422), exc.problems, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(".".join(str(x) for x in e["loc"][1:]) or "body", "API-VALIDATION",
                            "入力内容が正しくありません: " + e["msg"], e["msg"]) for e in exc.errors()]
        return _error(422, problems, "invalid_input")


    def submit_route(kind: ChangeKind) -> None:
        spec = _change_schema(kind)
        defs = spec.pop("x-defs")

        async def submit(request: Request, user: User = None, terminal: Terminal = None) -> JSONResponse:
            actor = _actor(user, terminal)
            data = await _json_body(request)
            env = _envelope(data)
            result = reg.changes.submit(kind, data["change"], actor=actor, **env)
            return JSONResponse(
                {"request_id": result.request_id, "kind": result.kind.value, "kind_ja": result.kind.ja,
                 "summary": result.summary, "late": result.late, "status": "pending", "duplicate": result.duplicate},
                status_code=200 if result.duplicate else 201,
            )

        app.add_api_route(f"/api/v1/changes/{kind.value}", submit, methods=["POST"], status_code=201,
                          summary=f"{kind.ja}の届出を受け付ける（決裁待ち）", tags=["異動"], openapi_extra=spec,
                          name=f"submit_{kind.value}")
        app.state.__dict__.setdefault("schema_defs", {}).update(defs)

    for kind in COMMANDS:
        submit_route(kind)

    def request_view(row: Any) -> dict[str, Any]:
        return {
            "request_id": row.request_id, "kind": row.kind, "kind_ja": ChangeKind(row.kind).ja, "summary": row.summary,
            "status": row.status, "entered_by": row.entered_by, "terminal": row.terminal,
            "entered_at": row.entered_at.isoformat(), "effective_date": row.effective_date.isoformat(),
            "notified_date": row.notified_date.isoformat(), "origin": row.origin, "legal_basis": row.legal_basis,
            "change": row.payload,
            "decision": None if row.decision is None else {
                "decision": row.decision.decision, "decided_by": row.decision.decided_by, "reason": row.decision.reason,
                "decided_at": row.decision.decided_at.isoformat(), "event_seq": row.decision.event_seq},
        }

    @app.get("/api/v1/requests", tags=["決裁"], summary="決裁待ちの届出")
    def pending(user: User = None, terminal: Terminal = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        _actor(user, terminal)
        return [request_view(r) for r in reg.store.pending_requests(limit)]

    @app.get("/api/v1/requests/{request_id}", tags=["決裁"], summary="届出の内容と状態")
    def get_request(request_id: int, user: User = None, terminal: Terminal = None) -> dict[str, Any]:
        _actor(user, terminal)
        row = reg.store.request(request_id)
        if row is None:
            raise NotFound(Problem("request_id", "REG-R3", f"届出 {request_id} はありません。", f"There is no request {request_id}."))
        return request_view(row)

    @app.post("/api/v1/requests/{request_id}/approve", tags=["決裁"], summary="決裁（入力者以外の職員）")
    def approve(request_id: int, user: User = None, terminal: Terminal = None) -> dict[str, Any]:
        result = reg.changes.approve(request_id, actor=_actor(user, terminal))
        o = result.outcome
        return {"request_id": request_id, "event_seq": result.event_seq, "kind": o.kind.value, "summary": o.summary_ja,
                "late": o.late, "person_ids": [p.person_id for p in o.persons],
                "household_ids": [h.household_id for h in o.households]}

    async def _reason(request: Request) -> str:
        data = await _json_body(request)
        extra = sorted(set(data) - {"reason"})
        if extra:
            raise InvalidInput([Problem(k, "REG-R2", "受け付けない項目です。", "This item is not accepted.") for k in extra])
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise InvalidInput(Problem("reason", "REG-R3/reason", "理由を入力してください。", "A reason is required."))
        return reason

    @app.post("/api/v1/requests/{request_id}/return", tags=["決裁"], summary="差戻し（理由必須）")
    async def return_request(request_id: int, request: Request, user: User = None, terminal: Terminal = None) -> dict[str, Any]:
        actor = _actor(user, terminal)
        reg.changes.return_request(request_id, actor=actor, reason=await _reason(request))
        return {"request_id": request_id, "status": "returned"}

    @app.post("/api/v1/requests/{request_id}/reject", tags=["決裁"], summary="却下（理由必須）")
    async def reject(request_id: int, request: Request, user: User = None, terminal: Terminal = None) -> dict[str, Any]:
        actor = _actor(user, terminal)
        reg.changes.reject(request_id, actor=actor, reason=await _reason(request))
        return {"request_id": request_id, "status": "rejected"}


    @app.get("/api/v1/persons/{person_id}", tags=["住民票"], summary="住民票（現在または指定日時点）")
    def get_person(person_id: str, as_of: AsOf = None, user: User = None, terminal: Terminal = None) -> dict[str, Any]:
        _actor(user, terminal)
        return reg.queries.person(person_id, as_of=as_of)

    @app.get("/api/v1/persons/{person_id}/history", tags=["住民票"], summary="住民票の履歴（異動ごと）")
    def person_history(person_id: str, user: User = None, terminal: Terminal = None) -> list[dict[str, Any]]:
        _actor(user, terminal)
        return reg.queries.person_history(person_id)

    @app.get("/api/v1/households/{household_id}", tags=["世帯"], summary="世帯（現在または指定日時点）")
    def get_household(household_id: str, as_of: AsOf = None, user: User = None, terminal: Terminal = None) -> dict[str, Any]:
        _actor(user, terminal)
        return reg.queries.household(household_id, as_of=as_of)

    @app.get("/api/v1/households/{household_id}/history", tags=["世帯"], summary="世帯の履歴")
    def household_history(household_id: str, user: User = None, terminal: Terminal = None) -> list[dict[str, Any]]:
        _actor(user, terminal)
        return reg.queries.household_history(household_id)

    @app.get("/api/v1/search", tags=["検索"], summary="住民検索（かな・漢字前方一致、生年月日、住所、宛名番号、世帯番号、個人番号）")
    def search(
        user: User = None, terminal: Terminal = None,
        kana: str | None = None, name: str | None = None, birth_date: dt.date | None = None,
        address: str | None = None, person_id: str | None = None, household_id: str | None = None,
        individual_number: str | None = None, sex: Annotated[str | None, Query(pattern="^[12]$")] = None,
        include_removed: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:
        _actor(user, terminal)
        criteria = SearchCriteria(kana=kana, name=name, birth_date=birth_date, address=address, person_id=person_id,
                                  household_id=household_id, individual_number=individual_number, sex=sex,
                                  include_removed=include_removed, limit=limit)
        return reg.queries.search(criteria)

    @app.get("/api/v1/health", tags=["運用"], summary="稼働確認")
    def health() -> dict[str, Any]:
        counts = reg.store.counts()
        return {"status": "ok", "municipality": reg.jurisdiction.name, "lg_code": reg.jurisdiction.lg_code,
                "residents": counts.residents, "households": counts.households, "removed": counts.removed}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        c = reg.store.counts()
        j = reg.jurisdiction
        return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>juki {j.name}</title></head>
<body><main><h1>juki 住民基本台帳システム — {j.name}（{j.lg_code}）</h1>
<p>住民 {c.residents:,} 人、世帯 {c.households:,}、除票 {c.removed:,}。</p>
<ul><li><a href="/docs">API（OpenAPI / Swagger UI）</a></li><li><a href="/openapi.json">/openapi.json</a></li>
<li><a href="/api/v1/health">/api/v1/health</a></li></ul>
<p>窓口画面は今後追加されます。API の呼び出しには <code>X-Juki-User</code> と <code>X-Juki-Terminal</code> ヘッダーが必要です。</p>
</main></body></html>"""

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(app.state.schema_defs)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
