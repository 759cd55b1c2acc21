"""Contract (PRF-4): the prefecture's and national server's automatic deletion past retention, on both
engines -- a prefecture node's files filled by notices received in the 1870s (the node's clock moved
back), judged 150 years later; the database refuses any other deletion of ``net_history``; migration
``0011_net_retention`` builds exactly :mod:`juki.net.retention_tables`."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from juki.adapters.db.engine import make_engine
from juki.adapters.db.migrate import current_revision, downgrade, upgrade
from juki.clock import JST
from juki.domain.errors import RuleViolation
from juki.domain.events import ChangeKind
from juki.domain.identifiers import new_juminhyo_code
from juki.domain.identity import FuhyoNotice, FuhyoUpdate, IdentityUpdate, RecordFile, RecordState
from juki.net import retention_tables
from juki.net.node import Node, NodeConfig
from juki.net.notices import Entry, file_of, notice_to_json, split_number
from juki.net.pki import Tier
from juki.net.retention import NodeRetention
from juki.net.retention_tables import net_retention_active, net_retention_runs, net_retention_targets
from juki.net.tables import net_history, net_records

from ..clock import Clock

SAPPORO, HOKKAIDO = "011002", "010006"
NUMBER = "123456789018"
CUR, GONE = RecordState.CURRENT, RecordState.REMOVED
_codes = random.Random(4)


def jst(*args: int) -> dt.datetime:
    """An instant given as Japan's wall-clock time."""
    return dt.datetime(*args, tzinfo=JST).astimezone(dt.UTC)  # type: ignore[misc]


class Notices:
    """Notices of one municipality (札幌市), numbered as its CS would, applied at ``node`` at the node's
    clock (what the relay and POST /net/v1/updates do, in process)."""

    def __init__(self, node: Node, clock: Clock) -> None:
        self.node, self.clock, self.seq = node, clock, 0

    def send(self, at: dt.datetime, notice_of: object) -> None:
        self.clock.now = at
        self.seq += 1
        notice = notice_of(self.seq)  # type: ignore[operator]
        payload, number = split_number(notice_to_json(notice))
        entry = Entry(self.seq, SAPPORO, self.seq, file_of(notice).value, payload, number)
        with self.node.engine.begin() as conn:
            self.node.store.receive(conn, SAPPORO, [entry])
        assert self.node.applier.drain() == 1, self.node.store.alerts()

    def identity(self, at: dt.datetime, code: str, reason: ChangeKind, *, state: RecordState = CUR,
                 address: str = "北海道札幌市中央区北一条西二丁目1番地", old: str = "",
                 number: str | None = NUMBER) -> None:
        self.send(at, lambda seq: IdentityUpdate(
            origin=SAPPORO, seq=seq, juminhyo_code=code, name="古川　一", name_kana="フルカワ　ハジメ",
            birth_date=dt.date(1868, 2, 1), sex="1", address=address, lg_code=SAPPORO, town_code="001",
            individual_number=number, reason=reason, change_date=dt.date(1869, 1, 1), state=state,
            operator="op1", terminal="T1", recorded_at=at, old_juminhyo_code=old))

    def fuhyo(self, at: dt.datetime, code: str, notice: FuhyoNotice) -> None:
        self.send(at, lambda seq: FuhyoUpdate(
            origin=SAPPORO, seq=seq, juminhyo_code=code, name="古川　二", name_kana="フルカワ　ジ",
            birth_date=dt.date(1868, 2, 1), sex="2", address_lg_code=SAPPORO, address="北海道札幌市中央区北二条西一丁目",
            last_address="", change_date=dt.date(1869, 1, 1), managing_lg_code=SAPPORO,
            state=GONE if notice is FuhyoNotice.REMOVAL else CUR, notice=notice))


@pytest.fixture
def clock() -> Clock:
    return Clock(jst(1870, 1, 10, 9))


