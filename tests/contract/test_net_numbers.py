"""個人番号の生成・指定 on real storage (NET-7): the municipality's 生成要求 for a newborn and for a move-in
without a number, the national server's keyed derivation, idempotent answers, the designation in the
register as a 通知 change, the 変更要求, and what failures leave behind.  Both sides run their real
services on one database per engine (the network between them is tested in tests/net)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from juki.adapters.db.migrate import upgrade
from juki.config import Register, Settings
from juki.domain import identifiers
from juki.domain import numbering as nb
from juki.domain.errors import Forbidden, RuleViolation
from juki.domain.events import ChangeKind, Origin
from juki.net.numbers import NumberDesignation, NumberingKeys, NumberingService
from juki.net.svc_tables import individual_number_assignments
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address, person

CLERK = Actor("clerk1", "T001")
APPROVER = Actor("chief1", "T002")
NOW = dt.datetime(2026, 4, 20, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def reg(database_url, tmp_path):
    upgrade(database_url)
    r = Register(Settings(database_url=database_url, key_file=tmp_path / "keys.json", lg_code="011002"))
    r.clock = lambda: NOW
    yield r
    r.close()


@pytest.fixture
def national(reg, tmp_path):
    return NumberingService(reg.engine, NumberingKeys.load_or_create(tmp_path / "numbering.json"), clock=reg.now,
                            audit=reg.audit)


@pytest.fixture
def cs(reg):
    return NumberDesignation(reg.store, reg.changes, "011002", clock=reg.now, audit=reg.audit)


def _approve(reg, kind, change, effective="2026-04-10"):
    sub = reg.changes.submit(kind, change, actor=CLERK, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                             effective_date=dt.date.fromisoformat(effective), notified_date=dt.date(2026, 4, 12))
    return reg.changes.approve(sub.request_id, actor=APPROVER).outcome


def _family(reg):
    """A household moving in (the head with a number, the wife without one) and a newborn."""
    out = _approve(reg, "move_in", {"persons": [person(individual_number="123456789018"),
                                                person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
                                    "address": address(), "prior_address": chiba_address()}, effective="2026-04-01")
    hid = out.households[0].household_id
    born = _approve(reg, "birth", {"household_id": hid, "child": person("札幌　一郎", "サッポロ　イチロウ", "2026-04-10", "1", "子")})
    wife = next(p for p in out.persons if p.individual_number is None)
    return wife, next(p for p in born.persons if p.relationship == "子")


def _via(national, caller="011002"):
    return lambda request: national.answer(request, caller_lg_code=caller)


def test_newborn_and_numberless_arrival_get_a_number_designated(reg, national, cs):
    wife, child = _family(reg)
    assert cs.collect() == 2
    assert cs.collect() == 0  # one open request per person
    report = cs.send_pending(_via(national))
    assert len(report.done) == 2 and not report.failed and not report.retry
    for p in (wife, child):
        current = reg.store.person_current(p.person_id)
        assert identifiers.individual_number_problem(current.individual_number) is None
        assert current.individual_number == national.current_number(p.juminhyo_code)
        event, _ = reg.store.person_history(p.person_id)[-1]
        assert event.kind is ChangeKind.INDIVIDUAL_NUMBER_CHANGE and event.origin is Origin.NOTICE
        assert event.approved_by == "system:jukinet" and event.legal_basis == "番号法第7条第1項"
    assert cs.collect() == 0
    views = cs.requests()
    assert {v.status for v in views} == {"designated"} and all(v.event_seq for v in views)
    # the national table holds no 個人番号, only keyed digests
    with reg.engine.connect() as conn:
        rows = conn.execute(sa.select(individual_number_assignments)).all()
    assert len(rows) == 2
    numbers = {reg.store.person_current(p.person_id).individual_number for p in (wife, child)}
    assert not any(n in str(tuple(r)) for r in rows for n in numbers)


def test_the_same_code_asked_twice_gets_the_same_number(national):
    first = national.answer(nb.GenerationRequest("generate", "011002-0000000001", "011002", "24727059608"),
                            caller_lg_code="011002")
    again = national.answer(nb.GenerationRequest("generate", "011002-0000000001", "011002", "24727059608"),
                            caller_lg_code="011002")
    other_ref = national.answer(nb.GenerationRequest("generate", "121002-0000000007", "121002", "24727059608"),
                                caller_lg_code="121002")
    assert first.individual_number == again.individual_number == other_ref.individual_number
    assert not first.repeated and again.repeated and other_ref.repeated


def test_a_request_for_another_municipality_is_refused(national):
    with pytest.raises(Forbidden):
        national.answer(nb.GenerationRequest("generate", "011002-0000000001", "011002", "24727059608"),
                        caller_lg_code="121002")


def test_change_request_gives_a_new_number_and_retires_the_old(reg, national, cs):
    wife, _ = _family(reg)
    cs.collect()
    cs.send_pending(_via(national))
    old = reg.store.person_current(wife.person_id).individual_number
    ref = cs.request_change(wife.person_id, "個人番号の漏えい（番号法第7条第2項）", actor=Actor("number1", "T003"))
    with pytest.raises(RuleViolation):
        cs.request_change(wife.person_id, "二重の要求", actor=Actor("number1", "T003"))
    report = cs.send_pending(_via(national))
    assert report.done == [ref]
    new = reg.store.person_current(wife.person_id).individual_number
    assert new != old and national.current_number(wife.juminhyo_code) == new
    event, _ = reg.store.person_history(wife.person_id)[-1]
    assert event.legal_basis == "番号法第7条第2項"
    # a 変更要求 naming a number that is no longer current is refused by 機構
    with pytest.raises(RuleViolation):
        national.answer(nb.GenerationRequest("change", "011002-0000000099", "011002", wife.juminhyo_code,
                                             current_number=old, reason="再度"), caller_lg_code="011002")


def test_transport_failures_retry_and_refusals_fail(reg, national, cs):
    wife, _ = _family(reg)
    cs.collect()

    def down(request):
        raise ConnectionError("全国サーバに接続できません")

    report = cs.send_pending(down)
    assert len(report.retry) == 2
    assert {(v.status, v.attempts) for v in cs.requests()} == {("pending", 1)}
    assert reg.store.person_current(wife.person_id).individual_number is None
    report = cs.send_pending(_via(national, caller="121002"))  # 機構 refuses: nothing designated
    assert len(report.failed) == 2
    assert all(v.status == "failed" and "NET-7/caller" in v.last_error for v in cs.requests())
    assert cs.collect() == 2  # failed requests do not block a new one
    assert len(cs.send_pending(_via(national)).done) == 2


def test_a_repeated_run_after_designation_designates_nothing_twice(reg, national, cs):
    wife, _ = _family(reg)
    cs.collect()
    ref = cs.requests()[0].request_ref
    answer = national.answer(nb.GenerationRequest("generate", ref, "011002", wife.juminhyo_code), caller_lg_code="011002")
    # the register designated it, then the node stopped before marking the request (a crash in between)
    reg.changes.apply_notice(ChangeKind.INDIVIDUAL_NUMBER_CHANGE,
                             {"person_id": wife.person_id, "new_number": answer.individual_number, "reason": "試験"},
                             actor=Actor("system:jukinet", "CS"), legal_basis="番号法第7条第1項",
                             effective_date=dt.date(2026, 4, 20))
    events_before = len(reg.store.person_history(wife.person_id))
    report = cs.send_pending(_via(national))
    assert report.done[0] == ref
    assert len(reg.store.person_history(wife.person_id)) == events_before


def test_concurrent_requests_for_one_code_make_one_assignment(reg, national):
    results = []

    def ask(i):
        results.append(national.answer(nb.GenerationRequest("generate", f"011002-{i:010d}", "011002", "24727059608"),
                                       caller_lg_code="011002"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.individual_number for r in results}) == 1
    with reg.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(individual_number_assignments)).scalar() == 1
