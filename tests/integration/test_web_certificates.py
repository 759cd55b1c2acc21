"""Certificate issuance at the counter over HTTP, on both engines (REG-CERT, CTR-1, SEC-3): the clerk previews
the certificate the service would issue (checked, screened and audited, but neither signed nor logged), then
issues it and gets the signed PDF; a request changed after its preview, or never previewed, is not issued;
the service's refusals are shown at their fields."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Any

import sqlalchemy as sa

from juki.access.support import register_measure
from juki.adapters.pdf.verify import verify_pdf
from juki.adapters.signing_keys import load_public_key
from juki.domain.certificate_requests import Relation
from juki.domain.certificates import Layout
from juki.domain.model import Address, FuriganaStatus, Sex
from juki.domain.wide_area import WideAreaAnswer, WideAreaPerson, WideAreaRequest
from juki.issuance.proof import normalise, pdf_text

from .test_api_certificates import family
from .test_web import browser, enrol, web_login


def issued_count(api: Any) -> int:
    with api.reg.engine.connect() as c:
        return int(c.execute(sa.text("SELECT count(*) FROM certificate_issuances")).scalar())


def household_of(api: Any, person_id: str) -> str:
    with api.reg.engine.connect() as c:
        return str(c.execute(sa.text("SELECT household_id FROM persons WHERE person_id = :p"), {"p": person_id}).scalar())


def request_form(token: str, hid: str, ids: list[str], **extra: Any) -> dict[str, Any]:
    return {"csrf_token": token, "household_id": hid, "subject_ids": ids, "kind": "resident_copy", "path": "self",
            "requester.person_id": ids[0] if ids else "", "identity": ["drivers_license"], "items": ["relationship"],
            "purpose": "勤務先に提出", **extra}


def previewed(page: str) -> dict[str, str]:
    """What the preview page gives 交付する: the digest and the preview's one-time token."""
    return {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1) for name in ("preview_digest", "request_token")}


def test_preview_then_issue_a_resident_copy(api):
    ids = family(api)
    hid = household_of(api, ids[0])
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    form = b.get(f"/ui/certificates?household_id={hid}")
    assert form.status_code == 200 and "札幌　花子" in form.text and 'name="subject_ids"' in form.text
    assert b.get(f"/ui/households/{hid}").text.count(f'/ui/certificates?household_id={hid}') == 1
    r = b.post("/ui/certificates/preview", data=request_form(token, hid, ids))
    assert r.status_code == 200, re.findall(r"\[[A-Z]+-[^\]]+\]", r.text)
    assert 'src="data:image/png;base64,' in r.text and "この画像は証明書ではありません" in r.text
    assert "住民票の写し・世帯連記式・2人・記載事項: 続柄・使用目的: 勤務先に提出" in r.text
    # the form keeps what was asked, so that 交付する sends exactly what was previewed
    assert 'value="勤務先に提出"' in r.text and '<option value="resident_copy" selected>' in r.text
    assert f'<option value="{ids[0]}" selected>' in r.text and 'value="relationship" checked' in r.text
    issue_with = previewed(r.text)
    assert re.fullmatch("[0-9a-f]{64}", issue_with["preview_digest"])
    assert 'data-once' in r.text  # juki.js disables 交付する after the first click
    assert issued_count(api) == 0  # a preview is not an issuance
    previews = api.audit("certificate.preview")
    assert [sorted(e["subject_ids"]) for e in previews] == [sorted(ids)]

    r = b.post("/ui/certificates/issue", data={**request_form(token, hid, ids), **issue_with})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert "attachment" in r.headers["content-disposition"]
    text = normalise(pdf_text(r.content))
    assert "札幌太郎" in text and "札幌花子" in text and "勤務先に提出" in text
    assert verify_pdf(r.content, load_public_key(api.reg.certificate_signer.public_key_pem())).ok
    assert issued_count(api) == 1
    [entry] = api.audit("certificate.issue")
    assert entry["user_id"] == "clerk" and entry["detail"]["items"] == ["relationship"]

    # 交付する pressed twice (a double click, or the form sent again): one certificate, shown again with its
    # number and the same PDF (its stored copy), audited as a re-display
    again = b.post("/ui/certificates/issue", data={**request_form(token, hid, ids), **issue_with})
    assert again.status_code == 200 and again.headers["content-type"].startswith("text/html")
    assert "既に交付しています" in again.text and "二重に交付していません" in again.text
    assert f'<td class="certificate-id">{entry["detail"]["certificate_id"]}</td>' in again.text
    link = re.search(r'href="data:application/pdf;base64,([^"]+)" download="([^"]+)"', again.text)
    assert base64.b64decode(link.group(1)) == r.content and link.group(2) == f'{entry["detail"]["certificate_id"]}.pdf'
    assert issued_count(api) == 1 and len(api.audit("certificate.issue")) == 1
    [shown] = api.audit("certificate.redisplay")
    assert shown["detail"]["certificate_id"] == entry["detail"]["certificate_id"] and sorted(shown["subject_ids"]) == sorted(ids)
    assert api.audit("certificate.refuse") == []
    # another token (from another preview) cannot be paired with this preview's digest
    forged = {**issue_with, "request_token": "A" * 43}
    assert b.post("/ui/certificates/issue", data={**request_form(token, hid, ids), **forged}).status_code == 409
    assert issued_count(api) == 1
    r = b.post("/ui/certificates/preview", data=request_form(token, hid, ids))  # preview again: a new token
    fresh = previewed(r.text)
    assert fresh["request_token"] != issue_with["request_token"]
    r = b.post("/ui/certificates/issue", data={**request_form(token, hid, ids), **fresh})
    assert r.status_code == 200 and issued_count(api) == 2


