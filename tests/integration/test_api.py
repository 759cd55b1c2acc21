"""The HTTP API end to end on a real database: submit, approve, read, history, search, and bad input
(malformed, oversized, unknown fields) refused with field-level errors and nothing written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from juki.api.app import MAX_BODY_BYTES

from ..unit.registry import address, chiba_address, person


@pytest.fixture
def client(api):
    """The API client with a counter clerk's and an approver's sessions (``client.clerk``, ``client.chief``)."""
    api.client.clerk, api.client.chief = api.as_("clerk"), api.as_("chief", "T002")
    api.client.reg = api.reg
    api.client.api = api
    return api.client


def envelope(change, **kw):
    return {"origin": "notification", "legal_basis": "住民基本台帳法第22条", "effective_date": "2026-04-10",
            "notified_date": "2026-04-12", "change": change, **kw}


def rows(client):
    with client.reg.engine.connect() as c:
        return tuple(c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ("change_requests", "events", "persons"))


def move_in(client):
    r = client.post("/api/v1/changes/move_in", headers=client.clerk, json=envelope(
        {"persons": [person(individual_number="123456789018"), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
         "address": address(), "prior_address": chiba_address()}))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending"
    a = client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=client.chief)
    assert a.status_code == 200, a.text
    return a.json()


def test_openapi_lists_every_change_kind(client):
    spec = client.get("/openapi.json").json()
    from juki.domain.changes import COMMANDS

    for kind in COMMANDS:
        assert f"/api/v1/changes/{kind.value}" in spec["paths"]
    body = spec["paths"]["/api/v1/changes/move_in"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "change" in body["properties"] and body["additionalProperties"] is False


def test_submit_approve_read_history_search(client):
    done = move_in(client)
    pid = done["person_ids"][0]
    p = client.get(f"/api/v1/persons/{pid}", headers=client.clerk).json()
    assert p["name"] == "札幌　太郎" and p["individual_number"] == "************"  # masked outside number-use work
    assert client.get(f"/api/v1/persons/{pid}?as_of=2026-04-09", headers=client.clerk).status_code == 404
    hist = client.get(f"/api/v1/persons/{pid}/history", headers=client.clerk).json()
    assert hist[0]["event"]["kind_ja"] == "転入" and hist[0]["event"]["approved_by"] == "chief"
    h = client.get(f"/api/v1/households/{done['household_ids'][0]}", headers=client.clerk).json()
    assert [m["relationship"] for m in h["members"]] == ["世帯主", "妻"]
    hits = client.get("/api/v1/search", params={"kana": "ｻｯﾎﾟﾛ"}, headers=client.clerk).json()
    assert {x["name"] for x in hits} == {"札幌　太郎", "札幌　花子"} and all(x["birth_date"] for x in hits)


def test_self_approval_is_forbidden(client):
    from juki.access.rights import approve_right, request_right

    r = client.post("/api/v1/changes/move_in", headers=client.clerk, json=envelope({"persons": [person()], "address": address(), "prior_address": chiba_address()}))
    a = client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=client.clerk)
    assert a.status_code == 403 and a.json()["problems"][0]["rule"] == "SEC-2/change.approve"
    # an approver who may also enter changes still cannot approve their own entry (REG-R3)
    grant = request_right(client.reg.engine, user_id="chief", role="counter_clerk", section="市民課", requested_by="admin")
    approve_right(client.reg.engine, grant, approved_by="owner")
    mine = client.post("/api/v1/changes/move_in", headers=client.chief,
                       json=envelope({"persons": [person("別人　次郎", "ベツジン　ジロウ")], "address": address(block="2番"), "prior_address": chiba_address()}))
    assert mine.status_code == 201, mine.text
    a = client.post(f"/api/v1/requests/{mine.json()['request_id']}/approve", headers=client.chief)
    assert a.status_code == 403 and a.json()["problems"][0]["rule"] == "REG-R3/four-eyes"
    denied = client.api.audit("access.denied")
    assert [d["detail"]["rules"] for d in denied[-2:]] == [["SEC-2/change.approve"], ["REG-R3/four-eyes"]]


def test_rule_violation_names_the_rule(client):
    done = move_in(client)
    pid = done["person_ids"][0]
    hid = done["household_ids"][0]
    before = rows(client)
    r = client.post("/api/v1/changes/death", headers=client.clerk, json=envelope({"person_id": pid, "household_id": hid}, effective_date="1970-01-01"))
    assert r.status_code == 422
    assert {p["rule"] for p in r.json()["problems"]} & {"REG-R1/death-before-birth", "REG-R1/date-order"}
    assert rows(client) == before


@pytest.mark.parametrize("body, field", [
    (envelope({"persons": [person()], "address": address(), "prior_address": chiba_address(), "extra": 1}), "extra"),
    (envelope({"persons": [person(birth="2026-02-30")], "address": address(), "prior_address": chiba_address()}), "persons[0].birth_date"),
    (envelope({"persons": [person(individual_number="123456789017")], "address": address(), "prior_address": chiba_address()}), "persons[0].individual_number"),
    ({"origin": "notification", "change": {}}, "legal_basis"),
    (envelope({"persons": [person()], "address": address(), "prior_address": chiba_address()}, unknown="x"), "unknown"),
    (envelope({"persons": [person()], "address": address(), "prior_address": chiba_address()}, effective_date="2026-13-01"), "effective_date"),
])
def test_bad_input_gets_field_errors_and_writes_nothing(client, body, field):
    before = rows(client)
    r = client.post("/api/v1/changes/move_in", headers=client.clerk, json=body)
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert field in [p["field"] for p in problems]
    assert all(p["message_ja"] and p["message_en"] for p in problems)
    assert rows(client) == before


def test_malformed_and_oversized_bodies(client):
    before = rows(client)
    r = client.post("/api/v1/changes/move_in", headers={**client.clerk, "content-type": "application/json"}, content=b"{not json")
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "body"
    big = b'{"x": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'
    r = client.post("/api/v1/changes/move_in", headers={**client.clerk, "content-type": "application/json"}, content=big)
    assert r.status_code == 413
    assert rows(client) == before


def test_no_session_is_refused_and_logged(client):
    before = len(client.api.audit("access.denied"))
    r = client.get("/api/v1/search", params={"kana": "サ"})
    assert r.status_code == 401 and r.json()["problems"][0]["rule"] == "SEC-1/session"
    assert len(client.api.audit("access.denied")) == before + 1


def test_return_with_reason(client):
    r = client.post("/api/v1/changes/move_in", headers=client.clerk, json=envelope({"persons": [person()], "address": address(), "prior_address": chiba_address()}))
    rid = r.json()["request_id"]
    assert client.post(f"/api/v1/requests/{rid}/return", headers=client.chief, json={}).status_code == 422
    assert client.post(f"/api/v1/requests/{rid}/return", headers=client.chief, json={"reason": "書類不備"}).status_code == 200
    got = client.get(f"/api/v1/requests/{rid}", headers=client.chief).json()
    assert got["status"] == "returned" and got["decision"]["reason"] == "書類不備"
