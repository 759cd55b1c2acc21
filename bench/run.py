"""Register-core benchmarks (issue 2): bulk load, changes per second, search latency.

    uv run python bench/run.py [--residents N] [--engines sqlite,postgresql] [--pg-url URL]
                               [--out docs/benchmarks.md] [--json bench/results/latest.json]

Everything is measured in one run so that ratios are fair (same machine, same data, same moment):

1. **Bulk load**: a synthetic city (``generate_city``, 札幌市 profile) is generated *once* and
   materialised in memory (generation is timed separately and excluded), then loaded into a fresh,
   migrated database per engine with ``bulk_load``.  Baseline: ``baseline_copy`` of the same, fully
   prepared ``persons`` rows (plain COPY / executemany into a table with the same indexes).
2. **Changes**: ``move_within`` of whole households to another address of 札幌市, through
   ``reg.changes.submit`` + ``reg.changes.approve`` (a different user), single client, on the loaded city.
3. **Search**: ``reg.store.search`` by kana prefix (2 or 3 kana of a real loaded name) and by full
   name + 生年月日 of a random loaded person; p50/p95 latency.

Results go to ``--out`` (Markdown, overwritten) and ``--json`` (raw).  See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from juki.adapters.db.bulk import baseline_copy, baseline_rows, bulk_load, drop_baseline
from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import upgrade
from juki.adapters.db.store import SearchCriteria
from juki.adapters.keys import Keyring
from juki.adapters.synthetic import PROFILES, generate_city
from juki.config import Register, Settings
from juki.domain.events import Origin, Provenance
from juki.services.changes import Actor

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 4, 1)  # the synthetic city's "today" (and the initial load's 異動日)
NOW = dt.datetime(2026, 4, 20, 3, 0, tzinfo=dt.UTC)  # the service clock during the change benchmark
EFFECTIVE = dt.date(2026, 4, 10)
NOTIFIED = dt.date(2026, 4, 12)
CLERK = Actor("bench-clerk", "BENCH01")
APPROVER = Actor("bench-chief", "BENCH02")

AIMS = {
    "bulk_ratio": 0.25,  # bulk_load residents/s ÷ baseline residents/s, at least
    "changes_per_s_postgresql": 300.0,  # submit+approve pairs per second on PostgreSQL, at least
    "search_p95_ms": 20.0,  # p95 of each search kind, at most
    "audit_ratio": 0.7,  # ops/s with the audit log on ÷ ops/s with it off, at least (issue 3)
}
AUDIT_USER_PERSONS = 150
"""Audited reads rotate among users so that none reads more than this many persons in the run, i.e. stays
under the bulk-read alert threshold (200 in 10 minutes by default): the steady cost, no alert inserts."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# --- machine ---------------------------------------------------------------------------------------


def machine_info(pg_version: str | None) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
        "postgresql": pg_version,
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True
        )
        return (
            out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None
        )
    except OSError:
        return None


# --- databases -------------------------------------------------------------------------------------


def fresh_postgres(admin_url: str) -> tuple[str, str, str]:
    """Create a fresh database on the server of ``admin_url``; return (url, name, server version)."""
    name = f"juki_bench_{dt.datetime.now():%Y%m%d_%H%M%S}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        version = c.exec_driver_sql("SHOW server_version").scalar_one()
        c.exec_driver_sql(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), name, version


