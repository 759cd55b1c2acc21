"""The issuance commands end to end on both engines: a card written to its file and used to sign a kiosk
challenge, a kiosk registered, a certificate issued to a PDF that verifies, the log and the counts, the seal
sweep; a user without the right is refused with the rule printed."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from juki.adapters.pdf.verify import verify_pdf
from juki.adapters.signing_keys import load_public_key
from juki.cli.main import EXIT_REFUSED, main
from juki.services.staffing import provision

from ..issuance_support import build_world


@pytest.fixture
def world(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    w = build_world(database_url, tmp_path)
    provision(w.reg, password="correct horse battery staple")
    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("JUKI_CERT_KEY_FILE", str(tmp_path / "cert-key.pem"))
    monkeypatch.setenv("JUKI_MUNICIPALITY", "011002")
    yield w
    w.reg.close()


def test_card_kiosk_certificate_log_counts_and_sweep_from_the_command_line(world, tmp_path, monkeypatch, capsys):
    taro = world.ids["札幌　太郎"]
    card_file = tmp_path / "card.pem"
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert main(["card", "issue", taro, "--out", str(card_file), "--pin-stdin", "--actor", "clerk"]) == 0
    card_id = re.search(r"issued card (C[0-9A-F]+)", capsys.readouterr().out).group(1)  # type: ignore[union-attr]
    assert card_file.stat().st_mode & 0o777 == 0o600 and b"PRIVATE KEY" in card_file.read_bytes()
    assert main(["card", "issue", taro, "--out", str(card_file), "--actor", "clerk"]) == 2  # never overwrites a card
    capsys.readouterr()
    assert main(["kiosk", "register", "K1", "--name", "駅前", "--actor", "admin"]) == 0
    key = re.search(r"kiosk key \(shown once\): (\S+)", capsys.readouterr().out).group(1)  # type: ignore[union-attr]
    challenge, _ = world.reg.kiosks.challenge("K1", key)
    assert main(["card", "sign", str(card_file), "--kiosk", "K1", "--challenge", challenge]) == 0
    signature = capsys.readouterr().out.strip()
    tx = world.reg.kiosks.start("K1", key, card_id=card_id, challenge=challenge, signature=signature, pin="1234")
    assert tx.name == "札幌　太郎"

    request = tmp_path / "request.json"
    request.write_text(json.dumps({"kind": "resident_copy", "subject_ids": [taro], "path": "self",
                                   "requester": {"name": "札幌　太郎", "person_id": taro},
                                   "identity": [{"kind": "passport"}]}, ensure_ascii=False), encoding="utf-8")
    pdf = tmp_path / "copy.pdf"
    assert main(["cert", "issue", str(request), "--out", str(pdf), "--actor", "clerk"]) == 0
    assert "issued 011002-" in capsys.readouterr().out
    assert verify_pdf(pdf.read_bytes(), load_public_key(world.reg.certificate_signer.public_key_pem())).ok
    assert main(["cert", "issue", str(request), "--out", str(tmp_path / "x.pdf"), "--actor", "viewer"]) == EXIT_REFUSED
    assert "SEC-2/certificate.issue" in capsys.readouterr().err
    assert main(["cert", "counts", "--actor", "chief", "--since", "2000-01-01", "--until", "2099-12-31"]) == 0
    assert "住民票の写し" in capsys.readouterr().out
    assert main(["cert", "log", "--actor", "chief"]) == 0
    assert taro in capsys.readouterr().out
    assert main(["cert", "log", "--actor", "clerk"]) == EXIT_REFUSED

    monkeypatch.setattr("sys.stdin", io.StringIO("4321\n"))
    assert main(["card", "unlock", card_id, "--new-pin-stdin", "--actor", "clerk"]) == 0
    assert world.reg.cards.check_pin_and_count(card_id, "4321")[0]
    assert main(["card", "revoke", card_id, "--reason", "紛失", "--actor", "clerk"]) == 0
    assert world.reg.cards.info(card_id).status == "revoked"
    assert main(["seal", "sweep"]) == 0
    assert "name changed" in capsys.readouterr().out
    assert main(["kiosk", "revoke", "K1", "--actor", "admin"]) == 0
