"""`juki keys rotate`: a new active key, current records re-encrypted, history still readable, the
rotation in the audit log (issue 3 item 3)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from juki.adapters.db.migrate import upgrade
from juki.cli.main import main
from juki.config import Register, Settings
from juki.services.seeding import seed_city


def test_rotate_reencrypts_current_records_and_keeps_history_readable(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/juki.db"
    monkeypatch.setenv("JUKI_DATABASE_URL", url)
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "keys.json"))
    upgrade(url)
    reg = Register(Settings(database_url=url, key_file=tmp_path / "keys.json"))
    seed_city(reg, 50, 1)
    with reg.engine.connect() as c:
        pid, kid = c.execute(sa.text("SELECT person_id, number_key_id FROM persons WHERE number_key_id IS NOT NULL LIMIT 1")).one()
    number = reg.store.person_current(pid).individual_number
    assert kid == "k1" and number
    reg.engine.dispose()

    assert main(["keys", "rotate", "--actor", "admin1"]) == 0

    assert json.loads((tmp_path / "keys.json").read_text())["active"] == "k2"
    after = Register(Settings(database_url=url, key_file=tmp_path / "keys.json"))
    with after.engine.connect() as c:
        keys = {r[0] for r in c.execute(sa.text("SELECT DISTINCT number_key_id FROM persons WHERE number_key_id IS NOT NULL"))}
        history = {r[0] for r in c.execute(sa.text("SELECT DISTINCT number_key_id FROM person_versions WHERE number_key_id IS NOT NULL"))}
        audit = c.execute(sa.text("SELECT user_id, action FROM audit_entries")).all()
    assert keys == {"k2"} and history == {"k1"}
    assert after.store.person_current(pid).individual_number == number
    assert after.store.person_history(pid)[0][1].individual_number == number
    assert ("admin1", "keys.rotate") in [tuple(a) for a in audit]
    after.engine.dispose()
