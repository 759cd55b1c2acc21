"""Contract: migration 0006_netsvc builds exactly juki.net.svc_tables on both engines; the database
refuses UPDATE/DELETE on its insert-only tables; the branch downgrades cleanly."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade
from juki.net import svc_tables as tables

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_netsvc_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0006_netsvc" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        assert set(tables.TABLES) <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migration 0006_netsvc and net/svc_tables.py disagree: {ours}"
    finally:
        engine.dispose()


def test_insert_only_tables_refuse_update_and_delete(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    t = tables.individual_number_assignments
    try:
        with engine.begin() as conn:
            conn.execute(t.insert().values(juminhyo_code="24727059608", attempt=0, number_digest="x" * 64,
                                           kind="generate", request_ref="011002-0000000001", lg_code="011002",
                                           created_at=NOW))
        for stmt in (sa.update(t).values(attempt=1), sa.delete(t)):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(stmt)
    finally:
        engine.dispose()


def test_the_branch_downgrades_and_upgrades_again(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "netsvc@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not names & set(tables.TABLES)
        assert "events" in names
    finally:
        engine.dispose()
    upgrade(database_url)
    assert "0006_netsvc" in (current_revision(database_url) or "").split(",")


def test_provision_log_is_deleted_only_past_a_purge_marker(database_url: str) -> None:
    """PRF-6: the log refuses UPDATE, and DELETE unless a purge marker's cutoff covers the row."""
    upgrade(database_url)
    engine = make_engine(database_url)
    log, marker = tables.provision_log, tables.provision_purge_active
    old, young = dt.datetime(2018, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    try:
        with engine.begin() as conn:
            for at in (old, young):
                conn.execute(log.insert().values(at=at, operator="op", terminal="T", recipient="r", use_code="u",
                                                 channel="provision", mode="single", query_key="four_items",
                                                 outcome="refused", subjects=[], items=[], number_included=False,
                                                 media="screen"))
        for stmt in (sa.update(log).values(operator="x"), sa.delete(log)):
            with pytest.raises(sa.exc.DatabaseError, match="kept 7 years"), engine.begin() as conn:
                conn.execute(stmt)
        with engine.begin() as conn:
            conn.execute(marker.insert().values(cutoff=dt.datetime(2019, 1, 1, tzinfo=dt.UTC)))
            conn.execute(sa.delete(log).where(log.c.at < dt.datetime(2019, 1, 1, tzinfo=dt.UTC)))
            with pytest.raises(sa.exc.DatabaseError, match="kept 7 years"), conn.begin_nested():
                conn.execute(sa.delete(log))  # the young row is not covered
            conn.execute(sa.delete(marker))
        with engine.connect() as conn:
            assert conn.execute(sa.select(log.c.at)).scalars().all() == [young]
    finally:
        engine.dispose()
