"""Contract: migration 0007_web builds exactly juki.adapters.db.counter on both engines, and the database refuses
UPDATE/DELETE on them (intakes and online applications are evidence: CTR-1, CTR-3, house rule 2)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db import counter as tables
from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_web_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0007_web" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migration 0007_web and adapters/db/counter.py disagree: {ours}"
    finally:
        engine.dispose()
    downgrade(database_url, "web@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not set(tables.TABLES) & names and "events" in names
    finally:
        engine.dispose()


def test_web_tables_are_insert_only(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(tables.counter_intakes.insert().values(
                request_id=1, filed_by="agent", identity_documents=json.dumps(["driver_licence"]), agent_name="代理　人",
                power_of_attorney=True, recorded_by="clerk", terminal="T001", recorded_at=NOW))
            conn.execute(tables.online_applications.insert().values(
                application_id=1, kind="move_out", reference="MP-1", channel="マイナポータル", applicant_name="札幌　太郎",
                applicant_kana="サッポロ　タロウ", applicant_birth_date=dt.date(1980, 1, 1), planned_date=dt.date(2026, 4, 10),
                payload="{}", received_by="relay", received_at=NOW))
            conn.execute(tables.online_application_steps.insert().values(
                application_id=1, status="received", by_user="relay", at=NOW))
            conn.execute(tables.screen_locks.insert().values(session_id="1" * 64, action="lock", reason="idle", at=NOW))
        for name in tables.APPEND_ONLY_TABLES:
            t = tables.metadata.tables[name]
            col = next(c for c in t.columns if isinstance(c.type, sa.String | sa.Text) and not c.primary_key)
            for stmt in (sa.update(t).values({col.name: "changed"}), sa.delete(t)):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(stmt)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # one 申請番号, one application
            conn.execute(tables.online_applications.insert().values(
                kind="move_out", reference="MP-1", channel="マイナポータル", applicant_name="x", applicant_kana="x",
                applicant_birth_date=dt.date(1980, 1, 1), planned_date=dt.date(2026, 4, 10), payload="{}",
                received_by="relay", received_at=NOW))
    finally:
        engine.dispose()
