"""Access control through the real API (issue 3, SEC-1, SEC-2, SEC-3, SEC-8).

* The matrix: every route of the app, called as every role, is allowed exactly when the role holds the
  route's permission; a route without a rule cannot even be built into the app.
* Attacks are refused, logged, and change nothing: a forged or expired session, a replayed TOTP code, an
  unregistered terminal, a session moved to another terminal, role escalation, a search for a protected
  person on behalf of their offender, a 個人番号 search outside number-use work.
"""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from juki.access.roles import ROLE_PERMISSIONS
from juki.access.support import register_measure
from juki.api.security import AUTHENTICATED, PUBLIC, RULES, api_routes, check_rules, permissions_of
from juki.services.staffing import DEMO_STAFF

from ..unit.registry import address, chiba_address, person

WRITE_TABLES = ("change_requests", "change_decisions", "events", "person_versions", "persons", "households", "staff",
                "sessions", "rights", "right_approvals")


def counts(api) -> dict[str, int]:
    with api.reg.engine.connect() as c:
        return {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in WRITE_TABLES}


def call(api, route: APIRoute, headers: dict[str, str]):
    path = route.path
    for name, value in (("{person_id}", "0000000001"), ("{household_id}", "0000000001"), ("{request_id}", "1"),
                        ("{approval_id}", "1"), ("{correction_id}", "1"), ("{reception_id}", "1"), ("{step_no}", "1"),
                        ("{handoff_id}", "1")):
        path = path.replace(name, value)
    method = sorted(route.methods)[0]
    params = {"kana": "サ"} if route.name == "search" else None
    body = {"reason": "確認"} if route.name in ("return_request", "reject") else {}
    return api.client.request(method, path, headers=headers, params=params, json=body if method == "POST" else None)


def test_every_route_as_every_role(api):
    # the counter UI's pages (/ui/, cookie sessions) have their own matrix in test_web.py
    routes = [r for r in api_routes(api.client.app.routes)
              if r.name not in ("login", "logout") and not r.path.startswith("/ui")]
    assert len(routes) >= 30
    for user, _name, _section, role in DEMO_STAFF:
        headers = api.as_(user)
        held = ROLE_PERMISSIONS[role]
        for route in routes:
            rule = api.client.app.state.rules[route.name]
            r = call(api, route, headers)
            allowed = rule in (PUBLIC, AUTHENTICATED) or any(p in held for p in permissions_of(rule))
            if allowed:
                assert r.status_code not in (401, 403), (user, route.name, r.status_code, r.text)
            else:
                assert r.status_code == 403, (user, route.name, r.status_code, r.text)
                assert r.json()["problems"][0]["rule"].startswith("SEC-2/"), (user, route.name, r.text)
    # independently of RULES, who may do the things that matter most (SEC-2, REG-R3)
    expected = {
        "get_person": {"clerk", "chief", "bango", "viewer"},
        "search": {"clerk", "chief", "bango", "viewer"},
        "submit_move_in": {"clerk", "bango"},
        "approve": {"chief"},
        "reject": {"chief"},
        "certificate_issue": {"clerk", "chief", "bango"},
        "certificate_wide_area": {"clerk", "chief", "bango"},
        "certificate_log": {"chief"},
        "certificate_mail_queue": {"clerk", "chief", "bango"},
        "certificate_mail_record": {"clerk", "chief", "bango"},
        "certificate_mail_batch": {"clerk", "chief", "bango"},
        "certificate_mail_return": {"clerk", "chief", "bango"},
        "seal_confirm": {"chief"},
        "card_issue": {"clerk"},
        "kiosk_register": {"admin"},
        # the prefecture's provision (PRF-5..PRF-7): its officer provides, someone else approves a large batch
        "provision_provide": {"teikyo"},
        "provision_batch": {"teikyo"},
        "provision_uses_load": {"teikyo"},
        "provision_disclose": {"teikyo"},
        "provision_approval_approve": {"chief"},
        "provision_log": {"chief", "teikyo"},
        # the 総合窓口 (CTR-2): the counter's receptions, and another section's system for its hand-offs
        "reception_open": {"clerk", "bango"},
        "reception_queue": {"clerk", "bango"},
        "reception_reopen": {"clerk", "bango"},
        "reception_guidance": {"clerk", "bango"},
        "handoff_list": {"renkei"},
        "handoff_acknowledge": {"renkei"},
    }
    by_name = {r.name: r for r in routes}
    for name, allowed_users in expected.items():
        for user, *_ in DEMO_STAFF:
            status = call(api, by_name[name], api.as_(user)).status_code
            assert (status not in (401, 403)) == (user in allowed_users), (name, user, status)
    # system administrators and auditors never read residents (SEC-2)
    for user in ("admin", "auditor"):
        assert api.client.get("/api/v1/search", params={"kana": "サ"}, headers=api.as_(user)).status_code == 403


