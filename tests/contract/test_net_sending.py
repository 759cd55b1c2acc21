"""送付先情報 (NET-8) on real storage: made after a number is designated, for living residents only,
sent unedited to the card management system, deleted after its keeping period, and kept in a database
of its own so that the node's backups never contain it."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from juki.adapters.db.migrate import upgrade
from juki.config import Register, Settings
from juki.domain.events import Origin
from juki.domain.sending import Office
from juki.net.numbers import NumberDesignation, NumberingKeys, NumberingService
from juki.net.sending import NoticeReceipts, SendingService, SendingSpool, default_spool_url
from juki.net.svc_tables import number_notice_receipts
from juki.services.changes import Actor

from ..clock import Clock
from ..unit.registry import address, chiba_address, person

CLERK, CHIEF = Actor("clerk1", "T001"), Actor("chief1", "T002")


@pytest.fixture
def world(database_url, tmp_path):
    upgrade(database_url)
    clock = Clock(dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC))
    reg = Register(Settings(database_url=database_url, key_file=tmp_path / "keys.json", lg_code="011002"))
    reg.clock = clock
    national = NumberingService(reg.engine, NumberingKeys.load_or_create(tmp_path / "n.json"), clock=clock)
    cs = NumberDesignation(reg.store, reg.changes, "011002", clock=clock)
    spool = SendingSpool(f"sqlite:///{tmp_path / 'sofusaki.db'}", reg.keyring)
    service = SendingService(reg.store, spool, Office("011002", "札幌市", "0608611", "北海道札幌市中央区北1条西2丁目",
                                                      "011-211-2111", "札幌市中央区役所 戸籍住民課"),
                             clock=clock, keep_days=30, audit=reg.audit)
    receipts = NoticeReceipts(reg.engine, clock=clock, audit=reg.audit)
    yield reg, national, cs, service, receipts, clock
    spool.close()
    reg.close()


def _family(reg):
    sub = reg.changes.submit("move_in", {"persons": [person(), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
                                         "address": address(), "prior_address": chiba_address()},
                             actor=CLERK, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                             effective_date=dt.date(2026, 4, 10), notified_date=dt.date(2026, 4, 12))
    return reg.changes.approve(sub.request_id, actor=CHIEF).outcome


def test_sending_information_is_made_sent_and_deleted(world):
    reg, national, cs, service, receipts, clock = world
    out = _family(reg)
    cs.collect()
    cs.send_pending(lambda r: national.answer(r, caller_lg_code="011002"))
    # the wife dies before her notice is made: no 送付先情報 for a deceased person
    wife = next(p for p in out.persons if p.relationship == "妻")
    hid = out.households[0].household_id
    sub = reg.changes.submit("death", {"person_id": wife.person_id, "household_id": hid}, actor=CLERK,
                             origin=Origin.NOTICE, legal_basis="戸籍法", effective_date=dt.date(2026, 4, 20),
                             notified_date=dt.date(2026, 4, 20))
    reg.changes.approve(sub.request_id, actor=CHIEF)
    assert service.collect() == 1
    assert service.collect() == 0
    sent = []

    def send(payload):
        sent.append(payload)
        receipts.receive(payload, caller_lg_code="011002")

    report = service.send_due(send)
    assert len(report.done) == 1 and service.spool.counts() == {"unsent": 0, "sent_waiting_deletion": 1}
    head = next(p for p in out.persons if p.relationship == "世帯主")
    (payload,) = sent
    # unedited: the register's items as they stand, the 個人番号 included
    current = reg.store.person_current(head.person_id)
    assert payload["individual_number"] == current.individual_number and payload["name"] == current.name
    assert payload["recipient_address"] == current.address.text and payload["lg_code"] == "011002"
    with reg.engine.connect() as conn:
        row = conn.execute(sa.select(number_notice_receipts)).one()
    assert row.juminhyo_code == head.juminhyo_code and current.individual_number not in str(tuple(row))
    assert receipts.receive(payload, caller_lg_code="011002") is False  # idempotent
    clock.advance(days=29)
    assert service.purge() == 0
    clock.advance(days=2)
    assert service.purge() == 1
    assert service.spool.counts() == {"unsent": 0, "sent_waiting_deletion": 0}


def test_the_spool_is_not_in_the_node_database(world):
    reg, *_ = world
    assert "sending_info_spool" not in sa.inspect(reg.engine).get_table_names()
    assert default_spool_url("sqlite:////srv/juki/node.db") == "sqlite:////srv/juki/sofusaki.db"


def test_keeping_period_is_under_a_year(world):
    reg, _, _, service, *_ = world
    with pytest.raises(ValueError):
        SendingService(reg.store, service.spool, service.office, keep_days=365)


def test_a_lost_spool_is_made_again_from_the_register(world, tmp_path):
    reg, national, cs, service, *_ = world
    _family(reg)
    cs.collect()
    cs.send_pending(lambda r: national.answer(r, caller_lg_code="011002"))
    assert service.collect() == 2
    service.spool.close()
    (tmp_path / "sofusaki.db").unlink()  # the spool is lost before sending (it has no backup)
    service.spool = SendingSpool(f"sqlite:///{tmp_path / 'sofusaki.db'}", reg.keyring)
    assert service.collect() == 0
    refs = [v.request_ref for v in cs.requests(status="designated")]
    assert service.respool(refs) == 2
    assert service.collect() == 2 and service.spool.counts()["unsent"] == 2
    service.spool.close()
