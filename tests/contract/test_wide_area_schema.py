"""Contract: migrations 0013_wide_area and 0015_wide_area_keep build exactly juki.net.wide_area_tables on both engines; the database
refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) of a send record; the branch downgrades cleanly
(住基法12条の4, NET-11)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade
from juki.net import wide_area_tables as tables

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_wide_area_table(database_url: str) -> None:
    upgrade(database_url)
    assert "0015_wide_area_keep" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        assert set(tables.TABLES) <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migrations 0013_wide_area + 0015_wide_area_keep and net/wide_area_tables.py disagree: {ours}"
    finally:
        engine.dispose()


def _send(conn: sa.Connection, ref: str, request_id: str) -> None:
    conn.execute(tables.wide_area_sends.insert().values(
        answer_ref=ref, issuing_lg_code="121002", request_id=request_id, request_sha256="0" * 64, operator="clerk",
        person_ids=["0000000001"], requester={"name": "広域　一郎"}, whole_household=False, items=[],
        answer_ciphertext=b"x", key_id="k1", answer_sha256="1" * 64, sent_at=NOW))


def test_send_records_are_insert_only_and_unique_per_request(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    t = tables.wide_area_sends
    try:
        with engine.begin() as conn:
            _send(conn, "W0000000000A", "r" * 20)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # the same 交付地 request id again
            _send(conn, "W0000000000B", "r" * 20)
        for stmt in (sa.update(t).values(operator="x"), sa.delete(t)):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(stmt)
        if engine.dialect.name == "postgresql":
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE wide_area_sends"))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 1
    finally:
        engine.dispose()


def test_the_branch_downgrades_and_upgrades_again(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "widearea@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not names & set(tables.TABLES)
        assert {"events", "certificate_issuances", "audit_entries"} <= names
        with engine.connect() as conn:  # the register's own guards (0001) still stand
            if engine.dialect.name == "postgresql":
                kept = conn.execute(sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'juki_refuse_change'")).scalar_one()
            else:
                kept = conn.execute(sa.text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                            "AND name = 'events_no_delete'")).scalar_one()
            assert kept == 1
    finally:
        engine.dispose()
    upgrade(database_url)
    assert "0015_wide_area_keep" in (current_revision(database_url) or "").split(",")
