"""The yearly 整合性確認 timer of a municipality node (NET-10 「年1回程度」, PRF-9): 札幌市's node runs in this
process on a clock the test moves by hand; 北海道 and the national server are node processes.  The run is
due one period after the timer started, compares both files with both peers over mutual TLS, is audited,
and shows in `juki net status`; differences and an unreachable peer raise alerts, and a failed run is
tried again an hour later."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from juki.clock import jst_date
from juki.net import schedule
from juki.net.network import Network
from juki.net.node import Node, NodeConfig
from juki.net.pki import NATIONAL_CODE
from juki.net.tables import net_records

from ..clock import Clock
from ..unit.registry import address, chiba_address, person
from .changes import change
from .support import Served, audit_rows, specs, wait_until

SAPPORO, HOKKAIDO = "011002", "010006"

pytestmark = pytest.mark.slow


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    network = Network(tmp_path / "net", specs(("municipality", SAPPORO, "札幌市"), ("prefecture", HOKKAIDO, "北海道"),
                                              ("national", NATIONAL_CODE, "全国サーバ"))).build()
    network.start_all([HOKKAIDO, NATIONAL_CODE])
    try:
        yield network
    finally:
        network.stop_all()


def last(node: Node) -> dict[str, Any] | None:
    return schedule.last_run(node)


def test_the_yearly_consistency_check_runs_on_time_is_audited_and_shown(net: Network, capsys: pytest.CaptureFixture[str]
                                                                        ) -> None:
    clock = Clock(dt.datetime.now(dt.UTC))
    started = clock()
    config = NodeConfig.load(net.dir(SAPPORO))
    assert config.consistency_days == 365  # the default: about once a year
    node = Node(config, clock=clock)
    with Served(node):
        reg = node.register
        out = change(reg, "move_in", {"persons": [person("整合　年次", "セイゴウ　ネンジ", "1977-07-07", "1",
                                                         individual_number="123456789018")],
                                      "address": address(block="77番"), "prior_address": chiba_address()},
                     jst_date(clock()))
        code = out.outcome.persons[0].juminhyo_code
        wait_until(lambda: all(net.status(t)["applied"].get(SAPPORO, 0) >= node.store.outbound_head()
                               and node.store.outbound_head() > 0 for t in (HOKKAIDO, NATIONAL_CODE)), what="the notices applied")

        # the timer started with the node: due a year on, not before
        with node.engine.connect() as conn:
            due = wait_until(lambda: schedule.next_due(node, conn, start=False), what="the timer's anchor")
        assert due == started + dt.timedelta(days=365)
        clock.advance(days=364)
        assert schedule.step(node) > 0 and last(node) is None

        # a year on: the run compares both files with both peers and is audited
        clock.advance(days=2)
        node.wake("consistency")
        run = wait_until(lambda: last(node), what="the yearly run")
        assert run["result"] == "consistent" and run["at"] == clock().isoformat()
        assert [(r["peer"], r["file"]) for r in run["reports"]] == [
            (HOKKAIDO, "identity"), (HOKKAIDO, "fuhyo"), (NATIONAL_CODE, "identity"), (NATIONAL_CODE, "fuhyo")]
        (entry,) = audit_rows(node, "consistency.run")
        assert entry["user_id"] == "system:jukinet" and entry["detail"]["result"] == "consistent"
        with node.engine.connect() as conn:
            assert schedule.next_due(node, conn) == clock() + dt.timedelta(days=365)

        # damage at 北海道; the next year's run finds it, raises an alert and the status shows it
        pref = net.node(HOKKAIDO)
        try:
            with pref.engine.begin() as conn:
                conn.execute(net_records.delete().where(net_records.c.file == "identity",
                                                        net_records.c.juminhyo_code == code))
        finally:
            pref.close()
        clock.advance(days=365)
        node.wake("consistency")
        run = wait_until(lambda: (r := last(node)) is not None and r["at"] == clock().isoformat() and r, what="the second run")
        assert run["result"] == "differences" and run["differences"] == 1
        assert any(a.kind == "consistency_differences" and not a.blocking for a in node.store.alerts())
        assert code in audit_rows(node, "consistency.run")[-1]["subjects"]

        from juki.cli.main import main

        assert main(["net", "status", "--node", str(net.dir(SAPPORO))]) == 0
        shown = capsys.readouterr().out
        assert "整合性確認 / consistency: last" in shown and "differences" in shown and f"↔ {HOKKAIDO} identity: 1 differences" in shown

        # the national server down: the run fails, is alerted, and is tried again an hour later
        net.stop(NATIONAL_CODE)
        clock.advance(days=365)
        node.wake("consistency")
        failed = wait_until(lambda: (r := last(node)) is not None and r["at"] == clock().isoformat() and r,
                            what="the failed run")
        assert failed["result"] == "failed" and any("error" in r for r in failed["reports"] if r["peer"] == NATIONAL_CODE)
        with node.engine.connect() as conn:
            assert schedule.next_due(node, conn) == clock() + schedule.RETRY_AFTER
        net.start_all([NATIONAL_CODE])
        clock.advance(hours=1)
        node.wake("consistency")
        again = wait_until(lambda: (r := last(node)) is not None and r["at"] == clock().isoformat() and r, what="the retry")
        assert again["result"] == "differences"  # the damage at 北海道 is still there: the operator repairs it
        with node.engine.connect() as conn:
            kinds = [r.kind for r in conn.execute(sa.text("SELECT kind FROM net_alerts WHERE scope = 'consistency'"))]
        assert kinds == ["consistency_differences", "consistency_failed", "consistency_differences"]