def drop_postgres(admin_url: str, name: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def pg_settings(url: str) -> dict[str, str]:
    eng = sa.create_engine(url)
    with eng.connect() as c:
        out = {
            k: c.exec_driver_sql(f"SHOW {k}").scalar_one()
            for k in (
                "fsync",
                "synchronous_commit",
                "full_page_writes",
                "shared_buffers",
                "max_wal_size",
                "wal_level",
            )
        }
    eng.dispose()
    return out


# --- the benchmarks --------------------------------------------------------------------------------


def generate(residents: int, seed: int, profile: str) -> tuple[list[Any], list[Any], float]:
    log(f"generating a synthetic city of {residents:,} residents (profile {profile}, seed {seed})")
    t0 = time.perf_counter()
    households, persons = [], []
    for h, members in generate_city(residents, seed, profile=PROFILES[profile], today=TODAY):
        households.append(h)
        persons.extend(members)
    elapsed = time.perf_counter() - t0
    log(f"  {len(persons):,} persons in {len(households):,} households, {elapsed:.1f} s")
    return households, persons, elapsed


def bench_load(
    engine_name: str,
    url: str,
    keyring: Keyring,
    households: list[Any],
    persons: list[Any],
    base_rows: list[tuple[Any, ...]],
) -> dict[str, Any]:
    engine = make_engine(url)
    provenance = Provenance(
        Origin.EX_OFFICIO, "住民基本台帳法施行令第12条（移行）", TODAY, TODAY, "bench-loader", "BENCH00"
    )
    n = len(persons)
    gc.collect()
    log(f"[{engine_name}] bulk_load {n:,} persons / {len(households):,} households")
    t0 = time.perf_counter()
    n_p, n_h = bulk_load(
        engine,
        keyring,
        households,
        persons,
        provenance=provenance,
        approved_by="bench-approver",
        clock=lambda: NOW,
    )
    load_s = time.perf_counter() - t0
    assert (n_p, n_h) == (n, len(households)), (n_p, n_h)
    log(f"[{engine_name}]   {load_s:.1f} s = {n / load_s:,.0f} residents/s")

    gc.collect()
    log(f"[{engine_name}] baseline_copy of the same {n:,} person rows")
    t0 = time.perf_counter()
    baseline_copy(engine, base_rows)
    base_s = time.perf_counter() - t0
    log(f"[{engine_name}]   {base_s:.1f} s = {n / base_s:,.0f} residents/s")
    drop_baseline(engine)

    t0 = time.perf_counter()
    with engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    analyze_s = time.perf_counter() - t0
    engine.dispose()
    if engine_name == "sqlite":  # fold the WAL back into the database file (outside any transaction)
        raw = sqlite3.connect(make_url(url).database or "")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
    rate, base_rate = n / load_s, n / base_s
    return {
        "persons": n,
        "households": len(households),
        "bulk_seconds": load_s,
        "bulk_residents_per_s": rate,
        "baseline_seconds": base_s,
        "baseline_residents_per_s": base_rate,
        "ratio": rate / base_rate,
        "analyze_seconds": analyze_s,
    }


def pick_moves(
    reg: Register, count: int, rng: random.Random, exclude: set[str] | None = None
) -> list[tuple[str, list[str], dict[str, Any]]]:
    """``count`` distinct households (with their members) and, for each, another household's address.
    Households in ``exclude`` are not moved (and the chosen ones are added to it)."""
    exclude = exclude if exclude is not None else set()
    with reg.engine.connect() as c:
        max_id = c.execute(sa.text("SELECT count(*) FROM households")).scalar_one()
        want = min(max_id, 2 * count + 10 + len(exclude))
        ids = [f"{i:010d}" for i in rng.sample(range(1, max_id + 1), want)]
        rows = {}
        for i in range(0, len(ids), 500):
            q = sa.text(
                "SELECT household_id, snapshot FROM households WHERE household_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True))
            for hid, snap in c.execute(q, {"ids": ids[i : i + 500]}):
                rows[hid] = json.loads(snap) if isinstance(snap, str) else snap
    hids = [h for h in ids if h in rows and h not in exclude]
    movers, targets = hids[:count], hids[count:] + hids[:count]
    exclude.update(movers)
    out = []
    for k, hid in enumerate(movers):
        snap = rows[hid]
        for t in targets[k:] + targets[:k]:
            addr = rows[t]["address"]
            if addr != snap["address"]:
                break
        out.append((hid, list(snap["member_ids"]), dict(addr)))
    return out


def submit_move(reg: Register, hid: str, members: list[str], addr: dict[str, Any]) -> Any:
    return reg.changes.submit(
        "move_within",
        {"household_id": hid, "person_ids": members, "address": addr},
        actor=CLERK,
        origin=Origin.NOTIFICATION,
        legal_basis="住民基本台帳法第23条",
        effective_date=EFFECTIVE,
        notified_date=NOTIFIED,
    )


def bench_changes(
    reg: Register, count: int, warmup: int, rng: random.Random, clients: int = 1, exclude: set[str] | None = None
) -> dict[str, Any]:
    """``count`` changes (submit + approve) by ``clients`` concurrent threads, each with its own
    households (``count // clients`` each) and ``warmup // clients`` untimed warm-up changes first."""
    exclude = exclude if exclude is not None else set()
    per = count // clients
    wu = max(1, warmup // clients) if warmup else 0
    moves = pick_moves(reg, clients * (per + wu), rng, exclude)
    shares = [moves[k * (per + wu) : (k + 1) * (per + wu)] for k in range(clients)]
    with reg.engine.connect() as c:
        outbox0 = c.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    sub_t: list[float] = []
    app_t: list[float] = []
    moved = [0]
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    done = threading.Barrier(clients + 1)

    def client(share: list[tuple[str, list[str], dict[str, Any]]]) -> None:
        s_t, a_t, n_moved = [], [], 0
        try:
            for hid, members, addr in share[:wu]:
                reg.changes.approve(submit_move(reg, hid, members, addr).request_id, actor=APPROVER)
        except Exception as exc:
            errors.append(repr(exc)[:300])
        ready.wait()
        for hid, members, addr in share[wu:]:
            try:
                a = time.perf_counter()
                s = submit_move(reg, hid, members, addr)
                b = time.perf_counter()
                reg.changes.approve(s.request_id, actor=APPROVER)
                c_ = time.perf_counter()
            except Exception as exc:
                errors.append(repr(exc)[:300])
                continue
            s_t.append(b - a)
            a_t.append(c_ - b)
            n_moved += len(members)
        with lock:
            sub_t.extend(s_t)
            app_t.extend(a_t)
            moved[0] += n_moved
        done.wait()

    threads = [threading.Thread(target=client, args=(sh,), daemon=True) for sh in shares]
    for t in threads:
        t.start()
    gc.collect()
    ready.wait()
    t0 = time.perf_counter()
    done.wait()
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join()
    with reg.engine.connect() as c:
        outbox = c.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() - outbox0
    n = len(sub_t)
    return {
        "clients": clients,
        "changes": n,
        "errors": len(errors),
        "error_examples": errors[:3],
        "persons_moved": moved[0],
        "seconds": elapsed,
        "changes_per_s": n / elapsed,
        "submit_ms_p50": statistics.median(sub_t) * 1000,
        "submit_ms_p95": pct(sub_t, 95) * 1000,
        "approve_ms_p50": statistics.median(app_t) * 1000,
        "approve_ms_p95": pct(app_t, 95) * 1000,
        "outbox_rows_written": outbox - wu * clients,
        "warmup_changes": wu * clients,
        "audit": reg.audit_enabled,
    }


def sample_people(
    reg: Register, count: int, n_persons: int, rng: random.Random
) -> list[tuple[str, str, dt.date]]:
    ids = [f"{i:010d}" for i in rng.sample(range(1, n_persons + 1), min(n_persons, count))]
    q = sa.text(
        "SELECT name, name_kana, birth_date FROM persons WHERE person_id IN :ids AND status = 'resident'"
        " AND name_kana IS NOT NULL"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with reg.engine.connect() as c:
        rows = list(c.execute(q, {"ids": ids}))
    out = []
    for name, kana, birth in rows:
        if isinstance(birth, str):
            birth = dt.date.fromisoformat(birth)
        out.append((name, kana, birth))
    rng.shuffle(out)
    return out


def bench_search(reg: Register, queries: int, n_persons: int, rng: random.Random) -> dict[str, Any]:
    people = sample_people(reg, int(queries * 1.2) + 20, n_persons, rng)[:queries]
    # warm-up: a few queries of each kind, untimed
    for name, kana, birth in people[:10]:
        reg.store.search(SearchCriteria(kana=kana[:2]))
        reg.store.search(SearchCriteria(name=name, birth_date=birth))
    res: dict[str, Any] = {}

    def kana_prefix(p: tuple[str, str, dt.date], i: int) -> SearchCriteria:
        return SearchCriteria(kana=p[1].replace("\u3000", "")[: 2 + i % 2])

    def name_birth_date(p: tuple[str, str, dt.date], i: int) -> SearchCriteria:
        return SearchCriteria(name=p[0], birth_date=p[2])

    for kind, make in (("kana_prefix", kana_prefix), ("name_birth_date", name_birth_date)):
        times: list[float] = []
        hits: list[int] = []
        per_len: dict[int, list[float]] = {2: [], 3: []}
        for i, p in enumerate(people):
            crit = make(p, i)
            t0 = time.perf_counter()
            found = reg.store.search(crit)
            elapsed = time.perf_counter() - t0
            times.append(elapsed)
            hits.append(len(found))
            if kind == "kana_prefix":
                per_len[2 + i % 2].append(elapsed)
            else:
                assert any(h.name == p[0] and h.birth_date == p[2] for h in found), (p, found)
        res[kind] = {
            "queries": len(times),
            "p50_ms": statistics.median(times) * 1000,
            "p95_ms": pct(times, 95) * 1000,
            "max_ms": max(times) * 1000,
            "mean_hits": statistics.mean(hits),
        }
        if kind == "kana_prefix":
            for k, v in per_len.items():
                res[kind][f"p95_ms_{k}_kana"] = pct(v, 95) * 1000
            res[kind]["examples"] = sorted({make(p, i).kana or "" for i, p in enumerate(people[:6])})
    return res


def _count(reg: Register, table: str) -> int:
    with reg.engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def _summary(times: list[float]) -> dict[str, Any]:
    total = sum(times)
    return {
        "ops": len(times),
        "seconds": total,
        "ops_per_s": len(times) / total if total else None,
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": pct(times, 95) * 1000,
    }


def bench_audit(
    reg_on: Register,
    reg_off: Register,
    changes: int,
    reads: int,
    block: int,
    n_persons: int,
    rng: random.Random,
    exclude: set[str],
) -> dict[str, Any]:
    """Audit overhead (issue 3): the same work with the audit log on (``reg_on``) and off (``reg_off``),
    two registers on the same loaded database, in alternating blocks of ``block`` operations (on, off, on,
    …) so that drift (load, checkpoints, cache) hits both alike.  Throughput = operations ÷ the summed
    time of the operations of that mode.

    * changes: submit + approve of ``move_within`` of distinct households (each mode its own);
    * search: ``reg.queries.search(kana prefix)`` then, audit on, ``audit_queue.submit(action="search")``
      with the hits as subjects (what ``GET /api/v1/search`` does); the queue is flushed at the end of
      each block and the flush time is counted, so every entry's write is paid within the measurement;
    * person: ``reg.queries.person(pid)`` then, audit on, a queued ``person.read`` entry likewise.

    Audited reads rotate among users (a new user once one has read ``AUDIT_USER_PERSONS`` persons), so no
    bulk-read alert fires and each read pays the steady cost (entry, subjects, head, the alert's count)."""
    out: dict[str, Any] = {"block": block, "user_persons": AUDIT_USER_PERSONS}
    entries0, alerts0 = _count(reg_on, "audit_entries"), _count(reg_on, "audit_alerts")

    # -- changes ---------------------------------------------------------------------------------
    if changes:
        wu = 10
        moves = pick_moves(reg_on, 2 * (changes + wu), rng, exclude)
        mv = {"on": moves[: changes + wu], "off": moves[changes + wu :]}
        regs = {"on": reg_on, "off": reg_off}
        for mode in ("on", "off"):  # untimed warm-up
            for hid, members, addr in mv[mode][:wu]:
                r = regs[mode]
                r.changes.approve(submit_move(r, hid, members, addr).request_id, actor=APPROVER)
        times: dict[str, list[float]] = {"on": [], "off": []}
        gc.collect()
        for start in range(wu, changes + wu, block):
            for mode in ("on", "off") if (start // block) % 2 == 0 else ("off", "on"):
                r = regs[mode]
                for hid, members, addr in mv[mode][start : start + block]:
                    t0 = time.perf_counter()
                    r.changes.approve(submit_move(r, hid, members, addr).request_id, actor=APPROVER)
                    times[mode].append(time.perf_counter() - t0)
        out["changes"] = {m: _summary(times[m]) for m in ("on", "off")}
        out["changes"]["ratio"] = out["changes"]["on"]["ops_per_s"] / out["changes"]["off"]["ops_per_s"]
        entries1 = _count(reg_on, "audit_entries")
        out["changes"]["audit_entries_written"] = entries1 - entries0 - 2 * wu
        entries0 = entries1

    # -- reads -----------------------------------------------------------------------------------
    if reads:
        people = sample_people(reg_on, int(reads * 1.3) + 20, n_persons, rng)[:reads]
        kanas = [k.replace("\u3000", "")[: 2 + i % 2] for i, (_, k, _) in enumerate(people)]
        with reg_on.engine.connect() as c:
            pids = [
                r[0]
                for r in c.execute(
                    sa.text("SELECT person_id FROM persons WHERE status = 'resident' ORDER BY person_id LIMIT :n"
                            " OFFSET :o"),
                    {"n": reads, "o": rng.randrange(0, max(1, n_persons - reads - 1000))},
                )
            ]
        users = {"n": 0, "persons": 0}

        def user_for(k: int) -> str:
            if users["persons"] + k > AUDIT_USER_PERSONS:
                users["n"] += 1
                users["persons"] = 0
            users["persons"] += k
            return f"bench-reader-{users['n']:04d}"

        def search(r: Register, audited: bool, i: int) -> None:
            hits = r.queries.search(SearchCriteria(kana=kanas[i]))
            if audited:
                ids = [h["person_id"] for h in hits]
                r.audit_queue.submit(user_id=user_for(len(ids)), terminal="B1", session_id="bench",
                                     action="search", subject_ids=ids, detail={"criteria": {"kana": kanas[i]}})

        def person(r: Register, audited: bool, i: int) -> None:
            r.queries.person(pids[i])
            if audited:
                r.audit_queue.submit(user_id=user_for(1), terminal="B1", session_id="bench",
                                     action="person.read", subject_ids=[pids[i]], detail={"as_of": None})

        for name, fn, n in (("search", search, len(kanas)), ("person", person, len(pids))):
            for i in range(min(10, n)):  # untimed warm-up, both modes
                fn(reg_on, True, i)
                fn(reg_off, False, i)
            times = {"on": [], "off": []}
            gc.collect()
            for start in range(0, n, block):
                for mode in ("on", "off") if (start // block) % 2 == 0 else ("off", "on"):
                    r, audited = (reg_on, True) if mode == "on" else (reg_off, False)
                    for i in range(start, min(n, start + block)):
                        t0 = time.perf_counter()
                        fn(r, audited, i)
                        times[mode].append(time.perf_counter() - t0)
                    if audited:  # the block's entries written: their cost counts, on its last operation
                        t0 = time.perf_counter()
                        r.audit_queue.flush()
                        times[mode][-1] += time.perf_counter() - t0
            out[name] = {m: _summary(times[m]) for m in ("on", "off")}
            out[name]["ratio"] = out[name]["on"]["ops_per_s"] / out[name]["off"]["ops_per_s"]
        out["read_users"] = users["n"] + 1
        out["read_audit_entries_written"] = _count(reg_on, "audit_entries") - entries0
    out["bulk_read_alerts_raised"] = _count(reg_on, "audit_alerts") - alerts0
    return out


def run_engine(
    engine_name: str,
    url: str,
    admin_url: str | None,
    tmp: Path,
    keyring: Keyring,
    households: list[Any],
    persons: list[Any],
    base_rows: list[tuple[Any, ...]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    result: dict[str, Any] = {"engine": engine_name}
    log(f"[{engine_name}] migrating a fresh database")
    upgrade(url)
    if engine_name == "postgresql":
        result["server_settings"] = pg_settings(url)
    result["loadavg_1min"] = {"start": loadavg()}
    result["load"] = bench_load(engine_name, url, keyring, households, persons, base_rows)
    result["loadavg_1min"]["after_load"] = loadavg()
    settings = Settings(database_url=url, key_file=tmp / "keys.json", lg_code="011002")
    reg = Register(settings)  # audit_enabled=True, as deployed
    reg.changes.clock = lambda: NOW
    rng = random.Random(args.seed + 1)
    moved: set[str] = set()
    log(f"[{engine_name}] {args.changes} changes (move_within, submit + approve), 1 client, audit on")
    result["changes"] = bench_changes(reg, args.changes, args.warmup, rng, 1, moved)
    log(f"[{engine_name}]   {result['changes']['changes_per_s']:.0f} changes/s")
    result["loadavg_1min"]["after_changes"] = loadavg()
    if args.clients > 1:
        log(f"[{engine_name}] {args.changes} changes, {args.clients} concurrent clients, audit on")
        result["changes_concurrent"] = bench_changes(reg, args.changes, args.warmup, rng, args.clients, moved)
        cc = result["changes_concurrent"]
        log(f"[{engine_name}]   {cc['changes_per_s']:.0f} changes/s ({cc['errors']} errors)")
        result["loadavg_1min"][f"after_changes_{args.clients}_clients"] = loadavg()
    log(f"[{engine_name}] search, {args.queries} queries per kind")
    result["search"] = bench_search(reg, args.queries, len(persons), rng)
    s = result["search"]
    log(
        f"[{engine_name}]   kana p50/p95 {s['kana_prefix']['p50_ms']:.1f}/{s['kana_prefix']['p95_ms']:.1f} ms, "
        f"name+birth p50/p95 {s['name_birth_date']['p50_ms']:.1f}/{s['name_birth_date']['p95_ms']:.1f} ms"
    )
    result["loadavg_1min"]["after_search"] = loadavg()
    if args.audit_changes or args.audit_reads:
        reg_off = Register(settings, audit_enabled=False)
        reg_off.changes.clock = lambda: NOW
        log(f"[{engine_name}] audit overhead: {args.audit_changes} changes and {args.audit_reads} reads of each kind, "
            "audit on vs off")
        result["audit"] = bench_audit(
            reg, reg_off, args.audit_changes, args.audit_reads, args.audit_block, len(persons), rng, moved
        )
        a = result["audit"]
        log(f"[{engine_name}]   ratios on/off: " + ", ".join(
            f"{k} {a[k]['ratio']:.2f}" for k in ("changes", "search", "person") if k in a))
        result["loadavg_1min"]["after_audit"] = loadavg()
        reg_off.engine.dispose()
    if engine_name == "sqlite":
        db = Path(make_url(url).database or "")
        result["database_bytes"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    else:
        with reg.engine.connect() as c:
            result["database_bytes"] = c.exec_driver_sql(
                "SELECT pg_database_size(current_database())"
            ).scalar_one()
    reg.engine.dispose()
    return result


# --- report ----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def fmt(v: Any, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Benchmarks: register core",
        "",
        "Generated by `bench/run.py` (issue 2); **do not edit by hand**, rerun instead (see `bench/README.md`).",
        "All numbers below come from one run, so the ratios compare like with like.",
        "",
        "* **Bulk load**: a synthetic 札幌市 (`generate_city`, generated and held in memory first; generation time",
        "  excluded) loaded into a fresh, migrated database with `juki.adapters.db.bulk.bulk_load` (one `initial_load`",
        "  event; `households`, `household_versions`, `persons`, `person_versions`; 個人番号 encrypted + blind-indexed).",
        "  Baseline: `baseline_copy` of the same, fully prepared `persons` rows (plain COPY on PostgreSQL,",
        "  `executemany` on SQLite, into a table with the `persons` indexes). Ratio = bulk ÷ baseline residents/s.",
        "* **Changes**: `move_within` (転居) of a whole, distinct household to another 札幌市 address, through",
        "  `reg.changes.submit` + `reg.changes.approve` by a second user (event, versions, projections, outbox in one",
        "  transaction, with the two audit entries when the audit log is on), on the loaded city, audit log on (as deployed).",
        "  One change = one submit + one approve. Single client; with `--clients K`, also K concurrent clients (threads,",
        "  each with its own households, one shared connection pool).",
        "* **Search**: `reg.store.search` on the loaded city; kana = prefix of 2 or 3 kana of a random resident's",
        "  振り仮名 (alternating), name + 生年月日 = that resident's full kanji name and birth date. Nearest-rank p50/p95.",
        "",
        "## Machine",
        "",
        f"* Date (UTC): {m['date']}",
        f"* CPU: {m['cpu']}, `nproc` = {m['nproc']}",
        f"* Memory: {m['memory_gb']} GB",
        f"* OS: {m['os']}",
        f"* Python {m['python']}, SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, PostgreSQL {m['postgresql'] or '—'}",
        f"* Code: {m['git_commit'] or '?'}",
        f"* Run: {report['config']['residents']:,} residents, seed {report['config']['seed']}, "
        f"{report['config']['changes']} changes (single client"
        + (f" and {report['config'].get('clients')} clients" if (report['config'].get('clients') or 1) > 1 else "")
        + f"), {report['config']['queries']} queries per search kind",
        f"* City generation (excluded from the rates): {report['generation']['seconds']:.1f} s "
        f"({report['generation']['persons'] / report['generation']['seconds']:,.0f} persons/s), "
        f"{report['generation']['households']:,} households",
        f"* 1-min load average at the start of the run: {fmt(report.get('loadavg_start'), '.2f')} on {m['nproc']} cores"
        " (other processes running alongside distort the numbers; see the per-engine row below)",
    ]
    for e in report["engines"]:
        if e["engine"] == "postgresql" and "server_settings" in e:
            st = e["server_settings"]
            lines.append("* PostgreSQL server: " + ", ".join(f"`{k}={v}`" for k, v in st.items()))
        if e["engine"] == "sqlite":
            lines.append(
                "* SQLite: file in a temp dir, `journal_mode=WAL`, `synchronous=NORMAL` (the project's engine settings)"
            )
    lines += ["", "## Results", ""]
    lines += [
        "| | " + " | ".join(e["engine"] for e in report["engines"]) + " |",
        "|---|" + "---:|" * len(report["engines"]),
    ]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(e) for e in report["engines"]) + " |")

    def get(e: dict[str, Any], *path: str) -> Any:
        for p in path:
            if not isinstance(e, dict) or p not in e:
                return None
            e = e[p]
        return e

    row("bulk_load: seconds", lambda e: fmt(get(e, "load", "bulk_seconds"), ".1f"))
    row("bulk_load: residents/s", lambda e: fmt(get(e, "load", "bulk_residents_per_s"), ",.0f"))
    row(
        "baseline (plain COPY / executemany): seconds",
        lambda e: fmt(get(e, "load", "baseline_seconds"), ".1f"),
    )
    row("baseline: residents/s", lambda e: fmt(get(e, "load", "baseline_residents_per_s"), ",.0f"))
    row("ratio bulk ÷ baseline", lambda e: fmt(get(e, "load", "ratio"), ".2f"))
    row("ANALYZE after load: seconds", lambda e: fmt(get(e, "load", "analyze_seconds"), ".1f"))
    row("changes/s (submit + approve), 1 client", lambda e: fmt(get(e, "changes", "changes_per_s"), ",.0f"))
    k = report["config"].get("clients") or 1
    if k > 1:
        row(f"changes/s, {k} concurrent clients", lambda e: fmt(get(e, "changes_concurrent", "changes_per_s"), ",.0f"))
        row(
            f"… {k} clients: submit / approve p50 ms; errors",
            lambda e: (
                f"{fmt(get(e, 'changes_concurrent', 'submit_ms_p50'), '.1f')} / "
                f"{fmt(get(e, 'changes_concurrent', 'approve_ms_p50'), '.1f')}; {get(e, 'changes_concurrent', 'errors')}"
            ),
        )
    row(
        "submit p50 / p95 ms",
        lambda e: (
            f"{fmt(get(e, 'changes', 'submit_ms_p50'), '.1f')} / {fmt(get(e, 'changes', 'submit_ms_p95'), '.1f')}"
        ),
    )
    row(
        "approve p50 / p95 ms",
        lambda e: (
            f"{fmt(get(e, 'changes', 'approve_ms_p50'), '.1f')} / {fmt(get(e, 'changes', 'approve_ms_p95'), '.1f')}"
        ),
    )
    row(
        "outbox rows written / changes",
        lambda e: f"{get(e, 'changes', 'outbox_rows_written')} / {get(e, 'changes', 'changes')}",
    )
    row(
        "search kana prefix p50 / p95 ms",
        lambda e: (
            f"{fmt(get(e, 'search', 'kana_prefix', 'p50_ms'), '.1f')} / {fmt(get(e, 'search', 'kana_prefix', 'p95_ms'), '.1f')}"
        ),
    )
    row(
        "… p95 ms with 2 / 3 kana",
        lambda e: (
            f"{fmt(get(e, 'search', 'kana_prefix', 'p95_ms_2_kana'), '.1f')} / {fmt(get(e, 'search', 'kana_prefix', 'p95_ms_3_kana'), '.1f')}"
        ),
    )
    row("… mean hits (limit 50)", lambda e: fmt(get(e, "search", "kana_prefix", "mean_hits"), ".1f"))
    row(
        "search name + 生年月日 p50 / p95 ms",
        lambda e: (
            f"{fmt(get(e, 'search', 'name_birth_date', 'p50_ms'), '.1f')} / {fmt(get(e, 'search', 'name_birth_date', 'p95_ms'), '.1f')}"
        ),
    )
    row("… mean hits", lambda e: fmt(get(e, "search", "name_birth_date", "mean_hits"), ".2f"))
    load_keys = list(next((e["loadavg_1min"] for e in report["engines"] if e.get("loadavg_1min")), {}))
    row(
        "1-min load average: " + " / ".join(k.removeprefix("after_").replace("_", " ") for k in load_keys),
        lambda e: " / ".join(fmt(v, ".1f") for v in (get(e, "loadavg_1min") or {}).values()),
    )
    row("database size after the run", lambda e: fmt((get(e, "database_bytes") or 0) / 2**30, ".2f") + " GiB")

    lines += ["", "## Aims", "", "| aim | engine | measured | |", "|---|---|---:|---|"]
    for e in report["engines"]:
        name = e["engine"]
        if "load" in e:
            r = e["load"]["ratio"]
            lines.append(
                f"| bulk_load ≥ {AIMS['bulk_ratio']} × baseline | {name} | {r:.2f} × | {verdict(r >= AIMS['bulk_ratio'])} |"
            )
        if "changes" in e and name == "postgresql":
            c = e["changes"]["changes_per_s"]
            lines.append(
                f"| ≥ {AIMS['changes_per_s_postgresql']:.0f} changes/s | {name} | {c:,.0f}/s | "
                f"{verdict(c >= AIMS['changes_per_s_postgresql'])} |"
            )
        if "changes_concurrent" in e and name == "postgresql":
            c = e["changes_concurrent"]["changes_per_s"]
            lines.append(
                f"| ≥ {AIMS['changes_per_s_postgresql']:.0f} changes/s ({e['changes_concurrent']['clients']} clients) | "
                f"{name} | {c:,.0f}/s | {verdict(c >= AIMS['changes_per_s_postgresql'])} |"
            )
        for kind, label in (("changes", "changes/s"), ("search", "search/s"), ("person", "person reads/s")):
            r = (e.get("audit") or {}).get(kind, {}).get("ratio")
            if r is not None:
                lines.append(
                    f"| audit on ÷ off ≥ {AIMS.get('audit_ratio', 0.7)}: {label} | {name} | {r:.2f} × | "
                    f"{verdict(r >= AIMS.get('audit_ratio', 0.7))} |"
                )
        if "search" in e:
            for kind, label in (("kana_prefix", "kana prefix"), ("name_birth_date", "name + 生年月日")):
                p = e["search"][kind]["p95_ms"]
                lines.append(
                    f"| search {label} p95 ≤ {AIMS['search_p95_ms']:.0f} ms | {name} | {p:.1f} ms | "
                    f"{verdict(p <= AIMS['search_p95_ms'])} |"
                )
    lines += render_audit(report)
    for e in report["engines"]:
        if e.get("error"):
            lines += ["", f"**{e['engine']}: the run failed**: `{e['error']}`"]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"* {n}" for n in report["notes"]]
    lines += ["", f"Raw results: `bench/results/latest.json`. Command: `{report['command']}`", ""]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------


def render_audit(report: dict[str, Any]) -> list[str]:
    """The audit-overhead section (issue 3), from ``engines[*].audit``."""
    engines = [e for e in report["engines"] if e.get("audit")]
    if not engines:
        return []
    a0 = engines[0]["audit"]
    lines = [
        "",
        "## Audit overhead (issue 3)",
        "",
        "Same run, same loaded city, after the benchmarks above: two `Register` objects on the same database,",
        "`audit_enabled=True` and `audit_enabled=False`, doing the same work in alternating blocks of "
        f"{a0['block']} operations (on, off, off, on, …) so that drift hits both alike; ops/s = operations ÷ the summed",
        "time of that mode's operations.",
        "",
        "* **changes**: submit + approve of `move_within` (distinct households for each mode); audit on = one",
        "  `change.submit` and one `change.approve` entry inside the change's own transactions.",
        "* **search**: `reg.queries.search(SearchCriteria(kana=…))` (2 or 3 kana, ≤ 50 hits), then, audit on,",
        "  `reg.audit_queue.submit(action=\"search\", subject_ids=[hits], …)` as `GET /api/v1/search` does: the entry is",
        "  checked and queued, a writer appends queued entries in batches (`juki.audit.queue`); the queue is flushed at",
        "  the end of every audited block and that time is counted, so all writes are inside the measurement.",
        "* **person**: `reg.queries.person(pid)`, then, audit on, a `person.read` entry likewise.",
        f"* Bulk-read alert: audited reads rotate among users, a new user after {a0['user_persons']} persons read, so no",
        "  user crosses the threshold (200 persons in 10 minutes, default policy, unchanged): every read pays the steady",
        "  cost (entry, subjects, head update, the alert's indexed count) and no alert insert; alerts raised are counted below.",
        "",
        "| | " + " | ".join(f"{e['engine']} on | off | on ÷ off" for e in engines) + " |",
        "|---|" + "---:|---:|---:|" * len(engines),
    ]
    for kind, label in (("changes", "changes/s"), ("search", "kana search + audit /s"), ("person", "person read + audit /s")):
        cells = []
        for e in engines:
            a = e["audit"].get(kind)
            if not a:
                cells.append("— | — | —")
                continue
            cells.append(f"{a['on']['ops_per_s']:,.0f} | {a['off']['ops_per_s']:,.0f} | **{a['ratio']:.2f}**")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        cells = []
        for e in engines:
            a = e["audit"].get(kind)
            if not a:
                cells.append("— | — | —")
                continue
            cells.append(
                f"{a['on']['p50_ms']:.1f} / {a['on']['p95_ms']:.1f} | {a['off']['p50_ms']:.1f} / {a['off']['p95_ms']:.1f} | "
                f"+{a['on']['p50_ms'] - a['off']['p50_ms']:.1f} ms p50"
            )
        lines.append("| … p50 / p95 ms | " + " | ".join(cells) + " |")
        cells = [f"{(e['audit'].get(kind) or {}).get('on', {}).get('ops', '—')} | "
                 f"{(e['audit'].get(kind) or {}).get('off', {}).get('ops', '—')} | " for e in engines]
        lines.append("| … operations | " + " | ".join(cells) + " |")
    lines.append(
        "| audit entries written (changes; reads) / users reading / bulk-read alerts | "
        + " | ".join(
            f"{e['audit'].get('changes', {}).get('audit_entries_written', '—')}; "
            f"{e['audit'].get('read_audit_entries_written', '—')} | {e['audit'].get('read_users', '—')} | "
            f"{e['audit'].get('bulk_read_alerts_raised', '—')}"
            for e in engines
        )
        + " |"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("JUKI_BENCH_PG_URL") or os.environ.get("JUKI_TEST_PG_URL"),
        help="admin URL of a PostgreSQL server; a fresh database is created on it for the run "
        "(default $JUKI_BENCH_PG_URL, then $JUKI_TEST_PG_URL)",
    )
    ap.add_argument("--keep-db", action="store_true", help="keep the PostgreSQL database and the temp dir")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="sapporo", choices=sorted(PROFILES))
    ap.add_argument("--changes", type=int, default=1000, help="timed changes per engine (default 1000)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed changes first (default 20)")
    ap.add_argument(
        "--clients", type=int, default=1,
        help="also run the changes benchmark with K concurrent clients (threads, own households; default 1 = only single)",
    )
    ap.add_argument("--audit-changes", type=int, default=500, help="audit overhead: changes per mode (0 skips)")
    ap.add_argument("--audit-reads", type=int, default=500, help="audit overhead: reads per kind and mode (0 skips)")
    ap.add_argument("--audit-block", type=int, default=50, help="audit overhead: operations per alternating block")
    ap.add_argument("--queries", type=int, default=400, help="queries per search kind (≥ 200; default 400)")
    ap.add_argument("--tmp", default=None, help="parent directory for the temp dir (SQLite file, keys)")
    ap.add_argument("--note", action="append", default=[], help="a note for the report (repeatable)")
    ap.add_argument(
        "--render", metavar="JSON", help="only re-render --out from a results JSON (adding any --note)"
    )
    args = ap.parse_args(argv)
    if args.render:
        saved: dict[str, Any] = json.loads(Path(args.render).read_text())
        saved.setdefault("notes", []).extend(args.note)
        if args.note:
            Path(args.render).write_text(json.dumps(saved, ensure_ascii=False, indent=2, default=str) + "\n")
        Path(args.out).write_text(render(saved))
        log(f"rendered {args.render} to {args.out}")
        return 0
    if args.profile != "sapporo":
        ap.error("the change workload moves households inside 札幌市: only --profile sapporo is supported")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ("sqlite", "postgresql"):
            ap.error(f"unknown engine {e!r}")
    if "postgresql" in engines and not args.pg_url:
        ap.error("--pg-url is required for postgresql")

    start_load = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="juki-bench.", dir=args.tmp))
    keyring = Keyring.load_or_create(tmp / "keys.json")
    households, persons, gen_s = generate(args.residents, args.seed, args.profile)
    log("preparing the baseline rows (untimed)")
    t0 = time.perf_counter()
    base_rows = baseline_rows(persons, keyring)
    log(f"  {time.perf_counter() - t0:.1f} s")

    pg_version = None
    report: dict[str, Any] = {
        "command": "uv run python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "config": {
            "residents": args.residents,
            "seed": args.seed,
            "profile": args.profile,
            "changes": args.changes,
            "warmup": args.warmup,
            "clients": args.clients,
            "queries": args.queries,
            "audit_changes": args.audit_changes,
            "audit_reads": args.audit_reads,
            "audit_block": args.audit_block,
            "engines": engines,
        },
        "generation": {"seconds": gen_s, "persons": len(persons), "households": len(households)},
        "aims": AIMS,
        "loadavg_start": start_load,
        "engines": [],
        "notes": list(args.note),
    }
    try:
        for name in engines:
            pg_name = None
            try:
                if name == "sqlite":
                    url = f"sqlite:///{tmp / 'juki.db'}"
                else:
                    url, pg_name, pg_version = fresh_postgres(args.pg_url)
                    log(f"[postgresql] fresh database {pg_name} (server {pg_version})")
                t0 = time.perf_counter()
                res = run_engine(name, url, args.pg_url, tmp, keyring, households, persons, base_rows, args)
                res["total_seconds"] = time.perf_counter() - t0
                report["engines"].append(res)
            except Exception as exc:  # report what was measured, and why the rest was not
                log(f"[{name}] FAILED: {exc!r}")
                traceback.print_exc()
                report["engines"].append({"engine": name, "error": repr(exc)[:500]})
            finally:
                if pg_name and not args.keep_db:
                    drop_postgres(args.pg_url, pg_name)
                if name == "sqlite" and not args.keep_db:
                    for p in tmp.glob("juki.db*"):
                        p.unlink()
    finally:
        if not args.keep_db:
            shutil.rmtree(tmp, ignore_errors=True)

    report["machine"] = machine_info(pg_version)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(render(report))
    log(f"wrote {args.out} and {args.json}")
    return 1 if any(e.get("error") for e in report["engines"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
