"""Contract: the net branch's migrations (0005_net, then 0011_net_retention's index) build exactly
juki.net.tables on both engines, and the database refuses UPDATE/DELETE on the insert-only tables of the
住基ネット nodes (house rule 2; net_history's DELETE is narrowed to retention runs, see
test_net_retention.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade
from juki.net import tables

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_net_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0014_net_transport" in (current_revision(database_url) or "").split(",")  # the net branch's head
    engine = make_engine(database_url)
    try:
        assert set(tables.TABLES) <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migrations 0005_net + 0011_net_retention and net/tables.py disagree: {ours}"
    finally:
        engine.dispose()


def test_downgrade_of_the_net_branch_keeps_the_register_guards(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "net@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not set(tables.TABLES) & names and "events" in names
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                q = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'outbox_no_delete'"
            else:
                q = "SELECT count(*) FROM pg_proc WHERE proname = 'juki_refuse_change'"
            assert conn.execute(sa.text(q)).scalar() == 1
    finally:
        engine.dispose()
    upgrade(database_url)


def test_insert_only_tables_refuse_update_and_delete(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(tables.net_history.insert().values(
                file="identity", juminhyo_code="24727059608", origin="011002", origin_seq=1, reason="move_in",
                change_date=NOW.date(), state="current", current=True, record={}, recorded_at=NOW))
            conn.execute(tables.net_outbound.insert().values(
                seq=1, origin="011002", origin_seq=1, file="identity", payload={}, created_at=NOW))
            conn.execute(tables.cs_intake.insert().values(event_seq=1, outcome="applied", processed_at=NOW))
            conn.execute(tables.net_alerts.insert().values(
                alert_id=1, at=NOW, scope="intake", ref="1", kind="refused", blocking=True, rule="NET-3",
                message_ja="x", message_en="x", detail={}))
            conn.execute(tables.net_alert_resolutions.insert().values(
                alert_id=1, at=NOW, resolved_by="op", action="retry", reason="r"))
        for name in tables.APPEND_ONLY_TABLES:
            t = tables.metadata.tables[name]
            col = next(c for c in t.columns if isinstance(c.type, sa.String | sa.Text) and not c.primary_key)
            for stmt in (sa.update(t).values({col.name: "x"}), sa.delete(t)):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(stmt)
    finally:
        engine.dispose()
