"""Contract: the daily housekeeping of the prefecture and national servers, on both engines -- once a day at
``housekeeping_at`` (Japan's time, node clock): PRF-4 retention, PRF-8 temporary 個人番号, PRF-6 provision
log; audited, shown in ``juki net status``, a failing task alerts and is retried an hour later.  The
worker's step is driven by hand with the node's clock (no server)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.domain.events import ChangeKind
from juki.domain.identity import RecordState
from juki.net import housekeeping
from juki.net.node import Node, NodeConfig, features_for
from juki.net.operations import status
from juki.net.pki import Tier
from juki.net.services import services
from juki.net.svc_tables import fuhyo_number_temp, provision_log, provision_log_subjects
from juki.net.tables import net_records

from ..clock import Clock
from .test_net_retention import HOKKAIDO, Notices, jst

CODE, OTHER = "24727059608", "30000000009"


def actions(node: Node, action: str) -> list[dict]:
    with node.engine.connect() as c:
        return [json.loads(d) for d in c.execute(sa.text(
            "SELECT detail FROM audit_entries WHERE action = :a ORDER BY seq"), {"a": action}).scalars()]


@pytest.fixture
def clock() -> Clock:
    return Clock(jst(1870, 1, 10, 9))


@pytest.fixture
def prefecture(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Node]:
    """北海道's node: a 消除者 whose removal was received in 1870; a temporary 個人番号 past its keeping
    period and one not yet; a provision record 8 years old and one from this year."""
    config = NodeConfig(dir=tmp_path / "p", role=Tier.PREFECTURE, code=HOKKAIDO, database_url=database_url)
    config.save()
    node = Node(config, clock=clock)
    node.migrate()
    n = Notices(node, clock)
    n.identity(jst(1870, 1, 10, 9), CODE, ChangeKind.MOVE_IN)
    n.identity(jst(1870, 2, 10, 9), CODE, ChangeKind.DEATH, state=RecordState.REMOVED)
    clock.now = jst(2026, 4, 20, 1)  # 01:00 in Japan, before the 02:00 run
    now = clock.now
    with node.engine.begin() as conn:
        for log_id, at in ((1, now - dt.timedelta(days=8 * 366)), (2, now - dt.timedelta(days=30))):
            conn.execute(provision_log.insert().values(
                id=log_id, at=at, operator="op1", terminal="T1", recipient="知事部局", use_code="u1", channel="transfer",
                mode="single", query_key="code", outcome="provided", subjects=[OTHER], items=["name"],
                number_included=False, media="screen"))
            conn.execute(provision_log_subjects.insert().values(log_id=log_id, juminhyo_code=OTHER, at=at))
        for log_id, delete_after in ((1, now - dt.timedelta(days=1)), (2, now + dt.timedelta(days=10))):
            conn.execute(fuhyo_number_temp.insert().values(
                provision_log_id=log_id, juminhyo_code=OTHER, number_ciphertext=b"sealed", key_id="k1",
                created_at=now - dt.timedelta(days=30), delete_after=delete_after))
    yield node
    node.close()


def counts(node: Node) -> tuple[int, int, int]:
    with node.engine.connect() as c:
        return tuple(int(c.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())  # type: ignore[return-value]
                     for t in (net_records, fuhyo_number_temp, provision_log))


def test_every_node_runs_housekeeping() -> None:
    """The municipality's CS too (its file's PRF-4 retention and its outgoing stream's redaction)."""
    assert all(housekeeping in features_for(t) for t in (Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL))
    assert NodeConfig(dir=Path("x"), role=Tier.MUNICIPALITY, code="011002").transport_keep_days == 30
    for days in (0, 366):
        with pytest.raises(ValueError, match="transport_keep_days"):
            NodeConfig(dir=Path("x"), role=Tier.PREFECTURE, code=HOKKAIDO, transport_keep_days=days)
    with pytest.raises(ValueError, match="HH:MM"):
        NodeConfig(dir=Path("x"), role=Tier.PREFECTURE, code=HOKKAIDO, housekeeping_at="2 o'clock")


