"""Shared pytest fixtures for juki.

Storage tests request ``database_url`` and automatically run twice:

* ``[sqlite]``     -- a fresh SQLite *file* (WAL needs a file, not ``:memory:``) under ``tmp_path``;
* ``[postgresql]`` -- a fresh, uniquely named database on the PostgreSQL server given by
  ``JUKI_TEST_PG_URL`` (an admin/superuser SQLAlchemy URL, psycopg 3 driver), dropped afterwards.
  These tests carry the ``postgres`` marker (``-m "not postgres"`` deselects them).

``scripts/test`` starts a private PostgreSQL 15 and sets ``JUKI_TEST_PG_URL``.  Without it the
PostgreSQL tests are skipped, unless ``JUKI_REQUIRE_PG=1`` (CI), in which case they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

PG_URL_ENV = "JUKI_TEST_PG_URL"
REQUIRE_PG_ENV = "JUKI_REQUIRE_PG"
TEST_DB_PREFIX = "juki_t_"


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; repeated so this conftest works standalone.
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server (JUKI_TEST_PG_URL)")


def _pg_admin_url_or_skip() -> URL:
    raw = os.environ.get(PG_URL_ENV, "").strip()
    if not raw:
        msg = (
            f"{PG_URL_ENV} is not set: no PostgreSQL server for this test "
            "(run the suite with scripts/test, which starts a private PostgreSQL 15)"
        )
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.fail(f"{REQUIRE_PG_ENV}=1 but {msg}", pytrace=False)
        pytest.skip(msg)
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        pytest.fail(f"{PG_URL_ENV} must be a postgresql URL, got {url.render_as_string()}", pytrace=False)
    if url.get_driver_name() != "psycopg":
        # The app uses psycopg 3; normalise postgresql:// and postgresql+psycopg2:// URLs.
        url = url.set(drivername="postgresql+psycopg")
    return url


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """Admin (superuser) URL of the test PostgreSQL server, as a string with the password kept.

    Skips (or fails with ``JUKI_REQUIRE_PG=1``) when ``JUKI_TEST_PG_URL`` is not set.
    """
    return _pg_admin_url_or_skip().render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_admin_engine(pg_admin_url: str) -> Iterator[Engine]:
    """AUTOCOMMIT engine on the admin database; one per session (i.e. per xdist worker)."""
    engine = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.fail(f"cannot connect to PostgreSQL at {PG_URL_ENV}: {exc}", pytrace=False)
    yield engine
    engine.dispose()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create_pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    admin: Engine = request.getfixturevalue("pg_admin_engine")
    # uuid4 is unique across xdist workers and across concurrent test runs on the same server.
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8'"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        # WITH (FORCE) (PG 13+) terminates connections a test may have left open (e.g. an undisposed pool).
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)"))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database; the test runs once per engine.

    * sqlite:     ``sqlite:///<tmp_path>/juki.db`` (a new file per test)
    * postgresql: ``postgresql+psycopg://.../juki_t_<12 hex>`` (a new database per test, dropped after)
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'juki.db'}"
    else:
        yield from _create_pg_database(request)
