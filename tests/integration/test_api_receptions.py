"""The 総合窓口 through the real API, on both engines (CTR-2, SEC-2, SEC-3): a clerk opens a reception,
follows its steps, is refused on a stale revision and while steps are open, closes and reopens it, and
downloads the 案内文書; 保険年金課's integration account pulls its section's hand-offs (no 個人番号, audited)
and acknowledges one, which completes the step at the counter; acknowledging another section's hand-off is
refused and logged."""

from __future__ import annotations

from typing import Any

from juki.domain.events import ChangeKind, Origin
from juki.domain.life_events import INSURANCE_SECTION
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address, person

NUMBER = "123456789018"


def resident(api: Any) -> str:
    sub = api.reg.changes.submit(ChangeKind.MOVE_IN, {
        "persons": [person(individual_number=NUMBER)], "address": address(), "prior_address": chiba_address()},
        actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法第22条",
        effective_date=api.clock().date(), notified_date=api.clock().date())
    return api.reg.changes.approve(sub.request_id, actor=Actor("chief", "T002")).outcome.persons[0].person_id


def step(view: dict[str, Any], code: str) -> dict[str, Any]:
    return next(s for s in view["steps"] if s["procedure"] == code)


def test_a_reception_over_the_api_from_opening_to_reopening(api):
    pid = resident(api)
    clerk = api.as_("clerk")
    refused = api.client.post("/api/v1/receptions", headers=clerk, json={"event": "move_out", "newcomers": ["誰か"],
                                                                         "extra": 1})
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "extra"
    refused = api.client.post("/api/v1/receptions", headers=clerk, json={"event": "move_out", "newcomers": ["誰か"]})
    assert refused.status_code == 422
    assert {p["rule"] for p in refused.json()["problems"]} == {"CTR-2/newcomer", "CTR-2/registered"}
    r = api.client.post("/api/v1/receptions", headers=clerk, json={"event": "move_within", "person_ids": [pid]})
    assert r.status_code == 201, r.text
    v = r.json()
    rid, rev = v["reception_id"], v["revision"]
    assert (v["number"], v["state"], v["persons"]) == ("001", "open", [
        {"person_id": pid, "name": "札幌　太郎", "new_to_register": False}])
    assert step(v, "health_insurance")["handoff"]["section"] == INSURANCE_SECTION
    assert step(v, "resident_copy")["handoff"] is None
    assert [x["reception_id"] for x in api.client.get("/api/v1/receptions", headers=clerk).json()] == [rid]
    assert api.client.get("/api/v1/receptions", headers=clerk, params={"state": "closed"}).json() == []

    school = step(v, "school")["step_no"]
    r = api.client.post(f"/api/v1/receptions/{rid}/steps/{school}", headers=clerk,
                        json={"status": "not_needed", "note": "子なし", "revision": rev})
    assert r.status_code == 200 and step(r.json(), "school")["status"] == "not_needed"
    stale = api.client.post(f"/api/v1/receptions/{rid}/steps/{school}", headers=clerk,
                            json={"status": "not_started", "revision": rev})
    assert stale.status_code == 409 and stale.json()["problems"][0]["rule"] == "CTR-2/revision"
    rev = r.json()["revision"]
    r = api.client.post(f"/api/v1/receptions/{rid}/steps", headers=clerk, json={"procedure": "pension", "revision": rev})
    assert r.status_code == 200 and step(r.json(), "pension")["handoff"]["status"] == "pending"
    rev = r.json()["revision"]
    early = api.client.post(f"/api/v1/receptions/{rid}/close", headers=clerk, json={"revision": rev})
    assert early.status_code == 422 and early.json()["problems"][0]["rule"] == "CTR-2/open-steps"
    pdf = api.client.get(f"/api/v1/receptions/{rid}/guidance", headers=clerk)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"

    # 保険年金課's system pulls and acknowledges its hand-off
    renkei = api.as_("renkei")
    pulled = api.client.get("/api/v1/handoffs", headers=renkei)
    assert pulled.status_code == 200
    assert [x["procedure"] for x in pulled.json()] == ["health_insurance", "elderly_medical", "pension"]
    assert NUMBER not in pulled.text and all(x["section"] == INSURANCE_SECTION for x in pulled.json())
    assert pulled.json()[0]["persons"][0]["person_id"] == pid
    reads = api.audit("reception.handoff.read")
    assert [(e["user_id"], e["subject_ids"]) for e in reads] == [("renkei", [pid])]
    hid = pulled.json()[0]["handoff_id"]
    ack = api.client.post(f"/api/v1/handoffs/{hid}/acknowledge", headers=renkei, json={"note": "国保 資格取得済み"})
    assert ack.status_code == 200 and ack.json()["step_status"] == "done"
    again = api.client.post(f"/api/v1/handoffs/{hid}/acknowledge", headers=renkei)
    assert again.status_code == 409 and again.json()["problems"][0]["rule"] == "CTR-2/handoff"
    other = step(v, "child_allowance")["handoff"]["handoff_id"]  # こども家庭課's
    foreign = api.client.post(f"/api/v1/handoffs/{other}/acknowledge", headers=renkei)
    assert foreign.status_code == 403 and foreign.json()["problems"][0]["rule"] == "SEC-2/section"
    assert api.audit("access.denied")[-1]["user_id"] == "renkei"
    assert api.client.get("/api/v1/handoffs", headers=clerk).status_code == 403
    v = api.client.get(f"/api/v1/receptions/{rid}", headers=clerk).json()
    ins = step(v, "health_insurance")
    assert ins["status"] == "done" and ins["handoff"]["status"] == "acknowledged"
    assert ins["handoff"]["acknowledged_by"] == "renkei" and v["history"][-1]["action"] == "handoff"

    # the rest not needed, close, reopen
    for s in v["steps"]:
        if s["status"] not in ("done", "not_needed"):
            r = api.client.post(f"/api/v1/receptions/{rid}/steps/{s['step_no']}", headers=clerk,
                                json={"status": "not_needed", "revision": v["revision"]})
            assert r.status_code == 200, r.text
            v = r.json()
    premature = api.client.post(f"/api/v1/receptions/{rid}/reopen", headers=clerk,
                                json={"reason": "x", "revision": v["revision"]})
    assert premature.status_code == 409 and premature.json()["problems"][0]["rule"] == "CTR-2/reopen"
    closed = api.client.post(f"/api/v1/receptions/{rid}/close", headers=clerk, json={"revision": v["revision"]})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert api.client.get("/api/v1/handoffs", headers=renkei).json() == []  # nothing left to pull
    no_reason = api.client.post(f"/api/v1/receptions/{rid}/reopen", headers=clerk,
                                json={"reason": "", "revision": closed.json()["revision"]})
    assert no_reason.status_code == 422 and no_reason.json()["problems"][0]["field"] == "reason"
    reopened = api.client.post(f"/api/v1/receptions/{rid}/reopen", headers=api.as_("bango", "T002"),
                               json={"reason": "印鑑登録に再来庁", "revision": closed.json()["revision"]})
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["state"] == "open" and reopened.json()["history"][-1]["note"] == "印鑑登録に再来庁"
    assert api.audit("reception.reopen")[-1]["user_id"] == "bango"
