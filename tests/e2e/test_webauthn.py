"""WebAuthn (SEC-1 生体認証/FIDO2) in a real browser: chromium's virtual authenticator (CDP ``WebAuthn``, with
user verification) registers a credential at the counter and logs in with it instead of the TOTP code;
then the refusals a real attacker would try: an answer posted again (replay), an answer made on a page of
another origin (phishing) or for another site's RP ID, a cloned authenticator whose counter went
backwards, and a credential the administrator revoked while the login was waiting.  Where the browser has
no WebAuthn, the login page offers the TOTP code only."""

from __future__ import annotations

import dataclasses
import http.server
import json
import re
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from juki.access.authenticators import aaguid_for_log, parse_aaguids

from .conftest import PASSWORD, Site, check, enrol_terminal, login, logout

WEBAUTHN_JS = (Path(__file__).resolve().parents[2] / "src" / "juki" / "web" / "static" / "webauthn.js").read_text()
VIRTUAL = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
           "isUserVerified": True, "automaticPresenceSimulation": True}


class Authenticators:
    """The page's virtual authenticators (CDP WebAuthn domain)."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.current = self.add()

    def add(self, transport: str = "internal") -> str:
        """Chrome allows one built-in ("internal") authenticator at a time; others are security keys."""
        options = {**VIRTUAL, "transport": transport}
        return str(self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"])

    def credentials(self, authenticator: str | None = None) -> list[dict[str, Any]]:
        return list(self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator or self.current})["credentials"])

    def copy_to_new(self, credential: dict[str, Any], transport: str = "internal", **changes: Any) -> str:
        """Another authenticator holding a copy of ``credential`` (its private key), changed by ``changes``."""
        other = self.add(transport)
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": other, "credential": {**credential, **changes}})
        return other

    def remove(self, authenticator: str) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})


@pytest.fixture
def authenticators(page: Any) -> Authenticators:
    return Authenticators(page)


@pytest.fixture
def hostile() -> Iterator[int]:
    """A web server of someone else's (a blank page), on its own port: another origin."""

    class Blank(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write("<!doctype html><html lang=ja><title>ログイン</title><p>ログイン</p>".encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = socketserver.TCPServer(("127.0.0.1", 0), Blank)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def register(page: Any, site: Site, label: str = "窓口1の指紋センサー", *, shots: bool = False) -> None:
    """The logged-in user registers the page's authenticator through the UI."""
    page.get_by_role("link", name="認証器", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/authenticators"))
    if shots:
        check(page, "authenticators")
    page.get_by_label("認証器の名前").fill(label)
    page.get_by_label("パスワード（確認のため）").fill(PASSWORD)
    page.get_by_role("button", name="次へ（認証器で登録）").click()
    page.wait_for_selector("form[data-webauthn=create]")
    if shots:
        check(page, "authenticator-enrol")
    page.get_by_role("button", name="認証器で登録する").click()
    page.wait_for_url(re.compile(r"done=registered"))


def begin_authenticator_login(page: Any, site: Site, user: str = "clerk", *, shot: str | None = None) -> None:
    page.goto(site.url + "/ui/login")
    page.get_by_label("利用者ID").fill(user)
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    if shot:
        check(page, shot)
    page.get_by_role("button", name="認証器でログイン（ワンタイムパスワード不要）").click()
    page.wait_for_selector("form[data-webauthn=get]")


def ceremony_fields(page: Any) -> tuple[dict[str, Any], dict[str, str]]:
    options = json.loads(page.get_attribute("form[data-webauthn]", "data-webauthn-options"))
    fields = {n: page.get_attribute(f"form[data-webauthn] input[name={n}]", "value")
              for n in ("csrf_token", "ceremony", "next")}
    return options, fields


def post_form(page: Any, action: str, fields: dict[str, str]) -> None:
    """Submit a form the page builds (as a script on a page of that site would), and wait for the answer."""
    with page.expect_navigation():
        page.evaluate("""([action, fields]) => {
            const f = document.createElement('form'); f.method = 'post'; f.action = action;
            for (const [k, v] of Object.entries(fields)) {
                const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f); f.submit();
        }""", [action, fields])


def denied_details(site: Site) -> list[dict[str, Any]]:
    """The login refusals' audit details, oldest first (shown when a test fails)."""
    site.reg.audit_queue.flush()
    with site.reg.engine.connect() as c:
        return [json.loads(d) for d in c.execute(sa.text(
            "SELECT detail FROM audit_entries WHERE action = 'login.denied' ORDER BY seq")).scalars()]


def denied_rules(site: Site) -> list[str]:
    return [r for d in denied_details(site) for r in d["rules"]]


def test_register_an_authenticator_and_log_in_with_it(page, site, authenticators):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    register(page, site, shots=True)
    check(page, "authenticators-registered")
    assert "窓口1の指紋センサー" in page.inner_text("main") and "有効" in page.inner_text("main")
    [credential] = authenticators.credentials()
    assert credential["rpId"] == "localhost" and not credential["isResidentCredential"]
    logout(page)
    # password, then the authenticator (fingerprint, face or PIN on the device), from the keyboard
    begin_authenticator_login(page, site, shot="login-webauthn")
    check(page, "login-authenticator")
    expect(page.get_by_role("button", name="認証器で確認する")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/$"))
    assert "clerk" in page.inner_text("header")
    assert authenticators.credentials()[0]["signCount"] == 2
    site.reg.audit_queue.flush()
    with site.reg.engine.connect() as c:
        factors = [json.loads(d)["factor"] for d in c.execute(sa.text(
            "SELECT detail FROM audit_entries WHERE action = 'login' AND user_id = 'clerk' ORDER BY seq")).scalars()]
        enrolled = c.execute(sa.text("SELECT count(*) FROM audit_entries WHERE action = 'authenticator.enrol'")).scalar()
    assert factors == ["totp", "webauthn"] and enrolled == 1


def test_an_answer_posted_again_is_refused(page, site, authenticators):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    register(page, site)
    logout(page)
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.post_data) if r.url.endswith("/login/authenticator/finish") else None)
    begin_authenticator_login(page, site)
    page.get_by_role("button", name="認証器で確認する").click()
    page.wait_for_url(re.compile(r"/ui/$"))
    logout(page)
    captured = dict(parse_qsl(posted[0]))
    assert json.loads(captured["credential"])["response"]["signature"]
    page.goto(site.url + "/ui/login")
    captured["csrf_token"] = page.get_attribute("input[name=csrf_token]", "value")  # a fresh form, the old answer
    post_form(page, "/ui/login/authenticator/finish", captured)
    assert "認証器で確認できませんでした" in page.inner_text("#error-summary")
    assert page.get_by_role("button", name="ログイン", exact=True).is_visible()  # not logged in
    assert denied_rules(site) == ["SEC-1/webauthn-replay"]


def test_an_answer_made_on_another_origin_or_for_another_site_is_refused(page, site, authenticators, hostile):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    register(page, site)
    logout(page)
    [credential] = authenticators.credentials()
    # a phishing page on another origin (same host name, other port) asks this user's authenticator, with
    # the challenge of a login it started at the real site, and relays the answer
    for where, rp_id in ((f"http://localhost:{hostile}", None), (f"http://evil.localhost:{hostile}", "evil.localhost")):
        begin_authenticator_login(page, site)
        options, fields = ceremony_fields(page)
        page.goto(where + "/")
        page.add_script_tag(content=WEBAUTHN_JS)
        if rp_id:  # another site can only use a credential made for it: a copy of the key, for its RP ID
            authenticators.copy_to_new(credential, "usb", rpId=rp_id)
            options["rpId"] = rp_id
            options["allowCredentials"] = [{"id": c["id"], "type": "public-key"} for c in options["allowCredentials"]]
        answer = page.evaluate("([o]) => window.jukiWebAuthn.run('get', o)", [options])
        assert json.loads(answer)["id"] == options["allowCredentials"][0]["id"]
        page.goto(site.url + "/ui/login")
        post_form(page, "/ui/login/authenticator/finish", {**fields, "credential": answer})
        assert "認証器で確認できませんでした" in page.inner_text("#error-summary")
    check(page, "login-authenticator-refused")
    page.click("#error-summary a[href='#f-authenticator']")
    assert denied_rules(site) == ["SEC-1/webauthn-origin", "SEC-1/webauthn-rp-id"]
    # the real page still works with the real authenticator
    begin_authenticator_login(page, site)
    page.get_by_role("button", name="認証器で確認する").click()
    page.wait_for_url(re.compile(r"/ui/$"))


def test_a_cloned_authenticator_is_refused_and_the_credential_revoked(page, site, authenticators):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    register(page, site)
    logout(page)
    [copied] = authenticators.credentials()  # the key copied off the device at counter 1
    for _ in range(2):  # the original goes on being used: its counter reaches 3
        begin_authenticator_login(page, site)
        page.get_by_role("button", name="認証器で確認する").click()
        page.wait_for_url(re.compile(r"/ui/$"))
        logout(page)
    original = authenticators.current
    authenticators.remove(original)
    authenticators.current = authenticators.copy_to_new(copied)  # the clone answers with counter 2
    begin_authenticator_login(page, site)
    page.get_by_role("button", name="認証器で確認する").click()
    page.wait_for_selector("#error-summary")
    assert "複製された疑いがあるため、登録を取り消しました" in page.inner_text("#error-summary"), denied_details(site)
    check(page, "login-authenticator-cloned")
    assert denied_rules(site) == ["SEC-1/webauthn-sign-count"]
    login(page, site, "clerk")  # the one-time code still works
    page.goto(site.url + "/ui/authenticators")
    assert "取消し済み" in page.inner_text("main") and "複製の疑い" in page.inner_text("main")


def test_a_credential_revoked_while_the_login_waits_is_refused(page, site, authenticators, browser):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    register(page, site)
    logout(page)
    begin_authenticator_login(page, site)  # the clerk's login waits at the authenticator step
    admin_context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    try:
        enrol_terminal(admin, site, "T002")
        login(admin, site, "admin")
        admin.get_by_role("link", name="認証器の管理").click()
        check(admin, "staff-authenticators")
        admin.get_by_label("取消しの理由").fill("端末の紛失届による")
        admin.get_by_role("button", name="登録を取り消す（clerk の 窓口1の指紋センサー）").click()
        admin.wait_for_url(re.compile(r"done=revoked"))
        assert "取消し済み" in admin.inner_text("main") and "端末の紛失届による" in admin.inner_text("main")
        check(admin, "staff-authenticators-revoked")
    finally:
        admin_context.close()
    page.get_by_role("button", name="認証器で確認する").click()
    page.wait_for_selector("#error-summary")
    assert "この認証器の登録は取り消されています" in page.inner_text("#error-summary")
    begin = site.url + "/ui/login"
    page.goto(begin)
    page.get_by_label("利用者ID").fill("clerk")
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="認証器でログイン（ワンタイムパスワード不要）").click()
    page.wait_for_selector("#error-summary")
    assert "認証器が登録されていません" in page.inner_text("#error-summary")
    assert denied_rules(site) == ["SEC-1/webauthn-revoked", "SEC-1/webauthn-none"]


def test_without_webauthn_the_login_offers_the_one_time_code(browser, site):
    context = browser.new_context(locale="ja-JP")
    context.add_init_script("delete window.PublicKeyCredential")
    page = context.new_page()
    try:
        enrol_terminal(page, site)
        page.goto(site.url + "/ui/login")
        assert page.locator("#f-authenticator").is_hidden()
        assert page.locator("[data-webauthn-offer]").first.is_hidden()
        login(page, site, "clerk")
        page.goto(site.url + "/ui/authenticators")
        assert "認証器を登録する" in page.inner_text("main")
    finally:
        context.close()


CHROMIUM_VIRTUAL_AAGUID = "01020304-0506-0708-0102-030405060708"
"""The AAGUID chromium's virtual authenticator reports (device/fido's test AAGUID)."""


def allow_only(site: Site, *aaguids: str) -> None:
    """The operator's setting JUKI_WEBAUTHN_AAGUIDS, as the running server reads it."""
    site.reg.auth.policy = dataclasses.replace(site.reg.auth.policy, webauthn_aaguids=parse_aaguids(",".join(aaguids)))


def test_an_allowed_make_of_authenticator_is_registered(page, site, authenticators):
    allow_only(site, CHROMIUM_VIRTUAL_AAGUID, "6d44ba9b-f6ec-2e49-b930-0c8fe920cb73")
    enrol_terminal(page, site)
    login(page, site, "clerk")
    register(page, site)
    assert "有効" in page.inner_text("main")
    [item] = site.reg.auth.authenticators("clerk")
    assert item.aaguid == CHROMIUM_VIRTUAL_AAGUID


def test_a_make_of_authenticator_not_on_the_list_is_refused_and_audited(page, site, authenticators):
    allow_only(site, "6d44ba9b-f6ec-2e49-b930-0c8fe920cb73")  # only the city's issued security keys
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.get_by_role("link", name="認証器", exact=True).click()
    page.get_by_label("認証器の名前").fill("私物の鍵")
    page.get_by_label("パスワード（確認のため）").fill(PASSWORD)
    page.get_by_role("button", name="次へ（認証器で登録）").click()
    page.get_by_role("button", name="認証器で登録する").click()
    page.wait_for_selector("#error-summary")
    check(page, "authenticator-refused-make")
    summary = page.inner_text("#error-summary")
    site.reg.audit_queue.flush()
    with site.reg.engine.connect() as c:
        [(outcome, detail)] = c.execute(sa.text(
            "SELECT outcome, detail FROM audit_entries WHERE action = 'authenticator.denied'")).all()
    assert f"この認証器の機種（AAGUID {CHROMIUM_VIRTUAL_AAGUID}）は、登録が認められていません" in summary, detail
    assert "is not allowed" in summary
    assert site.reg.auth.authenticators("clerk") == []
    assert outcome == "denied" and json.loads(detail) == {
        "rules": ["SEC-1/webauthn-aaguid"], "step": "register", "aaguid": aaguid_for_log(CHROMIUM_VIRTUAL_AAGUID),
        "attestation": json.loads(detail)["attestation"]}
