"""Rendering: the Jinja2 templates (autoescaped), the page chrome (menu by permission, the lock timer),
error pages and the lock screen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from juki.access import policy
from juki.access.model import Principal
from juki.api.security import AUTHENTICATED, PUBLIC, permissions_of
from juki.clock import JST
from juki.domain.errors import JukiError

from .session import WebContext, web_context

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

MENU: tuple[tuple[str, str], ...] = (
    ("web_home", "ホーム"),
    ("web_search", "住民検索"),
    ("web_receptions", "総合窓口"),
    ("web_changes", "届出の受付"),
    ("web_requests", "決裁"),
    ("web_onestop", "引越しワンストップ"),
    ("web_certificates", "証明書の交付"),
    ("web_inquiry", "総合照会"),
    ("web_audit", "監査"),
    ("web_rights", "権限管理"),
    ("web_staff_authenticators", "認証器の管理"),
)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make the browser send Origin: null
    "Cache-Control": "no-store",  # pages show residents' records: never kept in a cache
    "X-Frame-Options": "DENY",
}


def may(request: Request, route_name: str) -> bool:
    """Whether the user may open ``route_name`` (its rule in the app's RULES): the menu and buttons show
    only what the user may do, so no screen ends in a refusal."""
    rule = request.app.state.rules.get(route_name)
    if rule is None:
        return False
    if rule == PUBLIC:
        return True
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return False
    return rule == AUTHENTICATED or any(policy.can(principal, p) for p in permissions_of(rule))


def jst(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return str(value.astimezone(JST).strftime("%Y-%m-%d %H:%M"))
    return str(value)


templates.env.filters["jst"] = jst


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    reg = request.app.state.register
    web: WebContext = web_context(request)
    principal = getattr(request.state, "principal", None)
    menu = [(n, label, request.url_for(n).path) for n, label in MENU
            if n in request.app.state.rules and may(request, n)] if principal else []
    base = {
        "request": request, "principal": principal, "csrf": web.csrf, "menu": menu, "may": lambda n: may(request, n),
        "municipality": reg.jurisdiction.name, "lg_code": reg.jurisdiction.lg_code,
        "lock_after": int(reg.auth.policy.screen_lock_after.total_seconds()),
        "number_use": policy.may_see_number(principal) if principal else False,
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


async def error_page(request: Request, error: JukiError, status: int) -> Response:
    titles = {403: "この操作はできません", 404: "見つかりません", 409: "処理できませんでした", 422: "入力内容を確認してください"}
    return render(request, "error.html", status, title=titles.get(status, "エラー"), problems=error.problems)


async def lock_page(request: Request, state: Any) -> Response:
    return render(request, "lock.html", 423, title="画面ロック中", user_id=state.user_id, lock_screen=True,
                  next=(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                  if request.method == "GET" else "/ui/")
