"""A real register behind the real API for integration tests: migrated database (both engines), staff
with approved rights and registered terminals (the demo's provisioning), a clock the test can move, and
logged-in sessions per user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from juki.adapters.db.migrate import upgrade
from juki.api.app import create_app
from juki.config import Register, Settings
from juki.services.staffing import Provisioned, provision

from ..clock import Clock as _Clock

PASSWORD = "correct horse battery staple"
NOW = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)  # 10:00 JST, on a TOTP step boundary



def Clock(start: dt.datetime = NOW) -> _Clock:
    return _Clock(start)

@dataclass
class Api:
    client: TestClient
    reg: Register
    staff: Provisioned
    clock: _Clock
    sessions: dict[str, dict[str, str]] = field(default_factory=dict)

    def totp(self, user: str) -> str:
        return pyotp.TOTP(self.staff.totp_secrets[user]).at(self.clock())

    def login(self, user: str, terminal: str = "T001", *, totp: str | None = None, key: str | None = None) -> Any:
        return self.client.post("/api/v1/auth/login", json={"user_id": user, "password": PASSWORD, "totp": totp or self.totp(user)},
                                headers={"X-Juki-Terminal": terminal, "X-Juki-Terminal-Key": key or self.staff.terminal_keys.get(terminal, "x")})

    def as_(self, user: str, terminal: str = "T001") -> dict[str, str]:
        """Headers of a logged-in session of ``user`` (logging in once; later calls reuse it)."""
        if user not in self.sessions:
            r = self.login(user, terminal)
            assert r.status_code == 200, r.text
            self.sessions[user] = {"Authorization": f"Bearer {r.json()['token']}", "X-Juki-Terminal": terminal}
            self.clock.advance(seconds=30)  # next login uses a fresh TOTP step
        return self.sessions[user]

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        self.reg.audit_queue.flush()
        with self.reg.engine.connect() as c:
            rows = c.execute(sa.text("SELECT seq, user_id, action, outcome, subject_ids, detail FROM audit_entries ORDER BY seq")).all()
        import json

        out = [{"seq": r[0], "user_id": r[1], "action": r[2], "outcome": r[3], "subject_ids": json.loads(r[4]),
                "detail": json.loads(r[5]) if r[5] else {}} for r in rows]
        return [e for e in out if action is None or e["action"] == action]


@pytest.fixture
def api(database_url: str, tmp_path) -> Api:
    upgrade(database_url)
    reg = Register(Settings(database_url=database_url, key_file=tmp_path / "keys.json", lg_code="011002",
                            cert_key_file=tmp_path / "cert-key.pem"),
                   password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    clock = Clock()
    reg.clock = clock
    staff = provision(reg, password=PASSWORD)
    with TestClient(create_app(reg)) as client:
        yield Api(client, reg, staff, clock)
    reg.close()
