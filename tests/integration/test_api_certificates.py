"""Certificates and seals over the real API (REG-CERT, REG-LINK5): a counter issuance returns the signed PDF,
a refusal is a bilingual JSON error naming the field and rule (audited once), a bulk batch returns each PDF
with its envelope, the log and the counts for the supervisor, 印鑑登録 with four-eyes confirmation."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa

from juki.adapters.pdf.verify import verify_pdf
from juki.adapters.signing_keys import load_public_key
from juki.issuance.proof import normalise, pdf_text

from ..issuance_support import png
from ..unit.registry import address, chiba_address, person

ADDRESS = "北海道札幌市中央区北一条西1丁目1番1号"


def family(api: Any) -> list[str]:
    r = api.client.post("/api/v1/changes/move_in", headers=api.as_("clerk"), json={
        "origin": "notification", "legal_basis": "住民基本台帳法第22条", "effective_date": "2026-04-10",
        "notified_date": "2026-04-12", "change": {
            "persons": [person(), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
            "address": address(), "prior_address": chiba_address()}})
    assert r.status_code == 201, r.text
    done = api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=api.as_("chief"))
    return list(done.json()["person_ids"])


def ask(ids: list[str], **extra: Any) -> dict[str, Any]:
    return {"kind": "resident_copy", "subject_ids": ids, "path": "self",
            "requester": {"name": "札幌　太郎", "person_id": ids[0]}, "identity": [{"kind": "drivers_license"}], **extra}


def test_counter_issuance_returns_the_signed_pdf(api):
    ids = family(api)
    r = api.client.post("/api/v1/certificates", headers=api.as_("clerk"), json=ask(ids))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    cid = r.headers["x-juki-certificate-id"]
    assert cid.startswith("011002-") and cid in r.headers["content-disposition"]
    assert "札幌花子" in normalise(pdf_text(r.content))
    assert verify_pdf(r.content, load_public_key(api.reg.certificate_signer.public_key_pem())).ok
    # the relying office checks it through the public verification endpoint too
    v = api.client.post("/api/v1/certificates/verify", content=r.content, headers={"content-type": "application/pdf"})
    assert v.status_code == 200 and v.json()["ok"] is True


def test_a_refusal_is_a_json_error_audited_once(api):
    ids = family(api)
    body = {**ask(ids[:1]), "path": "third_party", "requester": {"name": "第三　者"}, "purpose": "確認"}
    r = api.client.post("/api/v1/certificates", headers=api.as_("clerk"), json=body)
    assert r.status_code == 422
    problem = r.json()["problems"][0]
    assert problem["field"] == "reason" and problem["rule"] == "REG-CERT/third-party-reason"
    assert problem["message_ja"] and problem["message_en"]
    assert api.client.post("/api/v1/certificates", headers=api.as_("clerk"), json={**ask(ids), "colour": 1}).status_code == 422
    assert api.client.post("/api/v1/certificates", headers=api.as_("viewer"), json=ask(ids)).status_code == 403
    refusals = api.audit("certificate.refuse")
    assert len(refusals) == 1 and refusals[0]["subject_ids"] == ids[:1]
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM certificate_issuances")).scalar() == 0


def test_bulk_over_the_api_and_the_supervisors_log_and_counts(api):
    ids = family(api)
    items = [{"request": ask([pid], channel="mail", requester={"name": name, "person_id": pid},
                             identity=[{"kind": "health_insurance"}]),
              "envelope": {"addressee": name, "address": ADDRESS}}
             for pid, name in zip(ids, ("札幌　太郎", "札幌　花子"), strict=True)]
    r = api.client.post("/api/v1/certificates/bulk", headers=api.as_("clerk"), json={"items": items})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == 2 and [c["subject_ids"] for c in out["certificates"]] == [[ids[0]], [ids[1]]]
    second = base64.b64decode(out["certificates"][1]["pdf_base64"])
    assert "札幌花子" in normalise(pdf_text(second)) and "札幌太郎" not in normalise(pdf_text(second))
    swapped = [{**items[0], "envelope": items[1]["envelope"]}, items[1]]
    bad = api.client.post("/api/v1/certificates/bulk", headers=api.as_("clerk"), json={"items": swapped})
    assert bad.status_code == 422 and bad.json()["problems"][0]["rule"] == "REG-CERT/envelope"
    log = api.client.get("/api/v1/certificates/log", headers=api.as_("chief")).json()
    assert {row["batch_id"] for row in log} == {out["batch_id"]} and len(log) == 2
    counts = api.client.get("/api/v1/certificates/counts", headers=api.as_("chief"),
                            params={"since": "2026-04-01", "until": "2026-04-30"}).json()
    assert counts["by_kind"] == {"resident_copy": 2}
    assert api.client.get("/api/v1/certificates/log", headers=api.as_("clerk")).status_code == 403


def test_mail_requests_over_the_api_queue_batch_and_return(api):
    """郵送請求 (REG-CERT): recorded and queued, listed, issued in one batch with its print file; a wrong
    envelope is refused at its field; a returned request leaves the queue."""
    ids = family(api)
    clerk = api.as_("clerk")

    def letter(pid: str, name: str, **envelope: str) -> dict[str, Any]:
        return {"request": ask([pid], channel="mail", requester={"name": name, "person_id": pid},
                               identity=[{"kind": "health_insurance"}]),
                "envelope": {"addressee": name, "address": ADDRESS, **envelope},
                "fee": {"method": "postal_order", "yen": 300}}

    wrong = api.client.post("/api/v1/certificates/mail", headers=clerk, json=letter(ids[0], "札幌　太郎", address="東京都"))
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["field"] == "envelope.address"
    queued = [api.client.post("/api/v1/certificates/mail", headers=clerk, json=letter(pid, name))
              for pid, name in zip(ids, ("札幌　太郎", "札幌　花子"), strict=True)]
    assert [r.json()["status"] for r in queued] == ["queued", "queued"], [r.text for r in queued]
    rids = [r.json()["request_id"] for r in queued]
    listed = api.client.get("/api/v1/certificates/mail", headers=clerk).json()
    assert {x["request_id"] for x in listed} == set(rids)  # received at once: the order is the request ids'
    assert {x["request_id"]: x["subjects"][0]["name"] for x in listed}[rids[1]] == "札幌　花子"
    assert api.client.get("/api/v1/certificates/mail", headers=api.as_("viewer")).status_code == 403
    r = api.client.post(f"/api/v1/certificates/mail/{rids[1]}/return", headers=clerk, json={"note": "本人確認書類の写しがない"})
    assert r.status_code == 200 and r.json()["status"] == "returned"
    r = api.client.post("/api/v1/certificates/mail/batch", headers=clerk, json={"request_ids": rids})
    assert r.status_code == 409 and r.json()["problems"][0]["field"] == f"requests[{rids[1]}]"
    r = api.client.post("/api/v1/certificates/mail/batch", headers=clerk, json={"request_ids": rids[:1]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == 1 and out["request_ids"] == rids[:1] and out["certificates"][0]["subject_ids"] == ids[:1]
    printed = normalise(pdf_text(base64.b64decode(out["print_pdf_base64"])))
    assert "発送一覧" in printed and "証明書の送付について" in printed and "札幌花子" not in printed
    assert api.client.get("/api/v1/certificates/mail", headers=clerk).json() == []
    now = api.client.post("/api/v1/certificates/mail", headers=clerk, json={**letter(ids[0], "札幌　太郎"), "issue_now": True})
    assert now.status_code == 200 and now.json()["status"] == "issued", now.text
    assert api.client.post("/api/v1/certificates/mail", headers=clerk, json={**letter(ids[0], "札幌　太郎"),
                                                                             "colour": 1}).status_code == 422


def test_seal_registration_with_inquiry_and_four_eyes_then_the_certificate(api):
    ids = family(api)
    image = base64.b64encode(png()).decode()
    r = api.client.post("/api/v1/seals", headers=api.as_("clerk"), json={
        "person_id": ids[1], "imprint_png_base64": image, "size_mm": 12, "agent": "代理　人", "proxy_letter": True})
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    number = r.json()["registration_number"]
    assert api.client.post("/api/v1/seals/confirm", headers=api.as_("clerk"),
                           json={"registration_number": number}).status_code == 403
    c = api.client.post("/api/v1/seals/confirm", headers=api.as_("chief"), json={"registration_number": number})
    assert c.status_code == 200 and c.json()["status"] == "effective"
    listed = api.client.get("/api/v1/seals", headers=api.as_("clerk"), params={"person_id": ids[1]}).json()
    card = listed[0]["card_number"]
    cert = api.client.post("/api/v1/certificates", headers=api.as_("clerk"), json={
        "kind": "seal", "subject_ids": [ids[1]], "path": "self", "requester": {"name": "代理　人"},
        "agent": {"name": "代理　人"}, "seal_card_number": card})
    assert cert.status_code == 200, cert.text
    assert "印鑑登録証明書" in normalise(pdf_text(cert.content))
    bad = api.client.post("/api/v1/seals", headers=api.as_("clerk"), json={
        "person_id": ids[0], "imprint_png_base64": "not base64!", "size_mm": 12})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "imprint_png_base64"
    gone = api.client.post("/api/v1/seals/abolish", headers=api.as_("clerk"),
                           json={"registration_number": number, "reason": "card_lost"})
    assert gone.status_code == 200 and gone.json()["abolished_reason"] == "card_lost"
