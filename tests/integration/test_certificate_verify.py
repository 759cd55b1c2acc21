"""Verification by a relying office: the public API routes and ``juki verify`` / ``juki cert public-key``
(REG-CERT).  The certificates are issued with the register's own signing key (``Register.certificate_signer``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from juki.adapters.pdf.signing import CertificateSigner, issue
from juki.cli.main import main

from ..certificate_samples import doc, household


@pytest.fixture
def certificate(api):
    persons, h = household(6)  # two sheets: the biggest of the samples
    return issue(doc(persons=persons, household_record=h), api.reg.certificate_signer, "clerk")


def test_public_key_and_verification_need_no_session(api, certificate):
    key = api.client.get("/api/v1/certificates/public-key")
    assert key.status_code == 200
    body = key.json()
    assert body["algorithm"] == "Ed25519" and body["key_id"] == api.reg.certificate_signer.key_id
    assert body["public_key"].startswith("-----BEGIN PUBLIC KEY-----") and body["lg_code"] == "011002"
    assert len(certificate.pdf) < 1_000_000  # fits the app's body limit
    r = api.client.post("/api/v1/certificates/verify", content=certificate.pdf, headers={"content-type": "application/pdf"})
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "payload": certificate.payload, "reasons": []}


def test_an_altered_certificate_is_reported_with_reasons_and_audited(api, certificate):
    altered = bytearray(certificate.pdf)
    altered[len(altered) // 2] ^= 0x01
    r = api.client.post("/api/v1/certificates/verify", content=bytes(altered), headers={"content-type": "application/pdf"})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is False
    assert "REG-CERT/verify-pdf-signature" in {p["rule"] for p in body["reasons"]}
    assert all(p["message_ja"] and p["message_en"] for p in body["reasons"])
    entries = api.audit("certificate.verify")
    assert entries[-1]["user_id"] == "(公開)" and entries[-1]["detail"]["ok"] is False
    assert entries[-1]["detail"]["certificate_id"] == certificate.certificate_id


def test_a_certificate_signed_elsewhere_is_invalid_here(api, tmp_path):
    foreign = issue(doc(), CertificateSigner.load_or_create(tmp_path / "other-city.pem"), "clerk")
    body = api.client.post("/api/v1/certificates/verify", content=foreign.pdf).json()
    assert body["ok"] is False and "REG-CERT/verify-key" in {p["rule"] for p in body["reasons"]}


def test_empty_body_is_refused_naming_the_field(api):
    r = api.client.post("/api/v1/certificates/verify", content=b"")
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "body"


def test_juki_verify_and_public_key_commands(api, certificate, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUKI_DATABASE_URL", api.reg.settings.database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(api.reg.settings.key_file))
    monkeypatch.setenv("JUKI_CERT_KEY_FILE", str(api.reg.settings.cert_key_file))
    pem = tmp_path / "sapporo.pem"
    assert main(["cert", "public-key", "--out", str(pem)]) == 0
    assert pem.read_text() == api.reg.certificate_signer.public_key_pem()
    good = tmp_path / "good.pdf"
    good.write_bytes(certificate.pdf)
    capsys.readouterr()
    assert main(["verify", str(good), "--public-key", str(pem)]) == 0
    out = capsys.readouterr().out
    assert "有効な証明書です" in out and certificate.certificate_id in out and "住民票の写し" in out
    assert main(["verify", str(good)]) == 0  # default: this municipality's own key file
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(certificate.pdf.replace(b'"by":"clerk"', b'"by":"chief"'))
    capsys.readouterr()
    assert main(["verify", str(bad), "--public-key", str(pem)]) == 1
    out = capsys.readouterr().out
    assert "無効な証明書です" in out and "REG-CERT/verify-payload-signature" in out
    assert main(["verify", str(bad), "--public-key", str(pem), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main(["verify", str(tmp_path / "missing.pdf"), "--public-key", str(pem)]) == 2
    assert main(["verify", str(good), "--public-key", str(Path(__file__))]) == 2  # not a key
