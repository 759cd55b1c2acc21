"""Bulk loading of a whole register (a synthetic city, or a migration from an existing system).

:func:`bulk_load` writes what :meth:`~juki.adapters.db.store.Tx.apply` would write for one big
``initial_load`` event (kind 移行), but at COPY speed: PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3)
and SQLite ``executemany`` in large batches, bypassing SQLAlchemy's per-row type processing.  Everything
is one transaction: a failure (e.g. a duplicate id) loads nothing.

No outbox rows are written for an initial load: the migrated records are already known to 住基ネット
and to the other departments' systems.

:func:`baseline_rows` and :func:`baseline_copy` are **benchmark support only**: they COPY/executemany
prepared person rows into a scratch table shaped like ``persons`` (same columns, same indexes), with
no encryption and no JSON building -- the "plain COPY" that ``bulk_load`` is measured against
(target: bulk_load throughput ≥ 0.25 × baseline).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from juki.adapters.keys import Keyring
from juki.clock import utcnow
from juki.domain.events import ChangeKind, Provenance
from juki.domain.kana import address_key, kana_key, name_key
from juki.domain.model import HouseholdRecord, PersonRecord, household_to_json, person_to_json

from .engine import dumps
from .schema import events, id_counters, persons
from .store import _inserted_id, event_row

PERSON_COLUMNS: tuple[str, ...] = (
    "person_id",
    "household_id",
    "status",
    "version_no",
    "name",
    "name_kana",
    "name_key",
    "kana_key",
    "birth_date",
    "sex",
    "address_text",
    "address_key",
    "juminhyo_code",
    "number_index",
    "snapshot",
    "number_ciphertext",
    "number_key_id",
)
PERSON_VERSION_COLUMNS: tuple[str, ...] = (
    "person_id",
    "version_no",
    "event_seq",
    "valid_from",
    "recorded_at",
    "status",
    "snapshot",
    "number_ciphertext",
    "number_key_id",
    "number_index",
)
HOUSEHOLD_COLUMNS: tuple[str, ...] = (
    "household_id",
    "row_version",
    "head_id",
    "member_count",
    "address_text",
    "snapshot",
)
HOUSEHOLD_VERSION_COLUMNS: tuple[str, ...] = (
    "household_id",
    "version_no",
    "event_seq",
    "valid_from",
    "recorded_at",
    "snapshot",
)

# column positions holding dates/datetimes/bools, converted to SQLite's text form on SQLite
_SQLITE_DATES = {"birth_date", "valid_from"}
_SQLITE_DATETIMES = {"recorded_at", "at"}  # "at": the audit tables (juki.audit writes through write_rows)


def _batches(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


def _sqlite_ts(value: dt.datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores (naive UTC)."""
    v = value.astimezone(dt.UTC) if value.tzinfo else value
    return v.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_converter(columns: Sequence[str]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
    convs: list[tuple[int, Callable[[Any], Any]]] = []
    for i, c in enumerate(columns):
        if c in _SQLITE_DATES:
            convs.append((i, lambda v: v.isoformat() if v is not None else None))
        elif c in _SQLITE_DATETIMES:
            convs.append((i, lambda v: _sqlite_ts(v) if v is not None else None))
    if not convs:
        return None

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        r = list(row)
        for i, f in convs:
            r[i] = f(r[i])
        return tuple(r)

    return convert


def write_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (tuples in ``columns`` order, JSON already as text) into ``table`` as fast as the
    engine allows: COPY on PostgreSQL, executemany on SQLite.  Runs in ``conn``'s transaction."""
    if not rows:
        return
    cols = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        stmt = f"COPY {table} ({cols}) FROM STDIN"
        dbapi = conn.dialect.loaded_dbapi
        try:
            with raw.cursor() as cur, cur.copy(stmt) as cp:
                for row in rows:
                    cp.write_row(row)
        except dbapi.Error as exc:  # surface as SQLAlchemy's exceptions, like every other statement
            raise sa.exc.DBAPIError.instance(stmt, None, exc, dbapi.Error) from exc
    elif conn.dialect.name == "sqlite":
        convert = _sqlite_converter(columns)
        data = [convert(r) for r in rows] if convert else list(rows)
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks})", data)
    else:
        raise ValueError(f"unsupported dialect {conn.dialect.name}")


