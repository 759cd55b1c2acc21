"""The register's HTTP API (FastAPI; the contract is published at ``/openapi.json``).

Entry point only: it translates HTTP to service calls and errors to status codes, and holds no rules.

Every call but login is made in a session: ``Authorization: Bearer <token>`` from ``POST
/api/v1/auth/login`` (password + TOTP, from a registered terminal), and the terminal's id in
``X-Juki-Terminal``.  Each route's permission is in :mod:`juki.api.security`; every read of a person,
every search (with the persons it returned), every write and every denial is in the audit log (SEC-3).

Errors are ``{"error": kind, "problems": [{"field", "rule", "message_ja", "message_en"}]}`` with 401 (no
valid session), 403 (forbidden), 404 (not found), 409 (conflict), 413 (body too large), 422 (invalid
input or refused by a rule).
"""

import contextlib
import datetime as dt
import importlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import TypeAdapter
from starlette.middleware.base import BaseHTTPMiddleware

from juki import __version__
from juki.access import policy
from juki.adapters.db.store import SearchCriteria
from juki.api.common import (
    AsOf,
    Principal_,
    Req,
    ReqBirth,
    ReqKana,
    ReqName,
    actor,
    error_response,
    json_body,
    refusal_response,
    requester,
)
from juki.api.security import AUTHENTICATED, PUBLIC, RULES, Rule, api_routes, check_rules, permissions_of
from juki.config import Register
from juki.domain.changes import COMMANDS, from_json
from juki.domain.errors import (
    Forbidden,
    InvalidInput,
    JukiError,
    NotFound,
    Problem,
)
from juki.domain.events import ChangeKind, Origin

MAX_BODY_BYTES = 1_000_000
Terminal = Annotated[str | None, Header(alias="X-Juki-Terminal", description="端末ID")]
TerminalKey = Annotated[str | None, Header(alias="X-Juki-Terminal-Key", description="端末の認証鍵（ログイン時）")]
ENVELOPE_FIELDS = {"origin", "legal_basis", "effective_date", "notified_date", "case_ref", "agent",
                   "idempotency_key", "change"}


