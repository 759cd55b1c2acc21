"""コンビニ交付 end to end over the real API with a real key pair (REG-CERT, SEC-1, SEC-3, SEC-8): a kiosk
registered by the administrator, a card issued at the counter, challenge → the card's signature + PIN →
certificates as signed PDFs → end, one transaction id on every audit entry; and every refusal: replayed
challenge, unknown card, a signature by another key, wrong PIN, locked card, DV-protected holder or
household member, removed holder, a wrong kiosk key or transaction token, an expired transaction."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from juki.access.support import register_measure
from juki.adapters.pdf.verify import verify_pdf
from juki.adapters.signing_keys import load_public_key
from juki.issuance.cards import sign_challenge
from juki.issuance.proof import normalise, pdf_text

from ..issuance_support import png
from ..unit.registry import address, chiba_address, person


def envelope(change: dict[str, Any], effective: str = "2026-04-10") -> dict[str, Any]:
    return {"origin": "notification", "legal_basis": "住民基本台帳法", "effective_date": effective,
            "notified_date": effective, "change": change}


class Kiosk:
    def __init__(self, api: Any) -> None:
        self.api = api
        r = api.client.post("/api/v1/kiosks", headers=api.as_("admin"),
                            json={"kiosk_id": "K-0001", "name": "セブン札幌駅前店", "location": "札幌市北区"})
        assert r.status_code == 201, r.text
        self.headers = {"X-Juki-Kiosk": "K-0001", "X-Juki-Kiosk-Key": r.json()["key"]}
        self.tx: dict[str, str] = {}

    def challenge(self, headers: dict[str, str] | None = None) -> Any:
        return self.api.client.post("/api/v1/kiosk/challenge", headers=headers or self.headers)

    def start(self, card: dict[str, Any], pin: str, *, challenge: str | None = None, key: bytes | None = None) -> Any:
        challenge = challenge or self.challenge().json()["challenge"]
        signature = sign_challenge(key or card["private_key_pem"].encode(), "K-0001", challenge)
        r = self.api.client.post("/api/v1/kiosk/start", headers=self.headers, json={
            "card_id": card["card_id"], "challenge": challenge, "signature": signature, "pin": pin})
        if r.status_code == 200:
            self.tx = {"X-Juki-Kiosk-Transaction": r.json()["transaction_id"], "X-Juki-Kiosk-Token": r.json()["token"]}
        return r

    def certificate(self, **body: Any) -> Any:
        return self.api.client.post("/api/v1/kiosk/certificate", headers={**self.headers, **self.tx}, json=body)

    def end(self) -> Any:
        return self.api.client.post("/api/v1/kiosk/end", headers={**self.headers, **self.tx})


@pytest.fixture
def town(api):
    """Two households entered at the counter, a kiosk, and a card for the head of the first."""
    ids: dict[str, str] = {}
    for change in ({"persons": [person(), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
                    "address": address(), "prior_address": chiba_address()},
                   {"persons": [person("函館　三郎", "ハコダテ　サブロウ", "1975-01-15")],
                    "address": address(block="2丁目2番2号"), "prior_address": chiba_address()}):
        r = api.client.post("/api/v1/changes/move_in", headers=api.as_("clerk"), json=envelope(change))
        assert r.status_code == 201, r.text
        done = api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=api.as_("chief")).json()
        for pid, p in zip(done["person_ids"], change["persons"], strict=True):
            ids[p["name"]] = pid
        ids[f"household:{change['persons'][0]['name']}"] = done["household_ids"][0]
    kiosk = Kiosk(api)
    card = issue_card(api, ids["札幌　太郎"])
    return api, ids, kiosk, card


def issue_card(api: Any, person_id: str, pin: str = "1234") -> dict[str, Any]:
    r = api.client.post("/api/v1/cards", headers=api.as_("clerk"), json={"person_id": person_id, "pin": pin})
    assert r.status_code == 201, r.text
    return dict(r.json())


def audit(api: Any) -> list[dict[str, Any]]:
    return api.audit()


def test_a_kiosk_session_from_card_to_pdf_with_one_transaction_id_throughout(town):
    api, ids, kiosk, card = town
    started = kiosk.start(card, "1234")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["name"] == "札幌　太郎" and [o["kind"] for o in body["offers"]] == ["resident_copy", "entry_certificate"]
    tx = body["transaction_id"]
    r = kiosk.certificate(kind="resident_copy", scope="household", items=["relationship"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = normalise(pdf_text(r.content))
    assert "札幌太郎" in text and "札幌花子" in text and "函館三郎" not in text and "世帯主" in text
    key = load_public_key(api.reg.certificate_signer.public_key_pem())
    check = verify_pdf(r.content, key)
    assert check.ok and check.payload["by"] == "kiosk:K-0001"
    ended = kiosk.end()
    assert ended.status_code == 200 and ended.json()["certificates"] == 1
    entries = [e for e in audit(api) if e["user_id"] == "kiosk:K-0001"]
    assert [e["action"] for e in entries] == ["kiosk.start", "certificate.issue", "kiosk.end"]
    with api.reg.engine.connect() as c:
        sessions = [row[0] for row in c.execute(sa.text(
            "SELECT session_id FROM audit_entries WHERE user_id = 'kiosk:K-0001' ORDER BY seq"))]
        row = c.execute(sa.text("SELECT channel, issued_by, terminal, kiosk_transaction_id, card_id, subject_ids "
                                "FROM certificate_issuances")).one()
    assert sessions == [tx, tx, tx]
    assert tuple(row[:5]) == ("kiosk", "kiosk:K-0001", "K-0001", tx, card["card_id"])
    assert json.loads(row[5]) == [ids["札幌　太郎"], ids["札幌　花子"]]
    # the transaction is over: its token opens nothing any more
    assert kiosk.certificate(kind="resident_copy").status_code == 401


def test_a_replayed_challenge_is_refused(town):
    api, _ids, kiosk, card = town
    challenge = kiosk.challenge().json()["challenge"]
    assert kiosk.start(card, "1234", challenge=challenge).status_code == 200
    again = kiosk.start(card, "1234", challenge=challenge)
    assert again.status_code == 401 and again.json()["problems"][0]["rule"] == "KIOSK/challenge-replayed"
    unknown = kiosk.start(card, "1234", challenge="ab" * 32)
    assert unknown.json()["problems"][0]["rule"] == "KIOSK/challenge-unknown"
    stale = kiosk.challenge().json()["challenge"]
    api.clock.advance(minutes=3)
    assert kiosk.start(card, "1234", challenge=stale).json()["problems"][0]["rule"] == "KIOSK/challenge-expired"
    denied = [e for e in audit(api) if e["action"] == "kiosk.denied"]
    assert [e["detail"]["rules"] for e in denied] == [["KIOSK/challenge-replayed"], ["KIOSK/challenge-unknown"],
                                                      ["KIOSK/challenge-expired"]]
    assert all(e["outcome"] == "denied" for e in denied)


def test_three_wrong_pins_lock_the_card_until_the_counter_unlocks_it(town):
    api, _ids, kiosk, card = town
    first = kiosk.start(card, "0000")
    assert first.status_code == 401 and first.json()["problems"][0]["rule"] == "KIOSK/pin"
    assert "あと2回" in first.json()["problems"][0]["message_ja"]
    assert kiosk.start(card, "1111").status_code == 401
    third = kiosk.start(card, "2222")
    assert third.status_code == 403 and third.json()["problems"][0]["rule"] == "KIOSK/card-locked"
    right = kiosk.start(card, "1234")  # the right PIN no longer helps
    assert right.status_code == 403 and right.json()["problems"][0]["rule"] == "KIOSK/card-locked"
    r = api.client.post("/api/v1/cards/unlock", headers=api.as_("clerk"), json={"card_id": card["card_id"]})
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert kiosk.start(card, "1234").status_code == 200


def test_unknown_card_foreign_signature_and_wrong_kiosk_key_are_refused_without_counting_pins(town):
    api, _ids, kiosk, card = town
    assert kiosk.start({**card, "card_id": "CNOSUCHCARD"}, "1234").json()["problems"][0]["rule"] == "KIOSK/card-unknown"
    other = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for _ in range(4):  # a cloned card without the key: refused, and the real holder's PIN count untouched
        r = kiosk.start(card, "0000", key=other)
        assert r.status_code == 401 and r.json()["problems"][0]["rule"] == "KIOSK/card-signature"
    assert kiosk.start(card, "1234").status_code == 200
    bad = kiosk.challenge({"X-Juki-Kiosk": "K-0001", "X-Juki-Kiosk-Key": "guess"})
    assert bad.status_code == 401 and bad.json()["problems"][0]["rule"] == "KIOSK/terminal"
    assert kiosk.challenge({"X-Juki-Kiosk": "K-9999", "X-Juki-Kiosk-Key": "x"}).status_code == 401
    assert api.client.post("/api/v1/kiosk/challenge").status_code == 422  # no kiosk headers at all


def test_protected_holder_and_protected_household_member_go_to_the_counter(town):
    api, ids, kiosk, card = town
    register_measure(api.reg.engine, person_id=ids["札幌　花子"], offender_name="加害　太郎",
                     offender_birth_date=dt.date(1985, 3, 3), registered_by="s1", approved_by="s2",
                     valid_from=dt.date(2026, 4, 1))
    assert kiosk.start(card, "1234").status_code == 200
    self_copy = kiosk.certificate(kind="resident_copy", scope="self")
    assert self_copy.status_code == 200
    household = kiosk.certificate(kind="resident_copy", scope="household")
    assert household.status_code == 403 and household.json()["problems"][0]["rule"] == "SEC-8/manual-handling"
    hanako_card = issue_card(api, ids["札幌　花子"], "5678")
    r = kiosk.start(hanako_card, "5678")
    assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "KIOSK/manual-handling"
    with api.reg.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM certificate_issuances")).scalar() == 1
    refusals = [e for e in audit(api) if e["action"] == "certificate.refuse"]
    assert refusals[-1]["detail"]["rules"] == ["SEC-8/manual-handling"] and refusals[-1]["user_id"] == "kiosk:K-0001"


def test_a_holder_who_moved_out_gets_nothing(town):
    api, ids, kiosk, _card = town
    card = issue_card(api, ids["函館　三郎"])
    r = api.client.post("/api/v1/changes/move_out", headers=api.as_("clerk"), json=envelope(
        {"household_id": ids["household:函館　三郎"], "person_ids": [ids["函館　三郎"]], "destination": chiba_address()},
        "2026-04-15"))
    assert r.status_code == 201, r.text
    assert api.client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=api.as_("chief")).status_code == 200
    refused = kiosk.start(card, "1234")
    assert refused.status_code == 403 and refused.json()["problems"][0]["rule"] == "KIOSK/person-removed"


def test_the_kiosk_offers_no_numbers_and_times_out(town):
    api, _ids, kiosk, card = town
    assert kiosk.start(card, "1234").status_code == 200
    r = kiosk.certificate(kind="resident_copy", items=["individual_number"])
    assert r.status_code == 422 and r.json()["problems"][0]["rule"] == "REG-CERT/kiosk"
    assert kiosk.certificate(kind="code_notice").status_code == 422
    assert api.client.post("/api/v1/kiosk/certificate", headers={**kiosk.headers, **kiosk.tx,
                                                                 "X-Juki-Kiosk-Token": "forged"},
                           json={"kind": "resident_copy"}).status_code == 401
    api.clock.advance(minutes=11)
    late = kiosk.certificate(kind="resident_copy")
    assert late.status_code == 401 and late.json()["problems"][0]["rule"] == "KIOSK/transaction-expired"
    assert [e["detail"].get("reason") for e in audit(api) if e["action"] == "kiosk.end"] == ["timeout"]


def test_seal_certificate_at_the_kiosk_once_a_seal_is_registered(town):
    api, ids, kiosk, card = town
    r = api.client.post("/api/v1/seals", headers=api.as_("clerk"), json={
        "person_id": ids["札幌　太郎"], "imprint_png_base64": base64.b64encode(png()).decode(), "size_mm": 15,
        "identity": [{"kind": "drivers_license"}]})
    assert r.status_code == 201, r.text
    started = kiosk.start(card, "1234").json()
    assert "seal" in [o["kind"] for o in started["offers"]]
    pdf = kiosk.certificate(kind="seal")
    assert pdf.status_code == 200, pdf.text
    assert "印鑑登録証明書" in normalise(pdf_text(pdf.content))
