"""Contract: the 個人番号 is stored only encrypted (AES-GCM, AAD = person_id) with a blind index; key
rotation keeps old data readable; the key file is private."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag

from juki.adapters.db.engine import make_engine
from juki.adapters.db.store import SearchCriteria, Store
from juki.adapters.keys import Keyring, KeyringError, default_key_file

from .test_store_support import make_store, move_in, number_for, person, pid


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    s = make_store(database_url, tmp_path)
    yield s
    s.engine.dispose()


def _all_bytes(store: Store) -> bytes:
    """Every cell of every table, as bytes (text UTF-8 encoded): what someone with the database has."""
    out = bytearray()
    insp = sa.inspect(store.engine)
    with store.engine.connect() as conn:
        for table in insp.get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        out += bytes(cell)
                    elif isinstance(cell, dict | list):
                        out += json.dumps(cell, ensure_ascii=False).encode()
                    else:
                        out += str(cell).encode()
                    out += b"\x00"
    return bytes(out)


def test_number_is_never_stored_in_clear(store: Store) -> None:
    number = number_for(1)
    move_in(store, [person(1, 10, number=number)], 10)
    blob = _all_bytes(store)
    assert number.encode() not in blob
    assert number.encode("utf-16-le") not in blob
    with store.engine.connect() as conn:
        ct, kid, idx = conn.execute(
            sa.text("SELECT number_ciphertext, number_key_id, number_index FROM persons")
        ).one()
        vct = conn.execute(sa.text("SELECT number_ciphertext FROM person_versions")).scalar_one()
    assert kid == "k1" and len(bytes(ct)) == 12 + 12 + 16  # nonce + 12 digits + GCM tag
    assert bytes(ct) == bytes(vct)  # the projection carries its current version's ciphertext
    assert store.keyring.encrypt(number, pid(1))[0] != bytes(ct)  # fresh nonce per encryption
    assert idx == store.keyring.blind_index(number) and number not in idx
    assert store.person_current(pid(1)).individual_number == number


def test_ciphertext_is_bound_to_its_person(store: Store) -> None:
    move_in(store, [person(1, 10, number=number_for(1))], 10)
    with store.engine.connect() as conn:
        ct, kid = conn.execute(sa.text("SELECT number_ciphertext, number_key_id FROM persons")).one()
    assert store.keyring.decrypt(bytes(ct), kid, pid(1)) == number_for(1)
    with pytest.raises(InvalidTag):
        store.keyring.decrypt(bytes(ct), kid, pid(2))
    tampered = bytearray(bytes(ct))
    tampered[-1] ^= 1
    with pytest.raises(InvalidTag):
        store.keyring.decrypt(bytes(tampered), kid, pid(1))


def test_rotation_keeps_everything_readable(database_url: str, tmp_path: Path) -> None:
    store = make_store(database_url, tmp_path)
    key_file = tmp_path / "keys.json"
    try:
        move_in(store, [person(1, 10, number=number_for(1))], 10)
        assert store.keyring.rotate() == "k2"
        on_disk = json.loads(key_file.read_text())
        assert on_disk["active"] == "k2" and set(on_disk["keys"]) == {"k1", "k2"}
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        move_in(store, [person(2, 20, name="佐藤 一", kana="サトウ ハジメ", number=number_for(2))], 20)

        # a fresh process: key ring from the file, new engine
        reopened = Store(make_engine(database_url), Keyring.load(key_file))
        try:
            assert reopened.person_current(pid(1)).individual_number == number_for(1)
            assert reopened.person_current(pid(2)).individual_number == number_for(2)
            assert reopened.reencrypt_all() == 1
            assert reopened.reencrypt_all() == 0
            with reopened.engine.connect() as conn:
                kids = dict(conn.execute(sa.text("SELECT person_id, number_key_id FROM persons")).all())
                hist = conn.execute(
                    sa.text("SELECT number_key_id FROM person_versions WHERE person_id = :p"), {"p": pid(1)}
                ).scalar_one()
            assert kids == {pid(1): "k2", pid(2): "k2"}
            assert hist == "k1"  # history is insert-only: it keeps the old key id
            assert reopened.person_current(pid(1)).individual_number == number_for(1)
            assert reopened.person_history(pid(1))[0][1].individual_number == number_for(1)
            # the blind index does not depend on the encryption key
            hits = reopened.search(SearchCriteria(individual_number=number_for(1)))
            assert [h.person_id for h in hits] == [pid(1)]
        finally:
            reopened.engine.dispose()
    finally:
        store.engine.dispose()


def test_missing_key_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    move_in(store, [person(1, 10, number=number_for(1))], 10)
    stranger = Store(store.engine, Keyring.generate())
    with pytest.raises(InvalidTag):  # same key id 'k1', different key
        stranger.person_current(pid(1))
    ring = Keyring.generate()
    ring.rotate()
    other = Keyring({"k9": bytes(32)}, "k9", bytes(32))
    with pytest.raises(KeyringError, match="unknown key id"):
        Store(store.engine, other).person_current(pid(1))


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "keys.json"
    ring = Keyring.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Keyring.load_or_create(path)
    assert again.blind_index("123456789018") == ring.blind_index("123456789018")
    ct, kid = ring.encrypt("123456789018", "0000000001")
    assert again.decrypt(ct, kid, "0000000001") == "123456789018"
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load(path)
    os.chmod(path, 0o600)
    path.write_text('{"active": "k1", "keys": {"k1": "c2hvcnQ="}, "index_key": "x"}')
    with pytest.raises(KeyringError):
        Keyring.load(path)


def test_default_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUKI_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_key_file(f"sqlite:///{tmp_path}/db/juki.db") == tmp_path / "db" / "juki-keys.json"
    assert default_key_file("postgresql+psycopg://h/db") == tmp_path / "var" / "juki-keys.json"
    assert default_key_file() == tmp_path / "var" / "juki-keys.json"
    monkeypatch.setenv("JUKI_KEY_FILE", str(tmp_path / "k.json"))
    assert default_key_file("sqlite:///x.db") == tmp_path / "k.json"