class _BodyLimit(BaseHTTPMiddleware):
    """Refuse bodies over ``MAX_BODY_BYTES`` before they are read whole."""

    async def dispatch(self, request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return error_response(413, [Problem("body", "API-LIMIT", f"リクエストが大きすぎます（上限 {MAX_BODY_BYTES} バイト）。",
                                        f"The request body is too large (limit {MAX_BODY_BYTES} bytes).")], "too_large")
        if request.method in ("POST", "PUT", "PATCH") and length is None:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return error_response(413, [Problem("body", "API-LIMIT", "リクエストが大きすぎます。",
                                                "The request body is too large.")], "too_large")
            request._body = body
        return await call_next(request)


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
        from_json(str | None, data.get(k), k)
    if not isinstance(data["change"], dict):
        raise InvalidInput(Problem("change", "REG-R2", "オブジェクトで指定してください。", "Must be an object."))
    return {
        "origin": origin,
        "legal_basis": data["legal_basis"],
        "effective_date": from_json(dt.date, data["effective_date"], "effective_date"),
        "notified_date": from_json(dt.date, data["notified_date"], "notified_date"),
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


FEATURES: tuple[str, ...] = ("verification", "certificates", "seals", "kiosk", "onestop", "receptions", "web", "jukinet",
                             "provision")
"""Modules under ``juki.api`` that each add a feature's routes: ``RULES`` and ``router(reg)`` (see
:mod:`juki.api.common`)."""


def create_app(register: Register | None = None) -> FastAPI:
    reg = register or Register()
    features = [importlib.import_module(f"juki.api.{name}") for name in FEATURES]
    rules: dict[str, Rule] = dict(RULES)
    for feature in features:
        rules.update(feature.RULES)

    @contextlib.asynccontextmanager
    async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if "audit_queue" in reg.__dict__:
            reg.audit_queue.flush()  # queued read entries are written before the server stops

    def guard(request: Request, authorization: Annotated[str | None, Header()] = None,
              terminal: Terminal = None) -> None:
        """Every route: the session (401), then the route's permission (403), from ``security.RULES``."""
        request.state.principal = None
        rule = rules[request.scope["route"].name]
        if rule == PUBLIC:
            return
        token = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else ""
        principal = reg.auth.authenticate(token, terminal or "")
        request.state.principal = principal
        if rule == AUTHENTICATED:
            return
        if not any(policy.can(principal, p) for p in permissions_of(rule)):
            raise policy.forbidden(permissions_of(rule)[0])

    app = FastAPI(
        title="juki 住民基本台帳 API",
        version=__version__,
        description="既存住基: 住民票・世帯・異動（届出・決裁）・履歴・検索。ログイン（パスワード＋ワンタイムパスワード、登録端末）後のセッションで呼び出します。"
                    " Errors name the field and the rule in Japanese and English.",
        dependencies=[Depends(guard)],
        lifespan=_lifespan,
    )
    app.add_middleware(_BodyLimit)
    app.state.register = reg
    app.state.rules = rules

    def audit_denial(request: Request, exc: Forbidden) -> None:
        principal = getattr(request.state, "principal", None)
        route = request.scope.get("route")
        user = principal.user_id if principal else (getattr(exc, "user_id", None) or "(未認証)")
        terminal = principal.terminal_id if principal else (request.headers.get("x-juki-terminal") or "(不明)")
        subjects = [v for k, v in request.path_params.items() if k == "person_id"]
        reg.audit.record_now(
            reg.engine, user_id=user, terminal=terminal[:64], session_id=principal.session_id if principal else None,
            action="login.denied" if route is not None and route.name == "login" else "access.denied",
            outcome="denied", subject_ids=subjects,
            detail={"method": request.method, "path": request.url.path, "rules": [p.rule for p in exc.problems]},
        )

    @app.exception_handler(JukiError)
    async def _jukierror_response(request: Request, exc: JukiError) -> JSONResponse:
        if isinstance(exc, Forbidden):
            audit_denial(request, exc)
            status = 401 if exc.kind == "unauthenticated" else 403
            return error_response(status, exc.problems, exc.kind)
        return refusal_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(".".join(str(x) for x in e["loc"][1:]) or "body", "API-VALIDATION",
                            "入力内容が正しくありません: " + e["msg"], e["msg"]) for e in exc.errors()]
        return error_response(422, problems, "invalid_input")

    # --- sessions ---------------------------------------------------------------------------------

    @app.post("/api/v1/auth/login", tags=["認証"], summary="ログイン（パスワード＋ワンタイムパスワード、登録端末のみ）", name="login")
    async def login(request: Request, terminal: Terminal = None, terminal_key: TerminalKey = None) -> dict[str, Any]:
        data = await json_body(request)
        unknown = sorted(set(data) - {"user_id", "password", "totp"})
        if unknown:
            raise InvalidInput([Problem(k, "SEC-1", "受け付けない項目です。", "This item is not accepted.") for k in unknown])
        user_id, password, code = (data.get(k) for k in ("user_id", "password", "totp"))
        if not (isinstance(user_id, str) and isinstance(password, str) and isinstance(code, str)
                and user_id and password and code):
            raise InvalidInput(Problem("body", "SEC-1", "利用者ID・パスワード・ワンタイムパスワードを入力してください。",
                                       "Give user_id, password and totp."))
        result = reg.auth.login(user_id, password, code, terminal or "", terminal_key or "")
        p = result.principal
        reg.audit.record_now(reg.engine, user_id=p.user_id, terminal=p.terminal_id, session_id=p.session_id,
                             action="login", detail={"roles": sorted(p.roles)})
        return {"token": result.token, "user_id": p.user_id, "section": p.section, "roles": sorted(p.roles),
                "permissions": sorted(p.permissions)}

    @app.post("/api/v1/auth/logout", tags=["認証"], summary="ログアウト", name="logout")
    def logout(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        token = request.headers["authorization"][7:].strip()
        reg.auth.logout(token)
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action="logout")
        return {"status": "logged_out"}

    @app.get("/api/v1/auth/me", tags=["認証"], summary="現在のセッション", name="me")
    def me(principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        return {"user_id": principal.user_id, "terminal_id": principal.terminal_id, "section": principal.section,
                "roles": sorted(principal.roles), "permissions": sorted(principal.permissions),
                "number_use": policy.may_see_number(principal)}

    # --- changes ----------------------------------------------------------------------------------

    def submit_route(kind: ChangeKind) -> None:
        spec = _change_schema(kind)
        defs = spec.pop("x-defs")

        async def submit(request: Request, principal: Principal_ = None) -> JSONResponse:
            assert principal is not None
            data = await json_body(request)
            env = _envelope(data)
            result = reg.changes.submit(kind, data["change"], actor=actor(principal), **env)
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

    @app.get("/api/v1/requests", tags=["決裁"], summary="決裁待ちの届出", name="pending")
    def pending(principal: Principal_ = None, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
        return [request_view(r) for r in reg.store.pending_requests(limit)]

    @app.get("/api/v1/requests/{request_id}", tags=["決裁"], summary="届出の内容と状態", name="get_request")
    def get_request(request_id: int, principal: Principal_ = None) -> dict[str, Any]:
        row = reg.store.request(request_id)
        if row is None:
            raise NotFound(Problem("request_id", "REG-R3", f"届出 {request_id} はありません。", f"There is no request {request_id}."))
        return request_view(row)

    @app.post("/api/v1/requests/{request_id}/approve", tags=["決裁"], summary="決裁（入力者以外の職員）", name="approve")
    def approve(request_id: int, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        result = reg.changes.approve(request_id, actor=actor(principal))
        o = result.outcome
        return {"request_id": request_id, "event_seq": result.event_seq, "kind": o.kind.value, "summary": o.summary_ja,
                "late": o.late, "person_ids": [p.person_id for p in o.persons],
                "household_ids": [h.household_id for h in o.households]}

    async def _reason(request: Request) -> str:
        data = await json_body(request)
        extra = sorted(set(data) - {"reason"})
        if extra:
            raise InvalidInput([Problem(k, "REG-R2", "受け付けない項目です。", "This item is not accepted.") for k in extra])
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise InvalidInput(Problem("reason", "REG-R3/reason", "理由を入力してください。", "A reason is required."))
        return reason

    @app.post("/api/v1/requests/{request_id}/return", tags=["決裁"], summary="差戻し（理由必須）", name="return_request")
    async def return_request(request_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        reg.changes.return_request(request_id, actor=actor(principal), reason=await _reason(request))
        return {"request_id": request_id, "status": "returned"}

    @app.post("/api/v1/requests/{request_id}/reject", tags=["決裁"], summary="却下（理由必須）", name="reject")
    async def reject(request_id: int, request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        reg.changes.reject(request_id, actor=actor(principal), reason=await _reason(request))
        return {"request_id": request_id, "status": "rejected"}

    # --- reads (each one audited) -----------------------------------------------------------------

    @app.get("/api/v1/persons/{person_id}", tags=["住民票"], summary="住民票（現在または指定日時点）", name="get_person")
    def get_person(person_id: str, as_of: AsOf = None, principal: Principal_ = None, requester_person_id: Req = None,
                   requester_name: ReqName = None, requester_kana: ReqKana = None, requester_birth_date: ReqBirth = None) -> dict[str, Any]:
        assert principal is not None
        return reg.reads.person(principal, person_id, as_of=as_of, requester=requester(
            requester_person_id, requester_name, requester_kana, requester_birth_date))

    @app.get("/api/v1/persons/{person_id}/history", tags=["住民票"], summary="住民票の履歴（異動ごと）", name="person_history")
    def person_history(person_id: str, principal: Principal_ = None) -> list[dict[str, Any]]:
        assert principal is not None
        return reg.reads.person_history(principal, person_id)

    @app.get("/api/v1/households/{household_id}", tags=["世帯"], summary="世帯（現在または指定日時点）", name="get_household")
    def get_household(household_id: str, as_of: AsOf = None, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        return reg.reads.household(principal, household_id, as_of=as_of)

    @app.get("/api/v1/households/{household_id}/history", tags=["世帯"], summary="世帯の履歴", name="household_history")
    def household_history(household_id: str, principal: Principal_ = None) -> list[dict[str, Any]]:
        assert principal is not None
        return reg.reads.household_history(principal, household_id)

    @app.get("/api/v1/search", tags=["検索"], summary="住民検索（かな・漢字前方一致、生年月日、住所、宛名番号、世帯番号、個人番号）", name="search")
    def search(
        principal: Principal_ = None,
        kana: str | None = None, name: str | None = None, birth_date: dt.date | None = None,
        address: str | None = None, person_id: str | None = None, household_id: str | None = None,
        individual_number: str | None = None, sex: Annotated[str | None, Query(pattern="^[12]$")] = None,
        include_removed: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 50,
        requester_person_id: Req = None, requester_name: ReqName = None, requester_kana: ReqKana = None,
        requester_birth_date: ReqBirth = None,
    ) -> list[dict[str, Any]]:
        assert principal is not None
        criteria = SearchCriteria(kana=kana, name=name, birth_date=birth_date, address=address, person_id=person_id,
                                  household_id=household_id, individual_number=individual_number, sex=sex,
                                  include_removed=include_removed, limit=limit)
        return reg.reads.search(principal, criteria, requester=requester(
            requester_person_id, requester_name, requester_kana, requester_birth_date))

    @app.get("/api/v1/health", tags=["運用"], summary="稼働確認", name="health")
    def health() -> dict[str, Any]:
        counts = reg.store.counts()
        return {"status": "ok", "municipality": reg.jurisdiction.name, "lg_code": reg.jurisdiction.lg_code,
                "residents": counts.residents, "households": counts.households, "removed": counts.removed}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False, name="home")
    def home() -> str:
        c = reg.store.counts()
        j = reg.jurisdiction
        return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>juki {j.name}</title></head>
<body><main><h1>juki 住民基本台帳システム — {j.name}（{j.lg_code}）</h1>
<p>住民 {c.residents:,} 人、世帯 {c.households:,}、除票 {c.removed:,}。</p>
<ul><li><a href="/docs">API（OpenAPI / Swagger UI）</a></li><li><a href="/openapi.json">/openapi.json</a></li>
<li><a href="/api/v1/health">/api/v1/health</a></li></ul>
<p><a href="/ui/">窓口画面</a>（登録端末のブラウザから）。API は <code>POST /api/v1/auth/login</code>（登録端末から、パスワードとワンタイムパスワード）で得たトークンで呼び出します。</p>
</main></body></html>"""

    for feature in features:
        app.include_router(feature.router(reg))
    check_rules([r.name for r in api_routes(app.routes)], rules)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(app.state.schema_defs)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
