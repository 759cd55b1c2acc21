"""Contract: migration 0008_webauthn builds exactly juki.access.authenticator_tables on both engines, and the
database refuses to delete a registered authenticator (a revoked one stays as evidence: SEC-1, SEC-3)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.access import authenticator_tables as tables
from juki.access import tables as access_tables
from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_migration_creates_exactly_the_authenticator_tables(database_url: str) -> None:
    upgrade(database_url)
    assert "0008_webauthn" in (current_revision(database_url) or "").split(",")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in tables.TABLES)]
        ours = [d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in tables.TABLES)]
        assert ours == [], f"migration 0008_webauthn and access/authenticator_tables.py disagree: {ours}"
    finally:
        engine.dispose()
    downgrade(database_url, "webauthn@0001")
    engine = make_engine(database_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        assert not set(tables.TABLES) & names and "staff" in names
        with engine.begin() as conn:
            conn.execute(access_tables.terminals.insert().values(
                terminal_id="T001", name="窓口1", section="市民課", credential_hash="0" * 64, registered_by="admin",
                registered_at=NOW))
        # the access branch's delete guard (on PostgreSQL a function shared with this branch) stays
        with pytest.raises(sa.exc.DBAPIError, match="never deleted"), engine.begin() as conn:
            conn.execute(sa.delete(access_tables.terminals))
    finally:
        engine.dispose()
    upgrade(database_url)


def test_a_credential_is_never_deleted(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(tables.webauthn_credentials.insert().values(
                credential_id="AAAA", user_id="clerk", label="指紋センサー", rp_id="localhost", public_key=b"\xa5",
                aaguid="00000000-0000-0000-0000-000000000000", registered_at=NOW, registered_terminal="T001"))
            conn.execute(tables.webauthn_credentials.update().values(sign_count=3, revoked_at=NOW, revoked_by="admin"))
        with pytest.raises(sa.exc.DBAPIError, match="never deleted"), engine.begin() as conn:
            conn.execute(sa.delete(tables.webauthn_credentials))
        with engine.connect() as conn:
            assert conn.execute(sa.select(tables.webauthn_credentials.c.sign_count)).scalar() == 3
    finally:
        engine.dispose()
