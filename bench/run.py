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
}


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


def pick_moves(reg: Register, count: int, rng: random.Random) -> list[tuple[str, list[str], dict[str, Any]]]:
    """``count`` distinct households (with their members) and, for each, another household's address."""
    with reg.engine.connect() as c:
        max_id = c.execute(sa.text("SELECT count(*) FROM households")).scalar_one()
        ids = [f"{i:010d}" for i in rng.sample(range(1, max_id + 1), min(max_id, 2 * count + 10))]
        rows = {}
        for i in range(0, len(ids), 500):
            q = sa.text(
                "SELECT household_id, snapshot FROM households WHERE household_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True))
            for hid, snap in c.execute(q, {"ids": ids[i : i + 500]}):
                rows[hid] = json.loads(snap) if isinstance(snap, str) else snap
    hids = [h for h in ids if h in rows]
    movers, targets = hids[:count], hids[count:] + hids[:count]
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


def bench_changes(reg: Register, count: int, warmup: int, rng: random.Random) -> dict[str, Any]:
    moves = pick_moves(reg, count + warmup, rng)
    for hid, members, addr in moves[:warmup]:
        reg.changes.approve(submit_move(reg, hid, members, addr).request_id, actor=APPROVER)
    with reg.engine.connect() as c:
        outbox0 = c.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    sub_t, app_t = [], []
    persons_moved = 0
    gc.collect()
    t0 = time.perf_counter()
    for hid, members, addr in moves[warmup:]:
        a = time.perf_counter()
        s = submit_move(reg, hid, members, addr)
        b = time.perf_counter()
        reg.changes.approve(s.request_id, actor=APPROVER)
        c_ = time.perf_counter()
        sub_t.append(b - a)
        app_t.append(c_ - b)
        persons_moved += len(members)
    elapsed = time.perf_counter() - t0
    with reg.engine.connect() as c:
        outbox = c.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() - outbox0
    n = len(moves) - warmup
    return {
        "changes": n,
        "persons_moved": persons_moved,
        "seconds": elapsed,
        "changes_per_s": n / elapsed,
        "submit_ms_p50": statistics.median(sub_t) * 1000,
        "submit_ms_p95": pct(sub_t, 95) * 1000,
        "approve_ms_p50": statistics.median(app_t) * 1000,
        "approve_ms_p95": pct(app_t, 95) * 1000,
        "outbox_rows_written": outbox,
        "warmup_changes": warmup,
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
    reg = Register(Settings(database_url=url, key_file=tmp / "keys.json", lg_code="011002"))
    reg.changes.clock = lambda: NOW
    rng = random.Random(args.seed + 1)
    log(f"[{engine_name}] {args.changes} changes (move_within, submit + approve)")
    result["changes"] = bench_changes(reg, args.changes, args.warmup, rng)
    log(f"[{engine_name}]   {result['changes']['changes_per_s']:.0f} changes/s")
    result["loadavg_1min"]["after_changes"] = loadavg()
    log(f"[{engine_name}] search, {args.queries} queries per kind")
    result["search"] = bench_search(reg, args.queries, len(persons), rng)
    s = result["search"]
    log(
        f"[{engine_name}]   kana p50/p95 {s['kana_prefix']['p50_ms']:.1f}/{s['kana_prefix']['p95_ms']:.1f} ms, "
        f"name+birth p50/p95 {s['name_birth_date']['p50_ms']:.1f}/{s['name_birth_date']['p95_ms']:.1f} ms"
    )
    result["loadavg_1min"]["after_search"] = loadavg()
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
        "  transaction), single client, on the loaded city. One change = one submit + one approve.",
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
        f"{report['config']['changes']} changes, {report['config']['queries']} queries per search kind",
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
    row("changes/s (submit + approve)", lambda e: fmt(get(e, "changes", "changes_per_s"), ",.0f"))
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
    row(
        "1-min load average: start / after load / changes / search",
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
        if "search" in e:
            for kind, label in (("kana_prefix", "kana prefix"), ("name_birth_date", "name + 生年月日")):
                p = e["search"][kind]["p95_ms"]
                lines.append(
                    f"| search {label} p95 ≤ {AIMS['search_p95_ms']:.0f} ms | {name} | {p:.1f} ms | "
                    f"{verdict(p <= AIMS['search_p95_ms'])} |"
                )
    for e in report["engines"]:
        if e.get("error"):
            lines += ["", f"**{e['engine']}: the run failed**: `{e['error']}`"]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"* {n}" for n in report["notes"]]
    lines += ["", f"Raw results: `bench/results/latest.json`. Command: `{report['command']}`", ""]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------


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
            "queries": args.queries,
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
