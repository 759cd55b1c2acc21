"""郵送請求 and 一括交付 in a real browser (REG-CERT, CTR-1; the 002 別紙2 incidents): a clerk records two
letters (the first with an envelope address that is not the 請求者's registered one, refused at that
field), queues them, issues the day's batch, and the print file the browser downloads is read back: a
発送一覧, then per envelope its 送付状 with that envelope's address and one certificate of one person.  At the
counter, 交付する sent a second time shows the same certificate id and hands out the same PDF.  axe-core
and a screenshot of each page."""

from __future__ import annotations

import re

import sqlalchemy as sa

from juki.issuance.proof import normalise, page_texts

from .conftest import check, enrol_terminal, login
from .test_certificates import a_family


def fill_letter(page, person_id: str, name: str, address: str) -> None:
    page.check(f"#f-subject-{person_id}")
    page.select_option("#f-kind", "resident_copy")
    page.check("#f-path-1")  # 本人等の請求
    page.select_option("#f-requester-person_id", person_id)
    page.check("input[name=identity][value=health_insurance]")
    page.fill("#f-purpose", "年金の手続")
    page.fill("#f-envelope-addressee", name)
    page.fill("#f-envelope-address", address)
    page.check("input[name='fee.method'][value=postal_order]")
    page.fill("#f-fee-yen", "300")


def test_record_letters_queue_them_and_issue_the_days_batch(page, site):
    hid, members = a_family(site)
    (a_id, a_name, _), (b_id, b_name, _) = members[:2]
    address = {pid: site.reg.store.person_current(pid).address.text for pid in (a_id, b_id)}
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.get_by_role("link", name="郵送請求・一括交付").click()
    page.get_by_role("link", name="郵送請求を受け付ける").click()
    page.get_by_label("世帯番号").fill(hid)
    page.get_by_role("button", name="読み込む").click()
    page.wait_for_selector("#s-envelope")
    check(page, "mail-form")
    # the envelope to another address: refused at the address field, nothing recorded
    fill_letter(page, a_id, a_name, "東京都千代田区千代田1番1号")
    page.get_by_role("button", name="一括交付に回す").click()
    page.wait_for_selector("#error-summary")
    check(page, "mail-refused")
    assert "封筒の住所" in page.inner_text("#f-envelope-address-error")
    assert page.get_attribute("#f-envelope-address", "aria-invalid") == "true"
    page.click("#error-summary a[href='#f-envelope-address']")
    assert page.evaluate("location.hash") == "#f-envelope-address"
    page.fill("#f-envelope-address", address[a_id])
    page.get_by_role("button", name="一括交付に回す").click()
    page.wait_for_selector("text=本日の一括交付に回しました")
    check(page, "mail-queued")
    first = re.search(r"M[0-9A-F]{16}", page.inner_text("main")).group(0)
    page.get_by_role("link", name="続けて郵送請求を受け付ける").click()
    page.get_by_label("世帯番号").fill(hid)
    page.get_by_role("button", name="読み込む").click()
    fill_letter(page, b_id, b_name, address[b_id])
    page.get_by_role("button", name="一括交付に回す").click()
    page.wait_for_selector("text=本日の一括交付に回しました")
    second = re.search(r"M[0-9A-F]{16}", page.inner_text("main")).group(0)
    with site.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM mail_requests")).scalar() == 2

    page.get_by_role("link", name="一括交付の画面へ").click()
    page.wait_for_selector("#s-requests")
    check(page, "mail-batch")
    assert page.is_checked(f"#f-request-{first}") and page.is_checked(f"#f-request-{second}")
    page.get_by_role("button", name="選んだ郵送請求を一括交付する（印刷用PDF）").click()
    page.wait_for_selector("#print-file")
    check(page, "mail-batch-issued")
    assert "2通を交付しました" in page.inner_text("main")
    with page.expect_download() as info:
        page.click("#print-file")
    assert info.value.suggested_filename.endswith("-mail.pdf")
    texts = [normalise(t) for t in page_texts(open(info.value.path(), "rb").read())]
    assert "発送一覧" in texts[0] and "2通" in texts[0]
    covers = [i for i, t in enumerate(texts) if "証明書の送付について" in t]
    assert len(covers) == 2
    with site.reg.engine.connect() as c:
        logged = dict(c.execute(sa.text("SELECT o.request_id, i.certificate_id FROM mail_request_outcomes o JOIN "
                                        "certificate_issuances i ON i.certificate_id = o.certificate_id")).all())
    assert set(logged) == {first, second}
    for start, end in zip(covers, [*covers[1:], len(texts)], strict=True):
        envelope = "".join(texts[start:end])
        ours = [pid for pid, name in ((a_id, a_name), (b_id, b_name)) if normalise(name) in texts[start]]
        assert len(ours) == 1  # the 送付状 is addressed to one of them
        pid = ours[0]
        other = b_name if pid == a_id else a_name
        assert normalise(address[pid]) in texts[start]  # the right envelope: the registered address
        assert normalise(other) not in envelope  # one subject per envelope
        rid = first if pid == a_id else second
        assert rid in texts[start] and logged[rid] in texts[start] and logged[rid] in "".join(texts[start + 1:end])


def test_the_counter_shows_the_same_certificate_when_issue_is_sent_again(page, site):
    hid, members = a_family(site)
    head_id = members[0][0]
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(f"{site.url}/ui/certificates?household_id={hid}")
    page.check("#f-path-1")
    page.select_option("#f-requester-person_id", head_id)
    page.check("input[name=identity][value=drivers_license]")
    page.get_by_role("button", name="確認する").click()
    page.wait_for_selector("#preview img")
    issue = page.get_by_role("button", name="交付する（PDFをダウンロードして印刷）")
    with page.expect_download() as info:
        issue.click()
    first = open(info.value.path(), "rb").read()
    issued_id = info.value.suggested_filename.removesuffix(".pdf")
    # the form sent again (a retry after a lost answer; juki.js had disabled the button): same certificate
    page.evaluate("() => { const b = document.querySelector('button[data-once]'); b.disabled = false; "
                  "b.removeAttribute('aria-disabled'); }")
    issue.click()
    page.wait_for_selector("text=二重に交付していません")
    check(page, "certificate-again")
    assert page.inner_text("td.certificate-id") == issued_id
    with page.expect_download() as again:
        page.click("#print-file")
    assert open(again.value.path(), "rb").read() == first
    with site.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM certificate_issuances")).scalar() == 1