def test_only_what_was_previewed_is_issued(api):
    ids = family(api)
    hid = household_of(api, ids[0])
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    r = b.post("/ui/certificates/issue", data=request_form(token, hid, ids))  # never previewed
    assert r.status_code == 409 and "確認する" in r.text
    r = b.post("/ui/certificates/preview", data=request_form(token, hid, ids[:1]))
    changed = {**request_form(token, hid, ids), **previewed(r.text)}  # a second person added since
    r = b.post("/ui/certificates/issue", data=changed)
    assert r.status_code == 409 and "REG-CERT/preview" in r.text
    assert issued_count(api) == 0


def test_refusals_are_shown_at_their_fields(api):
    ids = family(api)
    hid = household_of(api, ids[0])
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    cases = [
        # a third party without a reason, asking for the 個人番号
        ({"path": "third_party", "requester.person_id": "", "requester.name": "第三　者",
          "items": ["individual_number"]}, ["f-reason", "f-items"]),
        # no identity document seen
        ({"identity": []}, ["f-identity"]),
        # a public body that does not say who it is
        ({"path": "public_body", "requester.person_id": "", "requester.name": "札幌市保健福祉局",
          "public_body.officer": "課長　保健", "items": []}, ["f-public_body-office", "f-public_body-statute"]),
        # an agent without the 委任状
        ({"agent.name": "代理　人"}, ["f-proxy_letter"]),
        # 広域交付 is issued by the 交付地 (its own page), never by the 住所地 on its local form
        ({"path": "wide_area", "wide_area_from": "121002", "items": []}, ["f-path"]),
    ]
    for extra, anchors in cases:
        r = b.post("/ui/certificates/preview", data=request_form(token, hid, ids, **extra))
        assert r.status_code == 422, (extra, r.status_code)
        for anchor in anchors:
            assert f'<a href="#{anchor}">' in r.text, (extra, anchor, re.findall(r'<a href="#([^"]+)">', r.text))
        assert 'name="preview_digest"' not in r.text
    r = b.post("/ui/certificates/preview", data={**request_form(token, hid, []), "requester.name": "札幌　太郎"})
    assert r.status_code == 422 and '<a href="#s-subject_ids">' in r.text
    refused = api.audit("certificate.refuse")
    assert len(refused) == len(cases) + 1 and issued_count(api) == 0