def test_housekeeping_runs_once_a_day_at_its_time_and_not_twice(prefecture: Node, clock: Clock) -> None:
    node = prefecture
    assert counts(node) == (1, 2, 2)
    # the timer starts: due at the next 02:00 in Japan, not before
    assert housekeeping.step(node) > 0 and actions(node, "net.housekeeping.run") == []
    with node.engine.connect() as conn:
        assert housekeeping.next_due(node, conn, start=False) == jst(2026, 4, 20, 2)
    clock.now = jst(2026, 4, 20, 1, 59, 59)
    assert housekeeping.step(node) > 0 and actions(node, "net.housekeeping.run") == []

    clock.now = jst(2026, 4, 20, 2)
    assert housekeeping.step(node) == 0.0
    (run,) = actions(node, "net.housekeeping.run")
    assert run["result"] == "done" and set(run["tasks"]) == {"retention", "temporary_numbers", "provision_log"}
    assert (run["tasks"]["retention"]["records"], run["tasks"]["retention"]["history_rows"]) == (1, 2)
    assert run["tasks"]["temporary_numbers"] == {"deleted": 1} and run["tasks"]["provision_log"] == {"deleted": 1}
    assert counts(node) == (0, 1, 1)  # the 消除者, the expired temporary number, the 8-year-old record
    with node.engine.connect() as conn:
        ((subjects, purge),) = [(json.loads(s), json.loads(d)) for s, d in conn.execute(sa.text(
            "SELECT subject_ids, detail FROM audit_entries WHERE action = 'net.retention.purge'"))]
    assert subjects == [CODE] and purge["records"] == 1
    assert len(actions(node, "provision.log.purge")) == 1

    # not twice the same day, however often the worker wakes
    for t in (jst(2026, 4, 20, 2, 0, 1), jst(2026, 4, 20, 12), jst(2026, 4, 21, 1, 59)):
        clock.now = t
        assert housekeeping.step(node) > 0
    assert len(actions(node, "net.housekeeping.run")) == 1
    shown = status(node)["housekeeping"]
    assert shown["next_due"] == jst(2026, 4, 21, 2).isoformat() and shown["last_run"]["result"] == "done"
    assert shown["tasks"] == ["retention", "temporary_numbers", "provision_log"]

    # the next day at 02:00: again (nothing more has expired)
    clock.now = jst(2026, 4, 21, 2, 0, 30)
    assert housekeeping.step(node) == 0.0
    runs = actions(node, "net.housekeeping.run")
    assert len(runs) == 2 and runs[1]["tasks"]["retention"]["records"] == 0
    # after days down, one run (not one per missed day)
    clock.now = jst(2026, 4, 25, 9)
    assert housekeeping.step(node) == 0.0 and housekeeping.step(node) > 0
    assert len(actions(node, "net.housekeeping.run")) == 3


def test_a_failing_task_does_not_stop_the_others_alerts_and_is_retried_an_hour_later(
        prefecture: Node, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    node = prefecture
    prov = services(node).provision

    def broken() -> int:
        raise OSError("disk")

    monkeypatch.setattr(prov, "purge_temporary_numbers", broken)
    clock.now = jst(2026, 4, 20, 2, 30)
    housekeeping.step(node)  # starts the timer at 02:30: the first run is tomorrow at 02:00
    clock.now = jst(2026, 4, 21, 2)
    assert housekeeping.step(node) == 0.0
    (run,) = actions(node, "net.housekeeping.run")
    assert run["result"] == "failed" and run["tasks"]["temporary_numbers"] == {"error": "OSError: disk"}
    assert run["tasks"]["retention"]["records"] == 1 and run["tasks"]["provision_log"] == {"deleted": 1}
    (alert,) = node.store.alerts()
    assert (alert.scope, alert.kind, alert.blocking, alert.rule) == ("housekeeping", "housekeeping_failed", False, "PRF-4")
    assert "temporary_numbers" in alert.message_ja
    with node.engine.connect() as conn:
        assert housekeeping.next_due(node, conn) == jst(2026, 4, 21, 3)
    monkeypatch.undo()
    clock.now = jst(2026, 4, 21, 3)
    assert housekeeping.step(node) == 0.0
    assert [r["result"] for r in actions(node, "net.housekeeping.run")] == ["failed", "done"]
    assert counts(node) == (0, 1, 1)


def test_the_national_server_has_only_the_retention_task_and_status_shows_it(
        database_url: str, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    from juki.cli.main import main

    config = NodeConfig(dir=tmp_path / "n", role=Tier.NATIONAL, code="000000", database_url=database_url)
    config.save()
    node = Node(config, clock=clock)
    node.migrate()
    try:
        clock.now = jst(2026, 4, 20, 2)
        assert [name for name, _ in housekeeping.tasks(node)] == ["retention"]
        run = housekeeping.run(node)
        assert run["result"] == "done" and list(run["tasks"]) == ["retention"]
    finally:
        node.close()
    assert main(["net", "status", "--node", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    assert "定期処理 / housekeeping: last 2026-04-19T17:00:00+00:00 done" in out
    assert "retention: cutoff 1876-04-20: 0 history rows, 0 records (0 persons) deleted" in out
