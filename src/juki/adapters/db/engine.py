"""Engines for the two supported databases.

* SQLite (embedded default): every connection gets ``journal_mode=WAL``, ``synchronous=NORMAL``,
  ``foreign_keys=ON`` and ``busy_timeout=10000``.  SQLAlchemy, not the ``sqlite3`` module, emits BEGIN:
  write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of
  one failing with "database is locked" when it upgrades a read lock.  A connection with the execution
  option ``juki_read_only=True`` (see :func:`read_only`) begins with a plain (deferred) ``BEGIN`` so
  readers never block writers.
* PostgreSQL: psycopg 3 (``postgresql+psycopg://``), ``pool_pre_ping``.

JSON columns are written compactly with ``ensure_ascii=False`` (names stay readable in the database).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

DATABASE_URL_ENV = "JUKI_DATABASE_URL"
READ_ONLY_OPTION = "juki_read_only"


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: dates as ISO strings, enums by value, dataclasses as dicts."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def default_database_url() -> str:
    """``$JUKI_DATABASE_URL``, else ``sqlite:///<cwd>/var/juki.db`` (creating ``var/``)."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    folder = Path.cwd() / "var"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'juki.db'}"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module; SQLAlchemy's "begin" event emits it (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
    finally:
        cur.close()


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``), configured as above.

    ``postgresql://`` and ``postgres://`` URLs are switched to the psycopg 3 driver.  Extra keyword
    arguments go to :func:`sqlalchemy.create_engine`.
    """
    u = make_url(url)
    backend = u.get_backend_name()
    kwargs.setdefault("json_serializer", dumps)
    if backend == "sqlite":
        if u.database in (None, "", ":memory:"):
            raise ValueError("juki needs a SQLite *file* (WAL); in-memory databases are not supported")
        engine = sa.create_engine(u, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        if u.get_driver_name() != "psycopg":
            u = u.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(u, **kwargs)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")


def read_only(conn: Connection) -> Connection:
    """Mark ``conn`` (before it begins) as a reader: deferred BEGIN on SQLite; no effect on PostgreSQL."""
    return conn.execution_options(**{READ_ONLY_OPTION: True})
