"""Contract: ``verify`` and ``juki audit verify`` on an intact log and after tampering by an attacker
with database superuser rights (guards dropped): edit, delete, reorder, truncate (with and without
fixing the head), and a rewritten tail caught only by an anchor exported earlier."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from juki.audit.anchors import export_anchor, load_private_key, public_key_pem, read_anchors
from juki.audit.chain import entry_hash
from juki.audit.log import head
from juki.audit.schema import GENESIS_HASH, audit_entries
from juki.audit.verify import verify
from juki.cli.audit import register_audit_commands

from .test_audit_support import as_attacker, build_log, engine_fixture  # noqa: F401  (fixture)


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "audit-key.pem"
    monkeypatch.setenv("JUKI_AUDIT_KEY_FILE", str(path))
    return path


def run_cli(argv: list[str], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> int:
    monkeypatch.setenv("JUKI_DATABASE_URL", database_url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    parser = argparse.ArgumentParser(prog="juki")
    register_audit_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_intact_log_verifies_and_cli_exits_0(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], key_file: Path,
) -> None:
    assert verify(engine).ok  # empty log
    build_log(engine, 50)
    result = verify(engine, batch_size=7)  # several batches
    assert result.ok and result.checked == 50 and result.first_bad_seq is None, result.reason
    assert run_cli(["audit", "verify"], database_url, monkeypatch, tmp_path) == 0
    assert "監査ログは完全です" in capsys.readouterr().out


def test_edit_is_detected_naming_the_entry(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], key_file: Path,
) -> None:
    build_log(engine, 50)
    as_attacker(engine, """UPDATE audit_entries SET detail = '{"i":17,"q":"サトウ"}' WHERE seq = 18""")
    result = verify(engine)
    assert not result.ok and result.first_bad_seq == 18 and result.checked == 17
    assert result.reason.startswith("第 18 番の記録が改ざんされています")
    assert run_cli(["audit", "verify"], database_url, monkeypatch, tmp_path) == 1
    out = capsys.readouterr().out
    assert "NG" in out and "18" in out


def test_edit_of_user_or_time_is_detected(engine: Engine) -> None:
    build_log(engine, 20)
    as_attacker(engine, "UPDATE audit_entries SET user_id = 'someone_else' WHERE seq = 5")
    assert verify(engine).first_bad_seq == 5


def test_deletion_is_detected_as_a_gap(engine: Engine) -> None:
    build_log(engine, 50)
    as_attacker(engine, "DELETE FROM audit_subjects WHERE seq = 30", "DELETE FROM audit_entries WHERE seq = 30")
    result = verify(engine)
    assert not result.ok and result.first_bad_seq == 30
    assert "削除" in result.reason and "missing" in result.reason


def test_deletion_with_renumbering_is_detected(engine: Engine) -> None:
    """The attacker deletes 30 and shifts 31..50 down so there is no gap: the chain still breaks."""
    build_log(engine, 50)
    as_attacker(engine, "DELETE FROM audit_entries WHERE seq = 30",
                "UPDATE audit_entries SET seq = seq + 1000 WHERE seq > 30",
                "UPDATE audit_entries SET seq = seq - 1001 WHERE seq > 1000",
                "UPDATE audit_head SET last_seq = 49")
    result = verify(engine)
    assert not result.ok and result.first_bad_seq == 30


def test_reordering_is_detected(engine: Engine) -> None:
    """Swap the contents (everything but seq) of entries 10 and 11."""
    build_log(engine, 50)
    cols = ["at", "user_id", "terminal", "session_id", "action", "outcome", "subject_ids", "detail", "prev_hash", "hash"]
    as_attacker(engine,
                "CREATE TABLE tmp_swap AS SELECT * FROM audit_entries WHERE seq IN (10, 11)",
                "DELETE FROM audit_entries WHERE seq IN (10, 11)",
                f"INSERT INTO audit_entries (seq, {', '.join(cols)}) "
                f"SELECT 21 - seq, {', '.join(cols)} FROM tmp_swap",
                "DROP TABLE tmp_swap")
    result = verify(engine)
    assert not result.ok and result.first_bad_seq == 10


def test_truncated_tail_is_detected_by_the_head(engine: Engine) -> None:
    build_log(engine, 50)
    as_attacker(engine, "DELETE FROM audit_subjects WHERE seq > 40", "DELETE FROM audit_entries WHERE seq > 40")
    result = verify(engine)
    assert not result.ok and result.first_bad_seq == 41
    assert "切り捨て" in result.reason and "truncated" in result.reason


def test_truncated_tail_with_a_fixed_head_is_caught_only_by_an_earlier_anchor(
    engine: Engine, tmp_path: Path, key_file: Path
) -> None:
    build_log(engine, 45)
    anchor_dir = tmp_path / "anchors"
    path = export_anchor(engine, anchor_dir, municipality="011002")
    assert path.name == "audit-anchor-000000000045.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["seq"] == 45 and data["hash"] == head(engine)[1] and data["municipality"] == "011002"
    assert key_file.stat().st_mode & 0o077 == 0
    build_log(engine, 5)  # more entries after the anchor
    assert verify(engine, anchors=anchor_dir).ok
    with engine.connect() as conn:
        h40 = conn.execute(sa.select(audit_entries.c.hash).where(audit_entries.c.seq == 40)).scalar_one()
    as_attacker(engine, "DELETE FROM audit_subjects WHERE seq > 40", "DELETE FROM audit_entries WHERE seq > 40",
                f"UPDATE audit_head SET last_seq = 40, last_hash = '{h40}'",
                "DELETE FROM audit_anchors")
    plain = verify(engine)
    assert plain.ok, "without an outside copy a clean truncation is undetectable (documented)"
    result = verify(engine, anchors=anchor_dir)
    assert not result.ok and result.first_bad_seq == 41
    assert "アンカー" in result.reason


def test_rewritten_tail_with_recomputed_hashes_is_caught_by_the_anchor(
    engine: Engine, tmp_path: Path, key_file: Path
) -> None:
    build_log(engine, 30)
    export_anchor(engine, tmp_path / "anchors")
    # The attacker edits entry 20 and recomputes every hash after it, and the head.
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_entries).where(audit_entries.c.seq >= 20).order_by(audit_entries.c.seq)).all()
    prev = rows[0].prev_hash
    stmts = []
    for r in rows:
        detail = '{"i":0,"q":"消した"}' if r.seq == 20 else r.detail
        h = entry_hash(prev, seq=r.seq, at=r.at, user_id=r.user_id, terminal=r.terminal, session_id=r.session_id,
                       action=r.action, outcome=r.outcome, subject_ids=r.subject_ids, detail=detail)
        stmts.append(f"UPDATE audit_entries SET detail = '{detail}', prev_hash = '{prev}', hash = '{h}' WHERE seq = {r.seq}")
        prev = h
    stmts.append(f"UPDATE audit_head SET last_hash = '{prev}'")
    stmts.append("DELETE FROM audit_anchors")
    as_attacker(engine, *stmts)
    assert verify(engine).ok  # consistent forgery inside the database...
    result = verify(engine, anchors=tmp_path / "anchors")
    assert not result.ok and result.first_bad_seq == 30  # ...but not with the outside copy


def test_recorded_anchors_in_the_database_are_checked_too(engine: Engine, tmp_path: Path, key_file: Path) -> None:
    build_log(engine, 10)
    export_anchor(engine, tmp_path / "anchors")
    with engine.connect() as conn:
        h8 = conn.execute(sa.select(audit_entries.c.hash).where(audit_entries.c.seq == 8)).scalar_one()
    as_attacker(engine, "DELETE FROM audit_entries WHERE seq > 8", f"UPDATE audit_head SET last_seq = 8, last_hash = '{h8}'")
    result = verify(engine)
    assert not result.ok and result.first_bad_seq == 9


def test_forged_anchor_signature_is_refused(engine: Engine, tmp_path: Path, key_file: Path) -> None:
    build_log(engine, 5)
    path = export_anchor(engine, tmp_path / "anchors")
    trusted = public_key_pem(load_private_key(key_file))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["hash"] = GENESIS_HASH
    path.write_text(json.dumps(data), encoding="utf-8")
    result = verify(engine, anchors=tmp_path / "anchors", public_key=trusted)
    assert not result.ok and "署名" in result.reason
    # an anchor signed by another key (the attacker's) is refused against the trusted key
    key_file.unlink()
    other = tmp_path / "other.pem"
    path.unlink()
    export_anchor(engine, tmp_path / "anchors", key_file=other)
    assert read_anchors(tmp_path / "anchors")[0].public_key != trusted
    assert not verify(engine, anchors=tmp_path / "anchors", public_key=trusted).ok


def test_cli_export_anchor_then_verify_with_anchors(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build_log(engine, 12)
    out = tmp_path / "anchors"
    assert run_cli(["audit", "export-anchor", "--out", str(out)], database_url, monkeypatch, tmp_path) == 0
    assert run_cli(["audit", "verify", "--anchors", str(out)], database_url, monkeypatch, tmp_path) == 0
    as_attacker(engine, "UPDATE audit_entries SET terminal = 'X' WHERE seq = 3")
    assert run_cli(["audit", "verify", "--anchors", str(out)], database_url, monkeypatch, tmp_path) == 1
    assert "第 3 番" in capsys.readouterr().out
