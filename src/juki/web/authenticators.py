"""Authenticators at the counter (SEC-1 生体認証 / FIDO2 / WebAuthn): log in with one, register one, revoke one.

Login: the login form's second button (shown only when the browser offers WebAuthn) sends the user id and
password to ``/ui/login/authenticator``; the password is checked and a ceremony opened for this terminal
(:meth:`~juki.access.auth.AuthService.begin_authenticator_login`).  The next page asks the authenticator
(``navigator.credentials.get``, user verification required) when the user presses its button, and posts
the answer to ``/ui/login/authenticator/finish``.  Where the browser has no WebAuthn, the TOTP code works
as before.

Registration (``/ui/authenticators``): a logged-in user names the authenticator and gives the password
again; the next page has the authenticator make a credential (``navigator.credentials.create``).
Registrations, refusals and revocations are audited.  A user revokes their own; the system administrator
(``staff.manage``) sees everyone's and revokes any (``/ui/staff/authenticators``).

The origin and RP ID a ceremony expects are ``JUKI_WEB_ORIGIN`` / ``JUKI_WEBAUTHN_RP_ID`` when set, else
the origin the page was served from (:func:`relying_party`).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from juki.access.auth import AuthenticationFailed, EnrolmentRefused, Recorder
from juki.access.authenticators import AuthenticatorInfo, Ceremony, RelyingParty
from juki.api.common import Principal_
from juki.api.security import AUTHENTICATED, PUBLIC, Rule
from juki.config import Register
from juki.domain.errors import InvalidInput, JukiError, Problem

from .login import logged_in, login_form, login_refused, safe_next
from .pages import render

RULES: dict[str, Rule] = {
    "web_login_authenticator": PUBLIC,
    "web_login_authenticator_finish": PUBLIC,
    "web_authenticators": AUTHENTICATED,
    "web_authenticator_begin": AUTHENTICATED,
    "web_authenticator_finish": AUTHENTICATED,
    "web_authenticator_revoke_own": AUTHENTICATED,
    "web_staff_authenticators": "staff.manage",
    "web_staff_authenticator_revoke": "staff.manage",
}

FIELDS = {"label": "認証器の名前", "password": "パスワード", "authenticator": "認証器", "reason": "取消しの理由"}
REASONS = {"sign-count": "複製の疑い（署名カウンタが戻った）"}
"""Revocations juki makes by itself, in words."""


def relying_party(reg: Register, request: Request) -> RelyingParty:
    """The site a ceremony is for: the configured origin, else the one this page was served from."""
    origin = reg.settings.web_origin or f"{request.url.scheme}://{request.headers.get('host', '')}"
    try:
        return RelyingParty.of(origin, reg.settings.webauthn_rp_id)
    except ValueError:
        raise InvalidInput(Problem("authenticator", "SEC-1/webauthn-origin", "このサイトのアドレスでは認証器を使えません。",
                                   "Authenticators cannot be used at this site's address.")) from None


def _views(problems: tuple[Problem, ...] | list[Problem]) -> list[dict[str, Any]]:
    return [{"anchor": "f-" + (p.field if p.field in FIELDS else "authenticator"), "label": FIELDS.get(p.field, "認証器"),
             "ja": p.ja, "en": p.en, "rule": p.rule} for p in problems]


def _ceremony_page(request: Request, template: str, title: str, ceremony: Ceremony, **context: Any) -> Response:
    return render(request, template, title=title, options=json.dumps(ceremony.options), ceremony=ceremony.token,
                  **context)


def add_routes(r: APIRouter, reg: Register) -> None:
    """The routes of :data:`RULES`, on the web router ``r``."""

    # --- login --------------------------------------------------------------------------------------

    @r.post("/login/authenticator", name="web_login_authenticator")
    async def login_begin(request: Request) -> Response:
        got = await login_form(request, reg)
        if isinstance(got, Response):
            return got
        form = got.form
        user_id = str(form.get("user_id") or "").strip()
        try:
            ceremony = reg.auth.begin_authenticator_login(user_id, str(form.get("password") or ""), got.terminal_id,
                                                          got.terminal_key, relying_party(reg, request))
        except AuthenticationFailed as e:
            return login_refused(request, reg, e, user_id, form.get("next"), "webauthn")
        return _ceremony_page(request, "login_authenticator.html", "認証器で確認", ceremony, user_id=user_id,
                              next=safe_next(form.get("next")), terminal_id=got.terminal_id)

    @r.post("/login/authenticator/finish", name="web_login_authenticator_finish")
    async def login_finish(request: Request) -> Response:
        got = await login_form(request, reg)
        if isinstance(got, Response):
            return got
        form = got.form
        try:
            result = reg.auth.login_with_authenticator(str(form.get("ceremony") or ""), str(form.get("credential") or "{}"),
                                                       got.terminal_id, got.terminal_key)
        except AuthenticationFailed as e:
            return login_refused(request, reg, e, e.user_id or "", form.get("next"), "webauthn")
        return logged_in(reg, result, form.get("next"), "webauthn")

    # --- one's own authenticators -------------------------------------------------------------------

    def own_page(request: Request, principal: Any, problems: tuple[Problem, ...] | list[Problem] = (),
                 status: int = 200, label: str = "", message: str = "") -> Response:
        return render(request, "authenticators.html", status, title="認証器（生体認証）", items=reg.auth.authenticators(
            principal.user_id), problems=_views(problems), errors={p.field for p in problems}, label=label,
                      message=message, reasons=REASONS)

    def audit(principal: Any, action: str, outcome: str = "allowed", **detail: Any) -> None:
        reg.audit.record_now(reg.engine, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action=action, outcome=outcome, detail=detail)

    def recorder(principal: Any, action: str) -> Recorder:
        """The audit entry of a registration or revocation, written in its transaction."""
        def record(conn: Any, info: AuthenticatorInfo) -> None:
            detail: dict[str, Any] = {"credential_id": info.credential_id[:64], "owner": info.user_id,
                                      "label": info.label, "rp_id": info.rp_id}
            if action == "authenticator.revoke":
                detail["reason"] = info.revoke_reason
            else:
                detail["multi_device"] = info.multi_device
            reg.audit.record(conn, user_id=principal.user_id, terminal=principal.terminal_id,
                             session_id=principal.session_id, action=action, detail=detail)
        return record

    @r.get("/authenticators", name="web_authenticators")
    def own(request: Request, principal: Principal_ = None, done: str = "") -> Response:
        messages = {"registered": "認証器を登録しました。次回から「認証器でログイン」が使えます。", "revoked": "認証器の登録を取り消しました。"}
        return own_page(request, principal, message=messages.get(done, ""))

    @r.post("/authenticators", name="web_authenticator_begin")
    async def begin(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        label = str(form.get("label") or "").strip()
        try:
            ceremony = reg.auth.begin_authenticator_enrolment(principal, str(form.get("password") or ""),
                                                              relying_party(reg, request), label)
        except AuthenticationFailed as e:
            audit(principal, "authenticator.denied", "denied", rules=[p.rule for p in e.problems], step="password")
            if e.rule != "SEC-1/credentials":
                raise  # the session ended (e.g. that was the fifth wrong password): back to the login
            return own_page(request, principal, [Problem("password", e.rule, "パスワードが正しくありません。",
                                                         "The password is wrong.")], 401, label)
        except InvalidInput as e:
            return own_page(request, principal, e.problems, 422, label)
        return _ceremony_page(request, "authenticator_enrol.html", "認証器の登録", ceremony, label=label)

    @r.post("/authenticators/finish", name="web_authenticator_finish")
    async def finish(request: Request, principal: Principal_ = None) -> Response:
        assert principal is not None
        form = await request.form()
        label = str(form.get("label") or "")
        try:
            reg.auth.enrol_authenticator(principal, str(form.get("ceremony") or ""), str(form.get("credential") or "{}"),
                                         label, audit=recorder(principal, "authenticator.enrol"))
        except JukiError as e:
            if e.kind not in ("invalid_input", "conflict"):
                raise
            audit(principal, "authenticator.denied", "denied", rules=[p.rule for p in e.problems], step="register",
                  **(e.detail if isinstance(e, EnrolmentRefused) else {}))
            return own_page(request, principal, e.problems, 422, label)
        return RedirectResponse("/ui/authenticators?done=registered", status_code=303)

    async def revoke(request: Request, principal: Any, credential_id: str, owner: str | None) -> None:
        form = await request.form()
        reg.auth.revoke_authenticator(credential_id, actor=principal.user_id, reason=str(form.get("reason") or ""),
                                      owner=owner, audit=recorder(principal, "authenticator.revoke"))

    @r.post("/authenticators/{credential_id}/revoke", name="web_authenticator_revoke_own")
    async def revoke_own(request: Request, credential_id: str, principal: Principal_ = None) -> Response:
        assert principal is not None
        try:
            await revoke(request, principal, credential_id, principal.user_id)
        except InvalidInput as e:
            return own_page(request, principal, e.problems, 422)
        return RedirectResponse("/ui/authenticators?done=revoked", status_code=303)

    # --- the administrator's view -------------------------------------------------------------------

    def staff_page(request: Request, problems: tuple[Problem, ...] | list[Problem] = (), status: int = 200,
                   message: str = "") -> Response:
        return render(request, "staff_authenticators.html", status, title="認証器の管理", items=reg.auth.authenticators(),
                      problems=_views(problems), message=message, reasons=REASONS)

    @r.get("/staff/authenticators", name="web_staff_authenticators")
    def staff_list(request: Request, principal: Principal_ = None, done: str = "") -> Response:
        return staff_page(request, message="認証器の登録を取り消しました。" if done == "revoked" else "")

    @r.post("/staff/authenticators/{credential_id}/revoke", name="web_staff_authenticator_revoke")
    async def staff_revoke(request: Request, credential_id: str, principal: Principal_ = None) -> Response:
        assert principal is not None
        try:
            await revoke(request, principal, credential_id, None)
        except InvalidInput as e:
            return staff_page(request, e.problems, 422)
        return RedirectResponse("/ui/staff/authenticators?done=revoked", status_code=303)
