"""Contract: the access subcommands end to end on both engines (secrets printed once, errors as text)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.access.authenticator_tables import webauthn_ceremonies
from juki.adapters.db.engine import make_engine
from juki.cli.access import register_access_commands
from juki.domain.errors import JukiError


def run(*argv: str) -> int:
    p = argparse.ArgumentParser(prog="juki")
    register_access_commands(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return int(args.func(args))


def test_cli_flow(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    assert run("staff", "create", "owner", "--name", "課長", "--section", "市民課") == 0
    out = capsys.readouterr().out
    assert "otpauth://totp/" in out and re.search(r"initial password .*: \S{12,}", out)
    assert run("staff", "create", "clerk", "--name", "窓口", "--section", "市民課") == 0
    assert run("rights", "bootstrap", "owner") == 0
    assert run("terminal", "register", "T-1", "--name", "窓口1", "--section", "市民課") == 0
    assert "terminal key" in capsys.readouterr().out
    assert run("rights", "request", "clerk", "counter_clerk", "市民課", "--actor", "admin") == 0
    gid = re.search(r"grant (\d+)", capsys.readouterr().out).group(1)  # type: ignore[union-attr]
    with pytest.raises(JukiError):  # the requester cannot approve
        run("rights", "approve", gid, "--actor", "admin")
    assert run("rights", "approve", gid, "--actor", "owner") == 0
    out_csv = tmp_path / "users.csv"
    assert run("staff", "export", "--out", str(out_csv)) == 0
    text = out_csv.read_text(encoding="utf-8-sig")
    assert "clerk" in text and "counter_clerk" in text and "owner" in text
    roster = tmp_path / "roster.csv"
    roster.write_text("user_id,name,section,status\nowner,課長,市民課,在籍\nclerk,窓口,市民課,退職\n", encoding="utf-8")
    assert run("roster", "apply", str(roster), "--today", "2024-04-01", "--force") == 0
    assert '"clerk"' in capsys.readouterr().out
    assert run("staff", "list") == 0
    assert "clerk\t窓口\t市民課\tstaff\tdisabled" in capsys.readouterr().out
    # the daily sweep deletes WebAuthn ceremonies that expired long ago (here one abandoned in 2024)
    engine = make_engine(database_url)
    then = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(webauthn_ceremonies.insert().values(
            ceremony_id="0" * 64, purpose="login", user_id="owner", terminal_id="T-1", origin="https://localhost",
            rp_id="localhost", challenge=b"\0" * 32, created_at=then, expires_at=then + dt.timedelta(minutes=3)))
    assert run("staff", "sweep") == 0
    assert "deleted used or expired authenticator ceremonies: 1" in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webauthn_ceremonies)).scalar() == 0
    engine.dispose()
