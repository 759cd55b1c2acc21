"""Contract: 開示 (SEC-7) -- one person's record, history and access log; the 開示 is itself logged."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.audit.disclosure import disclose, write_access_csv, write_json
from juki.audit.log import AuditLog, AuditPolicy
from juki.audit.schema import audit_entries
from juki.audit.verify import verify
from juki.cli.audit import register_audit_commands
from juki.domain.errors import NotFound

from ..contract.test_store_support import make_store, move_in, number_for, person, pid


def test_disclosure_lists_the_persons_accesses_and_not_others(database_url: str, tmp_path: Path) -> None:
    store = make_store(database_url, tmp_path)
    try:
        move_in(store, [person(1, 1, number=number_for(1)),
                        person(2, 1, name="山田 花子", kana="ヤマダ ハナコ", relationship="妻")], 1)
        engine = store.engine
        audit = AuditLog(AuditPolicy(enabled=False))
        audit.record_now(engine, user_id="clerk1", terminal="T1", action="search", subject_ids=[pid(1), pid(2)])
        audit.record_now(engine, user_id="clerk2", terminal="T2", action="person.read", subject_ids=[pid(1)])
        audit.record_now(engine, user_id="snoop", terminal="T3", action="person.read", subject_ids=[pid(2)])
        audit.record_now(engine, user_id="clerk3", terminal="T4", action="certificate.issue", subject_ids=[pid(1)])

        result = disclose(store, engine, pid(1), requested_by="counter1", terminal="T9", audit=audit)
        assert result["record"]["person_id"] == pid(1)
        assert result["record"]["individual_number"] == "************"  # masked by default
        assert len(result["history"]) == 1 and result["history"][0]["event"]["kind"] == "move_in"
        who = [(a["user_id"], a["action"]) for a in result["accesses"]]
        assert who == [("clerk1", "search"), ("clerk2", "person.read"), ("clerk3", "certificate.issue")]
        assert "snoop" not in json.dumps(result, ensure_ascii=False)
        assert result["accesses"][0]["terminal"] == "T1" and result["accesses"][0]["action_ja"] == "検索"

        with engine.connect() as conn:
            last = conn.execute(sa.select(audit_entries).order_by(audit_entries.c.seq.desc()).limit(1)).one()
        assert (last.action, last.user_id, json.loads(last.subject_ids)) == ("export", "counter1", [pid(1)])
        assert json.loads(last.detail)["purpose"] == "disclosure"

        with_number = disclose(store, engine, pid(1), requested_by="counter1", terminal="T9",
                               include_individual_number=True)
        assert with_number["record"]["individual_number"] == number_for(1)
        assert with_number["accesses"][-1]["action"] == "export"  # the first 開示 is itself listed now
        with engine.connect() as conn:
            detail = conn.execute(sa.select(audit_entries.c.detail).order_by(audit_entries.c.seq.desc())).first()[0]
        assert number_for(1) not in detail and json.loads(detail)["included_individual_number"] is True

        write_json(result, tmp_path / "d.json")
        assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))["person_id"] == pid(1)
        write_access_csv(result, tmp_path / "d.csv")
        rows = list(csv.reader((tmp_path / "d.csv").open(encoding="utf-8-sig")))
        assert rows[0][:3] == ["番号", "日時", "利用者"] and len(rows) == 4

        with pytest.raises(NotFound):
            disclose(store, engine, pid(99), requested_by="counter1", terminal="T9")
        assert verify(engine).ok
    finally:
        store.engine.dispose()


def test_cli_disclose(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(database_url, tmp_path)
    move_in(store, [person(1, 1)], 1)
    store.engine.dispose()
    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    parser = argparse.ArgumentParser(prog="juki")
    register_audit_commands(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "kaiji.json"
    args = parser.parse_args(["audit", "disclose", pid(1), "--out", str(out), "--csv", str(tmp_path / "a.csv"),
                              "--user", "counter1", "--terminal", "T9"])
    assert args.func(args) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["record"]["person_id"] == pid(1)
