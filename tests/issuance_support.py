"""A small real municipality for the certificate, card, kiosk and seal tests: a migrated register (both
engines), families entered through the real change service (submitted by one clerk, approved by
another), a DV 支援措置, principals per role, and a clock the test moves.  No tests here."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from juki.access.model import Principal
from juki.access.support import register_measure
from juki.adapters.db.migrate import upgrade
from juki.config import Register, Settings
from juki.domain.events import ChangeKind, Origin
from juki.services.changes import Actor

from .clock import Clock
from .unit.registry import address, chiba_address, person

NOW = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)  # 10:00 JST
SECTION = "市民課"
NUMBER = "123456789018"  # a valid 個人番号 (check digit)
OFFENDER = {"name": "加害　太郎", "birth_date": dt.date(1985, 3, 3)}
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def principal(user: str, *roles: str, terminal: str = "T001") -> Principal:
    return Principal.build(user_id=user, terminal_id=terminal, session_id=f"s-{user}", section=SECTION,
                           grants={(r, SECTION) for r in roles})


CLERK = principal("clerk", "counter_clerk")
CLERK2 = principal("clerk2", "counter_clerk")
CHIEF = principal("chief", "approver")
VIEWER = principal("viewer", "viewer")


@dataclass
class World:
    reg: Register
    clock: Clock
    ids: dict[str, str] = field(default_factory=dict)  # name → 宛名番号
    households: dict[str, str] = field(default_factory=dict)  # family → 世帯番号

    def change(self, kind: ChangeKind, payload: dict[str, Any], *, effective: str = "2026-04-10") -> Any:
        day = dt.date.fromisoformat(effective)
        sub = self.reg.changes.submit(kind, payload, actor=Actor("clerk", "T001"), origin=Origin.NOTIFICATION,
                                      legal_basis="住民基本台帳法", effective_date=day,
                                      notified_date=min(max(day, dt.date(2026, 4, 12)) if kind is ChangeKind.MOVE_IN else day,
                                                        dt.date(2026, 4, 20)))
        return self.reg.changes.approve(sub.request_id, actor=Actor("chief", "T001"))

    def count(self, table: str) -> int:
        self.reg.audit_queue.flush()
        with self.reg.engine.connect() as c:
            return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        self.reg.audit_queue.flush()
        with self.reg.engine.connect() as c:
            rows = c.execute(sa.text("SELECT seq, user_id, terminal, session_id, action, outcome, subject_ids, detail "
                                     "FROM audit_entries ORDER BY seq")).all()
        out = [{"seq": r[0], "user_id": r[1], "terminal": r[2], "session_id": r[3], "action": r[4], "outcome": r[5],
                "subject_ids": json.loads(r[6]), "detail": json.loads(r[7]) if r[7] else {}} for r in rows]
        return [e for e in out if action is None or e["action"] == action]


def build_world(database_url: str, tmp_path: Path) -> World:
    upgrade(database_url)
    reg = Register(Settings(database_url=database_url, key_file=tmp_path / "keys.json", lg_code="011002",
                            cert_key_file=tmp_path / "cert-key.pem"),
                   password_hasher=CHEAP_HASH)
    clock = Clock(NOW)
    reg.clock = clock
    reg.store._clock = clock  # recorded_at of the seeded events follows the test clock
    w = World(reg, clock)
    sapporo = w.change(ChangeKind.MOVE_IN, {
        "persons": [person(individual_number=NUMBER, honseki="北海道札幌市中央区北一条西二丁目", hittosha="札幌　太郎"),
                    person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻"),
                    person("札幌　一郎", "サッポロ　イチロウ", "2010-04-01", "1", "子"),
                    person("札幌　次郎", "サッポロ　ジロウ", "2015-06-01", "1", "子")],
        "address": address(), "prior_address": chiba_address()})
    for name, pid in zip(("札幌　太郎", "札幌　花子", "札幌　一郎", "札幌　次郎"),
                         [p.person_id for p in sapporo.outcome.persons], strict=True):
        w.ids[name] = pid
    w.households["sapporo"] = sapporo.outcome.households[0].household_id
    other = w.change(ChangeKind.MOVE_IN, {
        "persons": [person("函館　三郎", "ハコダテ　サブロウ", "1975-01-15")],
        "address": address(block="2丁目2番2号", town="南二条東"), "prior_address": chiba_address()})
    w.ids["函館　三郎"] = other.outcome.persons[0].person_id
    w.households["hakodate"] = other.outcome.households[0].household_id
    victim = w.change(ChangeKind.MOVE_IN, {
        "persons": [person("被害　さくら", "ヒガイ　サクラ", "1990-09-09", "2")],
        "address": address(block="3丁目3番3号", town="北三条西"), "prior_address": chiba_address()})
    w.ids["被害　さくら"] = victim.outcome.persons[0].person_id
    register_measure(reg.engine, person_id=w.ids["被害　さくら"], offender_name=OFFENDER["name"],
                     offender_birth_date=OFFENDER["birth_date"], registered_by="support1", approved_by="support2",
                     valid_from=dt.date(2026, 4, 1), clock=clock)
    return w


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Any:
    """The register of :func:`build_world` (札幌市 with its residents, on each engine), closed afterwards; a
    test module may define its own ``world`` instead."""
    w = build_world(database_url, tmp_path)
    yield w
    w.reg.close()


@pytest.fixture
def chiba(tmp_path: Path) -> Any:
    """千葉市's register (SQLite), the 交付地 of the 広域交付 tests, with its own keys and mayor."""
    url = f"sqlite:///{tmp_path / 'chiba.db'}"
    upgrade(url)
    reg = Register(Settings(database_url=url, key_file=tmp_path / "chiba-keys.json", lg_code="121002",
                            cert_key_file=tmp_path / "chiba-cert-key.pem", mayor="千葉市長　千葉　花子"),
                   password_hasher=CHEAP_HASH)
    yield reg
    reg.close()


def png(size: int = 64) -> bytes:
    """A real PNG (a red ring on white), as a scanned 印影 would be."""
    import struct
    import zlib

    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            r2 = (x - size / 2) ** 2 + (y - size / 2) ** 2
            on = (size * 0.35) ** 2 <= r2 <= (size * 0.45) ** 2
            row += bytes((200, 30, 30) if on else (255, 255, 255))
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))
