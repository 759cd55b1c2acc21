"""Certificate issuance at the counter in a real browser (REG-CERT, CTR-1): a clerk searches, chooses a
household, asks for a 住民票の写し with the 続柄, previews it, issues it with a double click (one certificate
is logged), and the PDF the browser downloads is read back; a third party's request without a reason is refused at its field.  axe-core and a screenshot of
each page."""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import expect

from juki.adapters.pdf.verify import verify_pdf
from juki.adapters.signing_keys import load_public_key
from juki.issuance.proof import normalise, pdf_text

from .conftest import check, enrol_terminal, login


def a_family(site) -> tuple[str, list[tuple[str, str, str]]]:
    """A household of two or more residents: its number and its members (宛名番号, name, kana)."""
    with site.reg.engine.connect() as c:
        hid = c.execute(sa.text("SELECT household_id FROM persons WHERE status = 'resident' GROUP BY household_id "
                                "HAVING count(*) >= 2 ORDER BY household_id LIMIT 1")).scalar()
        members = c.execute(sa.text("SELECT person_id, name, name_kana FROM persons WHERE household_id = :h "
                                    "AND status = 'resident' ORDER BY person_id"), {"h": hid}).all()
    return hid, [tuple(m) for m in members]


def test_search_choose_a_household_preview_and_issue_a_resident_copy(page, site):
    hid, members = a_family(site)
    head_id, head_name, head_kana = members[0]
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.get_by_role("link", name="住民検索").first.click()
    page.get_by_label("氏名（カナ）").fill(head_kana)
    page.get_by_role("button", name="検索").click()
    page.get_by_role("link", name=head_name).first.click()
    page.get_by_role("link", name=hid, exact=True).click()
    page.get_by_role("link", name="この世帯の証明書を交付する").click()
    page.wait_for_selector("#s-subject_ids")
    check(page, "certificate-form")
    assert page.locator("input[name=subject_ids]:checked").count() == len(members)  # the whole household
    page.select_option("#f-kind", "resident_copy")
    page.check("#f-path-1")  # 本人等の請求
    page.select_option("#f-requester-person_id", head_id)
    page.check("input[name=identity][value=drivers_license]")
    page.check("input[name=items][value=relationship]")
    page.fill("#f-purpose", "勤務先に提出")
    page.get_by_role("button", name="確認する").click()
    page.wait_for_selector("#preview img")
    check(page, "certificate-preview")
    summary = page.inner_text("#preview")
    assert "住民票の写し" in summary and f"{len(members)}人" in summary and "続柄" in summary
    issue = page.get_by_role("button", name="交付する（PDFをダウンロードして印刷）")
    with page.expect_download() as info:
        issue.dblclick()  # a double click issues once (CTR-1): the button is disabled after the first
    download = info.value
    expect(issue).to_be_disabled()
    assert download.suggested_filename.endswith(".pdf")
    pdf = open(download.path(), "rb").read()
    text = normalise(pdf_text(pdf))
    for _, name, _ in members:
        assert normalise(name) in text
    assert "勤務先に提出" in text and "住民票の写し" in text
    assert verify_pdf(pdf, load_public_key(site.reg.certificate_signer.public_key_pem())).ok
    with site.reg.engine.connect() as c:
        logged = c.execute(sa.text("SELECT issued_by, kind, subject_count FROM certificate_issuances")).all()
    assert [tuple(x) for x in logged] == [("clerk", "resident_copy", len(members))]


def test_a_refused_request_shows_its_errors_at_the_fields(page, site):
    hid, _ = a_family(site)
    enrol_terminal(page, site)
    login(page, site, "clerk")
    page.goto(f"{site.url}/ui/certificates?household_id={hid}")
    page.check("#f-path-3")  # 第三者の申出
    page.select_option("#f-requester-person_id", "")
    page.fill("#f-requester-name", "第三　者")
    page.check("input[name=identity][value=drivers_license]")
    page.check("input[name=items][value=individual_number]")
    page.get_by_role("button", name="確認する").click()
    page.wait_for_selector("#error-summary")
    check(page, "certificate-refused")
    summary = page.inner_text("#error-summary")
    assert "正当な理由" in summary and "個人番号" in summary
    assert "正当な理由" in page.inner_text("#f-reason-error")
    page.click("#error-summary a[href='#f-reason']")
    assert page.evaluate("location.hash") == "#f-reason"
    assert page.get_attribute("#f-reason", "aria-invalid") == "true"
    assert page.locator("#preview").count() == 0
    assert re.search(r"第三　者", page.input_value("#f-requester-name"))  # what was typed stays
