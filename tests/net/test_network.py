"""Real nodes, each its own process, database and certificate, talking over mutual TLS on loopback
(NET-2, NET-3, PRF-1..3): changes entered at municipalities reach the prefectures and the national
server in 更新順番号 order, once; faults (a node killed mid-stream, duplicated and reordered deliveries, an
expired certificate) lose and double nothing, and afterwards every tier agrees."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.adapters.db.engine import read_only
from juki.clock import jst_date, utcnow
from juki.domain.identity import RecordFile
from juki.net.network import Network
from juki.net.operations import resolve
from juki.net.pki import NodeIdentity, Tier
from juki.net.store import Alert
from juki.net.tables import net_cursors
from juki.services.seeding import seed_city

from ..conftest import _create_pg_database
from ..net.changes import change, move_within
from ..unit.registry import address, chiba_address, person
from .support import (
    applied_everywhere,
    assert_consistent,
    audit_rows,
    client_for,
    specs,
    wait_until,
)

TODAY = jst_date(utcnow())


@pytest.fixture
def two_prefectures(tmp_path: Path) -> Iterator[Network]:
    net = Network(tmp_path / "net", specs(
        ("municipality", "011002", "札幌市"), ("municipality", "121002", "千葉市"), ("prefecture", "010006", "北海道"),
        ("prefecture", "120006", "千葉県"), ("national", "000000", "全国サーバ"))).build()
    yield net
    net.stop_all()


@pytest.fixture
def hokkaido(tmp_path: Path) -> Iterator[Network]:
    net = Network(tmp_path / "net", specs(
        ("municipality", "011002", "札幌市"), ("prefecture", "010006", "北海道"), ("national", "000000", "全国サーバ"))).build()
    yield net
    net.stop_all()


def seed(net: Network, code: str, residents: int, seed: int = 0) -> None:
    node = net.node(code)
    try:
        seed_city(node.register, residents, seed, today=TODAY - dt.timedelta(days=30))
    finally:
        node.close()


def record(net: Network, code: str, juminhyo_code: str) -> dict:
    with net.operator_client(code) as c:
        r = c.get(f"/net/v1/records/identity/{juminhyo_code}")
        return r.json() if r.status_code == 200 else {}


def test_changes_reach_every_tier_in_order_and_every_tier_agrees(two_prefectures: Network) -> None:
    net = two_prefectures
    seed(net, "011002", 40, 1)
    seed(net, "121002", 25, 2)
    net.start_all()
    municipalities, receivers = ["011002", "121002"], ["010006", "120006", "000000"]
    wait_until(lambda: applied_everywhere(net, municipalities, receivers), what="initial loads everywhere")

    sapporo = net.node("011002")
    try:
        reg = sapporo.register
        mover = next(p for p in (reg.store.person_current(f"{i:010d}") for i in range(1, 41))
                     if p and p.is_resident and p.individual_number and p.relationship == "世帯主"
                     and len(reg.store.household_members(p.household_id)) == 1)
        # a 転居 in 札幌市 ...
        move_within(reg, mover.household_id, [mover.person_id], TODAY)
        moved = reg.store.person_current(mover.person_id)
        assert moved is not None
        wait_until(lambda: record(net, "000000", mover.juminhyo_code).get("record", {}).get("address") == moved.address.text,
                   what="the 転居 at the national server")
        # ... then a 転出 to 千葉市 and the 転入 there: two prefectures, one national record
        change(reg, "move_out", {"household_id": mover.household_id, "person_ids": [mover.person_id],
                                 "destination": chiba_address()}, TODAY)
    finally:
        sapporo.close()
    chiba = net.node("121002")
    try:
        change(chiba.register, "move_in", {
            "persons": [person(moved.name, moved.name_kana or "", moved.birth_date.isoformat(), moved.sex.value,
                               juminhyo_code=moved.juminhyo_code, individual_number=moved.individual_number)],
            "address": chiba_address(), "prior_address": address()}, TODAY)
    finally:
        chiba.close()
    wait_until(lambda: record(net, "000000", mover.juminhyo_code).get("origin") == "121002", what="the 転入 in 千葉市")
    wait_until(lambda: applied_everywhere(net, municipalities, receivers), what="every notice applied")
    assert record(net, "010006", mover.juminhyo_code)["state"] == "removed"  # 北海道 keeps the 転出
    assert record(net, "120006", mover.juminhyo_code)["state"] == "current"
    national = record(net, "000000", mover.juminhyo_code)
    assert national["state"] == "current" and national["record"]["individual_number"] == "************"
    assert national["record"]["address"] == "千葉県千葉市中央区千葉港1番1号"
    assert_consistent(net, municipalities, receivers)
    # a CS may not send to the national server directly (NET-2: only through its prefecture)
    with client_for(net.dir("011002"), net.specs["000000"].url, NodeIdentity(Tier.NATIONAL, "000000")) as c:
        r = c.post("/net/v1/updates", json={"source": "011002", "entries": []})
        assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "NET-2/tier"


def test_a_node_killed_mid_stream_catches_up_with_nothing_lost_or_doubled(hokkaido: Network) -> None:
    net = hokkaido
    seed(net, "011002", 600, 3)
    net.start_all(["011002", "010006"])
    wait_until(lambda: applied_everywhere(net, ["011002"], ["010006"]), what="the prefecture has the initial load")
    total = net.status("011002")["outbound"]
    national = net.node("000000")

    def applied_at_national() -> int:
        with national.engine.connect() as conn:  # a reader: never takes the node's write lock
            read_only(conn)
            value = conn.execute(sa.select(net_cursors.c.value).where(net_cursors.c.name == "applied:011002")).scalar()
            return int(value or 0)

    net.start("000000")
    wait_until(lambda: applied_at_national() > 0, what="the national server applying", timeout=120)
    net.stop("000000", kill=True)  # SIGKILL mid-stream
    at_kill = applied_at_national()
    assert 0 < at_kill < total, (at_kill, total)
    # changes go on at the municipality while the national server is down, and the prefecture crashes too
    sapporo = net.node("011002")
    try:
        reg = sapporo.register
        heads = [p for p in (reg.store.person_current(f"{i:010d}") for i in range(1, 200))
                 if p and p.is_resident and p.relationship == "世帯主"][:5]
        for p in heads:
            move_within(reg, p.household_id, list(reg.store.household_current(p.household_id).member_ids), TODAY)
    finally:
        sapporo.close()
    wait_until(lambda: net.status("011002")["intake"]["pending"] == 0, what="the CS took the changes in")
    net.stop("010006", kill=True)
    net.start("010006")
    net.start("000000")
    net.wait_ready("010006")
    net.wait_ready("000000")
    wait_until(lambda: applied_everywhere(net, ["011002"], ["010006", "000000"]), what="catch-up", timeout=180)
    head = net.status("011002")["outbound"]
    assert head > total
    with national.engine.connect() as conn:
        history = conn.execute(sa.text("SELECT count(*) FROM net_history")).scalar()
        statuses = national.store.inbox_counts(conn)
    assert history == head  # every notice applied exactly once
    assert statuses.get("applied") == head and set(statuses) <= {"applied", "duplicate"}
    national.close()
    assert_consistent(net, ["011002"], ["010006", "000000"])


def test_duplicated_and_reordered_deliveries_and_an_operator_skip(hokkaido: Network) -> None:
    net = hokkaido
    seed(net, "011002", 30, 4)
    sapporo = net.node("011002")  # the CS is not running: its notices are sent by hand below
    sapporo.intake.run()
    entries = sapporo.store.outbound_after(0, 10_000)
    net.start_all(["010006", "000000"])
    rng = random.Random(11)
    with sapporo.client("010006") as c:
        def send(batch: list) -> dict:
            r = c.post("/net/v1/updates", json={"source": "011002", "entries": [e.to_wire() for e in batch]})
            assert r.status_code == 200, r.text
            return r.json()

        held_back = entries[5]
        first = [e for e in entries + entries[:8] if e.seq != held_back.seq]  # some twice, one missing
        rng.shuffle(first)
        assert send(first)["received_through"] == 5  # stored everything, applied up to the gap
        again = entries[3:] + entries[3:]
        rng.shuffle(again)
        answer = send(again)
        assert answer["received_through"] == len(entries) and answer["applied"] == {"011002": len(entries)}
        # a forged 転入 of someone already living in 札幌市 halts 札幌市's stream at the prefecture
        forged = entries[0]
        bad = forged.__class__(seq=len(entries) + 1, origin="011002", origin_seq=len(entries) + 1, file=forged.file,
                               payload={**forged.payload, "seq": len(entries) + 1, "reason": "move_in"},
                               number=forged.number)
        answer = send([bad])
        (halt,) = answer["halts"]
        assert halt["rule"] == "PRF-2/move-in-existing" and halt["origin_seq"] == len(entries) + 1
    sapporo.close()
    wait_until(lambda: net.status("000000")["applied"].get("011002") == len(entries), what="national caught up")
    # the prefecture's operator skips it (the CLI runs against the node's database while it serves)
    pref = net.node("010006")
    try:
        resolve(pref, halt["alert_id"], action="skip", actor="ops1", reason="偽造された通知")
    finally:
        pref.close()
    wait_until(lambda: net.status("000000")["applied"].get("011002") == len(entries) + 1, what="the skip marker")
    national = net.node("000000")
    try:
        with national.engine.connect() as conn:
            assert national.store.inbox_counts(conn) == {"applied": len(entries), "skipped": 1}
    finally:
        national.close()
    assert_consistent(net, ["011002"], ["010006", "000000"])


def test_an_expired_certificate_is_refused_until_renewed_and_nothing_is_lost(hokkaido: Network, tmp_path: Path) -> None:
    net = hokkaido
    seed(net, "011002", 10, 5)
    now = dt.datetime.now(dt.UTC)
    expired = tmp_path / "expired"
    net.ca.issue(NodeIdentity(Tier.MUNICIPALITY, "011002"), expired, not_before=now - dt.timedelta(days=400),
                 not_after=now - dt.timedelta(days=1))
    for name in ("cert.pem", "key.pem"):
        shutil.copy2(expired / name, net.dir("011002") / name)
    net.start_all(["010006", "000000"])
    net.start("011002")  # its own listener has the expired certificate too: nobody can reach it
    # the relay is refused at every try, backs off, and after five failures tells its operator
    wait_until(lambda: any(a.kind == "delivery_failing" for a in _alerts(net, "011002")), what="the alert", timeout=90)
    pref = net.node("010006")
    try:
        refused = audit_rows(pref, "net.refused")
        assert refused and {r["detail"]["reason"] for r in refused} == {"expired"}
    finally:
        pref.close()
    assert net.status("000000")["applied"] == {}
    # renewed: the restarted node delivers everything, and the alert resolves itself
    net.stop("011002")
    net.ca.issue(NodeIdentity(Tier.MUNICIPALITY, "011002"), net.dir("011002"))
    net.start("011002")
    net.wait_ready("011002")
    wait_until(lambda: applied_everywhere(net, ["011002"], ["010006", "000000"]), what="delivery after renewal")
    failing = [a for a in _alerts(net, "011002", all_=True) if a.kind == "delivery_failing"]
    assert failing and all(not a.open and a.resolved_by == "juki-system" for a in failing)
    assert_consistent(net, ["011002"], ["010006", "000000"])


def _alerts(net: Network, code: str, *, all_: bool = False) -> list[Alert]:
    node = net.node(code)  # the operator's view of the node's own database (juki net alerts)
    try:
        return node.store.alerts(open_only=not all_)
    finally:
        node.close()


def test_the_fuhyo_file_follows_at_every_tier(hokkaido: Network) -> None:
    net = hokkaido
    seed(net, "011002", 30, 6)
    net.start_all()
    wait_until(lambda: applied_everywhere(net, ["011002"], ["010006", "000000"]), what="initial load")
    for code in ("011002", "010006", "000000"):
        s = net.status(code)
        assert s["records"]["fuhyo"]["current"] > 0, code  # residents whose 本籍 is in 札幌市 (PRF-8)
    with net.operator_client("000000") as c:
        some = net.node("011002")
        try:
            with some.engine.connect() as conn:
                code = conn.execute(sa.text("SELECT juminhyo_code FROM net_records WHERE file = 'fuhyo' LIMIT 1")).scalar()
        finally:
            some.close()
        r = c.get(f"/net/v1/records/{RecordFile.FUHYO.value}/{code}")
        assert r.status_code == 200 and "individual_number" not in r.json()["record"]
        assert r.json()["record"]["managing_lg_code"] == "011002"


@pytest.mark.postgres
def test_nodes_on_postgresql_keep_every_tier_in_step(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Each node on its own PostgreSQL database (the production engine), processes and TLS as above."""
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(contextlib.contextmanager(_create_pg_database)(request)) for _ in range(3)]
        base = specs(("municipality", "011002", "札幌市"), ("prefecture", "010006", "北海道"), ("national", "000000", "全国サーバ"))
        net = Network(tmp_path / "net", [dataclasses.replace(s, database_url=u) for s, u in zip(base, urls, strict=True)]).build()
        try:
            seed(net, "011002", 60, 7)
            net.start_all()
            wait_until(lambda: applied_everywhere(net, ["011002"], ["010006", "000000"]), what="initial load on PostgreSQL")
            sapporo = net.node("011002")
            try:
                p = next(x for x in (sapporo.register.store.person_current(f"{i:010d}") for i in range(1, 60))
                         if x and x.is_resident)
                members = list(sapporo.register.store.household_current(p.household_id).member_ids)
                move_within(sapporo.register, p.household_id, members, TODAY)
            finally:
                sapporo.close()
            wait_until(lambda: applied_everywhere(net, ["011002"], ["010006", "000000"]), what="the 転居 on PostgreSQL")
            assert_consistent(net, ["011002"], ["010006", "000000"])
        finally:
            net.stop_all()
