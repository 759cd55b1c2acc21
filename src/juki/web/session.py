"""The browser side of a counter session (SEC-1): cookies, the registered terminal, CSRF, the screen lock.

How a browser becomes a registered terminal (登録端末)
    The system administrator registers the terminal (``juki terminal register T001 …``, which prints the
    terminal key once), opens ``/ui/terminal`` in that browser and enters the terminal id and key.  The
    server checks them and stores them in the **terminal cookie** ``__Host-juki-terminal`` (HttpOnly,
    Secure, SameSite=Strict, 400 days).  Every login and every page presents it; a revoked terminal or a
    wrong key sends the browser back to ``/ui/terminal``.

The session
    Logging in (password + TOTP, :meth:`juki.access.auth.AuthService.login`, the same as the API) puts
    the bearer token in the **session cookie** ``__Host-juki-session`` (HttpOnly, Secure, SameSite=Strict,
    no expiry: it goes with the browser).  For each request to a web route :class:`WebRoute` turns the two
    cookies into the ``Authorization`` and ``X-Juki-Terminal`` headers the API uses, so the app-wide guard
    checks the session, its terminal and the route's rule exactly as for the API, and the same error
    handler audits a refusal.  A request that already carries ``Authorization`` (an API client) passes
    through unchanged.

CSRF
    Every form carries a token: HMAC-SHA256 of a fixed label under the session token (after login) or
    under the random ``__Host-juki-csrf`` cookie (before login).  A cookie-borne POST without the right
    token, or from another origin, is refused (``SEC-1/csrf``) and audited.  ``__Host-`` cookies cannot be
    set by a sibling sub-domain, and SameSite=Strict keeps them off cross-site requests altogether.

The screen lock (画面ロック)
    After ``AuthPolicy.screen_lock_after`` (5 min) without a request the screen locks: the page's script
    covers it at that moment, and the server refuses every page (showing the lock screen) until the user
    enters the password again (:meth:`~juki.access.auth.AuthService.confirm_password`).  The lock is
    stored (``screen_locks``), so reloading the page does not lift it.  After ``idle_timeout`` (15 min)
    the session itself ends (automatic logout).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from juki.access.auth import AuthenticationFailed, token_hash
from juki.access.tables import sessions, terminals
from juki.adapters.db.counter import screen_locks
from juki.adapters.db.engine import read_only
from juki.api.common import STATUS
from juki.config import Register
from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, Problem, RuleViolation

SESSION_COOKIE = "__Host-juki-session"
TERMINAL_COOKIE = "__Host-juki-terminal"
CSRF_COOKIE = "__Host-juki-csrf"
TERMINAL_MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-juki-csrf"
LOGIN_PATH = "/ui/login"
TERMINAL_PATH = "/ui/terminal"
UNLOCKED_ROUTES = frozenset({"web_unlock", "web_logout", "web_lock"})
"""Routes that work while the screen is locked."""


def csrf_token(secret: str) -> str:
    mac = hmac.new(secret.encode(), b"juki-web-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


@dataclass
class WebContext:
    """What the web layer knows about the browser behind one request."""

    token: str | None  # the session cookie
    terminal_id: str | None  # from the terminal cookie
    terminal_key: str | None
    pre_csrf: str | None  # the pre-login CSRF cookie
    new_pre_csrf: str | None = None  # set on the response when the browser had none

    @classmethod
    def of(cls, request: Request) -> WebContext:
        raw = request.cookies.get(TERMINAL_COOKIE, "")
        tid, _, key = raw.partition(":")
        return cls(request.cookies.get(SESSION_COOKIE) or None, tid or None, key or None,
                   request.cookies.get(CSRF_COOKIE) or None)

    @property
    def csrf(self) -> str:
        """The token this browser's forms carry."""
        if self.token:
            return csrf_token(self.token)
        if not self.pre_csrf:
            self.pre_csrf = self.new_pre_csrf = secrets.token_urlsafe(32)
        return csrf_token(self.pre_csrf)

    def csrf_ok(self, given: str | None) -> bool:
        secrets_ = [s for s in (self.token, self.pre_csrf) if s]
        return bool(given) and any(hmac.compare_digest(csrf_token(s), given or "") for s in secrets_)


def web_context(request: Request) -> WebContext:
    ctx = getattr(request.state, "web", None)
    if ctx is None:
        ctx = request.state.web = WebContext.of(request)
    assert isinstance(ctx, WebContext)
    return ctx


# --- terminal and lock state ---------------------------------------------------------------------


def terminal_ok(reg: Register, terminal_id: str | None, key: str | None) -> bool:
    """Whether the terminal cookie names a registered, unrevoked terminal with its right key."""
    if not terminal_id or not key:
        return False
    with read_only(reg.engine.connect()) as conn:
        row = conn.execute(sa.select(terminals.c.credential_hash, terminals.c.revoked_at)
                           .where(terminals.c.terminal_id == terminal_id)).first()
    digest = hashlib.sha256(key.encode()).hexdigest()
    return row is not None and row.revoked_at is None and hmac.compare_digest(row.credential_hash, digest)


