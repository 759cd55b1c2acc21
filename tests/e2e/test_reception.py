"""The 総合窓口 in a real browser (CTR-2, CTR-1, REG-R3, REG-CERT): a clerk opens a 転入 reception, enters the
転入届 from its step, a second user approves it and the step shows 完了; the clerk issues a 住民票の写し from the
reception, prints the 案内文書 (read back from the PDF), is refused closing while steps are open, marks the
rest and closes; the 総合照会 of the new resident shows the certificate in the issuance history; the closed
reception is reopened with a reason and closed again.  axe-core and a screenshot on every page."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from juki.issuance.proof import normalise, pdf_text

from .conftest import check, enrol_terminal, login, logout

NAME = "転入　花子"


def test_a_move_in_at_the_one_stop_counter_from_opening_to_closing(page, site):
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.get_by_role("link", name="総合窓口").first.click()
    check(page, "receptions-empty")
    page.get_by_role("link", name="新しい受付を始める").click()
    check(page, "reception-new")
    # nothing chosen: each error at its field
    page.get_by_role("button", name="受付する（受付番号を発行）").click()
    page.wait_for_selector("#error-summary")
    check(page, "reception-new-refused")
    summary = page.inner_text("#error-summary")
    assert "ライフイベントを選んでください" in summary and "対象となる人を1人以上" in summary
    page.check("#f-event-1")  # 転入
    page.fill("#f-newcomers-0", NAME)
    page.check("#f-filed_by-1")  # 本人
    page.get_by_role("button", name="受付する（受付番号を発行）").click()
    page.wait_for_url(re.compile(r"/ui/receptions/\d+$"))
    reception_url = page.url
    check(page, "reception")
    assert "001" in page.inner_text("h1") and NAME in page.inner_text("main")

    # the 転入届, from its step (opened with the keyboard): the name and the 受付番号 are carried over
    entry = page.get_by_role("link", name="転入届を入力する")
    entry.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/changes/move_in/new"))
    check(page, "reception-form-move-in")
    assert page.input_value("#f-persons-0-name") == NAME
    assert page.input_value("#f-case_ref").endswith("001")
    page.fill("#f-effective_date", "2026-04-15")
    page.fill("#f-persons-0-name_kana", "テンニュウ　ハナコ")
    page.select_option("#f-persons-0-furigana_status", "confirmed")
    page.fill("#f-persons-0-birth_date", "1990-02-03")
    page.select_option("#f-persons-0-sex", "2")
    page.fill("#f-persons-0-relationship", "世帯主")
    page.select_option("#f-address-lg_code", label="札幌市中央区")
    page.fill("#f-address-town", "南五条西")
    page.fill("#f-address-block", "5丁目5番5号")
    page.fill("#f-prior_address-prefecture", "千葉県")
    page.fill("#f-prior_address-city", "千葉市中央区")
    page.fill("#f-prior_address-town", "千葉港")
    page.check("#f-filed_by-1")
    page.check("input[name=identity_documents][value=my_number_card]")
    page.get_by_role("button", name="入力内容を確認して決裁に回す").click()
    page.wait_for_selector("text=届出を受け付けました")
    request_id = re.search(r"受付番号（届出番号） (\d+)", page.inner_text("main")).group(1)
    page.get_by_role("link", name="総合受付に戻る").click()
    notice_row = page.locator("tr", has=page.get_by_role("rowheader", name=re.compile("^転入届")))
    expect(notice_row).to_contain_text("処理中（決裁待ち）")
    check(page, "reception-waiting")
    logout(page)

    # four eyes: another user approves
    login(page, site, "chief")
    page.goto(f"{site.url}/ui/requests/{request_id}")
    page.get_by_role("button", name="決裁する（住民票に反映）").click()
    page.wait_for_selector("text=を決裁しました")
    logout(page)

    login(page, site, "clerk")
    page.goto(reception_url)
    expect(notice_row).to_contain_text("完了（決裁済み）")
    check(page, "reception-approved")

    # a 住民票の写し from its step: issued for the new resident's household, the step completed
    page.get_by_role("link", name="住民票の写しを交付する").click()
    page.wait_for_selector("#s-subject_ids")
    check(page, "reception-certificate")
    assert "の手続「住民票の写しの交付」として交付します" in page.inner_text("main")
    new_id = page.locator("input[name=subject_ids]").first.get_attribute("value")
    page.check("#f-path-1")
    page.select_option("#f-requester-person_id", new_id)
    page.check("input[name=identity][value=drivers_license]")
    page.get_by_role("button", name="確認する").click()
    page.wait_for_selector("#preview img")
    with page.expect_download() as info:
        page.get_by_role("button", name="交付する（PDFをダウンロードして印刷）").click()
    certificate = normalise(pdf_text(open(info.value.path(), "rb").read()))
    assert normalise(NAME) in certificate and "住民票の写し" in certificate
    with site.reg.engine.connect() as c:
        certificate_id = c.execute(sa.text("SELECT certificate_id FROM certificate_issuances")).scalar_one()
    page.goto(reception_url)
    copy_row = page.locator("tr", has=page.get_by_role("rowheader", name=re.compile("^住民票の写しの交付")))
    expect(copy_row).to_contain_text("完了")
    expect(copy_row).to_contain_text(certificate_id)

    # the 案内文書: what was done and what remains, where and with what
    with page.expect_download() as info:
        page.get_by_role("link", name="案内文書を印刷する（PDF）").click()
    letter = normalise(pdf_text(open(info.value.path(), "rb").read()))
    for words in ("お手続きのご案内", "受付番号", "001", normalise(NAME), "本日お済みのお手続き", "転入届", "住民票の写しの交付",
                  "これから必要なお手続き", "マイナンバーカードの住所変更", "国民健康保険", "市民課 マイナンバーカード窓口"):
        assert normalise(words) in letter, words
    assert not re.search(r"\d{12}", letter)

    # closing with open steps is refused, each named
    page.get_by_role("button", name="受付を終了する").click()
    page.wait_for_selector("#error-summary")
    check(page, "reception-close-refused")
    summary = page.inner_text("#error-summary")
    assert "マイナンバーカードの住所変更（券面記載）が未着手です" in summary and "受付を終了してください" in summary
    # the other procedures: the card at its desk, the rest not needed
    card = page.locator("tr", has=page.get_by_role("rowheader", name=re.compile("^マイナンバーカードの住所変更")))
    card.locator("select").select_option("done")
    card.get_by_role("button").click()
    page.wait_for_url(reception_url)
    while page.locator("tr.open-step").count():
        row = page.locator("tr.open-step").first
        row.locator("select").select_option("not_needed")
        row.get_by_role("button", name=re.compile("^記録する")).click()
        page.wait_for_load_state()
    close = page.get_by_role("button", name="受付を終了する")
    close.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("text=に終了しました")
    check(page, "reception-closed")

    # the 総合照会 of the new resident: the certificate in the issuance history, this reception in theirs
    page.get_by_role("link", name=f"{NAME}の総合照会").click()
    page.wait_for_selector("#h-certificates")
    check(page, "inquiry")
    history = page.locator("section", has=page.locator("#h-certificates")).inner_text()
    assert certificate_id in history and "住民票の写し" in history and "本人" in history and "clerk" in history
    receptions = page.locator("section", has=page.locator("#h-receptions")).inner_text()
    assert "001" in receptions and "終了" in receptions
    assert "************" in page.inner_text("main") or "（未指定）" in page.inner_text("main")
    page.goto(site.url + "/ui/inquiry")
    check(page, "inquiry-form")
    page.goto(site.url + "/ui/receptions?state=all")
    check(page, "receptions")
    assert "001" in page.inner_text("main") and "終了" in page.inner_text("main")

    # the resident comes back: the closed reception is reopened with a reason (required), and closed again
    page.goto(reception_url)
    reopen = page.get_by_role("button", name="受付を再開する")
    page.fill("#f-reason", "印鑑登録に再来庁")
    reopen.click()
    page.wait_for_selector("text=受付中")
    check(page, "reception-reopened")
    assert "受付の再開: 印鑑登録に再来庁（clerk）" in page.inner_text("main")
    assert page.get_by_role("button", name="受付を再開する").count() == 0
    page.get_by_role("button", name="受付を終了する").click()
    page.wait_for_selector("text=に終了しました")
