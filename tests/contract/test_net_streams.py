"""Contract: the 本人確認情報 streams on real storage, SQLite and PostgreSQL, without the network in between
(the transport is the tests in tests/net): the CS intake of the register's outbox (NET-1..3), the
receivers' idempotent, ordered application with gap detection (PRF-1, PRF-3), the checks at every tier
and the halt → operator alert → resume cycle (PRF-2)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.domain.errors import Conflict, InvalidInput
from juki.domain.events import ChangeKind
from juki.domain.identifiers import new_juminhyo_code
from juki.domain.identity import RecordFile, RecordState
from juki.net.node import Node, NodeConfig
from juki.net.notices import Entry
from juki.net.operations import resolve, status
from juki.net.pki import Tier
from juki.net.tables import net_records
from juki.services.seeding import seed_city

from ..clock import Clock
from ..conftest import _create_pg_database
from ..net.changes import HONSEKI_SAPPORO, change, death, move_in, move_within
from ..unit.registry import person

NOW = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)
D = dt.date(2026, 4, 1)


@pytest.fixture
def urls(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Three databases on the test's engine: the municipality's (its register), the prefecture's, the national's."""
    if database_url.startswith("sqlite"):
        yield {"m": database_url, "p": f"sqlite:///{tmp_path / 'p.db'}", "n": f"sqlite:///{tmp_path / 'n.db'}"}
        return
    with contextlib.ExitStack() as stack:
        more = [stack.enter_context(contextlib.contextmanager(_create_pg_database)(request)) for _ in range(2)]
        yield {"m": database_url, "p": more[0], "n": more[1]}


@pytest.fixture
def net(urls: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Node]]:
    clock = Clock(NOW)
    nodes = {
        "m": Node(NodeConfig(dir=tmp_path / "m", role=Tier.MUNICIPALITY, code="011002", database_url=urls["m"]), clock=clock),
        "p": Node(NodeConfig(dir=tmp_path / "p", role=Tier.PREFECTURE, code="010006", database_url=urls["p"]), clock=clock),
        "n": Node(NodeConfig(dir=tmp_path / "n", role=Tier.NATIONAL, code="000000", database_url=urls["n"]), clock=clock),
    }
    for n in nodes.values():
        n.migrate()
    yield nodes
    for n in nodes.values():
        n.close()


def deliver(sender: Node, receiver: Node, entries: list[Entry] | None = None) -> int:
    """What the relay and ``POST /net/v1/updates`` do, in process: store, then apply."""
    entries = sender.store.outbound_after(0, 100_000) if entries is None else entries
    with receiver.engine.begin() as conn:
        through = receiver.store.receive(conn, sender.code, entries)
    receiver.applier.drain()
    return through


def fingerprint(node: Node, file: RecordFile = RecordFile.IDENTITY) -> list[tuple[str, str, str, str]]:
    with node.engine.connect() as conn:
        return node.store.fingerprint(conn, file)


def alerts(node: Node) -> list:
    return node.store.alerts()


