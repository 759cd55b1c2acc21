"""Contract: the access subcommands end to end on both engines (secrets printed once, errors as text)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

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
