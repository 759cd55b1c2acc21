"""Contract: migration 0003_access builds exactly juki.access.tables on both engines; the database
refuses UPDATE/DELETE on the insert-only access tables and DELETE on staff, terminals and sessions."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.access import tables
from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade

NOW = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_access_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0003_access" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        assert set(tables.TABLES) <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migration 0003_access and access/tables.py disagree: {ours}"
    finally:
        engine.dispose()


def test_downgrade_of_the_access_branch_keeps_the_register_guards(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "access@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not set(tables.TABLES) & names and "events" in names
        # The register's append-only guards remain (on PostgreSQL their shared function was not dropped).
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                q = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'outbox_no_delete'"
            else:
                q = "SELECT count(*) FROM pg_proc WHERE proname = 'juki_refuse_change'"
            assert conn.execute(sa.text(q)).scalar() == 1
    finally:
        engine.dispose()
    upgrade(database_url)


def _seed(conn: sa.Connection) -> None:
    conn.execute(
        tables.staff.insert().values(
            user_id="u1", name="n", section="s", kind="staff", status="active", password_hash="$argon2id$x",
            password_changed_at=NOW, password_expires_at=NOW, totp_secret_ciphertext=b"x", totp_key_id="k1",
            created_by="a", created_at=NOW,
        )
    )
    conn.execute(
        tables.terminals.insert().values(
            terminal_id="t1", name="t", section="s", credential_hash="0" * 64, registered_by="a", registered_at=NOW
        )
    )
    conn.execute(
        tables.sessions.insert().values(
            session_id="1" * 64, user_id="u1", terminal_id="t1", created_at=NOW, last_seen_at=NOW, expires_at=NOW
        )
    )
    conn.execute(
        tables.rights.insert().values(
            grant_id=1, user_id="u1", role="viewer", section="s", requested_by="a", requested_at=NOW
        )
    )
    conn.execute(tables.right_approvals.insert().values(grant_id=1, approved_by="b", approved_at=NOW))
    conn.execute(tables.right_revocations.insert().values(grant_id=1, revoked_by="b", revoked_at=NOW, reason="r"))
    conn.execute(
        tables.support_measures.insert().values(
            measure_id=1, person_id="0000000001", offender_name="x", valid_from=NOW.date(), registered_by="a",
            approved_by="b", registered_at=NOW,
        )
    )
    conn.execute(tables.support_measure_ends.insert().values(measure_id=1, ended_by="a", ended_at=NOW, reason="r"))


def test_database_guards(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            _seed(conn)
        for name in tables.APPEND_ONLY_TABLES:
            t = tables.metadata.tables[name]
            col = next(c for c in t.columns if isinstance(c.type, sa.String | sa.Text) and not c.primary_key)
            for stmt in (sa.update(t).values({col.name: "changed"}), sa.delete(t)):
                with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                    conn.execute(stmt)
        for name in tables.NO_DELETE_TABLES:
            with pytest.raises(sa.exc.DBAPIError, match="never deleted"), engine.begin() as conn:
                conn.execute(sa.delete(tables.metadata.tables[name]))
        if engine.dialect.name == "postgresql":
            for name in (*tables.APPEND_ONLY_TABLES, *tables.NO_DELETE_TABLES):
                with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
                    conn.execute(sa.text(f"TRUNCATE {name} CASCADE"))
        # Mutable state of an account is allowed.
        with engine.begin() as conn:
            conn.execute(sa.update(tables.staff).values(status="locked"))
            conn.execute(sa.update(tables.sessions).values(ended_at=NOW, end_reason="logout"))
    finally:
        engine.dispose()