def test_a_route_without_a_rule_cannot_be_built():
    check_rules(list(RULES))
    with pytest.raises(RuntimeError, match="without an access rule"):
        check_rules([*RULES, "export_everything"])
    # a feature router's routes are found too, however deeply included
    inner, outer, app = APIRouter(), APIRouter(), FastAPI()
    inner.add_api_route("/export", lambda: None, name="export_everything")
    outer.include_router(inner)
    app.include_router(outer)
    assert [r.name for r in api_routes(app.routes)][-1] == "export_everything"
    with pytest.raises(RuntimeError, match="export_everything"):
        check_rules([r.name for r in api_routes(app.routes)])


def test_forged_and_expired_sessions_are_refused_and_logged(api):
    before = counts(api)
    forged = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}", "X-Juki-Terminal": "T001"}
    r = api.client.get("/api/v1/search", params={"kana": "サ"}, headers=forged)
    assert r.status_code == 401 and r.json()["problems"][0]["rule"] == "SEC-1/session"
    clerk = api.as_("clerk")
    assert api.client.get("/api/v1/search", params={"kana": "サ"}, headers=clerk).status_code == 200
    api.clock.advance(minutes=16)  # idle timeout (15 min)
    r = api.client.get("/api/v1/search", params={"kana": "サ"}, headers=clerk)
    assert r.status_code == 401 and r.json()["problems"][0]["rule"] == "SEC-1/idle-timeout"
    denied = api.audit("access.denied")
    assert [d["detail"]["rules"] for d in denied[-2:]] == [["SEC-1/session"], ["SEC-1/idle-timeout"]]
    after = counts(api)
    assert {k: v for k, v in after.items() if k != "sessions"} == {k: v for k, v in before.items() if k != "sessions"}


def test_replayed_totp_and_unregistered_terminal_are_refused(api):
    code = api.totp("clerk")
    first = api.login("clerk", totp=code)
    assert first.status_code == 200
    replay = api.login("clerk", totp=code)
    assert replay.status_code == 401 and replay.json()["problems"][0]["rule"] in ("SEC-1/totp-replay", "SEC-1/credentials")
    api.clock.advance(seconds=30)
    rogue = api.login("clerk", terminal="T999", key="guess")
    assert rogue.status_code == 401
    assert [e["detail"]["rules"][0] for e in api.audit("login.denied")][-2:] in (
        ["SEC-1/totp-replay", "SEC-1/terminal"], ["SEC-1/credentials", "SEC-1/terminal"])
    assert all(e["outcome"] == "denied" for e in api.audit("login.denied"))
    assert len(api.audit("login")) == 1


def test_a_session_cannot_move_to_another_terminal(api):
    clerk = api.as_("clerk", "T001")
    moved = {**clerk, "X-Juki-Terminal": "T002"}
    assert api.client.get("/api/v1/search", params={"kana": "サ"}, headers=moved).status_code == 401


def test_role_escalation_is_refused(api):
    from juki.access.rights import approve_right, request_right
    from juki.domain.errors import JukiError

    before = counts(api)
    # a clerk cannot approve, and a system administrator cannot give himself resident rights
    r = api.client.post("/api/v1/requests/1/approve", headers=api.as_("clerk"))
    assert r.status_code == 403
    with pytest.raises(JukiError):
        grant = request_right(api.reg.engine, user_id="admin", role="counter_clerk", section="市民課", requested_by="admin")
        approve_right(api.reg.engine, grant, approved_by="admin")
    assert api.client.get("/api/v1/search", params={"kana": "サ"}, headers=api.as_("admin")).status_code == 403
    after = counts(api)
    assert after["right_approvals"] == before["right_approvals"] and after["events"] == before["events"]


