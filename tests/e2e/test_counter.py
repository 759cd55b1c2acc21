"""The counter's main journeys in a real browser (CTR-1, REG-R3, SEC-1, SEC-2): a clerk enters a 転入, a
second user approves it side by side, the clerk finds the new resident; a refused 届出 shows each error at
its field; the screen locks when idle; a user sees only the screens their rights allow."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from .conftest import PASSWORD, check, enrol_terminal, login, logout


def fill_move_in(page, *, birth: str = "1980-05-01", town: str = "北一条西", agent: bool = False, documents=("driver_licence",)):
    page.fill("#f-effective_date", "2026-04-15")
    page.fill("#f-persons-0-name", "札幌　太郎")
    page.fill("#f-persons-0-name_kana", "サッポロ　タロウ")
    page.select_option("#f-persons-0-furigana_status", "confirmed")
    page.fill("#f-persons-0-birth_date", birth)
    page.select_option("#f-persons-0-sex", "1")
    page.fill("#f-persons-0-relationship", "世帯主")
    # 郵便番号から住所を入力: the ward and the 町域 come from the postcode, and focus moves on to 丁目・番地
    page.fill("#f-address-postcode", "0600001")
    page.locator("[data-postcode=f-address-postcode]").click()
    expect(page.locator("#f-address-block")).to_be_focused()
    expect(page.locator("#f-address-town")).to_have_value("北一条西")
    expect(page.locator("#f-address-lg_code")).to_have_value("011011")
    expect(page.locator("#f-address-postcode-status")).to_contain_text("北海道札幌市中央区北一条西（1〜19丁目） を入力しました")
    page.fill("#f-address-town", town)
    page.fill("#f-address-block", "2丁目1番")
    page.fill("#f-prior_address-prefecture", "千葉県")
    page.fill("#f-prior_address-city", "千葉市中央区")
    page.fill("#f-prior_address-town", "千葉港")
    page.fill("#f-prior_address-block", "1番1号")
    page.check("#f-filed_by-3" if agent else "#f-filed_by-1")
    for code in documents:
        page.check(f"input[name=identity_documents][value={code}]")
    if agent:
        page.fill("#f-agent_name", "代理　次郎")


def count(site, table: str) -> int:
    with site.reg.engine.connect() as c:
        return c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_move_in_approved_by_a_second_user_then_found(page, site):
    enrol_terminal(page, site)
    # the login is keyboard-only: the id field has focus, Tab moves on, Enter submits
    page.goto(site.url + "/ui/login")
    check(page, "login")
    page.keyboard.type("clerk")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(site.totp("clerk"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/$"))
    site.clock.advance(seconds=30)
    check(page, "home-clerk")
    # the skip link is the first stop of the keyboard and takes focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "本文へ移動"
    page.get_by_role("link", name="届出の受付").first.click()
    check(page, "changes")
    page.get_by_role("link", name="転入届").click()
    check(page, "form-move-in")
    fill_move_in(page)
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("text=届出を受け付けました")
    check(page, "submitted")
    request_id = re.search(r"受付番号（届出番号） (\d+)", page.inner_text("main")).group(1)
    with site.reg.engine.connect() as c:
        intake = c.execute(sa.text("SELECT filed_by, identity_documents, recorded_by FROM counter_intakes WHERE request_id = :r"),
                           {"r": int(request_id)}).one()
    assert tuple(intake) == ("self", '["driver_licence"]', "clerk")
    # the clerk may not approve their own 届出: the page says so and shows no approve button
    page.goto(f"{site.url}/ui/requests/{request_id}")
    assert page.get_by_role("button", name="決裁する（住民票に反映）").count() == 0
    assert "決裁は別の職員が行います" in page.inner_text("main")
    logout(page)

    login(page, site, "chief")
    page.get_by_role("link", name="決裁").first.click()
    check(page, "requests")
    page.get_by_role("link", name=request_id, exact=True).click()
    text = page.inner_text("main")
    assert "変更前と変更後" in text and "札幌　太郎" in text and "運転免許証" in text
    check(page, "request-before-after")
    page.get_by_role("button", name="決裁する（住民票に反映）").click()
    page.wait_for_selector("text=を決裁しました")
    check(page, "approved")
    person_link = page.get_by_role("link", name=re.compile("宛名番号 .* の住民票"))
    person_id = re.search(r"宛名番号 (\S+) の住民票", person_link.inner_text()).group(1)
    logout(page)

    login(page, site, "clerk")
    page.goto(site.url + "/ui/search")
    page.get_by_label("氏名（カナ）").fill("さっぽろ　たろう")  # hiragana finds katakana (REG-SEARCH)
    page.get_by_role("button", name="検索").click()
    check(page, "search-results")
    page.get_by_role("link", name="札幌　太郎").click()
    text = page.inner_text("main")
    assert person_id in text and "北海道札幌市中央区北一条西2丁目1番" in text and "転入" in text
    check(page, "person")
    page.get_by_label("この日の時点で表示").fill("2026-04-14")
    page.get_by_role("button", name="表示").click()
    assert "2026-04-14 時点で住民票" in page.inner_text("main")  # not yet a resident the day before
    page.goto(f"{site.url}/ui/persons/{person_id}")
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    check(page, "household")
    site.reg.audit_queue.flush()
    with site.reg.engine.connect() as c:
        reads = c.execute(sa.text("SELECT action FROM audit_entries WHERE user_id = 'clerk' AND action IN ('search', 'person.read', 'household.read')")).scalars().all()
    assert {"search", "person.read", "household.read"} <= set(reads)


def test_a_refused_move_in_shows_its_errors_at_the_fields(page, site):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(site.url + "/ui/changes/move_in/new")
    before = count(site, "change_requests")
    # born after the move, no 町域, an agent without a 委任状 and only one document without a photo
    fill_move_in(page, birth="2026-04-16", town="", agent=True, documents=("health_insurance",))
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("#error-summary")
    check(page, "form-move-in-refused")
    summary = page.inner_text("#error-summary")
    assert "委任状" in summary and "本人確認書類" in summary and "代理人の住所" in summary
    # each error sits next to its field, which is marked invalid, and the summary links to it
    for fid, words in (("f-identity_documents", "写真付き"), ("f-power_of_attorney", "委任状"), ("f-agent_address", "住所")):
        assert words in page.inner_text(f"#{fid}-error"), fid
        page.click(f"#error-summary a[href='#{fid}']")
        assert page.evaluate("location.hash") == f"#{fid}"
    assert page.get_attribute("#f-agent_address", "aria-invalid") == "true"
    # the summary has focus, so a screen reader reads it first
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("#error-summary")
    # (a deferred script moves the focus; expect() polls from Playwright's side, so the page's CSP, which forbids
    # eval, does not get in the way as wait_for_function's string predicate does)
    expect(page.locator("#error-summary")).to_be_focused()
    assert count(site, "change_requests") == before and count(site, "counter_intakes") == 0
    # fixing the identity check brings the register's own checks, each at its field
    page.check("#f-filed_by-1")
    page.fill("#f-agent_name", "")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("#error-summary")
    assert "町域を入力してください" in page.inner_text("#f-address-town-error")
    assert "生年月日" in page.inner_text("#error-summary")
    assert page.get_attribute("#f-persons-0-birth_date", "aria-invalid") == "true"
    assert count(site, "change_requests") == before


def test_the_screen_locks_when_idle_and_the_session_ends_later(page, site):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(site.url + "/ui/search")
    # the server: 5 minutes without a request lock every page until the password is given again
    site.clock.advance(minutes=5, seconds=1)
    response = page.goto(site.url + "/ui/search?kana=サ")
    assert response.status == 423
    check(page, "lock")
    assert "画面ロック中" in page.inner_text("main") and "検索結果" not in page.inner_text("main")
    page.reload()
    assert "画面ロック中" in page.inner_text("main")  # a reload does not lift it
    page.get_by_label("パスワード", exact=True).fill("wrong password!")
    page.get_by_role("button", name="ロックを解除").click()
    assert "ロックを解除できませんでした" in page.inner_text("main")
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="ロックを解除").click()
    page.wait_for_selector("text=検索結果")
    # the page: its own timer covers the screen at the same moment, without a request
    page.clock.install()
    page.goto(site.url + "/ui/")
    page.clock.fast_forward("05:01")
    overlay = page.locator("#lock-overlay")
    overlay.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "lock-password"
    check(page, "lock-overlay")
    page.fill("#lock-password", PASSWORD)
    page.click("#lock-form button")
    overlay.wait_for(state="hidden")
    # 15 minutes idle end the session: the next page is the login, saying why
    site.clock.advance(minutes=16)
    page.goto(site.url + "/ui/search")
    page.wait_for_url(re.compile(r"/ui/login"))
    assert "一定時間操作がなかったため" in page.inner_text("main")
    site.reg.audit_queue.flush()
    with site.reg.engine.connect() as c:
        actions = c.execute(sa.text("SELECT action FROM audit_entries WHERE user_id = 'clerk' ORDER BY seq")).scalars().all()
    assert actions.count("screen.lock") == 2 and actions.count("screen.unlock") == 2 and "access.denied" in actions


def test_each_user_sees_only_what_their_rights_allow(page, site):
    enrol_terminal(page, site)
    login(page, site, "viewer")
    menu = page.locator("nav[aria-label=メインメニュー] a").all_inner_texts()
    assert menu == ["ホーム", "住民検索"]
    with site.reg.engine.connect() as c:
        someone = c.execute(sa.text("SELECT person_id FROM persons WHERE status = 'resident' ORDER BY person_id LIMIT 1")).scalar()
    page.goto(f"{site.url}/ui/search?person_id={someone}")
    page.locator("main table a").first.click()
    assert page.get_by_role("link", name="転居届").count() == 0  # no 届出 offered to a viewer
    check(page, "person-viewer")
    response = page.goto(site.url + "/ui/changes")  # typed by hand: refused, said plainly, audited
    assert response.status == 403
    check(page, "forbidden")
    logout(page)

    login(page, site, "auditor", shot="login-auditor")
    assert page.locator("nav[aria-label=メインメニュー] a").all_inner_texts() == ["ホーム", "監査"]
    page.get_by_role("link", name="監査").first.click()
    check(page, "audit")
    assert "viewer" in page.inner_text("main") or "時間外" in page.inner_text("main")
    page.get_by_role("link", name="住民ごとのアクセス記録").click()
    page.get_by_label("宛名番号").fill(someone)
    page.get_by_role("button", name="表示").click()
    check(page, "audit-person")
    logout(page)

    login(page, site, "admin")
    assert page.locator("nav[aria-label=メインメニュー] a").all_inner_texts() == ["ホーム", "権限管理", "認証器の管理"]
    page.goto(site.url + "/ui/rights")
    page.select_option("#f-user_id", "viewer")
    page.select_option("#f-role", "counter_clerk")
    page.fill("#f-section", "市民課")
    page.fill("#f-reason", "窓口の応援")
    page.get_by_role("button", name="申請する").click()
    check(page, "rights-admin")
    assert page.get_by_role("button", name=re.compile("^承認")).count() == 0  # the administrator cannot approve
    logout(page)

    login(page, site, "owner")
    page.goto(site.url + "/ui/rights")
    check(page, "rights-owner")
    page.get_by_role("button", name="承認（viewer の 窓口担当）").click()
    page.wait_for_url(re.compile(r"/ui/rights"))
    logout(page)
    login(page, site, "viewer")
    assert "届出の受付" in page.locator("nav[aria-label=メインメニュー]").inner_text()


def test_a_postcode_outside_the_city_and_one_shared_by_two_towns(page, site):
    """CTR-1: the 前住所 (another municipality) is filled from its postcode, choosing among the 町域 that share
    it, by keyboard; a postcode of another city is not put into this city's ward list."""
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(site.url + "/ui/changes/move_in/new")
    page.fill("#f-prior_address-postcode", "068-0546")
    page.locator("[data-postcode=f-prior_address-postcode]").click()
    expect(page.locator("#f-prior_address-postcode-status")).to_contain_text("町域が 2 件あります")
    first = page.get_by_role("button", name="北海道夕張市南部青葉町")
    expect(first).to_be_focused()
    check(page, "form-move-in-postcode-choices")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the second 町域
    expect(page.locator("#f-prior_address-prefecture")).to_have_value("北海道")
    expect(page.locator("#f-prior_address-city")).to_have_value("夕張市")
    expect(page.locator("#f-prior_address-town")).to_have_value("南部菊水町")
    expect(page.locator("#f-prior_address-lg_code")).to_have_value("012092")
    expect(page.locator("#f-prior_address-block")).to_be_focused()
    # a Tokyo postcode for the new address in 札幌市: said so, nothing filled
    page.fill("#f-address-postcode", "1000001")
    page.locator("[data-postcode=f-address-postcode]").click()
    expect(page.locator("#f-address-postcode-status")).to_contain_text("東京都千代田区です（この市の住所ではありません）")
    expect(page.locator("#f-address-lg_code")).to_have_value("")
    expect(page.locator("#f-address-town")).to_have_value("")
    page.fill("#f-address-postcode", "9999999")
    page.locator("[data-postcode=f-address-postcode]").click()
    expect(page.locator("#f-address-postcode-status")).to_contain_text("郵便番号 9999999 は見つかりません")
