"""郵送請求 and 一括交付 on the counter pages, on both engines (REG-CERT, CTR-1): a letter is recorded on the
household's form and queued, or refused with the mismatch at the envelope's field; the batch page lists
the waiting letters and issues the chosen ones into one print file read back here; a batch refused names
the letter at its row and issues nothing; a letter issued at once and sent again shows the same
certificate; 返戻 closes a letter."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import sqlalchemy as sa

from juki.domain.events import ChangeKind, Origin
from juki.issuance.proof import normalise, page_texts
from juki.services.changes import Actor

from .test_api_certificates import ADDRESS, family
from .test_web import browser, enrol, web_login
from .test_web_certificates import household_of, issued_count


def mail_form(page_html: str, csrf: str, hid: str, pid: str, name: str, **extra: Any) -> dict[str, Any]:
    token = re.search(r'name="form_token" value="([^"]+)"', page_html).group(1)
    return {"csrf_token": csrf, "household_id": hid, "form_token": token, "subject_ids": [pid], "kind": "resident_copy",
            "path": "self", "requester.person_id": pid, "identity": ["health_insurance"], "purpose": "年金の手続",
            "envelope.addressee": name, "envelope.address": ADDRESS, "fee.method": "postal_order", "fee.yen": "300",
            **extra}


def download(page_html: str) -> bytes:
    return base64.b64decode(re.search(r'href="data:application/pdf;base64,([^"]+)"', page_html).group(1))


def test_record_queue_and_issue_the_days_batch(api):
    ids = family(api)
    hid = household_of(api, ids[0])
    b = browser(api)
    enrol(b, api)
    csrf = web_login(b, api, "clerk")
    assert "郵送請求・一括交付" in b.get("/ui/").text
    form = b.get(f"/ui/certificates/mail?household_id={hid}")
    assert form.status_code == 200 and "返信用封筒" in form.text and 'value="seal"' not in form.text
    # the envelope must be the 請求者's registered address: refused at its field, nothing recorded
    r = b.post("/ui/certificates/mail/queue", data=mail_form(form.text, csrf, hid, ids[0], "札幌　太郎",
                                                            **{"envelope.address": "東京都千代田区千代田1番1号"}))
    assert r.status_code == 422 and 'href="#f-envelope-address"' in r.text
    assert re.search(r'id="f-envelope-address"[^>]*aria-invalid="true"', r.text)
    assert "封筒の住所が請求と一致しません" in re.search(r'id="f-envelope-address-error">(.*?)</p>', r.text).group(1)
    assert 'value="東京都千代田区千代田1番1号"' in r.text  # what was typed stays
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM mail_requests")).scalar() == 0
    queued = []
    for pid, name in zip(ids, ("札幌　太郎", "札幌　花子"), strict=True):
        page = b.get(f"/ui/certificates/mail?household_id={hid}").text
        r = b.post("/ui/certificates/mail/queue", data=mail_form(page, csrf, hid, pid, name))
        assert r.status_code == 200 and "本日の一括交付に回しました" in r.text, r.text
        queued.append(re.search(r"郵送受付番号 (M[0-9A-F]+)", r.text).group(1))
    listing = b.get("/ui/certificates/mail/batch")
    assert listing.status_code == 200 and all(f'value="{rid}" checked' in listing.text for rid in queued)
    assert "札幌　花子" in listing.text and "定額小為替 300円" in listing.text
    r = b.post("/ui/certificates/mail/batch", data={"csrf_token": csrf, "request_ids": queued})
    assert r.status_code == 200 and "一括交付しました" in r.text and "2通を交付しました" in r.text
    texts = [normalise(t) for t in page_texts(download(r.text))]
    covers = [i for i, t in enumerate(texts) if "証明書の送付について" in t]
    assert "発送一覧" in texts[0] and len(covers) == 2
    parts = ["".join(texts[covers[0]:covers[1]]), "".join(texts[covers[1]:])]
    by_name = {("札幌太郎" in p and "札幌花子" not in p, "札幌花子" in p and "札幌太郎" not in p): p for p in parts}
    assert set(by_name) == {(True, False), (False, True)}  # one subject per envelope
    assert issued_count(api) == 2 and "一括交付を待っている郵送請求はありません" in b.get("/ui/certificates/mail/batch").text


def test_a_batch_refused_names_the_letter_at_its_row_and_a_return_closes_it(api):
    """The family moved (転居) after their letters were queued: the envelopes no longer go to the registered
    address, so the batch is refused at both rows and nothing is issued; a letter is then returned."""
    ids = family(api)
    hid = household_of(api, ids[0])
    b = browser(api)
    enrol(b, api)
    csrf = web_login(b, api, "clerk")
    rids = []
    for pid, name in zip(ids, ("札幌　太郎", "札幌　花子"), strict=True):
        page = b.get(f"/ui/certificates/mail?household_id={hid}").text
        r = b.post("/ui/certificates/mail/queue", data=mail_form(page, csrf, hid, pid, name))
        rids.append(re.search(r"郵送受付番号 (M[0-9A-F]+)", r.text).group(1))
    moved = api.reg.changes.submit(ChangeKind.MOVE_WITHIN, {"household_id": hid, "person_ids": ids, "address": {
        "prefecture": "北海道", "city": "札幌市中央区", "town": "南一条西", "block": "5丁目5番5号", "postcode": "0600061",
        "lg_code": "011011"}}, actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法第23条",
        effective_date=dt.date(2026, 4, 18), notified_date=dt.date(2026, 4, 20))
    api.reg.changes.approve(moved.request_id, actor=Actor("chief", "T001"))
    r = b.post("/ui/certificates/mail/batch", data={"csrf_token": csrf, "request_ids": rids})
    assert r.status_code == 422 and "入力内容を確認してください" in r.text
    for rid in rids:
        assert f'href="#s-requests-{rid}"' in r.text and f'id="e-request-{rid}"' in r.text
    assert "封筒の住所が請求と一致しません" in re.search(rf'id="e-request-{rids[0]}">(.*?)</p>', r.text).group(1)
    assert issued_count(api) == 0
    other = browser(api)
    enrol(other, api, "T002")
    other_csrf = web_login(other, api, "chief")
    r = other.post("/ui/certificates/mail/return", data={"csrf_token": other_csrf, "request_id": rids[0], "note": ""})
    assert r.status_code == 422 and 'href="#s-note"' in r.text
    r = other.post("/ui/certificates/mail/return", data={"csrf_token": other_csrf, "request_id": rids[0],
                                                          "note": "転居のため返送先を確認"})
    assert r.status_code == 200 and f"郵送受付番号 {rids[0]} を返戻にしました" in r.text
    assert f'value="{rids[0]}"' not in r.text and f'value="{rids[1]}" checked' in r.text
    r = b.post("/ui/certificates/mail/batch", data={"csrf_token": csrf, "request_ids": [rids[0]]})
    assert r.status_code == 409 and rids[0] in r.text and "既に返戻しました" in r.text


def test_a_letter_issued_at_once_and_sent_again_shows_the_same_certificate(api):
    ids = family(api)
    hid = household_of(api, ids[0])
    b = browser(api)
    enrol(b, api)
    csrf = web_login(b, api, "clerk")
    page = b.get(f"/ui/certificates/mail?household_id={hid}").text
    data = mail_form(page, csrf, hid, ids[0], "札幌　太郎", subject_ids=ids)  # two persons: only at once
    queued = b.post("/ui/certificates/mail/queue", data=data)
    assert queued.status_code == 422 and "一通に一人" in queued.text
    r = b.post("/ui/certificates/mail/issue", data=data)
    assert r.status_code == 200 and "郵送する証明書を交付しました" in r.text, r.text
    cid = re.search(r'<td class="certificate-id">([^<]+)</td>', r.text).group(1)
    first = download(r.text)
    cover = normalise(page_texts(first)[0])
    assert "札幌太郎様" in cover and cid in cover and normalise(ADDRESS) in cover
    again = b.post("/ui/certificates/mail/issue", data=data)
    assert again.status_code == 200 and "二重に交付していません" in again.text
    assert re.search(r'<td class="certificate-id">([^<]+)</td>', again.text).group(1) == cid
    assert cid in normalise("".join(page_texts(download(again.text))))
    assert issued_count(api) == 1 and len(api.audit("certificate.redisplay")) == 1
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM mail_requests")).scalar() == 1
