"""Authenticators at the counter over HTTP, on both engines (SEC-1 生体認証/FIDO2, SEC-2, SEC-3): a user registers
one in their session (password asked again), logs in with password + authenticator, a refused assertion is
shown at the authenticator button and audited, the administrator revokes a credential with a reason and a
user without that right sees no other's.  The authenticator is tests/softkey.py (the browser tests use
chromium's virtual one)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi.testclient import TestClient

from juki.domain.identifiers import individual_number_check_digit

from ..softkey import SoftKey
from .api_support import PASSWORD
from .test_web import browser, csrf, enrol, web_login

ORIGIN = "https://testserver"  # the origin the pages are served from (no JUKI_WEB_ORIGIN in tests)


def ceremony(page: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The options and hidden fields of a ceremony page."""
    options = json.loads(html.unescape(re.search(r'data-webauthn-options="([^"]+)"', page).group(1)))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return options, {k: html.unescape(v) for k, v in fields.items()}


def register(b: TestClient, token: str, key: SoftKey, label: str = "窓口1の指紋センサー") -> Any:
    page = b.post("/ui/authenticators", data={"csrf_token": token, "label": label, "password": PASSWORD})
    assert page.status_code == 200 and 'data-webauthn="create"' in page.text, page.text
    options, fields = ceremony(page.text)
    assert options["authenticatorSelection"]["userVerification"] == "required" and options["rp"]["id"] == "testserver"
    return b.post("/ui/authenticators/finish", data={**fields, "credential": json.dumps(key.create(options, ORIGIN))})


def begin_login(b: TestClient, user: str = "clerk") -> Any:
    token = csrf(b.get("/ui/login").text)
    return b.post("/ui/login/authenticator", data={"csrf_token": token, "user_id": user, "password": PASSWORD,
                                                   "next": "/ui/search"})


def test_register_then_log_in_with_the_authenticator(api):
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    own = b.get("/ui/authenticators")
    assert own.status_code == 200 and "登録済みの認証器はありません" in own.text
    key = SoftKey()
    r = register(b, token, key)
    assert r.status_code == 303 and r.headers["location"] == "/ui/authenticators?done=registered"
    listed = b.get(r.headers["location"]).text
    assert "認証器を登録しました" in listed and "窓口1の指紋センサー" in listed and "T001" in listed
    enrolled = api.audit("authenticator.enrol")
    assert [(e["user_id"], e["detail"]["label"]) for e in enrolled] == [("clerk", "窓口1の指紋センサー")]
    b.post("/ui/logout", data={"csrf_token": token})

    login = b.get("/ui/login").text
    assert 'formaction="/ui/login/authenticator"' in login and "data-webauthn-offer hidden" in login
    page = begin_login(b)
    assert page.status_code == 200 and 'data-webauthn="get"' in page.text
    options, fields = ceremony(page.text)
    assert options["userVerification"] == "required" and fields["next"] == "/ui/search"
    r = b.post("/ui/login/authenticator/finish", data={**fields, "credential": json.dumps(key.get(options, ORIGIN))})
    assert r.status_code == 303 and r.headers["location"] == "/ui/search"
    assert b.get("/ui/search").status_code == 200  # a session, bound to this terminal like any other
    logins = [e for e in api.audit("login") if e["user_id"] == "clerk"]
    assert [e["detail"]["factor"] for e in logins] == ["totp", "webauthn"]


def test_a_refused_assertion_is_shown_at_the_authenticator_and_audited(api):
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    key = SoftKey()
    register(b, token, key)
    b.post("/ui/logout", data={"csrf_token": token})
    options, fields = ceremony(begin_login(b).text)
    phished = key.get(options, "https://testserver.evil.example")  # relayed from a page of another origin
    r = b.post("/ui/login/authenticator/finish", data={**fields, "credential": json.dumps(phished)})
    assert r.status_code == 401 and "__Host-juki-session" not in r.headers.get("set-cookie", "")
    assert '<a href="#f-authenticator">認証器: 認証器で確認できませんでした' in r.text
    assert 'id="f-authenticator"' in r.text and "SEC-1/webauthn-origin" in r.text
    # the same ceremony once more, now with a good answer: it was used up by the refused one
    r = b.post("/ui/login/authenticator/finish", data={**fields, "credential": json.dumps(key.get(options, ORIGIN))})
    assert r.status_code == 401 and "SEC-1/webauthn-replay" in r.text
    denied = [e for e in api.audit("login.denied") if e["detail"].get("factor") == "webauthn"]
    assert [e["detail"]["rules"] for e in denied] == [["SEC-1/webauthn-origin"], ["SEC-1/webauthn-replay"]]
    assert denied[0]["user_id"] == "clerk" and denied[0]["detail"]["expected"] == ORIGIN
    # another browser (another registered terminal) cannot finish this browser's ceremony
    options, fields = ceremony(begin_login(b).text)
    other = browser(api)
    enrol(other, api, "T002")
    fields["csrf_token"] = csrf(other.get("/ui/login").text)
    r = other.post("/ui/login/authenticator/finish", data={**fields, "credential": json.dumps(key.get(options, ORIGIN))})
    assert r.status_code == 401 and "SEC-1/webauthn-terminal" in r.text