def _person_rows(
    p: PersonRecord, keyring: Keyring, seq: int, valid_from: dt.date, now: dt.datetime
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    pid = p.person_id
    snap = dumps(person_to_json(p))
    if p.individual_number:
        ct, kid = keyring.encrypt(p.individual_number, pid)
        nidx: str | None = keyring.blind_index(p.individual_number)
    else:
        ct, kid, nidx = None, None, None
    status = p.status.value
    address_text = p.address.text
    proj = (
        pid,
        p.household_id,
        status,
        1,
        p.name,
        p.name_kana,
        name_key(p.name),
        kana_key(p.name_kana),
        p.birth_date,
        p.sex.value,
        address_text,
        address_key(address_text),
        p.juminhyo_code,
        nidx,
        snap,
        ct,
        kid,
    )
    version = (pid, 1, seq, valid_from, now, status, snap, ct, kid, nidx)
    return proj, version


def _advance_counter(conn: Connection, name: str, next_value: int) -> None:
    conn.execute(
        sa.update(id_counters)
        .where(id_counters.c.name == name)
        .values(
            next_value=sa.case(
                (id_counters.c.next_value < next_value, next_value), else_=id_counters.c.next_value
            )
        )
    )


def _max_numeric(ids: Iterable[str], current: int) -> int:
    for i in ids:
        if i.isdigit():
            v = int(i)
            if v > current:
                current = v
    return current


def bulk_load(
    engine: Engine,
    keyring: Keyring,
    households: Iterable[HouseholdRecord],
    persons_: Iterable[PersonRecord],
    *,
    provenance: Provenance,
    batch_size: int = 20000,
    approved_by: str | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> tuple[int, int]:
    """Load a whole register in one transaction; returns ``(n_persons, n_households)``.

    Writes one ``initial_load`` event (summary 移行), then, in batches of ``batch_size``, the
    ``households`` projection + ``household_versions`` and the ``persons`` projection +
    ``person_versions`` (version 1, ``valid_from = provenance.effective_date``), with the 個人番号
    encrypted (AAD = person_id) and blind-indexed per person.  The 宛名番号/世帯番号 counters are
    advanced past the largest loaded ids.  ``approved_by`` defaults to ``provenance.entered_by``.

    The database should be migrated and must not already contain these ids (a duplicate loads nothing).
    """
    now = (clock or utcnow)()
    valid_from = provenance.effective_date
    n_persons = n_households = 0
    max_pid = max_hid = 0
    with engine.begin() as conn:
        seq = _inserted_id(
            conn.execute(
                events.insert(),
                event_row(provenance, kind=ChangeKind.INITIAL_LOAD, request_id=None,
                          approved_by=approved_by or provenance.entered_by, recorded_at=now,
                          summary=ChangeKind.INITIAL_LOAD.ja, details={}),
            )
        )
        for batch in _batches(households, batch_size):
            rows, vrows = [], []
            for h in batch:
                snap = dumps(household_to_json(h))
                rows.append((h.household_id, 1, h.head_id, len(h.member_ids), h.address.text, snap))
                vrows.append((h.household_id, 1, seq, valid_from, now, snap))
            write_rows(conn, "households", HOUSEHOLD_COLUMNS, rows)
            write_rows(conn, "household_versions", HOUSEHOLD_VERSION_COLUMNS, vrows)
            n_households += len(batch)
            max_hid = _max_numeric((h.household_id for h in batch), max_hid)
        for batch in _batches(persons_, batch_size):
            prows, vrows = [], []
            for p in batch:
                proj, ver = _person_rows(p, keyring, seq, valid_from, now)
                prows.append(proj)
                vrows.append(ver)
            write_rows(conn, "persons", PERSON_COLUMNS, prows)
            write_rows(conn, "person_versions", PERSON_VERSION_COLUMNS, vrows)
            n_persons += len(batch)
            max_pid = _max_numeric((p.person_id for p in batch), max_pid)
        _advance_counter(conn, "person", max_pid + 1)
        _advance_counter(conn, "household", max_hid + 1)
    return n_persons, n_households


# ---------------------------------------------------------------------------------------------------
# Benchmark support


BASELINE_TABLE = "bench_baseline_persons"


def baseline_rows(persons_: Iterable[PersonRecord], keyring: Keyring | None = None) -> list[tuple[Any, ...]]:
    """Benchmark support: the ``persons`` rows of ``persons_`` fully prepared (JSON built, keys derived,
    and the 個人番号 encrypted if a key ring is given), in :data:`PERSON_COLUMNS` order, ready for
    :func:`baseline_copy`.  Build them outside the timed section."""
    out = []
    for p in persons_:
        if keyring is not None:
            proj, _ = _person_rows(p, keyring, 0, p.resident_since, utcnow())
        else:
            proj = (
                p.person_id,
                p.household_id,
                p.status.value,
                1,
                p.name,
                p.name_kana,
                name_key(p.name),
                kana_key(p.name_kana),
                p.birth_date,
                p.sex.value,
                p.address.text,
                address_key(p.address.text),
                p.juminhyo_code,
                None,
                dumps(person_to_json(p)),
                None,
                None,
            )
        out.append(proj)
    return out


def _baseline_table() -> sa.Table:
    md = sa.MetaData()
    t = sa.Table(BASELINE_TABLE, md, *(c._copy() for c in persons.columns))
    for idx in persons.indexes:
        sa.Index(
            f"{BASELINE_TABLE}_{'_'.join(c.name for c in idx.columns)}{'_u' if idx.unique else ''}",
            *(t.c[c.name] for c in idx.columns),
            unique=idx.unique,
            **{k: v for k, v in idx.kwargs.items() if k.endswith("_where")},
        )
    return t


def baseline_copy(engine: Engine, rows: Sequence[tuple[Any, ...]], *, batch_size: int = 20000) -> int:
    """Benchmark support: (re)create the scratch table ``bench_baseline_persons`` (same columns and
    indexes as ``persons``) and COPY (PostgreSQL) / executemany (SQLite) ``rows`` into it, in one
    transaction, with no per-row work.  Returns the number of rows.  Time this call only; the scratch
    table is left in place (call :func:`drop_baseline` to remove it)."""
    table = _baseline_table()
    table.metadata.drop_all(engine)
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        for i in range(0, len(rows), batch_size):
            write_rows(conn, BASELINE_TABLE, PERSON_COLUMNS, rows[i : i + batch_size])
    return len(rows)


def drop_baseline(engine: Engine) -> None:
    _baseline_table().metadata.drop_all(engine)
