"""The counter UI over HTTP, on both engines (CTR-1, CTR-3, SEC-1, SEC-2, SEC-3): every page is under the
same rules as the API, forms need their CSRF token, a session is bound to the browser's registered
terminal, and the 引越しワンストップ queue runs from the API to a completed change."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from juki.access.roles import ROLE_PERMISSIONS
from juki.api.security import AUTHENTICATED, PUBLIC, api_routes, permissions_of
from juki.services.staffing import DEMO_STAFF
from juki.web.routes import RULES

from ..unit.registry import address, chiba_address
from .api_support import PASSWORD


def browser(api: Any) -> TestClient:
    """A browser: https (the cookies are Secure), following no redirects by itself."""
    return TestClient(api.client.app, base_url="https://testserver", follow_redirects=False)


def csrf(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def enrol(b: TestClient, api: Any, terminal: str = "T001") -> None:
    token = csrf(b.get("/ui/terminal").text)
    r = b.post("/ui/terminal", data={"csrf_token": token, "terminal_id": terminal,
                                     "terminal_key": api.staff.terminal_keys[terminal]})
    assert r.status_code == 303, r.text


def web_login(b: TestClient, api: Any, user: str) -> str:
    token = csrf(b.get("/ui/login").text)
    r = b.post("/ui/login", data={"csrf_token": token, "user_id": user, "password": PASSWORD, "totp_code": api.totp(user)})
    assert r.status_code == 303, r.text
    api.clock.advance(seconds=30)
    return csrf(b.get("/ui/").text)


def web_routes(api: Any) -> list[Any]:
    return [r for r in api_routes(api.client.app.routes) if r.name in RULES]


def test_every_page_as_every_role_follows_the_rules(api):
    routes = web_routes(api)
    assert {r.name for r in routes} == set(RULES)  # every page has a rule, every rule a page
    skip = {"web_logout", "web_lock", "web_unlock", "web_login_submit", "web_terminal_register"}
    for user, _name, _section, role in DEMO_STAFF:
        b = browser(api)
        enrol(b, api)
        token = web_login(b, api, user)
        held = ROLE_PERMISSIONS[role]
        for route in routes:
            if route.name in skip:
                continue
            path = route.path
            for name, value in (("{person_id}", "0000000001"), ("{household_id}", "0000000001"), ("{request_id}", "1"),
                                ("{application_id}", "1"), ("{grant_id}", "999"), ("{name}", "juki.css"),
                                ("{reception_id}", "1"), ("{step_no}", "1")):
                path = path.replace(name, value)
            method = sorted(route.methods)[0]
            r = b.request(method, path, data={"csrf_token": token} if method == "POST" else None)
            rule = RULES[route.name]
            allowed = rule in (PUBLIC, AUTHENTICATED) or any(p in held for p in permissions_of(rule))
            if allowed:
                assert r.status_code != 403 and "/ui/login" not in r.headers.get("location", ""), (user, route.name, r.status_code)
            else:
                assert r.status_code == 403, (user, route.name, r.status_code)
                assert "この操作はできません" in r.text
    denied = [e for e in api.audit("access.denied") if e["user_id"] == "viewer"]
    assert denied and all(e["detail"]["rules"][0].startswith("SEC-2/") for e in denied)


def test_a_form_without_its_csrf_token_is_refused_and_logged(api):
    b = browser(api)
    enrol(b, api)
    web_login(b, api, "clerk")
    before = api.audit("access.denied")
    body = {"effective_date": "2026-04-15", "notified_date": "2026-04-20"}
    assert b.post("/ui/changes/move_in", data=body).status_code == 403
    assert b.post("/ui/changes/move_in", data={**body, "csrf_token": "forged"}).status_code == 403
    other = browser(api)
    enrol(other, api, "T002")
    foreign = web_login(other, api, "bango")  # a valid token, but of another session
    assert b.post("/ui/changes/move_in", data={**body, "csrf_token": foreign}).status_code == 403
    r = b.post("/ui/changes/move_in", data={**body, "csrf_token": csrf(b.get("/ui/changes/move_in/new").text)},
               headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    refused = api.audit("access.denied")[len(before):]
    assert [e["detail"]["rules"] for e in refused] == [["SEC-1/csrf"]] * 4
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM change_requests")).scalar() == 0


def test_a_session_is_bound_to_the_browsers_terminal(api):
    b = browser(api)
    enrol(b, api, "T001")
    web_login(b, api, "clerk")
    assert b.get("/ui/search").status_code == 200
    session = b.cookies.get("__Host-juki-session")
    thief = browser(api)
    enrol(thief, api, "T002")
    thief.cookies.set("__Host-juki-session", session)
    r = thief.get("/ui/search")  # the stolen cookie on another registered terminal
    assert r.status_code == 303 and "/ui/login" in r.headers["location"]
    assert b.get("/ui/search").status_code == 303  # and the session is ended
    no_terminal = browser(api)
    no_terminal.cookies.set("__Host-juki-session", session)
    assert no_terminal.get("/ui/search").headers["location"] == "/ui/terminal"
    wrong_key = browser(api)
    wrong_key.cookies.set("__Host-juki-terminal", "T001:guessed")
    assert wrong_key.get("/ui/login").headers["location"] == "/ui/terminal"


def test_pages_are_not_cached_and_allow_no_foreign_scripts(api):
    b = browser(api)
    enrol(b, api)
    web_login(b, api, "clerk")
    r = b.get("/ui/search", params={"kana": "サ"})
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    cookie = next(h for h in r.request.headers.get_list("cookie"))
    assert "__Host-juki-session" in cookie


APPLICATION = {
    "reference": "MP-2026-0001", "kind": "move_in_reservation",
    "applicant": {"name": "転入　予約", "name_kana": "テンニュウ　ヨヤク", "birth_date": "1990-02-03"},
    "planned_date": "2026-04-15", "visit_date": "2026-04-20",
    "persons": [{"name": "転入　予約", "name_kana": "テンニュウ　ヨヤク", "birth_date": "1990-02-03", "sex": "2",
                 "relationship": "世帯主"}],
    "address": {k: v for k, v in address().items() if k != "lg_code"} | {"lg_code": address()["lg_code"]},
    "prior_address": chiba_address(),
}


def test_onestop_from_the_api_to_a_completed_change(api):
    clerk = api.as_("clerk")
    r = api.client.post("/api/v1/onestop/applications", headers=clerk, json=APPLICATION)
    assert r.status_code == 201, r.text
    app_id = r.json()["application_id"]
    again = api.client.post("/api/v1/onestop/applications", headers=clerk, json=APPLICATION)
    assert again.status_code == 200 and again.json() == {"application_id": app_id, "status": "received", "duplicate": True}
    changed = {**APPLICATION, "planned_date": "2026-04-16"}
    assert api.client.post("/api/v1/onestop/applications", headers=clerk, json=changed).status_code == 409
    bad = {**APPLICATION, "reference": "MP-2", "persons": [], "extra": 1}
    r = api.client.post("/api/v1/onestop/applications", headers=clerk, json=bad)
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "extra"
    assert api.client.post("/api/v1/onestop/applications", headers=api.as_("viewer"), json=APPLICATION).status_code == 403
    listed = api.client.get("/api/v1/onestop/applications", headers=clerk).json()
    assert [(a["application_id"], a["status"]) for a in listed] == [(app_id, "received")]

    b = browser(api)
    enrol(b, api)
    web_login(b, api, "clerk")
    queue = b.get("/ui/onestop")
    assert "MP-2026-0001" in queue.text and "受付" in queue.text
    form = b.get(f"/ui/changes/move_in/new?application={app_id}&persons=1")
    assert 'value="テンニュウ　ヨヤク"' in form.text and 'value="2026-04-15"' in form.text
    data = {k: v for k, v in re.findall(r'<input id="[^"]+" name="([^"]+)" type="(?:text|date)" value="([^"]*)"', form.text)}
    data.update({"csrf_token": csrf(form.text), "application": str(app_id), "persons": "1", "filed_by": "self",
                 "identity_documents": "my_number_card", "persons[0].furigana_status": "confirmed", "persons[0].sex": "2",
                 "address.lg_code": address()["lg_code"]})
    r = b.post("/ui/changes/move_in", data=data)
    assert r.status_code == 201, r.text
    request_id = int(re.search(r"受付番号（届出番号） (\d+)", r.text).group(1))
    chief = api.as_("chief", "T002")  # the clerk's web login ended their API session (one session per user)
    status = api.client.get(f"/api/v1/onestop/applications/{app_id}", headers=chief).json()
    assert (status["status"], status["request_id"]) == ("in_progress", request_id)
    assert api.client.post(f"/api/v1/requests/{request_id}/approve", headers=chief).status_code == 200
    done = api.client.get(f"/api/v1/onestop/applications/{app_id}", headers=chief).json()
    assert done["status"] == "completed" and [s["status"] for s in done["steps"]] == ["received", "in_progress"]
    actions = [e["action"] for e in api.audit() if e["action"].startswith("onestop.")]
    assert actions[:1] == ["onestop.receive"] and "onestop.process" in actions and "onestop.read" in actions


def test_the_intake_and_the_change_are_one_transaction(api):
    """A 届出 whose change the register refuses leaves no intake behind (house rule 4)."""
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    r = b.post("/ui/changes/move_in", data={
        "csrf_token": token, "effective_date": "2026-04-15", "notified_date": "2026-04-20", "filed_by": "self",
        "identity_documents": "passport", "persons[0].name": "札幌　一", "persons[0].birth_date": "2026-05-01",
        "persons[0].sex": "1", "persons[0].relationship": "世帯主", "address.lg_code": address()["lg_code"],
        "address.town": "北一条西", "prior_address.prefecture": "千葉県", "prior_address.city": "千葉市中央区",
        "prior_address.town": "千葉港"})
    assert r.status_code == 422 and 'id="f-persons-0-birth_date-error"' in r.text
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM counter_intakes")).scalar() == 0
        assert c.execute(sa.text("SELECT count(*) FROM change_requests")).scalar() == 0


def test_a_postcode_fills_the_address_from_japan_posts_data(api):
    """CTR-1: 郵便番号 → 都道府県・市区町村・町域 and the 地方公共団体コード (offline data); the city's own wards are
    marked ``local``; a malformed or unknown 郵便番号 gets an error naming the field; a viewer may not use it."""
    b = browser(api)
    enrol(b, api)
    web_login(b, api, "clerk")
    r = b.get("/ui/postcode", params={"code": "〒060-0001"})
    assert r.status_code == 200
    assert r.json() == {"postcode": "0600001", "areas": [
        {"postcode": "0600001", "lg_code": "011011", "prefecture": "北海道", "city": "札幌市中央区", "town": "北一条西",
         "note": "1〜19丁目", "local": True}]}
    tokyo = b.get("/ui/postcode", params={"code": "1000001"}).json()["areas"]
    assert [(a["lg_code"], a["city"], a["town"], a["local"]) for a in tokyo] == [("131016", "千代田区", "千代田", False)]
    shared = b.get("/ui/postcode", params={"code": "0680546"}).json()["areas"]  # one 郵便番号, two 町域
    assert [a["town"] for a in shared] == ["南部青葉町", "南部菊水町"]
    for code, status in (("06000", 422), ("abcdefg", 422), ("9999999", 404)):
        r = b.get("/ui/postcode", params={"code": code})
        assert r.status_code == status
        problem = r.json()["problems"][0]
        assert (problem["field"], problem["rule"]) == ("postcode", "CTR-1/postcode") and problem["message_ja"] and problem["message_en"]
    viewer = browser(api)
    enrol(viewer, api)
    web_login(viewer, api, "viewer")
    assert viewer.get("/ui/postcode", params={"code": "0600001"}).status_code == 403