def test_registration_asks_the_password_and_a_name(api):
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    r = b.post("/ui/authenticators", data={"csrf_token": token, "label": "鍵", "password": "wrong password!"})
    assert r.status_code == 401 and '<a href="#f-password">' in r.text and 'aria-invalid="true"' in r.text
    r = b.post("/ui/authenticators", data={"csrf_token": token, "label": "", "password": PASSWORD})
    assert r.status_code == 422 and '<a href="#f-label">' in r.text
    assert b.post("/ui/authenticators/finish", data={"csrf_token": token, "ceremony": "x", "credential": "{}",
                                                     "label": "鍵"}).status_code == 422
    # a name the audit log cannot hold (it looks like a 個人番号): the registration and its entry go together
    number = "12345678901" + individual_number_check_digit("12345678901")
    r = register(b, token, SoftKey(), label=number)
    assert r.status_code == 422 and "SEC-3/no-individual-number" in r.text
    assert api.reg.auth.authenticators("clerk") == [] and api.audit("authenticator.enrol") == []
    rules = [e["detail"]["rules"] for e in api.audit("authenticator.denied")]
    assert rules == [["SEC-1/credentials"], ["SEC-1/webauthn-ceremony"], ["SEC-3/no-individual-number"]]
    assert begin_login(b, "chief").status_code == 401  # (chief has none registered) -- shown as such:
    assert "SEC-1/webauthn-none" in begin_login(b, "chief").text


def test_the_administrator_revokes_and_others_cannot(api):
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    key = SoftKey()
    register(b, token, key)
    cid = api.reg.auth.authenticators("clerk")[0].credential_id
    assert b.get("/ui/staff/authenticators").status_code == 403  # a clerk sees only their own
    assert b.post(f"/ui/staff/authenticators/{cid}/revoke", data={"csrf_token": token, "reason": "x"}).status_code == 403
    b.post("/ui/logout", data={"csrf_token": token})

    admin = browser(api)
    enrol(admin, api, "T002")
    admin_token = web_login(admin, api, "admin")
    listed = admin.get("/ui/staff/authenticators")
    assert listed.status_code == 200 and "clerk" in listed.text and "窓口1の指紋センサー" in listed.text
    r = admin.post(f"/ui/staff/authenticators/{cid}/revoke", data={"csrf_token": admin_token, "reason": " "})
    assert r.status_code == 422 and "取消しの理由を入力してください" in r.text
    r = admin.post(f"/ui/staff/authenticators/{cid}/revoke", data={"csrf_token": admin_token, "reason": "端末の紛失"})
    assert r.status_code == 303
    assert "取消し済み" in admin.get("/ui/staff/authenticators").text
    [revoked] = api.audit("authenticator.revoke")
    assert revoked["user_id"] == "admin" and revoked["detail"]["owner"] == "clerk" and revoked["detail"]["reason"] == "端末の紛失"
    r = begin_login(b)
    assert r.status_code == 401 and "SEC-1/webauthn-none" in r.text and '<a href="#f-authenticator">' in r.text
    # a user revokes only their own, through their own page
    token = web_login(b, api, "clerk")
    assert b.post(f"/ui/authenticators/{cid}/revoke", data={"csrf_token": token, "reason": "x"}).status_code == 422
    chief = browser(api)
    enrol(chief, api, "T002")
    chief_token = web_login(chief, api, "chief")
    other_key = SoftKey()
    register(chief, chief_token, other_key)
    other_id = api.reg.auth.authenticators("chief")[0].credential_id
    assert b.post(f"/ui/authenticators/{other_id}/revoke", data={"csrf_token": token, "reason": "x"}).status_code == 404
    assert api.reg.auth.authenticators("chief")[0].active
