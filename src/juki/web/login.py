"""What every way of logging in at the counter shares: where to go next, the refused login page (each
problem at its field, audited), and a successful login (audited, the session cookie set)."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from juki.access.auth import AuthenticationFailed, Login
from juki.config import Register

from .pages import render
from .session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    TERMINAL_PATH,
    clear_cookie,
    set_cookie,
    terminal_ok,
    web_context,
)

FIELDS = {"user_id": "利用者ID", "password": "パスワード", "totp_code": "ワンタイムパスワード", "authenticator": "認証器"}
"""The login form's fields; a problem of another field (terminal, token) is shown at the user id."""


class LoginForm(NamedTuple):
    """A login step posted from a registered terminal: the form and the terminal's credential."""

    form: FormData
    terminal_id: str
    terminal_key: str


async def login_form(request: Request, reg: Register) -> LoginForm | Response:
    """The posted form of a login step, or (when this browser is not a registered terminal) the redirect
    to the terminal registration."""
    web = web_context(request)
    if not terminal_ok(reg, web.terminal_id, web.terminal_key):
        return RedirectResponse(TERMINAL_PATH, status_code=303)
    return LoginForm(await request.form(), web.terminal_id or "", web.terminal_key or "")


def safe_next(value: Any) -> str:
    """Only a path of this site's UI (no open redirect)."""
    text = str(value or "")
    parts = urlsplit(text)
    return text if text.startswith("/ui/") and not parts.netloc and not parts.scheme and "//" not in text else "/ui/"


def login_refused(request: Request, reg: Register, e: AuthenticationFailed, user_id: str, next_: Any,
                  factor: str) -> Response:
    """Audit the refusal (``login.denied`` with its rules) and show the login page with each problem at
    its field."""
    web = web_context(request)
    reg.audit.record_now(reg.engine, user_id=e.user_id or user_id[:64] or "(未認証)",
                         terminal=(web.terminal_id or "(不明)")[:64], action="login.denied", outcome="denied",
                         detail={"rules": [p.rule for p in e.problems], "via": "web", "factor": factor, **e.detail})
    views = [{"anchor": "f-" + (p.field if p.field in FIELDS else "user_id"), "label": FIELDS.get(p.field, "利用者ID"),
              "ja": p.ja, "en": p.en, "rule": p.rule} for p in e.problems]
    return render(request, "login.html", 401, title="ログイン", terminal_id=web.terminal_id, problems=views,
                  errors={p.field: p for p in e.problems}, user_id=user_id, message="", next=safe_next(next_))


def logged_in(reg: Register, result: Login, next_: Any, factor: str) -> Response:
    """Audit the login and hand the browser its session cookie (the pre-login CSRF cookie is done with)."""
    p = result.principal
    reg.audit.record_now(reg.engine, user_id=p.user_id, terminal=p.terminal_id, session_id=p.session_id,
                         action="login", detail={"roles": sorted(p.roles), "via": "web", "factor": factor})
    response = RedirectResponse(safe_next(next_), status_code=303)
    set_cookie(response, SESSION_COOKIE, result.token)
    clear_cookie(response, CSRF_COOKIE)
    return response
