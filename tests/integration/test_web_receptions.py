"""The 総合窓口 over HTTP, on both engines (CTR-2, SEC-1, SEC-2, SEC-3): a clerk opens a 転入 reception, enters
the 転入届 from its step (the form carries the reception: the names given at the counter and the 受付番号 are
filled in), a second user approves and the step shows 完了; closing with open steps is refused at the steps;
a page opened before another clerk's update is refused with the reception shown as it is now; the 案内文書
downloads as a PDF; the 総合照会 masks the 個人番号 outside number-use work and refuses (and logs) a role
without the right."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from juki.domain.events import ChangeKind, Origin
from juki.issuance.proof import normalise, pdf_text
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address, person
from .test_web import browser, csrf, enrol, web_login

NUMBER = "123456789018"


def resident(api: Any) -> tuple[str, str]:
    """A resident entered and approved through the services: (宛名番号, 世帯番号)."""
    sub = api.reg.changes.submit(ChangeKind.MOVE_IN, {
        "persons": [person(individual_number=NUMBER), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
        "address": address(), "prior_address": chiba_address()}, actor=Actor("clerk", "T001"),
        origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法第22条", effective_date=api.clock().date(),
        notified_date=api.clock().date())
    done = api.reg.changes.approve(sub.request_id, actor=Actor("chief", "T002"))
    return done.outcome.persons[0].person_id, done.outcome.households[0].household_id


def revision(page: str) -> str:
    return re.search(r'name="revision" value="(\d+)"', page).group(1)


def step_no(page: str, name: str) -> str:
    """The step number of the row whose procedure is ``name``."""
    m = re.search(r'<tr id="step-(\d+)"[^>]*>\s*<th scope="row">' + re.escape(name), page)
    assert m, name
    return m.group(1)


def row(page: str, n: str) -> str:
    return page.split(f'<tr id="step-{n}"', 1)[1].split("</tr>", 1)[0]


def test_a_move_in_reception_from_opening_to_closing(api):
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    page = b.get("/ui/receptions/new")
    assert page.status_code == 200 and "総合受付を始める" in page.text
    refused = b.post("/ui/receptions", data={"csrf_token": token, "event": "move_out", "filed_by": "agent",
                                             "newcomers": "誰か"})
    assert refused.status_code == 422
    assert 'href="#f-newcomers"' in refused.text and 'href="#f-visitor_name"' in refused.text
    assert 'value="誰か"' in refused.text  # what was typed stays
    r = b.post("/ui/receptions", data={"csrf_token": token, "event": "move_in", "filed_by": "self",
                                       "newcomers": ["転入　花子", "", ""], "person_ids": ["", "", ""]})
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    page = b.get(url).text
    assert "総合受付 <span class=\"reception-number\">001</span>（転入）" in page and "転入　花子" in page
    notice = step_no(page, "転入届")
    link = re.search(r'href="(/ui/changes/move_in/new\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"step={notice}" in link and "persons=1" in link

    form = b.get(link)
    assert 'value="転入　花子"' in form.text and "総合受付 2026-04-20 001" in form.text
    assert "の手続として入力しています" in form.text
    data = {"csrf_token": csrf(form.text), "reception": url.rsplit("/", 1)[1], "step": notice, "persons": "1",
            "effective_date": "2026-04-15", "notified_date": "2026-04-20", "case_ref": "総合受付 2026-04-20 001",
            "persons[0].name": "転入　花子", "persons[0].name_kana": "テンニュウ　ハナコ", "persons[0].birth_date": "1990-02-03",
            "persons[0].sex": "2", "persons[0].relationship": "世帯主", "persons[0].furigana_status": "confirmed",
            "address.lg_code": address()["lg_code"], "address.town": "南五条西", "address.block": "5丁目5番5号",
            "prior_address.prefecture": "千葉県", "prior_address.city": "千葉市中央区", "prior_address.town": "千葉港",
            "filed_by": "self", "identity_documents": "my_number_card"}
    submitted = b.post("/ui/changes/move_in", data=data)
    assert submitted.status_code == 201, submitted.text
    assert f'href="{url}"' in submitted.text
    request_id = int(re.search(r"受付番号（届出番号） (\d+)", submitted.text).group(1))
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT case_ref FROM change_requests WHERE request_id = :r"),
                         {"r": request_id}).scalar() == "総合受付 2026-04-20 001"
    page = b.get(url).text
    assert "処理中（決裁待ち）" in row(page, notice) and f"届出 {request_id}" in row(page, notice)

    # closing now is refused, naming the open steps at their rows
    closed = b.post(f"{url}/close", data={"csrf_token": token, "revision": revision(page)})
    assert closed.status_code == 422
    assert f'href="#step-{notice}"' in closed.text and "処理中（決裁待ち）です" in closed.text

    chief = api.as_("chief", "T002")
    assert api.client.post(f"/api/v1/requests/{request_id}/approve", headers=chief).status_code == 200
    page = b.get(url).text
    assert "完了（決裁済み）" in row(page, notice)
    assert "届出により記載・変更" in page  # the new resident, with a link to their 総合照会
    new_id = re.search(r"/ui/inquiry\?person_id=(\d+)", page).group(1)

    # the other procedures: one done at its desk, the rest not needed
    insurance = step_no(page, "国民健康保険")
    r = b.post(f"{url}/steps/{insurance}", data={"csrf_token": token, "revision": revision(page), "status": "done",
                                                  "note": "保険年金課で加入済み"})
    assert r.status_code == 303
    page = b.get(url).text
    assert "保険年金課で加入済み" in row(page, insurance)
    pdf = b.get(f"{url}/guidance")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = normalise(pdf_text(pdf.content))
    assert "001" in text and normalise("転入　花子") in text and "国民健康保険" in text and "児童手当" in text
    for n in re.findall(r'<tr id="step-(\d+)" class="open-step"', page):
        r = b.post(f"{url}/steps/{n}", data={"csrf_token": token, "revision": revision(b.get(url).text),
                                             "status": "not_needed"})
        assert r.status_code == 303, (n, r.text)
    page = b.get(url).text
    assert b.post(f"{url}/close", data={"csrf_token": token, "revision": revision(page)}).status_code == 303
    page = b.get(url).text
    assert "この受付は" in page and "に終了しました" in page and 'action="' + url + '/close"' not in page
    queue = b.get("/ui/receptions", params={"state": "closed"}).text
    assert "001" in queue and "転入" in queue

    view = b.get("/ui/inquiry", params={"person_id": new_id}).text
    assert "総合照会: 転入　花子" in view and ">001<" in view


def test_a_page_opened_before_another_clerks_update_is_refused(api):
    pid, _ = resident(api)
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    url = b.post("/ui/receptions", data={"csrf_token": token, "event": "move_within", "filed_by": "self",
                                         "person_ids": pid}).headers["location"]
    stale = b.get(url).text
    other = browser(api)
    enrol(other, api, "T002")
    other_token = web_login(other, api, "bango")  # a second clerk at the next desk
    school = step_no(stale, "小・中学校")
    assert other.post(f"{url}/steps/{school}", data={"csrf_token": other_token, "revision": revision(stale),
                                                      "status": "not_needed"}).status_code == 303
    pension_less = step_no(stale, "介護保険")
    r = b.post(f"{url}/steps/{pension_less}", data={"csrf_token": token, "revision": revision(stale),
                                                    "status": "not_needed"})
    assert r.status_code == 409 and "画面を開き直し" in r.text
    assert revision(r.text) == str(int(revision(stale)) + 1)  # the page shown is the reception as it is now
    assert "不要" in row(r.text, school)


def test_the_inquiry_is_masked_refused_without_the_right_and_logged(api):
    pid, hid = resident(api)
    clerk = browser(api)
    enrol(clerk, api)
    web_login(clerk, api, "clerk")
    page = clerk.get("/ui/inquiry", params={"person_id": pid})
    assert page.status_code == 200 and "総合照会: 札幌　太郎" in page.text
    assert "************" in page.text and NUMBER not in page.text and "札幌　花子" in page.text
    bango = browser(api)
    enrol(bango, api, "T002")
    web_login(bango, api, "bango")
    assert NUMBER in bango.get("/ui/inquiry", params={"person_id": pid}).text
    viewer = browser(api)
    enrol(viewer, api)
    web_login(viewer, api, "viewer")
    refused = viewer.get("/ui/inquiry", params={"person_id": pid})
    assert refused.status_code == 403 and "この操作はできません" in refused.text
    denied = [e for e in api.audit("access.denied") if e["user_id"] == "viewer"]
    assert denied and denied[-1]["detail"]["rules"][0].startswith("SEC-2/")
    reads = [e for e in api.audit("inquiry.read")]
    assert [(e["user_id"], e["subject_ids"]) for e in reads] == [("clerk", [pid]), ("bango", [pid])]
    # the person and household pages offer the 総合照会 and a reception to the clerk only
    person_page = clerk.get(f"/ui/persons/{pid}").text
    assert f"/ui/inquiry?person_id={pid}" in person_page and f"/ui/receptions/new?person_id={pid}" in person_page
    assert "/ui/inquiry?person_id=" not in viewer.get(f"/ui/persons/{pid}").text
    assert f"/ui/receptions/new?household_id={hid}" in clerk.get(f"/ui/households/{hid}").text


def test_a_closed_reception_is_reopened_from_its_page_with_a_reason(api):
    """The reopen button (CTR-2): shown only on a closed reception; without a reason it is refused at the
    reason's field; on the page's revision it reopens the reception, whose history shows the reason; a page
    shown before the reopening is refused (409) with the reception as it is now."""
    pid, _ = resident(api)
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    url = b.post("/ui/receptions", data={"csrf_token": token, "event": "household", "filed_by": "self",
                                         "person_ids": pid}).headers["location"]
    page = b.get(url).text
    assert "受付を再開する" not in page and f'action="{url}/reopen"' not in page
    for n in re.findall(r'<tr id="step-(\d+)" class="open-step"', page):
        assert b.post(f"{url}/steps/{n}", data={"csrf_token": token, "revision": revision(b.get(url).text),
                                                "status": "not_needed"}).status_code == 303
    assert b.post(f"{url}/close", data={"csrf_token": token, "revision": revision(b.get(url).text)}).status_code == 303
    closed = b.get(url).text
    assert "に終了しました" in closed and f'action="{url}/reopen"' in closed and "受付を再開する" in closed
    refused = b.post(f"{url}/reopen", data={"csrf_token": token, "revision": revision(closed), "reason": ""})
    assert refused.status_code == 422 and 'href="#f-reason"' in refused.text and "再開の理由を" in refused.text
    r = b.post(f"{url}/reopen", data={"csrf_token": token, "revision": revision(closed), "reason": "住民票の写しに再来庁"})
    assert r.status_code == 303 and r.headers["location"] == url
    page = b.get(url).text
    assert "受付中" in page and "受付を再開する" not in page and f'action="{url}/close"' in page
    assert "受付の再開: 住民票の写しに再来庁（clerk）" in page
    stale = b.post(f"{url}/reopen", data={"csrf_token": token, "revision": revision(closed), "reason": "二度目"})
    assert stale.status_code == 409 and "終了していません" in stale.text  # it is open again now
    assert [e["detail"]["reason"] for e in api.audit("reception.reopen")] == ["住民票の写しに再来庁"]
