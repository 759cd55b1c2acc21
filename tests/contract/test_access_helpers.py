"""Shared fixtures for the access contract tests (test_access_*.py): a migrated database on both engines,
a hand-moved clock, an AuthService with a fast argon2id hasher, one registered terminal.  No tests here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from juki.access import rights
from juki.access.auth import AuthPolicy, AuthService, Login
from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import upgrade
from juki.adapters.keys import Keyring

from ..clock import Clock as _Clock

PASSWORD = "correct horse battery"
START = dt.datetime(2024, 4, 1, 0, 0, 0, tzinfo=dt.UTC)  # 09:00 JST, on a TOTP step boundary



def Clock(start: dt.datetime = START) -> _Clock:
    return _Clock(start)

def fast_hasher() -> PasswordHasher:
    """argon2id with small parameters (tests only; production uses argon2-cffi's defaults)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Env:
    engine: Engine
    keyring: Keyring
    clock: _Clock
    auth: AuthService
    terminal_id: str = "T-001"
    terminal_key: str = ""
    secrets: dict[str, str] = field(default_factory=dict)

    def code(self, user_id: str, at: dt.datetime | None = None) -> str:
        return pyotp.TOTP(self.secrets[user_id]).at(at or self.clock.now)

    def add_user(
        self, user_id: str, *, section: str = "市民課", kind: str = "staff", must_change: bool = False
    ) -> str:
        new = self.auth.create_staff(
            user_id, f"職員 {user_id}", section, password=PASSWORD, actor="admin0", kind=kind, must_change=must_change
        )
        self.secrets[user_id] = new.totp_secret
        return user_id

    def login(self, user_id: str, *, password: str = PASSWORD, code: str | None = None) -> Login:
        return self.auth.login(
            user_id, password, code if code is not None else self.code(user_id), self.terminal_id, self.terminal_key
        )

    def grant(self, user_id: str, role: str, section: str = "市民課", *, owner: str = "owner") -> int:
        gid = rights.request_right(
            self.engine, user_id=user_id, role=role, section=section, requested_by="admin0", clock=self.clock
        )
        rights.approve_right(self.engine, gid, approved_by=owner, clock=self.clock)
        return gid


@pytest.fixture(name="env")
def env_fixture(database_url: str, tmp_path: Path) -> Iterator[Env]:
    upgrade(database_url)
    engine = make_engine(database_url)
    clock = Clock()
    auth = AuthService(
        engine, Keyring.load_or_create(tmp_path / "keys.json"), clock, AuthPolicy(), hasher=fast_hasher()
    )
    e = Env(engine, auth.keyring, clock, auth)
    e.terminal_key = auth.register_terminal(e.terminal_id, "市民課 窓口1", "市民課", actor="admin0")
    try:
        yield e
    finally:
        engine.dispose()


@pytest.fixture(name="owned")
def owned_fixture(env: Env) -> Env:
    """``env`` with a bootstrapped business owner ``owner`` (all sections) and a system admin ``admin0``."""
    env.add_user("owner", section="総務課")
    rights.bootstrap_owner(env.engine, "owner", actor="installer", clock=env.clock)
    env.add_user("admin0", section="情報政策課")
    env.grant("admin0", "system_admin", "*")
    return env
