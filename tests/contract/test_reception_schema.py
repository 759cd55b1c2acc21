"""Contract: migration 0012_counter_intake builds exactly juki.adapters.db.reception_tables on both engines, on its
own branch off 0001, and the database refuses UPDATE/DELETE (and TRUNCATE on PostgreSQL) on every 総合受付 table
(CTR-2, house rule 2: the history is the record)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db import reception_tables as tables
from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade

NOW = dt.datetime(2026, 4, 20, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_reception_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0012_counter_intake" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migration 0012_counter_intake and adapters/db/reception_tables.py disagree: {ours}"
    finally:
        engine.dispose()
    downgrade(database_url, "counter_intake@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not set(tables.TABLES) & names and {"events", "counter_intakes"} <= names  # the other branches stay
    finally:
        engine.dispose()


def _one_of_each(conn: sa.Connection) -> None:
    conn.execute(tables.receptions.insert().values(
        reception_id=1, reception_date=NOW.date(), number=1, event="move_in", filed_by="self", opened_by="clerk",
        terminal="T001", opened_at=NOW))
    conn.execute(tables.reception_persons.insert().values(reception_id=1, position=0, name="札幌　花子"))
    conn.execute(tables.reception_steps.insert().values(reception_id=1, step_no=1, procedure="move_in_notice"))
    conn.execute(tables.reception_updates.insert().values(
        reception_id=1, revision=1, action="open", by_user="clerk", terminal="T001", at=NOW))


def test_reception_tables_are_insert_only(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _one_of_each(conn)
        for name in tables.APPEND_ONLY_TABLES:
            t = tables.metadata.tables[name]
            col = next(c for c in t.columns if isinstance(c.type, sa.String | sa.Text) and not c.primary_key)
            for stmt in (sa.update(t).values({col.name: "changed"}), sa.delete(t)):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(stmt)
            if engine.dialect.name == "postgresql":
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(sa.text(f"TRUNCATE {name} CASCADE"))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.reception_updates)).scalar() == 1
    finally:
        engine.dispose()


def test_one_number_per_day_and_one_row_per_revision(database_url: str) -> None:
    """The constraints that decide races: the 受付番号 per day, and a reception's revision (optimistic
    concurrency: two writes on the same revision cannot both be stored)."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _one_of_each(conn)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(tables.receptions.insert().values(
                reception_date=NOW.date(), number=1, event="death", filed_by="self", opened_by="clerk2",
                terminal="T002", opened_at=NOW))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(tables.reception_updates.insert().values(
                reception_id=1, revision=1, action="close", by_user="clerk2", terminal="T002", at=NOW))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # a person is named or registered
            conn.execute(tables.reception_persons.insert().values(reception_id=1, position=1, name=""))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(tables.reception_updates.insert().values(
                reception_id=1, revision=2, action="status", status="returned", by_user="c", terminal="T", at=NOW))
        with engine.begin() as conn:  # the next day starts again at 1
            conn.execute(tables.receptions.insert().values(
                reception_date=NOW.date() + dt.timedelta(days=1), number=1, event="death", filed_by="agent",
                visitor_name="代理　人", opened_by="clerk", terminal="T001", opened_at=NOW))
    finally:
        engine.dispose()
