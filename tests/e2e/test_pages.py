"""Every page of the counter UI once, in the browser: axe-core finds no serious or critical violation and
a screenshot is saved (the forms of every kind of 届出, the 引越しワンストップ queue, the return of a 届出)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from juki.api.onestop import service
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address
from .conftest import check, enrol_terminal, login, logout


def test_every_form_and_queue_page(page, site):
    with site.reg.engine.connect() as c:
        hid, pid = c.execute(sa.text(
            "SELECT household_id, head_id FROM households WHERE member_count > 0 ORDER BY household_id LIMIT 1")).one()
    onestop = service(site.reg)
    relay = Actor("clerk", "T001")
    app_out, _ = onestop.receive({
        "reference": "MP-OUT-1", "kind": "move_out", "planned_date": "2026-04-25",
        "applicant": {"name": "転出　申請", "name_kana": "テンシュツ　シンセイ", "birth_date": "1985-06-07"},
        "persons": [{"name": "転出　申請", "name_kana": "テンシュツ　シンセイ", "birth_date": "1985-06-07", "sex": "1"}],
        "destination": chiba_address()}, actor=relay)
    onestop.receive({
        "reference": "MP-IN-1", "kind": "move_in_reservation", "planned_date": "2026-04-25", "visit_date": "2026-04-27",
        "applicant": {"name": "転入　花子", "name_kana": "テンニュウ　ハナコ", "birth_date": "1992-01-02"},
        "persons": [{"name": "転入　花子", "name_kana": "テンニュウ　ハナコ", "birth_date": "1992-01-02", "sex": "2",
                     "relationship": "世帯主"}], "address": address(), "prior_address": chiba_address()}, actor=relay)
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(site.url + "/ui/onestop")
    check(page, "onestop")
    page.get_by_role("link", name="MP-OUT-1").click()
    check(page, "onestop-item")
    page.goto(f"{site.url}/ui/onestop/{app_out}")
    assert "該当する住民票が見つかりません" in page.inner_text("main")  # nobody of that name lives here
    for key, query in (("move_within", f"household_id={hid}"), ("move_out", f"household_id={hid}"),
                       ("head_change", f"household_id={hid}"), ("household_split", f"household_id={hid}"),
                       ("birth", f"household_id={hid}"), ("death", f"person_id={pid}"), ("special_move_in", ""),
                       ("ex_officio_entry", ""), ("ex_officio_correction", f"person_id={pid}"),
                       ("ex_officio_removal", f"person_id={pid}"), ("move_out", "")):
        page.goto(f"{site.url}/ui/changes/{key}/new?{query}")
        check(page, f"form-{key}{'-load' if not query else ''}")
    # a 転出 of the whole household, entered from its members table, then returned by the approver
    page.goto(f"{site.url}/ui/changes/move_out/new?household_id={hid}")
    page.fill("#f-effective_date", "2026-04-25")
    for box in page.locator("input[name$='.move']").all():
        box.check()
    page.fill("#f-destination-prefecture", "千葉県")
    page.fill("#f-destination-city", "千葉市中央区")
    page.fill("#f-destination-town", "千葉港")
    page.check("#f-filed_by-1")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("text=届出を受け付けました")
    request_id = re.search(r"受付番号（届出番号） (\d+)", page.inner_text("main")).group(1)
    logout(page)
    login(page, site, "chief")
    page.goto(f"{site.url}/ui/requests/{request_id}")
    assert "除票" in page.inner_text("main")  # after: every member's 住民票 becomes a 除票
    page.get_by_role("button", name="差し戻す").click()
    assert "理由を入力してください" in page.inner_text("#error-summary")
    check(page, "request-return-refused")
    page.get_by_label("差戻し・却下の理由").fill("転出先の番地を確認してください")
    page.get_by_role("button", name="差し戻す").click()
    page.wait_for_selector("text=差し戻しました")
    check(page, "returned")
