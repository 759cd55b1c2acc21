"""世帯合併 and 世帯構成変更 at the counter in a real browser (CTR-1, REG-E4, REG-R3): the clerk opens the form
from the household, sees the household to join, is told at the field what is missing, and a second user
approves with the households and persons shown before and after."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from juki.clock import JST
from juki.domain.events import Origin
from juki.services.changes import Actor

from .conftest import check, enrol_terminal, login, logout


def split_family(site) -> tuple[str, str, list[str]]:
    """A seeded household of three or more; one member forms a household of their own at the same address."""
    with site.reg.engine.connect() as c:
        home = c.execute(sa.text("SELECT household_id FROM persons WHERE status = 'resident' GROUP BY household_id "
                                 "HAVING count(*) >= 3 ORDER BY household_id LIMIT 1")).scalar()
    members = [m["person_id"] for m in site.reg.queries.household(home)["members"]]
    leaver = members[-1]
    day = site.clock().astimezone(JST).date()
    submitted = site.reg.changes.submit("household_split", {"household_id": home, "person_ids": [leaver],
                                                            "new_head_id": leaver},
                                        actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION,
                                        legal_basis="住民基本台帳法第25条", effective_date=day, notified_date=day)
    site.reg.changes.approve(submitted.request_id, actor=Actor("chief", "T002"))
    return home, site.reg.queries.person(leaver)["household_id"], members


def approve_last(page, site, shot: str) -> str:
    login(page, site, "chief")
    page.get_by_role("link", name="決裁").first.click()
    request_id = page.locator("main table tbody tr a").first.inner_text()
    page.get_by_role("link", name=request_id, exact=True).click()
    text = page.inner_text("main")
    assert "世帯の変更前と変更後" in text
    check(page, shot)
    page.get_by_role("button", name="決裁する（住民票に反映）").click()
    page.wait_for_selector("text=を決裁しました")
    logout(page)
    return text


def test_a_household_merge_at_the_counter(page, site):
    home, own, members = split_family(site)
    leaver = members[-1]
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(f"{site.url}/ui/households/{own}")
    page.get_by_role("link", name="世帯変更届（世帯合併）").click()
    check(page, "form-household-merge")
    page.fill("#f-effective_date", "2026-04-20")
    page.check("#f-filed_by-1")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("#error-summary")
    check(page, "form-household-merge-refused")
    assert "必須項目です" in page.inner_text("#f-into_household_id-error")
    assert page.get_attribute("#f-into_household_id", "aria-invalid") == "true"
    page.click("#error-summary a[href='#f-into_household_id']")
    assert page.evaluate("location.hash") == "#f-into_household_id"
    # the household to join, shown before the 続柄 is entered
    page.fill("#f-into_household_id", home)
    page.get_by_role("button", name="この世帯を表示する").click()
    head = site.reg.queries.household(home)["members"][0]["name"]
    assert head in page.inner_text("#s-into")
    page.fill(f"#f-members-{leaver}-relationship", "子")
    page.check("#f-filed_by-1")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("text=届出を受け付けました")
    logout(page)

    text = approve_last(page, site, "request-household-merge")
    assert "世帯員なし（世帯の消滅）" in text
    moved = site.reg.queries.person(leaver)
    assert (moved["household_id"], moved["relationship"]) == (home, "子")


def test_a_household_reorganisation_at_the_counter(page, site):
    home, own, members = split_family(site)
    mover = members[1]
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(f"{site.url}/ui/households/{home}")
    page.get_by_role("link", name="世帯変更届（世帯構成変更）").click()
    check(page, "form-household-reorganise")
    page.fill("#f-effective_date", "2026-04-20")
    page.check(f"#f-members-{mover}-move")
    page.fill("#f-into_household_id", own)
    page.check("#f-filed_by-1")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("#error-summary")
    check(page, "form-household-reorganise-refused")
    assert "続柄" in page.inner_text("#s-members")  # the 続柄 in the household joined is missing
    assert re.search(r"続柄", page.inner_text("#error-summary"))
    page.fill(f"#f-members-{mover}-relationship", "兄")
    page.check("#f-filed_by-1")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("text=届出を受け付けました")
    logout(page)

    approve_last(page, site, "request-household-reorganise")
    moved = site.reg.queries.person(mover)
    assert (moved["household_id"], moved["relationship"]) == (own, "兄")


def test_submitted_forms_are_searched_by_name(page, site):
    """CTR-4: 届出の検索 from the 決裁 page, by a name typed in hiragana."""
    *_, members = split_family(site)
    kana = site.reg.queries.person(members[-1])["name_kana"]
    hiragana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana)
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.get_by_role("link", name="決裁").first.click()
    page.get_by_role("link", name="届出の検索").click()
    page.get_by_label("氏名").fill(hiragana)
    page.get_by_role("button", name="検索").click()
    expect(page.locator("#results")).to_have_text("検索結果 1 件")
    assert "世帯分離" in page.inner_text("main table")
    check(page, "submitted-search")
