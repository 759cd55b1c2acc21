"""Contract: keeping the 住所地's 広域交付 send records (NET-11), on both engines -- the answer kept with a
record is blanked after its keeping period (a repeat is then refused), the record itself deleted after 7
years and not before, each in a logged, audited purge run; the database refuses the same changes outside
a run (revision 0015_wide_area_keep); the municipality's daily housekeeping runs it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from juki.domain.errors import Conflict
from juki.domain.wide_area import WideAreaAnswer, WideAreaRequest, record_cutoff
from juki.net import housekeeping, wide_area
from juki.net.node import Node, NodeConfig
from juki.net.pki import Tier
from juki.net.services import services
from juki.net.wide_area import WideAreaService, answer_keep_days_setting, purge_sends
from juki.net.wide_area_tables import wide_area_purge_active, wide_area_purge_runs, wide_area_sends

from ..clock import Clock

TARO = {"name": "札幌　太郎", "birth_date": "1980-05-01", "address": "北海道札幌市中央区北一条西1丁目1番1号"}


def ask(world, svc: WideAreaService, request_id: str) -> WideAreaAnswer:
    request = WideAreaRequest.from_json({"residence_lg_code": "011002", "requester": TARO,
                                         "identity": [{"kind": "individual_number_card"}]})
    return svc.answer(request.sent(request_id=request_id.ljust(20, "0"), issuing_lg_code="121002", operator="clerk"),
                      caller_lg_code="121002", user="clerk@municipality:121002")


def rows(world) -> dict[str, sa.Row]:
    with world.reg.engine.connect() as c:
        return {r.request_id.rstrip("0"): r for r in c.execute(sa.select(wide_area_sends))}


def test_answers_are_blanked_after_their_period_and_records_deleted_after_seven_years(world):
    svc = WideAreaService(world.reg.store, world.reg.reads, world.reg.jurisdiction, clock=world.clock,
                          audit=world.reg.audit, answer_keep_days=1)
    start = world.clock.now
    first = ask(world, svc, "old")
    world.clock.advance(hours=20)
    ask(world, svc, "newer")

    def purge() -> dict:
        return purge_sends(world.reg.engine, now=world.clock.now, keep_days=1, audit=world.reg.audit, terminal="011002")

    # within a day: nothing goes, and a repeat gets the same answer
    world.clock.now = start + dt.timedelta(hours=23, minutes=59)
    assert (purge()["answers"], purge()["records"]) == (0, 0)
    assert ask(world, svc, "old") == first
    # a day after it was sent, the answer goes; the rest of the record stays
    world.clock.now = start + dt.timedelta(days=1, seconds=1)
    assert (purge()["answers"], purge()["records"]) == (1, 0)
    kept = rows(world)
    assert kept["old"].answer_ciphertext == b"" and kept["old"].key_id == ""
    assert kept["old"].person_ids == [world.ids["札幌　太郎"]] and kept["old"].answer_sha256 == first.digest()
    assert kept["newer"].key_id != ""
    with pytest.raises(Conflict) as e:  # a repeat after that: refused, send a new request
        ask(world, svc, "old")
    assert e.value.problems[0].rule == "NET-3/request-id-expired" and "1日" in e.value.problems[0].ja
    # 7 years after the send, not a day before, the record goes
    world.clock.now = start.replace(year=start.year + 7) - dt.timedelta(days=1)
    assert record_cutoff(world.clock.now) < start
    result = purge()
    assert (result["answers"], result["records"]) == (1, 0) and set(rows(world)) == {"old", "newer"}
    world.clock.now = start.replace(year=start.year + 7) + dt.timedelta(seconds=1)
    result = purge()
    assert (result["answers"], result["records"]) == (0, 1) and set(rows(world)) == {"newer"}

    with world.reg.engine.connect() as c:
        runs = c.execute(sa.select(wide_area_purge_runs).order_by(wide_area_purge_runs.c.run_id)).all()
        assert c.execute(sa.select(sa.func.count()).select_from(wide_area_purge_active)).scalar_one() == 0
    assert [(r.answers, r.records, r.keep_days) for r in runs][-1] == (0, 1, 1) and len(runs) == 6
    audited = world.audit("wide_area.purge")
    assert len(audited) == 6 and audited[-1]["subject_ids"] == [world.ids["札幌　太郎"]]
    assert audited[-1]["detail"]["records"] == 1 and audited[0]["subject_ids"] == []


def test_the_guard_refuses_the_same_changes_outside_a_run(world):
    svc = WideAreaService(world.reg.store, world.reg.reads, world.reg.jurisdiction, clock=world.clock,
                          audit=world.reg.audit, answer_keep_days=1)
    ask(world, svc, "guarded")
    t = wide_area_sends
    blank = sa.update(t).values(answer_ciphertext=b"", key_id="")
    for stmt in (blank, sa.delete(t)):  # no run
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), world.reg.engine.begin() as c:
            c.execute(stmt)
    later = world.clock.now + dt.timedelta(days=1)
    for stmt in (sa.update(t).values(answer_ciphertext=b"", key_id="", operator="x"),  # more than the answer
                 sa.update(t).values(answer_ciphertext=b"x", key_id=""),  # not blanked
                 sa.delete(t)):  # younger than the record cutoff
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), world.reg.engine.begin() as c:
            c.execute(wide_area_purge_active.insert().values(run_id=1, answer_cutoff=later,
                                                             record_cutoff=world.clock.now - dt.timedelta(days=1)))
            c.execute(stmt)
    if world.reg.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), world.reg.engine.begin() as c:
            c.execute(sa.text("TRUNCATE wide_area_sends"))
    assert purge_sends(world.reg.engine, now=world.clock.now, keep_days=1)["answers"] == 0  # a run: nothing due
    for stmt in (sa.update(wide_area_purge_runs).values(actor="x"), sa.delete(wide_area_purge_runs)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), world.reg.engine.begin() as c:
            c.execute(stmt)
    (row,) = rows(world).values()
    assert row.key_id != "" and row.operator == "clerk"
    with pytest.raises(ValueError):
        purge_sends(world.reg.engine, now=later, keep_days=0)


def test_the_answers_keeping_period_is_a_setting(monkeypatch):
    assert answer_keep_days_setting() == 1
    monkeypatch.setenv("JUKI_WIDE_AREA_ANSWER_KEEP_DAYS", "30")
    assert answer_keep_days_setting() == 30
    for bad in ("0", "31"):
        monkeypatch.setenv("JUKI_WIDE_AREA_ANSWER_KEEP_DAYS", bad)
        with pytest.raises(ValueError, match=r"1\.\.30"):
            answer_keep_days_setting()


def test_the_municipalitys_housekeeping_purges_the_send_records(database_url: str, tmp_path: Path):
    clock = Clock(dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC))
    config = NodeConfig(dir=tmp_path / "m", role=Tier.MUNICIPALITY, code="011002", database_url=database_url)
    config.save()
    node = Node(config, clock=clock)
    node.migrate()
    try:
        assert "wide_area_sends" in [name for name, _ in housekeeping.tasks(node)]
        with node.engine.begin() as c:
            for ref, age in (("W00000000001", dt.timedelta(days=8 * 366)), ("W00000000002", dt.timedelta(days=2)),
                             ("W00000000003", dt.timedelta(hours=1))):
                c.execute(wide_area_sends.insert().values(
                    answer_ref=ref, issuing_lg_code="121002", request_id=ref * 2, request_sha256="0" * 64,
                    operator="clerk", person_ids=["0000000001"], requester={}, whole_household=False, items=[],
                    answer_ciphertext=b"sealed", key_id="k1", answer_sha256="1" * 64, sent_at=clock.now - age))
        result = housekeeping.run(node)
        assert result["result"] == "done", result
        assert {k: result["tasks"]["wide_area_sends"][k] for k in ("answers", "records")} == {"answers": 1, "records": 1}
        with node.engine.connect() as c:
            left = {r.answer_ref: r.key_id for r in c.execute(sa.select(wide_area_sends))}
            detail = json.loads(c.execute(sa.text("SELECT detail FROM audit_entries WHERE action = 'wide_area.purge'"))
                                .scalar_one())
        assert left == {"W00000000002": "", "W00000000003": "k1"} and detail["records"] == 1
        assert (node.dir / "wide-area-buffer.db").exists()  # the buffer lives beside, not in, the register
        (worker,) = wide_area.workers(node)  # NET-12's worker keeps it current
        assert worker.name == "wide_area_buffer" and worker.step() > 0
        state = services(node).wide_area.buffer.status()  # type: ignore[union-attr]
        assert state["synced_at"] == clock.now.isoformat() and state["buffer_persons"] == 0
    finally:
        node.close()
