"""The 世帯合併 and 世帯構成変更 forms over HTTP, on both engines (CTR-1, REG-E4, REG-R3): each refusal is shown at
its field with nothing written, and the approver sees the households and persons before and after."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from ..unit.registry import address, chiba_address, person
from .test_web import browser, enrol, web_login

INTAKE = {"effective_date": "2026-04-15", "notified_date": "2026-04-20", "filed_by": "self",
          "identity_documents": "my_number_card"}


def _approved(api: Any, kind: str, change: dict[str, Any]) -> dict[str, Any]:
    body = {"origin": "notification", "legal_basis": "住民基本台帳法", "effective_date": "2026-04-10",
            "notified_date": "2026-04-12", "change": change}
    r = api.client.post(f"/api/v1/changes/{kind}", headers=api.as_("clerk"), json=body)
    assert r.status_code == 201, r.text
    a = api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=api.as_("chief", "T002"))
    assert a.status_code == 200, a.text
    return a.json()


def two_households(api: Any) -> tuple[str, str, list[str]]:
    """A family of three moves in; the son then forms his own household at the same address (世帯分離)."""
    done = _approved(api, "move_in", {"persons": [person(), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻"),
                                                   person("札幌　一郎", "サッポロ　イチロウ", "2004-01-02", "1", "子")],
                                       "address": address(), "prior_address": chiba_address()})
    ids = done["person_ids"]
    home = _household_of(api, ids[0])
    _approved(api, "household_split", {"household_id": home, "person_ids": [ids[2]], "new_head_id": ids[2]})
    son_home = _household_of(api, ids[2])
    assert son_home != home
    return home, son_home, ids


def _household_of(api: Any, person_id: str) -> str:
    with api.reg.engine.connect() as c:
        return c.execute(sa.text("SELECT household_id FROM persons WHERE person_id = :p"), {"p": person_id}).scalar()


def _counts(api: Any) -> tuple[int, int]:
    with api.reg.engine.connect() as c:
        return tuple(c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ("change_requests", "counter_intakes"))


def test_a_household_merge_from_the_form_to_the_approval(api):
    home, son_home, ids = two_households(api)
    clerk = browser(api)
    enrol(clerk, api)
    token = web_login(clerk, api, "clerk")
    page = clerk.get(f"/ui/changes/household_merge/new?household_id={son_home}&into_household_id={home}")
    assert page.status_code == 200
    assert "合併先の世帯" in page.text and "札幌　花子" in page.text  # the household to join is shown beside the form
    before = _counts(api)
    # no household to join and no 続柄: each refusal at its field, nothing written
    r = clerk.post("/ui/changes/household_merge", data={**INTAKE, "csrf_token": token, "household_id": son_home})
    assert r.status_code == 422
    assert 'id="f-into_household_id-error"' in r.text and 'aria-invalid="true"' in r.text
    # the household itself as the target: the register's rule at the same field
    r = clerk.post("/ui/changes/household_merge", data={**INTAKE, "csrf_token": token, "household_id": son_home,
                                                        "into_household_id": son_home, f"members.{ids[2]}.relationship": "子"})
    assert r.status_code == 422 and "同じ世帯どうしは合併できません" in r.text and "REG-E4/merge-same" in r.text
    assert _counts(api) == before
    r = clerk.post("/ui/changes/household_merge", data={**INTAKE, "csrf_token": token, "household_id": son_home,
                                                        "into_household_id": home, f"members.{ids[2]}.relationship": "子"})
    assert r.status_code == 201, r.text
    assert _counts(api) == (before[0] + 1, before[1] + 1)
    with api.reg.engine.connect() as c:
        request_id, kind, change = c.execute(sa.text("SELECT request_id, kind, payload FROM change_requests ORDER BY request_id DESC")).first()
    change = change if isinstance(change, dict) else json.loads(change)
    assert kind == "household_merge" and change == {"from_household_id": son_home, "into_household_id": home,
                                                    "memberships": [{"person_id": ids[2], "relationship": "子"}]}

    chief = browser(api)
    enrol(chief, api, "T002")
    chief_token = web_login(chief, api, "chief")
    shown = chief.get(f"/ui/requests/{request_id}")
    assert "世帯の変更前と変更後" in shown.text and "世帯員なし（世帯の消滅）" in shown.text
    assert "札幌　一郎" in shown.text and "決裁する（住民票に反映）" in shown.text
    assert chief.post(f"/ui/requests/{request_id}/approve", data={"csrf_token": chief_token}).status_code == 200
    assert _household_of(api, ids[2]) == home
    assert api.reg.queries.person(ids[2])["relationship"] == "子"


def test_a_household_reorganisation_names_the_missing_head(api):
    home, son_home, ids = two_households(api)
    clerk = browser(api)
    enrol(clerk, api)
    token = web_login(clerk, api, "clerk")
    page = clerk.get(f"/ui/changes/household_reorganise/new?household_id={home}")
    assert page.status_code == 200 and "移る先の世帯" in page.text and "残る世帯の世帯主" in page.text
    before = _counts(api)
    # the head moves to the son's household and leaves 花子 without a head
    data = {**INTAKE, "csrf_token": token, "household_id": home, "into_household_id": son_home,
            f"members.{ids[0]}.move": "on", f"members.{ids[0]}.relationship": "父"}
    r = clerk.post("/ui/changes/household_reorganise", data=data)
    assert r.status_code == 422 and 'id="f-remaining_head_id-error"' in r.text and "REG-E4/head-decision" in r.text
    assert _counts(api) == before
    r = clerk.post("/ui/changes/household_reorganise", data={**data, "remaining_head_id": ids[1]})
    assert r.status_code == 201, r.text
    with api.reg.engine.connect() as c:
        request_id = c.execute(sa.text("SELECT max(request_id) FROM change_requests")).scalar()

    chief = browser(api)
    enrol(chief, api, "T002")
    chief_token = web_login(chief, api, "chief")
    shown = chief.get(f"/ui/requests/{request_id}")
    assert "世帯の変更前と変更後" in shown.text and shown.text.count("世帯主 札幌　花子") == 1
    assert chief.post(f"/ui/requests/{request_id}/approve", data={"csrf_token": chief_token}).status_code == 200
    assert _household_of(api, ids[0]) == son_home and _household_of(api, ids[1]) == home
    assert [api.reg.queries.person(p)["relationship"] for p in ids] == ["父", "世帯主", "世帯主"]


def test_submitted_forms_are_found_by_date_name_and_birth_date(api):
    """CTR-4: 届出の検索 by 受付日, 氏名 (kana in hiragana too) and 生年月日, for new persons in the form and for
    residents named by 宛名番号; audited as a search of the residents it shows."""
    _, _, ids = two_households(api)  # 転入 and 世帯分離, both received 2026-04-12
    b = browser(api)
    enrol(b, api)
    web_login(b, api, "clerk")
    page = b.get("/ui/submitted", params={"received_from": "2026-04-01", "received_to": "2026-04-20", "name": "さっぽろ　いちろう"})
    assert page.status_code == 200 and "検索結果 2 件" in page.text  # the 転入 (as a new person) and the 分離
    assert "転入" in page.text and "世帯分離" in page.text and f"宛名番号 {ids[2]}" in page.text
    by_birth = b.get("/ui/submitted", params={"received_from": "2026-04-01", "birth_date": "1982-07-07"})
    assert "検索結果 1 件" in by_birth.text and "札幌　花子" in by_birth.text
    by_kanji = b.get("/ui/submitted", params={"received_from": "2026-04-01", "name": "花子", "birth_date": "1980-05-01"})
    assert "検索結果 0 件" in by_kanji.text  # both criteria must hold for one person
    before = b.get("/ui/submitted", params={"received_from": "2026-03-01", "received_to": "2026-04-11", "name": "札幌"})
    assert "検索結果 0 件" in before.text
    bad = b.get("/ui/submitted", params={"received_from": "2026-04-20", "received_to": "2026-04-01"})
    assert bad.status_code == 422 and "CTR-4/period" in bad.text and 'id="f-received_to" name="received_to" type="date" value="2026-04-01" aria-invalid="true"' in bad.text
    searches = [e for e in api.audit("search") if e["detail"].get("scope") == "requests"]
    assert len(searches) == 4 and set(searches[0]["subject_ids"]) == {ids[2]}
    assert searches[0]["detail"]["criteria"]["name"] == "さっぽろ　いちろう"