def test_individual_number_is_masked_and_unsearchable_outside_number_use(api):
    clerk, chief, bango = api.as_("clerk"), api.as_("chief", "T002"), api.as_("bango")
    r = api.client.post("/api/v1/changes/move_in", headers=clerk, json={
        "origin": "notification", "legal_basis": "住民基本台帳法第22条", "effective_date": "2026-04-10", "notified_date": "2026-04-12",
        "change": {"persons": [person(individual_number="123456789018")], "address": address(), "prior_address": chiba_address()}})
    pid = api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=chief).json()["person_ids"][0]
    assert api.client.get(f"/api/v1/persons/{pid}", headers=clerk).json()["individual_number"] == "************"
    assert api.client.get(f"/api/v1/persons/{pid}", headers=bango).json()["individual_number"] == "123456789018"
    r = api.client.get("/api/v1/search", params={"individual_number": "123456789018"}, headers=clerk)
    assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "SEC-2/number.search"
    hits = api.client.get("/api/v1/search", params={"individual_number": "123456789018"}, headers=bango).json()
    assert [h["person_id"] for h in hits] == [pid]
    searches = api.audit("search")
    assert searches[-1]["subject_ids"] == [pid] and searches[-1]["detail"]["by_individual_number"] is True
    assert "123456789018" not in str(api.audit())  # never in the log


def test_protected_person_is_withheld_from_their_offender(api):
    clerk, chief = api.as_("clerk"), api.as_("chief", "T002")
    r = api.client.post("/api/v1/changes/move_in", headers=clerk, json={
        "origin": "notification", "legal_basis": "住民基本台帳法第22条", "effective_date": "2026-04-10", "notified_date": "2026-04-12",
        "change": {"persons": [person("被害　花子", "ヒガイ　ハナコ", "1990-01-01", "2")], "address": address(), "prior_address": chiba_address()}})
    victim = api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=chief).json()["person_ids"][0]
    register_measure(api.reg.engine, person_id=victim, offender_name="加害　太郎", offender_birth_date=dt.date(1985, 3, 3),
                     registered_by="clerk", approved_by="chief", valid_from=dt.date(2026, 4, 1))
    offender = {"requester_name": "加害　太郎", "requester_birth_date": "1985-03-03"}
    hits = api.client.get("/api/v1/search", params={"kana": "ヒガイ", **offender}, headers=clerk).json()
    assert hits == []
    assert api.audit("search")[-1]["detail"]["withheld"] == [victim]
    r = api.client.get(f"/api/v1/persons/{victim}", params=offender, headers=clerk)
    assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "SEC-8/withheld"
    assert api.audit("access.denied")[-1]["subject_ids"] == [victim]
    # the register's own work still finds her, flagged for manual handling
    own = api.client.get("/api/v1/search", params={"kana": "ヒガイ"}, headers=clerk).json()
    assert [(h["person_id"], h["manual_handling"]) for h in own] == [(victim, True)]
    other = api.client.get("/api/v1/search", params={"kana": "ヒガイ", "requester_name": "無関係　次郎", "requester_birth_date": "1970-01-01"},
                           headers=clerk).json()
    assert [h["person_id"] for h in other] == [victim]


def test_every_read_is_audited_with_its_subjects(api):
    clerk, chief = api.as_("clerk"), api.as_("chief", "T002")
    r = api.client.post("/api/v1/changes/move_in", headers=clerk, json={
        "origin": "notification", "legal_basis": "住民基本台帳法第22条", "effective_date": "2026-04-10", "notified_date": "2026-04-12",
        "change": {"persons": [person(), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")], "address": address(), "prior_address": chiba_address()}})
    done = api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=chief).json()
    pid, hid = done["person_ids"][0], done["household_ids"][0]
    api.client.get(f"/api/v1/persons/{pid}", headers=clerk)
    api.client.get(f"/api/v1/persons/{pid}/history", headers=clerk)
    api.client.get(f"/api/v1/households/{hid}", headers=clerk)
    api.client.get("/api/v1/search", params={"kana": "サッポロ"}, headers=clerk)
    log = api.audit()
    actions = [(e["user_id"], e["action"]) for e in log]
    assert ("clerk", "change.submit") in actions and ("chief", "change.approve") in actions
    reads = [e for e in log if e["action"] in ("person.read", "history.read", "household.read", "search")]
    assert [e["action"] for e in reads] == ["person.read", "history.read", "household.read", "search"]
    assert reads[0]["subject_ids"] == [pid] and set(reads[2]["subject_ids"]) == set(done["person_ids"])
    assert set(reads[3]["subject_ids"]) == set(done["person_ids"])
    from juki.audit.verify import verify

    assert verify(api.reg.engine).ok


def test_logout_ends_the_session(api):
    clerk = api.as_("clerk")
    assert api.client.post("/api/v1/auth/logout", headers=clerk).status_code == 200
    assert api.client.get("/api/v1/search", params={"kana": "サ"}, headers=clerk).status_code == 401
    assert [e["action"] for e in api.audit() if e["user_id"] == "clerk"][:2] == ["login", "logout"]