@dataclass(frozen=True)
class LockState:
    user_id: str
    session_id: str
    locked: bool
    expired: bool  # past the idle timeout or ended: the guard refuses it


def lock_state(reg: Register, token: str) -> LockState | None:
    sid = token_hash(token)
    with read_only(reg.engine.connect()) as conn:
        sess = conn.execute(sa.select(sessions).where(sessions.c.session_id == sid)).first()
        if sess is None:
            return None
        last = conn.execute(sa.select(screen_locks.c.action).where(screen_locks.c.session_id == sid)
                            .order_by(screen_locks.c.lock_id.desc()).limit(1)).scalar()
    now = _aware(reg.now())
    idle = now - sess.last_seen_at
    expired = sess.ended_at is not None or idle >= reg.auth.policy.idle_timeout or now >= sess.expires_at
    locked = last == "lock" or idle >= reg.auth.policy.screen_lock_after
    if locked and last != "lock" and not expired:
        record_lock(reg, sid, sess.user_id, sess.terminal_id, "lock", "idle")
    return LockState(sess.user_id, sid, locked, expired)


def record_lock(reg: Register, session_id: str, user_id: str, terminal_id: str, action: str, reason: str) -> None:
    """A lock or unlock of the screen, with its audit entry, in one transaction."""
    with reg.engine.begin() as conn:
        conn.execute(screen_locks.insert().values(session_id=session_id, action=action, reason=reason,
                                                  at=reg.now()))
        reg.audit.record(conn, user_id=user_id, terminal=terminal_id, session_id=session_id,
                         action=f"screen.{action}", detail={"reason": reason})


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


# --- the route class -----------------------------------------------------------------------------


Renderer = Callable[[Request, JukiError, int], Awaitable[Response]]


def _login_redirect(request: Request, problem: Problem | None = None) -> RedirectResponse:
    target = LOGIN_PATH
    if problem is not None:
        target += "?reason=" + quote(problem.rule)
    if request.method == "GET" and request.url.path != LOGIN_PATH:
        target += ("&" if "?" in target else "?") + "next=" + quote(request.url.path + (
            "?" + request.url.query if request.url.query else ""))
    return RedirectResponse(target, status_code=303)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


class WebRoute(APIRoute):
    """A web page: the cookies become the API's credentials, CSRF and the screen lock are checked, and
    refusals are shown as pages.  ``public`` pages (login, terminal registration) need no session."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        name = self.name

        async def handler(request: Request) -> Response:
            if request.headers.get("authorization"):
                return await inner(request)  # an API client: the API's rules and errors, unchanged
            reg: Register = request.app.state.register
            rules = request.app.state.rules
            from .pages import error_page, lock_page  # the templates need the routes' names

            web = web_context(request)
            public = rules[name] == "public"
            if request.method not in ("GET", "HEAD") and not (_same_origin(request) and web.csrf_ok(
                    await _posted_csrf(request))):
                problem = Problem(CSRF_FIELD, "SEC-1/csrf", "画面の有効期限が切れたか、不正な送信です。画面を開き直してください。",
                                  "The form expired or did not come from this site; open the page again.")
                await _audit_refusal(request, Forbidden(problem))
                return await error_page(request, Forbidden(problem), 403)
            if not public:
                if not terminal_ok(reg, web.terminal_id, web.terminal_key):
                    return RedirectResponse(TERMINAL_PATH, status_code=303)
                if web.token is None:
                    return _login_redirect(request)
                state = lock_state(reg, web.token)
                if state is not None and state.locked and not state.expired and name not in UNLOCKED_ROUTES:
                    return await lock_page(request, state)
                _set_credentials(request, web.token, web.terminal_id or "")
            try:
                response = await inner(request)
            except AuthenticationFailed as e:
                await _audit_refusal(request, e)
                response = _login_redirect(request, e.problems[0])
                clear_cookie(response, SESSION_COOKIE)
            except Forbidden as e:
                await _audit_refusal(request, e)
                response = await error_page(request, e, 403)
            except (NotFound, Conflict, InvalidInput, RuleViolation) as e:
                response = await error_page(request, e, STATUS.get(type(e), 422))
            if web.new_pre_csrf:
                set_cookie(response, CSRF_COOKIE, web.new_pre_csrf)
            return response

        return handler


async def _posted_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _set_credentials(request: Request, token: str, terminal_id: str) -> None:
    headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"authorization", b"x-juki-terminal")]
    headers += [(b"authorization", f"Bearer {token}".encode()), (b"x-juki-terminal", terminal_id.encode())]
    request.scope["headers"] = headers
    request.__dict__.pop("_headers", None)


async def _audit_refusal(request: Request, exc: Forbidden) -> Any:
    """The app's own error handler audits the refusal (the page shown instead is the web's)."""
    handler = request.app.exception_handlers[JukiError]
    return await handler(request, exc)