def test_every_change_reaches_the_cs_file_and_becomes_numbered_notices(net: dict[str, Node]) -> None:
    m = net["m"]
    reg = m.register
    family = move_in(reg, D, person(honseki=HONSEKI_SAPPORO, hittosha="札幌　太郎", individual_number="123456789018"),
                     person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻"))
    ids = [p.person_id for p in family.outcome.persons]
    hid = family.outcome.households[0].household_id
    move_within(reg, hid, ids, D + dt.timedelta(days=3))
    change(reg, "head_change", {"household_id": hid, "new_head_id": ids[1],
                                "memberships": [{"person_id": ids[0], "relationship": "夫"}]}, D + dt.timedelta(days=4))
    death(reg, ids[0], hid, D + dt.timedelta(days=5))
    assert m.intake.run() == 4
    entries = m.store.outbound_after(0, 100)
    # 更新順番号 dense from 1; the head change (続柄 only) is in the CS file but not notified (30条の6)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    kinds = [(e.file, e.payload.get("reason") or e.payload.get("notice")) for e in entries]
    assert kinds == [("identity", "move_in"), ("fuhyo", "entry"), ("identity", "move_in"),
                     ("identity", "move_within"), ("fuhyo", "amendment"), ("identity", "move_within"),
                     ("identity", "death"), ("fuhyo", "removal")]
    assert all(e.number is None or len(e.number) == 12 for e in entries) and entries[0].number == "123456789018"
    code = family.outcome.persons[0].juminhyo_code
    stored = m.store.record_of(RecordFile.IDENTITY, code)
    assert stored is not None and stored.state == "removed" and stored.record["reason"] == "death"
    spouse = m.store.record_of(RecordFile.IDENTITY, family.outcome.persons[1].juminhyo_code)
    assert spouse is not None and spouse.record["relationship"] == "世帯主"  # the CS file follows the 世帯 change
    # the number is sealed at rest: no JSON column of any node table holds it
    with m.engine.connect() as conn:
        for table in ("net_records", "net_history", "net_outbound"):
            assert "123456789018" not in str(conn.execute(sa.text(f"SELECT * FROM {table}")).all())
    assert m.intake.run() == 0  # nothing taken twice
    with m.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cs_intake")).scalar() == 4


def test_a_bulk_loaded_register_enters_the_stream_as_initial_load(net: dict[str, Node]) -> None:
    m = net["m"]
    persons, _ = seed_city(m.register, 40, 3, today=D)
    assert m.intake.run() == 1  # one 移行 event
    with m.engine.connect() as conn:
        counts = m.store.record_counts(conn)
    assert sum(counts["identity"].values()) == persons
    assert {e.payload.get("reason") for e in m.store.outbound_after(0, 1000) if e.file == "identity"} == {"initial_load"}
    head = m.store.outbound_head()
    later = move_in(m.register, D + dt.timedelta(days=15))
    assert m.intake.run() == 1
    assert m.store.outbound_after(head, 10)[0].seq == head + 1
    assert later.outcome.kind is ChangeKind.MOVE_IN
    # every notice reaches the prefecture and the national server, which then agree with the CS
    p, n = net["p"], net["n"]
    assert deliver(m, p) == m.store.outbound_head()
    deliver(p, n)
    assert fingerprint(m) == fingerprint(p) == fingerprint(n)
    assert fingerprint(m, RecordFile.FUHYO) == fingerprint(p, RecordFile.FUHYO) == fingerprint(n, RecordFile.FUHYO)
    assert status(n)["applied"] == {"011002": m.store.outbound_head()}


def test_duplicated_and_reordered_deliveries_are_applied_once_in_order(net: dict[str, Node]) -> None:
    m, p, n = net["m"], net["p"], net["n"]
    seed_city(m.register, 25, 5, today=D)
    m.intake.run()
    entries = m.store.outbound_after(0, 1000)
    total = len(entries)
    shuffled = entries + entries[: total // 2]
    random.Random(7).shuffle(shuffled)
    # a batch missing one notice: everything after it waits, nothing is applied out of order
    missing = entries[10]
    first_batch = [e for e in shuffled if e.seq != missing.seq]
    assert deliver(m, p, first_batch) == 10
    assert status(p)["applied"] == {"011002": 10}
    # the sender resends from the acknowledgement; duplicates are ignored
    assert deliver(m, p, m.store.outbound_after(10, 1000)) == total
    assert status(p)["applied"] == {"011002": total}
    with p.engine.connect() as conn:
        assert p.store.inbox_counts(conn) == {"applied": total}
        history = conn.execute(sa.text("SELECT count(*) FROM net_history")).scalar()
    assert history == total
    # the national server gets the prefecture's forwarded stream, also shuffled and doubled
    forwarded = p.store.outbound_after(0, 1000)
    assert [e.origin_seq for e in forwarded] == list(range(1, total + 1))
    twice = forwarded + forwarded
    random.Random(8).shuffle(twice)
    assert deliver(p, n, twice) == total
    assert fingerprint(m) == fingerprint(p) == fingerprint(n)
    with n.engine.connect() as conn:
        assert n.store.inbox_counts(conn) == {"applied": total}


def _forged(entry: Entry, seq: int, **changes: object) -> Entry:
    return Entry(seq=seq, origin=entry.origin, origin_seq=seq, file=entry.file,
                 payload={**entry.payload, "seq": seq, **changes}, number=entry.number)


def test_a_refused_update_halts_its_municipality_until_an_operator_resolves_it(net: dict[str, Node]) -> None:
    m, p, n = net["m"], net["p"], net["n"]
    fam = move_in(m.register, D)
    m.intake.run()
    (entry,) = [e for e in m.store.outbound_after(0, 10) if e.file == "identity"]
    deliver(m, p, [entry])
    # a second 転入 of the same person into the same municipality: PRF-2 refuses it
    again = _forged(entry, 2)
    moved = _forged(entry, 3, reason="move_within", address="北海道札幌市中央区北一条西9番")
    assert deliver(m, p, [again, moved]) == 3
    st = status(p)
    assert st["applied"] == {"011002": 1}
    (halt,) = st["halts"]
    assert halt["rule"] == "PRF-2/move-in-existing" and halt["scope"] == "origin:011002" and halt["ref"] == "2"
    assert "既に 011002 の住民" in halt["message_ja"] and "already recorded as a resident" in halt["message_en"]
    # retrying without fixing anything refuses again (a new alert)
    resolve(p, halt["alert_id"], action="retry", actor="ops1", reason="再確認")
    (again_halt,) = status(p)["halts"]
    assert again_halt["alert_id"] != halt["alert_id"] and status(p)["applied"] == {"011002": 1}
    # the operator skips it: the stream goes on, the skip is recorded and forwarded as a marker
    resolve(p, again_halt["alert_id"], action="skip", actor="ops1", reason="重複した転入の通知")
    assert status(p)["applied"] == {"011002": 3} and status(p)["halts"] == []
    deliver(p, n)
    assert status(n)["applied"] == {"011002": 3}
    with n.engine.connect() as conn:
        assert n.store.inbox_counts(conn) == {"applied": 2, "skipped": 1}
    record = n.store.record_of(RecordFile.IDENTITY, fam.outcome.persons[0].juminhyo_code)
    assert record is not None and record.notice.address == "北海道札幌市中央区北一条西9番"
    # every decision is on file: alert, resolution, audit
    resolved = [a for a in p.store.alerts(open_only=False) if not a.open]
    assert [(a.action, a.resolved_by) for a in resolved] == [("retry", "ops1"), ("skip", "ops1")]
    with p.engine.connect() as conn:
        audited = conn.execute(sa.text("SELECT user_id, detail FROM audit_entries WHERE action = 'net.resolve'")).all()
    assert [r.user_id for r in audited] == ["ops1", "ops1"]
    with pytest.raises(Conflict):
        resolve(p, halt["alert_id"], action="skip", actor="ops2", reason="二度目")


def test_a_halt_holds_only_that_municipality_and_force_applies_it(net: dict[str, Node]) -> None:
    m, p = net["m"], net["p"]
    move_in(m.register, D)
    m.intake.run()
    (entry,) = [e for e in m.store.outbound_after(0, 10) if e.file == "identity"]
    # a 転居 that also changes the name is refused (PRF-2)
    bad = _forged(entry, 2, reason="move_within", name="別の　名前")
    deliver(m, p, [entry, bad])
    (halt,) = status(p)["halts"]
    assert halt["rule"] == "PRF-2/move-within-more-than-address" and "name" in halt["message_en"]
    # ... while another municipality's updates still apply
    code = new_juminhyo_code(random.Random(99))
    other = Entry(seq=1, origin="012025", origin_seq=1, file="identity",
                  payload={**entry.payload, "origin": "012025", "seq": 1, "juminhyo_code": code, "lg_code": "012025",
                           "address": "北海道函館市五稜郭町1番"}, number=None)
    with p.engine.begin() as conn:
        p.store.receive(conn, "012025", [other])
    p.applier.drain()
    assert status(p)["applied"] == {"011002": 1, "012025": 1}
    with pytest.raises(InvalidInput) as e:
        resolve(p, halt["alert_id"], action="force", actor="", reason="")
    assert {x.field for x in e.value.problems} == {"actor", "reason"}
    resolve(p, halt["alert_id"], action="force", actor="ops1", reason="市町村に確認済み")
    assert status(p)["applied"] == {"011002": 2, "012025": 1}
    with p.engine.connect() as conn:
        assert p.store.inbox_counts(conn) == {"applied": 2, "forced": 1}
    forced = p.store.record_of(RecordFile.IDENTITY, entry.payload["juminhyo_code"])
    assert forced is not None and forced.notice.name == "別の　名前"


def test_the_cs_refuses_a_change_its_file_contradicts_and_stops_taking_changes(net: dict[str, Node]) -> None:
    m = net["m"]
    reg = m.register
    fam = move_in(reg, D)
    pid, hid = fam.outcome.persons[0].person_id, fam.outcome.households[0].household_id
    m.intake.run()
    # the CS file says the person was removed (e.g. restored from an old backup): a 転居 contradicts it
    code = fam.outcome.persons[0].juminhyo_code
    where = (net_records.c.file == "identity") & (net_records.c.juminhyo_code == code)
    with m.engine.begin() as conn:
        notice = conn.execute(sa.select(net_records.c.notice).where(where)).scalar_one()
        conn.execute(net_records.update().where(where).values(notice={**notice, "state": "removed"}))
    head = m.store.outbound_head()
    move_within(reg, hid, [pid], D + dt.timedelta(days=2))
    move_in(reg, D + dt.timedelta(days=3))
    assert m.intake.run() == 0
    (halt,) = status(m)["halts"]
    assert halt["scope"] == "intake" and halt["rule"] == "PRF-2/move-within-removed"
    assert status(m)["intake"] == {"pending": 2, "halted": True}
    assert m.store.outbound_head() == head  # nothing of it, nor of the later change, was sent
    resolve(m, halt["alert_id"], action="force", actor="ops1", reason="CSファイルを住基の記録に合わせる")
    assert m.intake.run() == 1
    assert status(m)["intake"] == {"pending": 0, "halted": False}
    record = m.store.record_of(RecordFile.IDENTITY, code)
    assert record is not None and record.state == RecordState.CURRENT.value and record.record["reason"] == "move_within"


def test_a_juminhyo_code_change_moves_the_record_at_every_tier(net: dict[str, Node]) -> None:
    m, p, n = net["m"], net["p"], net["n"]
    fam = move_in(m.register, D)
    old = fam.outcome.persons[0].juminhyo_code
    new = "24727059608" if old != "24727059608" else "10000000018"
    change(m.register, "juminhyo_code_change", {"person_id": fam.outcome.persons[0].person_id, "new_code": new},
           D + dt.timedelta(days=1))
    m.intake.run()
    deliver(m, p)
    deliver(p, n)
    for node in (m, p, n):
        assert node.store.record_of(RecordFile.IDENTITY, old) is None
        moved = node.store.record_of(RecordFile.IDENTITY, new)
        assert moved is not None and moved.notice.old_juminhyo_code == old
    assert fingerprint(m) == fingerprint(p) == fingerprint(n)
    assert fingerprint(m, RecordFile.FUHYO) == fingerprint(n, RecordFile.FUHYO)
