"""The deployment CA (NET-2, SEC-5): node certificates that name tier and code, revocation by a signed CRL."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from juki.cli.main import main
from juki.net.pki import DeploymentCA, NodeIdentity, PkiError, RevocationList, Tier, identity_of, parse_serial

NOW = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)


def test_node_certificates_carry_tier_code_and_hosts(tmp_path: Path) -> None:
    ca = DeploymentCA.init(tmp_path / "ca", "テスト配備", now=NOW)
    entry = ca.issue(NodeIdentity(Tier.PREFECTURE, "010006"), tmp_path / "p", name="北海道",
                     hosts=["127.0.0.1", "pref.example.jp"], now=NOW)
    cert = x509.load_pem_x509_certificate((tmp_path / "p" / "cert.pem").read_bytes())
    assert identity_of(cert) == NodeIdentity(Tier.PREFECTURE, "010006")
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "prefecture"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "prefecture:010006"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["pref.example.jp"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.issuer == ca.cert.subject and cert.serial_number == parse_serial(entry.serial)
    for secret in (tmp_path / "ca" / "ca-key.pem", tmp_path / "p" / "key.pem"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (tmp_path / "p" / "ca.pem").read_bytes() == ca.cert_path.read_bytes()
    with pytest.raises(PkiError, match="already exists"):
        DeploymentCA.init(tmp_path / "ca", "again")
    with pytest.raises(PkiError, match="unknown tier"):
        NodeIdentity.from_uri("urn:juki:node:village:011002")


def test_revocation_is_signed_published_and_reloaded(tmp_path: Path) -> None:
    ca = DeploymentCA.init(tmp_path / "ca", "テスト配備")
    keep = ca.issue(NodeIdentity(Tier.MUNICIPALITY, "011002"), tmp_path / "m")
    gone = ca.issue(NodeIdentity(Tier.MUNICIPALITY, "012025"), tmp_path / "h")
    ca.issue(NodeIdentity(Tier.PREFECTURE, "010006"), tmp_path / "p")
    crl = RevocationList(tmp_path / "p" / "crl.pem", ca.cert)
    assert not crl.is_revoked(parse_serial(gone.serial))
    ca.revoke(gone.serial, "key_compromise", publish_to=[tmp_path / "p"])
    assert crl.is_revoked(parse_serial(gone.serial)) and not crl.is_revoked(parse_serial(keep.serial))
    with pytest.raises(PkiError, match="already revoked"):
        ca.revoke(gone.serial)
    with pytest.raises(PkiError, match="no certificate"):
        ca.revoke("01:02:03")
    statuses = {e.code: e.status(dt.datetime.now(dt.UTC)) for e in ca.issued()}
    assert statuses == {"011002": "valid", "012025": "revoked", "010006": "valid"}
    # a CRL signed by another CA is refused, not silently ignored
    other = DeploymentCA.init(tmp_path / "other", "他の配備")
    with pytest.raises(PkiError, match="not issued by the deployment CA"):
        RevocationList(other.crl_path, ca.cert)


def test_the_cli_creates_issues_lists_and_revokes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = str(tmp_path / "ca")
    assert main(["pki", "init", "--dir", ca, "--name", "デモ"]) == 0
    assert main(["pki", "issue", "--dir", ca, "--tier", "national", "--code", "000000", "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    serial = out.split("serial ")[1].split(",")[0]
    assert main(["pki", "revoke", "--dir", ca, serial, "--publish", str(tmp_path / "n")]) == 0
    assert main(["pki", "list", "--dir", ca]) == 0
    listing = capsys.readouterr().out
    assert "national" in listing and "revoked" in listing
    assert main(["pki", "revoke", "--dir", ca, serial]) == 2  # a clear error, not a traceback
    assert "already revoked" in capsys.readouterr().err