@pytest.fixture
def prefecture(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    node = Node(NodeConfig(dir=tmp_path / "p", role=Tier.PREFECTURE, code=HOKKAIDO, database_url=database_url),
                clock=clock)
    node.migrate()
    yield node
    node.close()


@pytest.fixture
def filled(prefecture: Node, clock: Clock) -> dict[str, str]:
    """The prefecture's files after notices received 1870..1990 (Japan's time):

    * ``living``: 転入 1870-01-10, 転居 1875-05-01, 転居 1990-04-01 (its first row expired);
    * ``dead``: 転入 1870-01-10, 死亡 1876-02-29 (a leap day; expires whole on 2026-03-01, 個人番号 with it);
    * ``dead_late``: 転入 1870-01-10, 死亡 1900-01-01 (kept, 個人番号 included);
    * ``fuhyo``: a 附票 記載 1870-01-10 and 消除 1871-01-01 (expires whole);
    * ``old`` → ``new``: 転入 1870-01-10 under the old code, 住民票コードの変更 received 1872-06-01 (the old
      code's rows expired), the new code current.
    """
    codes = {k: new_juminhyo_code(_codes) for k in ("living", "dead", "dead_late", "fuhyo", "old", "new")}
    n = Notices(prefecture, clock)
    for k in ("living", "dead", "dead_late", "old"):
        n.identity(jst(1870, 1, 10, 9), codes[k], ChangeKind.MOVE_IN)
    n.fuhyo(jst(1870, 1, 10, 9), codes["fuhyo"], FuhyoNotice.ENTRY)
    n.fuhyo(jst(1871, 1, 1, 9), codes["fuhyo"], FuhyoNotice.REMOVAL)
    n.identity(jst(1872, 6, 1, 9), codes["new"], ChangeKind.JUMINHYO_CODE_CHANGE, old=codes["old"])
    n.identity(jst(1875, 5, 1, 9), codes["living"], ChangeKind.MOVE_WITHIN, address="北海道札幌市中央区北三条西一丁目")
    n.identity(jst(1876, 2, 29, 23, 59), codes["dead"], ChangeKind.DEATH, state=GONE)
    n.identity(jst(1900, 1, 1, 0, 1), codes["dead_late"], ChangeKind.DEATH, state=GONE)
    n.identity(jst(1990, 4, 1, 9), codes["living"], ChangeKind.MOVE_WITHIN, address="北海道札幌市中央区北四条西一丁目")
    return codes


def history(node: Node) -> dict[tuple[str, str], list[str]]:
    """(file, 住民票コード) → the reasons of its history rows, in order."""
    out: dict[tuple[str, str], list[str]] = {}
    with node.engine.connect() as c:
        for r in c.execute(sa.select(net_history.c.file, net_history.c.juminhyo_code, net_history.c.reason)
                           .order_by(net_history.c.history_id)):
            out.setdefault((r.file, r.juminhyo_code), []).append(r.reason)
    return out


def records(node: Node) -> set[tuple[str, str]]:
    with node.engine.connect() as c:
        return {(r.file, r.juminhyo_code) for r in c.execute(sa.select(net_records.c.file, net_records.c.juminhyo_code))}


def audit(node: Node, action: str) -> list[tuple[list[str], dict]]:
    with node.engine.connect() as c:
        rows = c.execute(sa.text("SELECT subject_ids, detail FROM audit_entries WHERE action = :a ORDER BY seq"),
                         {"a": action}).all()
        return [(sorted(json.loads(s)), json.loads(d)) for s, d in rows]


def retention(node: Node, **kw: object) -> NodeRetention:
    return NodeRetention(node.store, audit=node.audit, terminal=node.code, **kw)  # type: ignore[arg-type]


# --- the run ------------------------------------------------------------------------------------


def test_the_plan_counts_what_has_expired_per_file_and_writes_nothing(prefecture: Node, filled: dict[str, str],
                                                                      clock: Clock) -> None:
    clock.now = jst(2026, 3, 1, 2)
    before = (history(prefecture), records(prefecture))
    plan = retention(prefecture).plan()
    assert (plan.today, plan.cutoff) == (dt.date(2026, 3, 1), dt.date(1876, 3, 1))
    assert plan.counts() == {"identity": {"history": 4, "records": 1}, "fuhyo": {"history": 2, "records": 1}}
    assert plan.persons == sorted(filled[k] for k in ("living", "dead", "fuhyo", "old"))
    assert (history(prefecture), records(prefecture)) == before
    # the day before, 1876-02-29's death has not expired (the cutoff is 1876-02-28): the 消除者 stays
    early = retention(prefecture).plan(dt.date(2026, 2, 28))
    assert early.counts() == {"identity": {"history": 2, "records": 0}, "fuhyo": {"history": 2, "records": 1}}


def test_a_run_deletes_exactly_what_has_expired_and_is_logged_and_audited(prefecture: Node, filled: dict[str, str],
                                                                          clock: Clock) -> None:
    c = filled
    clock.now = jst(2026, 3, 1, 2)
    run = retention(prefecture).run()
    assert (run.cutoff, run.history_rows, run.records, run.persons) == (dt.date(1876, 3, 1), 6, 2, 4)
    h = history(prefecture)
    # the living resident keeps the current record and the row superseded only in 1990
    assert h[("identity", c["living"])] == ["move_within", "move_within"]
    # the 消除者 of 1876-02-29 is gone whole: record (search keys, sealed 個人番号) and history
    assert ("identity", c["dead"]) not in h and ("identity", c["dead"]) not in records(prefecture)
    assert ("fuhyo", c["fuhyo"]) not in h and ("fuhyo", c["fuhyo"]) not in records(prefecture)
    # the 消除者 of 1900 is kept, 個人番号 included (seed 004 ⑩死者の個人番号)
    assert h[("identity", c["dead_late"])] == ["move_in", "death"]
    kept = prefecture.store.record_of(RecordFile.IDENTITY, c["dead_late"])
    assert kept is not None and kept.state == "removed" and kept.individual_number == NUMBER
    # the old 住民票コード's history went with the change of code received in 1872; the new code stays
    assert ("identity", c["old"]) not in h and h[("identity", c["new"])] == ["juminhyo_code_change"]
    assert records(prefecture) == {("identity", c["living"]), ("identity", c["dead_late"]), ("identity", c["new"])}
    # the log row, the marker and the list gone, one audit entry naming the persons
    with prefecture.engine.connect() as conn:
        (row,) = conn.execute(sa.select(net_retention_runs)).all()
        assert conn.execute(sa.select(sa.func.count()).select_from(net_retention_active)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(net_retention_targets)).scalar() == 0
    assert (row.actor, row.terminal, row.run_on, row.cutoff, row.years) == (
        "system:jukinet", HOKKAIDO, dt.date(2026, 3, 1), dt.date(1876, 3, 1), 150)
    assert (row.history_rows, row.records) == (6, 2)
    assert row.counts == {"identity": {"history": 4, "records": 1}, "fuhyo": {"history": 2, "records": 1}}
    ((subjects, detail),) = audit(prefecture, "net.retention.purge")
    assert subjects == sorted(c[k] for k in ("living", "dead", "fuhyo", "old"))
    assert (detail["run_id"], detail["history_rows"], detail["records"], detail["cutoff"]) == (
        row.run_id, 6, 2, "1876-03-01")
    assert NUMBER not in json.dumps(detail)


def test_a_second_run_the_same_day_deletes_nothing(prefecture: Node, filled: dict[str, str], clock: Clock) -> None:
    clock.now = jst(2026, 3, 1, 2)
    retention(prefecture).run()
    after = (history(prefecture), records(prefecture))
    again = retention(prefecture).run(actor="op1")
    assert (again.history_rows, again.records, again.persons) == (0, 0, 0)
    assert (history(prefecture), records(prefecture)) == after
    assert [r.actor for r in retention(prefecture).runs()] == ["op1", "system:jukinet"]
    assert [len(s) for s, _ in audit(prefecture, "net.retention.purge")] == [4, 0]


def test_a_run_on_a_day_after_the_nodes_today_is_refused(prefecture: Node, filled: dict[str, str],
                                                        clock: Clock) -> None:
    clock.now = jst(2026, 2, 28, 23)
    with pytest.raises(RuleViolation, match="PRF-4"):
        retention(prefecture).run(today=dt.date(2026, 3, 1))
    assert retention(prefecture).runs() == []


def test_a_removed_record_changed_while_the_run_decides_is_left_for_the_next_run(
        prefecture: Node, filled: dict[str, str], clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 転入 of the 消除者 applied between the rule and the delete: the new record is not deleted."""
    from juki.net import retention as module

    clock.now = jst(2026, 3, 1, 2)
    real = module.expired_items

    def then_moves_back_in(conn: sa.Connection, cutoff: dt.date) -> list[module.Item]:
        items = real(conn, cutoff)
        conn.execute(net_records.update().where(net_records.c.juminhyo_code == filled["dead"])
                     .values(state="current", origin_seq=999))
        return items

    monkeypatch.setattr(module, "expired_items", then_moves_back_in)
    run = retention(prefecture).run()
    assert (run.records, run.skipped) == (1, 1)  # the 附票 record went; the moved-back resident did not
    assert ("identity", filled["dead"]) in records(prefecture)
    assert history(prefecture)[("identity", filled["dead"])] == ["move_in", "death"]


def test_smaller_retention_years_are_for_tests_and_the_national_server_applies_the_same_rule(
        database_url: str, tmp_path: Path, clock: Clock) -> None:
    node = Node(NodeConfig(dir=tmp_path / "n", role=Tier.NATIONAL, code="000000", database_url=database_url), clock=clock)
    node.migrate()
    try:
        code = new_juminhyo_code(_codes)
        clock.now = jst(2026, 4, 1, 9)
        n = Notices(node, clock)
        n.identity(jst(2026, 4, 1, 9), code, ChangeKind.MOVE_IN)
        n.identity(jst(2026, 5, 1, 9), code, ChangeKind.MOVE_OUT, state=GONE)
        clock.now = jst(2027, 4, 30, 9)
        assert retention(node, years=1).plan().records == 0
        clock.now = jst(2027, 5, 1, 9)
        assert retention(node).plan().records == 0  # 150 years by default
        assert retention(node, years=1).run().records == 1 and records(node) == set()
    finally:
        node.close()


# --- the guard ----------------------------------------------------------------------------------


def test_the_database_refuses_deleting_history_outside_a_run(prefecture: Node, filled: dict[str, str]) -> None:
    engine = prefecture.engine
    with engine.connect() as conn:
        hid, other = conn.execute(sa.select(net_history.c.history_id).order_by(net_history.c.history_id).limit(2)).scalars()
    delete = sa.delete(net_history).where(net_history.c.history_id == hid)
    with pytest.raises(sa.exc.DBAPIError, match="net_history is append-only"), engine.begin() as conn:
        conn.execute(delete)
    # a marker alone, or a list alone, or a marker of a run that lists another row: still refused
    for with_run, with_marker, listed in ((True, True, other), (True, False, hid), (False, True, hid)):
        with pytest.raises(sa.exc.DBAPIError, match="net_history is append-only"), engine.begin() as conn:
            if with_run:
                conn.execute(net_retention_runs.insert().values(
                    run_id=77, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), run_on=dt.date(2026, 1, 1),
                    cutoff=dt.date(1876, 1, 1), years=150, actor="x", terminal="x", history_rows=1, records=0, counts={}))
            if with_marker:
                conn.execute(net_retention_active.insert().values(run_id=77))
            conn.execute(net_retention_targets.insert().values(run_id=77, history_id=listed))
            conn.execute(delete)
    # UPDATE is refused even of a listed row during a run; on PostgreSQL TRUNCATE too; the log is insert-only
    with pytest.raises(sa.exc.DBAPIError, match="net_history is append-only"), engine.begin() as conn:
        conn.execute(net_retention_runs.insert().values(
            run_id=78, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), run_on=dt.date(2026, 1, 1),
            cutoff=dt.date(1876, 1, 1), years=150, actor="x", terminal="x", history_rows=1, records=0, counts={}))
        conn.execute(net_retention_active.insert().values(run_id=78))
        conn.execute(net_retention_targets.insert().values(run_id=78, history_id=hid))
        conn.execute(sa.update(net_history).where(net_history.c.history_id == hid).values(reason="x"))
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE net_history"))
    logged = retention(prefecture).run(today=dt.date(1870, 1, 11))  # logs a run (nothing expired then)
    for stmt in (sa.update(net_retention_runs).values(actor="y"), sa.delete(net_retention_runs)):
        with pytest.raises(sa.exc.DBAPIError, match="net_retention_runs is append-only"), engine.begin() as conn:
            conn.execute(stmt)
    assert logged.history_rows == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(net_history)).scalar() == 11  # every notice kept


# --- the migration ------------------------------------------------------------------------------


def test_migration_creates_exactly_the_retention_tables_and_downgrades_to_the_plain_guard(database_url: str) -> None:
    upgrade(database_url)
    assert "0014_net_transport" in (current_revision(database_url) or "").split(",")  # the net branch's head
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    retention_tables.metadata)
        ours = [d for d in diff if not (d[0] in ("remove_table", "remove_index")
                                        and (d[1].name if d[0] == "remove_table" else d[1].table.name)
                                        not in retention_tables.TABLES)]
        assert ours == [], f"migrations 0011_net_retention + 0014_net_transport and net/retention_tables.py disagree: {ours}"
        downgrade(database_url, "0005_net")
        assert not set(retention_tables.TABLES) & set(sa.inspect(engine).get_table_names())
        with engine.begin() as conn:
            conn.execute(net_history.insert().values(
                file="identity", juminhyo_code="24727059608", origin=SAPPORO, origin_seq=1, reason="move_in",
                change_date=dt.date(2026, 4, 1), state="current", current=True, record={},
                recorded_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC)))
        with pytest.raises(sa.exc.DBAPIError, match="net_history is append-only"), engine.begin() as conn:
            conn.execute(sa.delete(net_history))
    finally:
        engine.dispose()
    upgrade(database_url)


# --- 整合性確認 after a purge (NET-10, PRF-9) -------------------------------------------------------


@pytest.fixture
def tiers(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, Node], Clock]]:
    """札幌市 (its register and CS), 北海道 and the national server, each on its own database of the test's
    engine, on one clock."""
    import contextlib

    from ..conftest import _create_pg_database

    clock = Clock(jst(2026, 4, 20, 10))
    with contextlib.ExitStack() as stack:
        if database_url.startswith("sqlite"):
            urls = [database_url, f"sqlite:///{tmp_path / 'p.db'}", f"sqlite:///{tmp_path / 'n.db'}"]
        else:
            urls = [database_url] + [stack.enter_context(contextlib.contextmanager(_create_pg_database)(request))
                                     for _ in range(2)]
        nodes = {k: Node(NodeConfig(dir=tmp_path / k, role=role, code=code, database_url=url), clock=clock)
                 for (k, role, code), url in zip((("m", Tier.MUNICIPALITY, SAPPORO), ("p", Tier.PREFECTURE, HOKKAIDO),
                                                  ("n", Tier.NATIONAL, "000000")), urls, strict=True)}
        for node in nodes.values():
            node.migrate()
        try:
            yield nodes, clock
        finally:
            for node in nodes.values():
                node.close()


def test_a_removed_person_purged_at_the_prefecture_and_the_national_server_is_no_difference_for_the_cs(
        tiers: tuple[dict[str, Node], Clock]) -> None:
    """The CS (and the register, whose REG-R5 purge needs an approval and may lag years) still holds the
    消除者; the prefecture and 機構 deleted it by themselves.  Removed records take part in neither side's
    comparison, so the check stays consistent; a current record missing at a tier is still found."""
    from juki.domain import merkle as mk
    from juki.net.consistency import compare, node_records
    from juki.net.services import services

    from ..net.changes import death, move_in
    from ..unit.registry import person

    nodes, clock = tiers
    m, p, n = nodes["m"], nodes["p"], nodes["n"]
    day = dt.date(2026, 4, 20)
    gone = move_in(m.register, day, person("消除　太郎", "ショウジョ　タロウ", "1940-01-01", individual_number=NUMBER,
                                             honseki="北海道札幌市中央区北一条西二丁目1番地", hittosha="消除　太郎"))
    move_in(m.register, day, person("現存　花子", "ゲンゾン　ハナコ", "1980-02-02", "2",
                                    honseki="北海道札幌市中央区北一条西二丁目1番地", hittosha="現存　花子"))
    (dead,) = gone.outcome.persons
    death(m.register, dead.person_id, gone.outcome.households[0].household_id, day)
    m.intake.run()
    for sender, receiver in ((m, p), (p, n)):
        with receiver.engine.begin() as conn:
            receiver.store.receive(conn, sender.code, sender.store.outbound_after(0, 1000))
        receiver.applier.drain()

    def check(peer: Node, file: RecordFile) -> object:
        return compare(SAPPORO, peer.code, node_records(m, SAPPORO, file=file), services(peer).sessions.answer, file=file)

    for peer in (p, n):
        for file in RecordFile:
            assert check(peer, file).consistent  # type: ignore[attr-defined]

    clock.now = jst(2028, 4, 21, 2)
    for peer in (p, n):
        run = retention(peer, years=1).run()  # both tiers keep both files (the 附票 too)
        assert {f: c["records"] for f, c in run.counts.items()} == {"identity": 1, "fuhyo": 1}
    code = dead.juminhyo_code
    for peer in (p, n):
        assert peer.store.record_of(RecordFile.IDENTITY, code) is None
    kept = m.store.record_of(RecordFile.IDENTITY, code)
    assert kept is not None and kept.state == "removed"  # the CS still has the 消除者 (its file is not purged here)
    for peer in (p, n):
        for file in RecordFile:
            report = check(peer, file)
            assert report.consistent and report.local_count == report.remote_count, (peer.code, file)  # type: ignore[attr-defined]

    # a current record missing at a tier is still a difference (the rule drops only removed records)
    with m.engine.connect() as conn:
        living = next(r for r in m.store.fingerprint(conn, RecordFile.IDENTITY) if r[1] == "current")[0]
    with p.engine.begin() as conn:
        conn.execute(sa.delete(net_records).where(net_records.c.juminhyo_code == living))
    (finding,) = check(p, RecordFile.IDENTITY).findings  # type: ignore[attr-defined]
    assert (finding.juminhyo_code, finding.kind) == (living, mk.DifferenceKind.MISSING_REMOTE)


# --- the CLI -----------------------------------------------------------------------------------------


def test_the_cli_plans_runs_and_lists_on_the_nodes_clock(database_url: str, tmp_path: Path, clock: Clock,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """``juki net retention`` on the node directory (the real clock: today, 1870's notices have expired)."""
    from juki.cli.main import main

    config = NodeConfig(dir=tmp_path / "p", role=Tier.PREFECTURE, code=HOKKAIDO, database_url=database_url)
    config.save()
    node = Node(config, clock=clock)
    node.migrate()
    code = new_juminhyo_code(_codes)
    try:
        n = Notices(node, clock)
        n.identity(jst(1870, 1, 10, 9), code, ChangeKind.MOVE_IN)
        n.identity(jst(1871, 1, 10, 9), code, ChangeKind.MOVE_OUT, state=GONE)
    finally:
        node.close()
    where = ["--node", str(tmp_path / "p")]
    assert main(["net", "retention", "plan", *where, "--today", "2021-01-09"]) == 0
    out = capsys.readouterr().out
    assert "1871-01-09 以前" in out and "対象 / expired: 0 人, 履歴 0 件, 消除者 0 件" in out
    assert main(["net", "retention", "plan", *where, "--today", "2021-01-10"]) == 0  # 150 years after the 転出
    assert "対象 / expired: 1 人, 履歴 2 件, 消除者 1 件" in capsys.readouterr().out
    assert main(["net", "retention", "plan", *where, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["identity"] == {"history": 2, "records": 1}
    assert main(["net", "retention", "run", *where, "--actor", "op1"]) == 0
    assert "1 人, 履歴 2 件, 消除者 1 件" in capsys.readouterr().out
    assert main(["net", "retention", "list", *where]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("1\t") and line.endswith("\t2\t1\t2\t0\top1")  # history, records; both notices redacted in the inbox
    # the operator's run is audited under their name, from the CLI
    node = Node.open(tmp_path / "p")
    try:
        ((subjects, detail),) = audit(node, "net.retention.purge")
        assert subjects == [code] and detail["records"] == 1
        with node.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT user_id, terminal FROM audit_entries WHERE action = 'net.retention.purge'")
                                ).one() == ("op1", "CLI")
    finally:
        node.close()


def test_the_cli_plans_at_a_municipality_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CS's file is purged by the same rule (seeds 000, 001, 003: 施行令34条2項), see test_net_transport.py."""
    from juki.cli.main import main

    config = NodeConfig(dir=tmp_path / "m", role=Tier.MUNICIPALITY, code=SAPPORO,
                        database_url=f"sqlite:///{tmp_path / 'm.db'}")
    config.save()
    node = Node(config)
    node.migrate()
    node.close()
    assert main(["net", "retention", "plan", "--node", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "対象 / expired: 0 人" in out and "net_inbox 0 件, net_outbound 0 件" in out