def test_a_protected_person_goes_to_the_supervisor_and_the_offender_gets_nothing(api):
    """SEC-8: a request about a person under 支援措置 is refused at the counter clerk's screen and issued only
    by the supervisor (決裁者, certificate.protected); a request by the offender is refused to everyone."""
    ids = family(api)
    hid = household_of(api, ids[0])
    register_measure(api.reg.engine, person_id=ids[1], offender_name="加害　太郎", offender_birth_date=dt.date(1985, 3, 3),
                     registered_by="support1", approved_by="support2", valid_from=dt.date(2026, 4, 1), clock=api.clock)
    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    page = b.get(f"/ui/certificates?household_id={hid}").text
    assert "支援措置" in page  # the clerk sees the flag before asking
    r = b.post("/ui/certificates/preview", data=request_form(token, hid, ids))
    assert r.status_code == 403 and '<a href="#s-subject_ids">' in r.text and "SEC-8/manual-handling" in r.text
    chief = browser(api)
    enrol(chief, api, "T002")
    chief_token = web_login(chief, api, "chief")
    r = chief.post("/ui/certificates/preview", data=request_form(chief_token, hid, ids))
    assert r.status_code == 200 and 'name="preview_digest"' in r.text
    offender = {"path": "third_party", "requester.person_id": "", "requester.name": "加害　太郎",
                "requester.birth_date": "1985-03-03", "reason": "own_rights", "reason_detail": "債権の回収",
                "items": []}
    r = chief.post("/ui/certificates/preview", data=request_form(chief_token, hid, ids[1:], **offender))
    assert r.status_code == 403 and "SEC-8/" in r.text and 'name="preview_digest"' not in r.text
    assert issued_count(api) == 0
    assert [e["outcome"] for e in api.audit("certificate.refuse")] == ["denied", "denied"]


# --- 広域交付 (12条の4): this register (札幌市) as the 交付地, a stand-in 住所地 (函館市) -------------------------

HAKODATE = Address(prefecture="北海道", city="函館市", town="五稜郭町", block="1番1号", postcode="0400001", lg_code="012025")


def wide_area_form(token: str, **extra: Any) -> dict[str, Any]:
    return {"csrf_token": token, "residence_lg_code": "012025", "requester.name": "函館　一子",
            "requester.birth_date": "1980-01-01", "requester.address": "北海道函館市五稜郭町1番1号",
            "identity": ["drivers_license"], "scope": "self", "items": ["relationship"], "purpose": "年金の手続", **extra}


def stand_in_residence(asked: list[str]) -> Any:
    """In place of residence_for(reg): a 住所地 answering from canned data, recording the request ids."""
    def residence_for(_reg: Any) -> Any:
        def ask(request: WideAreaRequest) -> WideAreaAnswer:
            asked.append(request.request_id)
            one = WideAreaPerson(ref="W0000000000H-1", relation=Relation.SELF, name="函館　一子", name_kana="ハコダテ　イチコ",
                                 furigana_status=FuriganaStatus.CONFIRMED, birth_date=dt.date(1980, 1, 1), sex=Sex.FEMALE,
                                 address=HAKODATE, address_since=dt.date(2020, 4, 1), resident_since=dt.date(2020, 4, 1),
                                 address_notified_on=dt.date(2020, 4, 3), relationship="世帯主")
            return WideAreaAnswer(answer_ref="W0000000000H", request_id=request.request_id, residence_lg_code="012025",
                                  residence_name="函館市", issuing_lg_code=request.issuing_lg_code,
                                  as_of=dt.date(2026, 4, 20), items=request.items, layout=Layout.HOUSEHOLD,
                                  whole_household=True, household_address=HAKODATE, persons=(one,))
        return ask
    return residence_for


