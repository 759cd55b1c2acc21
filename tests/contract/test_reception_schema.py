"""Contract: migrations 0012_counter_intake and 0016_reception_more build exactly juki.adapters.db.reception_tables
on both engines, on their own branch off 0001, and the database refuses UPDATE/DELETE (and TRUNCATE on PostgreSQL)
on every 総合受付 table (CTR-2, house rule 2: the history is the record; a DELETE only inside an approved
retention purge, tested in tests/integration/test_reception_more.py).  0016 widens ``reception_updates.action``
(reopen, handoff) keeping the rows written before it, and a downgrade to 0012 gives the old guards back."""

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
    assert "0016_reception_more" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migrations 0012/0016 and adapters/db/reception_tables.py disagree: {ours}"
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
    conn.execute(tables.reception_handoffs.insert().values(
        handoff_id=1, reception_id=1, step_no=1, section="保険年金課", procedure="health_insurance", created_at=NOW))
    conn.execute(tables.reception_handoff_acks.insert().values(
        handoff_id=1, reception_id=1, revision=1, by_user="kokuho", terminal="T009", at=NOW))
    conn.execute(tables.reception_purges.insert().values(
        id=1, step="request", cutoff=NOW.date(), years=5, reception_count=1, actor="clerk", terminal="T001", at=NOW))
    conn.execute(tables.reception_purge_items.insert().values(request_id=1, reception_id=1, revision=1))


def test_reception_tables_are_insert_only(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _one_of_each(conn)
        for name in tables.APPEND_ONLY_TABLES:
            t = tables.metadata.tables[name]
            col = next(c for c in t.columns if not c.primary_key)
            for stmt in (sa.update(t).values({col.name: col}), sa.delete(t)):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(stmt)
            if engine.dialect.name == "postgresql":
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(sa.text(f"TRUNCATE {name} CASCADE"))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.reception_updates)).scalar() == 1
    finally:
        engine.dispose()


def test_0016_widens_the_actions_and_keeps_the_history(database_url: str) -> None:
    """Rows written under 0012 survive 0016's rebuild of ``reception_updates`` (SQLite) with their guards;
    ``reopen`` and ``handoff`` are accepted, any other action still refused; the downgrade restores 0012."""
    upgrade(database_url, "counter_intake@0012_counter_intake")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(tables.receptions.insert().values(
                reception_id=1, reception_date=NOW.date(), number=1, event="move_in", filed_by="self",
                opened_by="clerk", terminal="T001", opened_at=NOW))
            for rev, action in ((1, "open"), (2, "close")):
                conn.execute(tables.reception_updates.insert().values(
                    reception_id=1, revision=rev, action=action, by_user="clerk", terminal="T001", at=NOW))
        upgrade(database_url)
        with engine.begin() as conn:
            for rev, action in ((3, "reopen"), (4, "handoff")):
                conn.execute(tables.reception_updates.insert().values(
                    reception_id=1, revision=rev, action=action, step_no=1 if action == "handoff" else None,
                    status="done" if action == "handoff" else None, note="理由", by_user="clerk", terminal="T001", at=NOW))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(tables.reception_updates.insert().values(
                reception_id=1, revision=5, action="erase", by_user="clerk", terminal="T001", at=NOW))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.delete(tables.reception_updates))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.update(tables.reception_updates).values(note="x"))
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(sa.select(tables.reception_updates.c.revision,
                                                              tables.reception_updates.c.action)
                                                   .order_by(tables.reception_updates.c.revision))] == [
                (1, "open"), (2, "close"), (3, "reopen"), (4, "handoff")]
    finally:
        engine.dispose()


def test_0016_downgrades_to_0012_with_its_guards(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(tables.receptions.insert().values(
                reception_id=1, reception_date=NOW.date(), number=1, event="move_in", filed_by="self",
                opened_by="clerk", terminal="T001", opened_at=NOW))
            conn.execute(tables.reception_updates.insert().values(
                reception_id=1, revision=1, action="open", by_user="clerk", terminal="T001", at=NOW))
    finally:
        engine.dispose()
    downgrade(database_url, "counter_intake@0012_counter_intake")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert {"reception_handoffs", "reception_purges", "reception_purge_active"}.isdisjoint(names)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(tables.reception_updates.insert().values(
                reception_id=1, revision=2, action="reopen", by_user="clerk", terminal="T001", at=NOW))
        for t in ("receptions", "reception_updates"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(f"DELETE FROM {t}"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM reception_updates")).scalar() == 1
    finally:
        engine.dispose()
    upgrade(database_url)  # and up again
