"""Contract: the migration builds exactly schema.py, on both engines; the database itself refuses
UPDATE/DELETE (and TRUNCATE) on the append-only tables; the engine settings hold."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.access import authenticator_tables
from juki.access import tables as access_tables
from juki.adapters.db import counter as web_tables
from juki.adapters.db import reception_tables, retention_tables
from juki.adapters.db.engine import default_database_url, make_engine
from juki.adapters.db.migrate import current_revision, head_revision, upgrade
from juki.adapters.db.schema import APPEND_ONLY_TABLES, metadata
from juki.adapters.db.store import Store
from juki.audit import schema as audit_schema
from juki.issuance import tables as issuance_tables
from juki.net import retention_tables as net_retention_tables
from juki.net import svc_tables as netsvc_tables
from juki.net import tables as net_tables
from juki.net import wide_area_tables

from .test_store_support import D, make_store, move_in, person, prov

EXPECTED_TABLES = {
    "change_requests",
    "change_decisions",
    "events",
    "person_versions",
    "household_versions",
    "persons",
    "households",
    "outbox",
    "id_counters",
}


def _all_metadata() -> sa.MetaData:
    """The register's (and its retention purge's), the audit log's, access control's, the authenticators',
    issuance's, the counter's (and its 総合受付's) and the network nodes' tables (with their retention runs):
    each package owns a migration branch."""
    combined = sa.MetaData()
    for md in (metadata, audit_schema.metadata, access_tables.metadata, authenticator_tables.metadata,
               issuance_tables.metadata, web_tables.metadata, net_tables.metadata, netsvc_tables.metadata,
               retention_tables.metadata, net_retention_tables.metadata, reception_tables.metadata,
               wide_area_tables.metadata):
        for table in md.tables.values():
            table.to_metadata(combined)
    return combined


def test_migration_creates_exactly_the_schema(database_url: str) -> None:
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision() is not None
    upgrade(database_url)  # idempotent
    engine = make_engine(database_url)
    try:
        insp = sa.inspect(engine)
        others = (set(audit_schema.AUDIT_TABLES) | set(access_tables.TABLES) | set(authenticator_tables.TABLES)
                  | set(issuance_tables.TABLES) | set(web_tables.TABLES) | set(net_tables.TABLES)
                  | set(netsvc_tables.TABLES) | set(retention_tables.TABLES) | set(net_retention_tables.TABLES)
                  | set(reception_tables.TABLES) | set(wide_area_tables.TABLES))
        assert set(insp.get_table_names()) == EXPECTED_TABLES | others | {"alembic_version"}
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), _all_metadata())
            assert diff == [], f"migration and schema.py disagree: {diff}"
            counters = dict(conn.execute(sa.text("SELECT name, next_value FROM id_counters")).all())
            assert counters == {"person": 1, "household": 1}
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("change_requests")}
        assert ("idempotency_key",) in uniques
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("change_decisions")}
        assert ("request_id",) in uniques
        idx = {tuple(i["column_names"]) for i in insp.get_indexes("persons")}
        for cols in [
            ("kana_key", "birth_date", "person_id"),
            ("name_key", "birth_date", "person_id"),
            ("birth_date",),
            ("address_key",),
            ("household_id",),
            ("number_index",),
        ]:
            assert cols in idx, cols
    finally:
        engine.dispose()


def test_search_keys_use_c_collation_on_postgresql(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            pytest.skip('COLLATE "C" is a PostgreSQL matter (SQLite\'s BINARY already is code-point order)')
        with engine.connect() as conn:
            rows = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, collation_name FROM information_schema.columns "
                        "WHERE table_name = 'persons' AND column_name IN ('name_key','kana_key','address_key')"
                    )
                ).all()
            )
        assert rows == {"name_key": "C", "kana_key": "C", "address_key": "C"}
    finally:
        engine.dispose()


# --- append-only, enforced by the database -------------------------------------------------------

KEY_COLUMN = {
    "change_requests": "request_id",
    "change_decisions": "decision_id",
    "events": "seq",
    "person_versions": "person_id",
    "household_versions": "household_id",
    "outbox": "outbox_seq",
}
TEXT_COLUMN = {
    "change_requests": "summary",
    "change_decisions": "reason",
    "events": "summary",
    "person_versions": "status",
    "household_versions": "household_id",
    "outbox": "topic",
}


@pytest.fixture
def populated(database_url: str, tmp_path: Path) -> Store:
    """A store with at least one row in every append-only table."""
    store = make_store(database_url, tmp_path)
    with store.transaction() as tx:
        rid = tx.add_request(
            kind="move_in",
            payload={"x": 1},
            provenance=prov(),
            household_ids=[],
            expected_versions={},
            summary="転入",
            idempotency_key="k-1",
        )
    seq = move_in(store, [person(1, 1)], 1)
    with store.transaction() as tx:
        tx.add_decision(
            request_id=rid, decision="approved", decided_by="chief", terminal="T2", reason="ok", event_seq=seq
        )
    yield store
    store.engine.dispose()


def _snapshot(conn: sa.Connection, table: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_update_and_delete_are_refused_by_the_database(populated: Store, table: str) -> None:
    engine = populated.engine
    with engine.connect() as conn:
        before = _snapshot(conn, table)
    assert before, f"fixture left {table} empty"
    statements = [
        f"UPDATE {table} SET {TEXT_COLUMN[table]} = 'tampered'",
        f"UPDATE {table} SET {KEY_COLUMN[table]} = {KEY_COLUMN[table]}",  # even a no-op update
        f"DELETE FROM {table}",
        f"DELETE FROM {table} WHERE {KEY_COLUMN[table]} IS NOT NULL",
    ]
    if engine.dialect.name == "postgresql":
        statements.append(f"TRUNCATE {table} CASCADE")
    for stmt in statements:
        with pytest.raises(sa.exc.DBAPIError, match=f"juki: {table} is append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(stmt))
    with engine.connect() as conn:
        assert _snapshot(conn, table) == before


def test_insert_into_append_only_tables_still_works(populated: Store) -> None:
    seq = move_in(populated, [person(2, 2, name="佐藤 花子", kana="サトウ ハナコ")], 2)
    assert seq > 1


# --- engine ---------------------------------------------------------------------------------------


def test_sqlite_pragmas(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        if engine.dialect.name != "sqlite":
            assert engine.dialect.driver == "psycopg"
            return
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one().lower() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 10000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(populated: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with populated.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO outbox (event_seq, topic, payload, created_at) "
                    "VALUES (999999, 't', '{}', CURRENT_TIMESTAMP)"
                )
            )


def test_two_writers_serialise_instead_of_failing(database_url: str, tmp_path: Path) -> None:
    """A second write transaction waits for the first (SQLite: BEGIN IMMEDIATE + busy_timeout; PostgreSQL:
    the row lock) and then succeeds; neither gets 'database is locked'."""
    store = make_store(database_url, tmp_path)
    first_holds = threading.Event()
    second_started = threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        with store.transaction() as tx:
            results["a"] = tx.allocate_ids("person", 2)
            first_holds.set()
            second_started.wait(10)
            threading.Event().wait(0.3)  # give the second writer time to queue (not asserted)

    def second() -> None:
        first_holds.wait(10)
        second_started.set()
        try:
            with store.transaction() as tx:
                results["b"] = tx.allocate_ids("person", 2)
        except Exception as exc:  # pragma: no cover - reported below
            results["b"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    store.engine.dispose()
    assert results["a"] == [f"{1:010d}", f"{2:010d}"]
    assert results["b"] == [f"{3:010d}", f"{4:010d}"], results["b"]


def test_readers_do_not_wait_for_a_writer(database_url: str, tmp_path: Path) -> None:
    """While a write transaction is open, reads on another connection proceed (WAL + deferred BEGIN)."""
    store = make_store(database_url, tmp_path)
    move_in(store, [person(1, 1)], 1)
    try:
        with store.transaction() as tx:
            tx.allocate_ids("person", 1)
            # same thread, other connection: would block for busy_timeout and fail if reads took the lock
            assert store.counts().residents == 1
            assert store.person_current(f"{1:010d}") is not None
    finally:
        store.engine.dispose()


def test_default_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUKI_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_database_url() == f"sqlite:///{tmp_path / 'var' / 'juki.db'}"
    assert (tmp_path / "var").is_dir()
    monkeypatch.setenv("JUKI_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert default_database_url() == "postgresql+psycopg://u@h/db"


def test_make_engine_refuses_memory_and_fixes_pg_driver() -> None:
    with pytest.raises(ValueError):
        make_engine("sqlite://")
    e = make_engine("postgresql://u@localhost/db")
    assert e.dialect.driver == "psycopg"
    e.dispose()


def test_valid_date_roundtrip_types(populated: Store) -> None:
    rec = populated.person_current(f"{1:010d}")
    assert rec is not None and rec.birth_date == D(1980, 1, 2)