def test_wide_area_page_previews_and_issues_in_this_municipalitys_name(api, monkeypatch):
    """12条の4 at the counter of the 交付地: the form offers no 本籍・コード・番号; the local checks refuse at
    their fields before anything is asked; without a node the 住所地 cannot be asked; with one, the preview
    and the issue send the same request id (the 住所地 answers once), and this municipality's mayor issues."""
    import juki.web.certificates as web_certificates

    b = browser(api)
    enrol(b, api)
    token = web_login(b, api, "clerk")
    page = b.get("/ui/certificates/wide-area")
    assert page.status_code == 200 and 'name="residence_lg_code"' in page.text
    assert 'value="domicile"' not in page.text and 'value="individual_number"' not in page.text
    assert 'value="juminhyo_code"' not in page.text and "NET-2/not-connected" in page.text
    assert "/ui/certificates/wide-area" in b.get("/ui/certificates").text

    # what is missing first (InvalidInput), then what 12条の4 refuses (RuleViolation), each at its field
    r = b.post("/ui/certificates/wide-area/preview",
               data=wide_area_form(token, **{"requester.birth_date": "", "scope": "part", "subjects[0].name": "函館　二子"}))
    assert r.status_code == 422
    assert re.findall(r'<a href="#([^"]+)">', r.text) == ["f-requester-birth_date", "f-subjects-0-birth_date"]
    r = b.post("/ui/certificates/wide-area/preview", data=wide_area_form(token, identity=["health_insurance"]))
    assert r.status_code == 422 and re.findall(r'<a href="#([^"]+)">', r.text) == ["f-identity"]
    r = b.post("/ui/certificates/wide-area/preview", data=wide_area_form(token))  # no node to ask through
    assert r.status_code == 409 and "NET-2/not-connected" in r.text
    assert "NET-2/not-connected" in api.audit("certificate.refuse")[-1]["detail"]["rules"]

    asked: list[str] = []
    monkeypatch.setattr(web_certificates, "residence_for", stand_in_residence(asked))
    r = b.post("/ui/certificates/wide-area/preview", data=wide_area_form(token))
    assert r.status_code == 200, re.findall(r"\[[A-Z]+-[^\]]+\]", r.text)
    assert 'src="data:image/png;base64,' in r.text and "住民票の写し・世帯連記式・1人・記載事項: 続柄" in r.text
    issue_with = previewed(r.text)
    assert issued_count(api) == 0 and asked == [issue_with["request_token"]]
    r = b.post("/ui/certificates/wide-area/issue", data={**wide_area_form(token), **issue_with})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert asked == [issue_with["request_token"]] * 2  # the issue asks again under the preview's request id
    text = normalise(pdf_text(r.content))
    assert "札幌市長" in text and "函館市長" not in text and "函館一子" in text and "五稜郭町1番1号" in text
    assert verify_pdf(r.content, load_public_key(api.reg.certificate_signer.public_key_pem())).ok
    with api.reg.engine.connect() as c:
        row = c.execute(sa.text("SELECT path, subject_ids, request_detail FROM certificate_issuances")).one()
    assert row.path == "wide_area" and json.loads(row.subject_ids) == ["W0000000000H-1"]
    assert json.loads(row.request_detail)["residence_lg_code"] == "012025"
    again = b.post("/ui/certificates/wide-area/issue", data={**wide_area_form(token), **issue_with})
    assert again.status_code == 200 and "二重に交付していません" in again.text and issued_count(api) == 1
    assert asked == [issue_with["request_token"]] * 2  # the same copy again: the 住所地 is not asked a third time
    assert base64.b64decode(re.search(r'href="data:application/pdf;base64,([^"]+)"', again.text).group(1)) == r.content
    changed = b.post("/ui/certificates/wide-area/issue", data={**wide_area_form(token, purpose="別の用途"), **issue_with})
    assert changed.status_code == 409 and "REG-CERT/preview" in changed.text
