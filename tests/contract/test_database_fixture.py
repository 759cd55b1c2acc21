"""Contract: the ``database_url`` fixture (tests/conftest.py) gives every test a fresh, empty,
working database on each engine, and the PostgreSQL side skips/fails/cleans up as documented."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

# Includes a non-BMP character (𠮷, 4 bytes in UTF-8) and 旧字体/異体字 used in 住民票 names.
NAMES = ["山田 太郎", "髙橋 一", "𠮷田 花子", "齋藤 ヱミ"]


def _engine_kind(database_url: str) -> str:
    return sa.engine.make_url(database_url).get_backend_name()


@pytest.mark.parametrize("copy", ["first", "second"])
def test_fresh_database_roundtrip(database_url: str, copy: str) -> None:
    """Create a table, insert, read back.  Both copies create the same table name, so if two tests
    ever shared a database (on either engine, in either order, on any xdist worker) one would fail."""
    engine = sa.create_engine(database_url)
    try:
        assert not sa.inspect(engine).has_table("probe"), "database is not fresh: table 'probe' exists"
        assert sa.inspect(engine).get_table_names() == [], "database is not empty"

        meta = sa.MetaData()
        probe = sa.Table(
            "probe",
            meta,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False, unique=True),
            sa.Column("copy", sa.String(10), nullable=False),
        )
        meta.create_all(engine)
        with engine.begin() as conn:
            conn.execute(probe.insert(), [{"name": n, "copy": copy} for n in NAMES])
        with engine.connect() as conn:
            rows = conn.execute(sa.select(probe.c.name, probe.c.copy).order_by(probe.c.id)).all()
            assert [tuple(r) for r in rows] == [(n, copy) for n in NAMES]
            # Constraints are really enforced.
            with pytest.raises(sa.exc.IntegrityError):
                conn.execute(probe.insert().values(name=NAMES[0], copy=copy))
            conn.rollback()
            assert conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one() == len(NAMES)
    finally:
        engine.dispose()


def test_engine_kind_and_version(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    param = request.node.callspec.id
    engine = sa.create_engine(database_url)
    try:
        assert engine.dialect.name == param
        with engine.connect() as conn:
            if param == "postgresql":
                assert engine.dialect.driver == "psycopg", "tests must use psycopg 3"
                assert engine.dialect.server_version_info >= (15,), engine.dialect.server_version_info
                db = conn.execute(sa.text("SELECT current_database()")).scalar_one()
                assert db.startswith("juki_t_") and db != "postgres"
                assert conn.execute(sa.text("SHOW server_encoding")).scalar_one() == "UTF8"
                assert request.node.get_closest_marker("postgres") is not None
            else:
                path = Path(engine.url.database)
                assert path.parent == tmp_path, "sqlite database must be a file in tmp_path"
                mode = conn.execute(sa.text("PRAGMA journal_mode=WAL")).scalar_one()
                assert mode.lower() == "wal", "sqlite database must support WAL (file, not :memory:)"
                assert path.exists()
                assert request.node.get_closest_marker("postgres") is None
    finally:
        engine.dispose()


# --- the fixture's skip / fail / cleanup behaviour, checked in a separate pytest process ----------

INNER_TEST = """
import os, pathlib
import sqlalchemy as sa

def test_uses_db(database_url, request):
    out = pathlib.Path(os.environ["JUKI_INNER_OUT"])
    (out / request.node.callspec.id).write_text(database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    # deliberately NOT disposed: the fixture must still drop the database (WITH (FORCE))
"""


def _run_inner(tmp_path: Path, env_overrides: dict[str, str | None]) -> tuple[int, str, Path]:
    proj = tmp_path / "inner"
    out = tmp_path / "out"
    proj.mkdir()
    out.mkdir()
    shutil.copy(CONFTEST, proj / "conftest.py")
    (proj / "pytest.ini").write_text("[pytest]\n")
    (proj / "test_inner.py").write_text(INNER_TEST)
    env = dict(os.environ)
    env["JUKI_INNER_OUT"] = str(out)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    for key in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:xdist", str(proj)],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr, out


def _counts(output: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", output)}


def test_without_pg_url_postgresql_tests_are_skipped(tmp_path: Path) -> None:
    rc, output, _ = _run_inner(tmp_path, {"JUKI_TEST_PG_URL": None, "JUKI_REQUIRE_PG": None})
    assert rc == 0, output
    assert _counts(output) == {"passed": 1, "skipped": 1}, output
    assert "JUKI_TEST_PG_URL is not set" in output


def test_without_pg_url_but_required_postgresql_tests_fail(tmp_path: Path) -> None:
    rc, output, _ = _run_inner(tmp_path, {"JUKI_TEST_PG_URL": None, "JUKI_REQUIRE_PG": "1"})
    assert rc == 1, output
    counts = _counts(output)
    assert counts.get("passed") == 1 and counts.get("failed", 0) + counts.get("error", 0) == 1, output
    assert "JUKI_REQUIRE_PG=1" in output


@pytest.mark.postgres
def test_postgresql_database_is_dropped_after_test(tmp_path: Path, pg_admin_url: str) -> None:
    rc, output, out = _run_inner(tmp_path, {"JUKI_TEST_PG_URL": pg_admin_url, "JUKI_REQUIRE_PG": "1"})
    assert rc == 0, output
    assert _counts(output) == {"passed": 2}, output
    pg_url = sa.engine.make_url((out / "postgresql").read_text())
    assert pg_url.database.startswith("juki_t_")
    assert (out / "sqlite").read_text().startswith("sqlite:///")
    admin = sa.create_engine(pg_admin_url)
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": pg_url.database}
            ).scalar_one()
        assert exists == 0, f"test database {pg_url.database} was not dropped"
    finally:
        admin.dispose()
