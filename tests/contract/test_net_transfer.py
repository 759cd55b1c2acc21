"""特例転入 on real storage (NET-6, NET-9): 札幌市 (the former municipality) and 千葉市 (the new one), each
with its own database, and the national card management system: card check, 転出証明書情報 request and
answer (no 個人番号 in the request), the 転入 through four-eyes approval, 転入通知 back with 転出確定 on the
除票, 継続利用 of the card, and deletion of certificates past their 30 days.  The nodes' services are
called directly here; tests/net runs the same flow between real nodes over mutual TLS."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa

from juki.adapters.db.migrate import upgrade
from juki.config import Register, Settings
from juki.domain import transfer as tr
from juki.domain.cards import CardEvent, CardNotice, CardState
from juki.domain.errors import Forbidden, NotFound, RuleViolation
from juki.domain.events import ChangeKind, Origin
from juki.domain.model import Address
from juki.net.cards import CardRegistry, card_notice_from_json
from juki.net.deliveries import Deliveries
from juki.net.transfer import TransferService, notice_from_json
from juki.services.changes import Actor

from ..clock import Clock
from ..conftest import _create_pg_database
from ..unit.registry import address, chiba_address, person

CLERK, CHIEF = Actor("clerk1", "T001"), Actor("chief1", "T002")
SERIAL = "AB1234567890"
N1, N2 = "123456789018", "621498320257"
NEW_ADDRESS = {**chiba_address(), "block": "2番2号"}


@pytest.fixture
def other_url(database_url, request, tmp_path):
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'chiba.db'}"
    else:
        yield from _create_pg_database(request)


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 4, 10, 1, 0, tzinfo=dt.UTC))


def _register(url, tmp_path, name, lg, clock):
    upgrade(url)
    r = Register(Settings(database_url=url, key_file=tmp_path / f"{name}-keys.json", lg_code=lg))
    r.clock = clock
    return r


@pytest.fixture
def world(database_url, other_url, tmp_path, clock):
    sapporo = _register(database_url, tmp_path, "sapporo", "011002", clock)
    chiba = _register(other_url, tmp_path, "chiba", "121002", clock)
    cards = CardRegistry(chiba.engine, clock=clock, audit=chiba.audit)  # the national tables live with 千葉 here
    w = World(sapporo, chiba, cards, clock)
    yield w
    sapporo.close()
    chiba.close()


@dataclasses.dataclass
class World:
    sapporo: Register
    chiba: Register
    cards: CardRegistry
    clock: Clock

    def __post_init__(self):
        self.old = TransferService(self.sapporo.store, self.sapporo.changes, self.sapporo.jurisdiction, clock=self.clock,
                                   audit=self.sapporo.audit, protected=self.sapporo.reads.protected)
        self.new = TransferService(self.chiba.store, self.chiba.changes, self.chiba.jurisdiction, clock=self.clock,
                                   audit=self.chiba.audit)
        self.former_calls = []

    def approve(self, reg, kind, change, effective, notified):
        sub = reg.changes.submit(kind, change, actor=CLERK, origin=Origin.NOTIFICATION, legal_basis="住民基本台帳法",
                                 effective_date=dt.date.fromisoformat(effective), notified_date=dt.date.fromisoformat(notified))
        return reg.changes.approve(sub.request_id, actor=CHIEF).outcome

    def family_moves_out(self):
        out = self.approve(self.sapporo, "move_in", {
            "persons": [person(individual_number=N1), person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻", individual_number=N2)],
            "address": address(), "prior_address": chiba_address()}, "2026-03-01", "2026-03-05")
        hid = out.households[0].household_id
        ids = [p.person_id for p in out.persons]
        self.approve(self.sapporo, "move_out", {"household_id": hid, "person_ids": ids, "destination": chiba_address()},
                     "2026-04-15", "2026-04-10")
        return [self.sapporo.store.person_current(i) for i in ids]

    def issue_card(self, code):
        self.cards.record(CardNotice(CardEvent.ISSUE, SERIAL, code, "011002", dt.date(2026, 3, 6), dt.date(2036, 5, 1)),
                          caller_lg_code="011002", dedupe_key="issue-1")

    def card_check(self, serial, code):
        self.cards.check(serial, code, caller_lg_code="121002")

    def former(self, lg, request):
        self.former_calls.append((lg, request))
        assert lg == "011002"
        return self.old.answer_certificate(request, caller_lg_code="121002")

    def fetch(self, code, serial=SERIAL):
        return self.new.fetch_certificate(juminhyo_code=code, from_lg_code="011011", card_serial=serial, actor=CLERK,
                                          card_check=self.card_check, former=self.former, case_ref="受付-1")

    def send(self, kind, peer, payload, key):
        if kind == "move_in_notice":
            assert peer == "011002"
            self.old.receive_notice(notice_from_json(payload), caller_lg_code="121002")
        elif kind == "card_event":
            self.cards.record(card_notice_from_json(payload), caller_lg_code="121002", dedupe_key=key)
        else:
            raise AssertionError(kind)


def test_special_move_in_end_to_end(world):
    removed = world.family_moves_out()
    head = removed[0]
    world.issue_card(head.juminhyo_code)
    received = world.fetch(head.juminhyo_code)
    (_, request), = world.former_calls
    assert "individual_number" not in {f.name for f in dataclasses.fields(request)}
    assert received.status == "received" and received.delete_on == dt.date(2026, 5, 16)
    assert [p["individual_number"] for p in received.certificate["persons"]] == ["************"] * 2
    assert received.certificate["planned_move_out"] == "2026-04-15"

    world.clock.advance(days=10)  # 2026-04-20
    sub = world.new.submit_move_in(received.id, tr.Arrival(address=Address(**NEW_ADDRESS)), actor=CLERK,
                                   effective_date=dt.date(2026, 4, 16), notified_date=dt.date(2026, 4, 20))
    with pytest.raises(RuleViolation):  # one 転入 per certificate
        world.new.submit_move_in(received.id, tr.Arrival(address=Address(**NEW_ADDRESS)), actor=CLERK,
                                 effective_date=dt.date(2026, 4, 16), notified_date=dt.date(2026, 4, 20))
    assert world.new.complete() == []  # nothing before the approval
    approved = world.chiba.changes.approve(sub.request_id, actor=CHIEF)
    entered = approved.outcome.persons
    assert {p.juminhyo_code for p in entered} == {p.juminhyo_code for p in removed}
    assert {world.chiba.store.person_current(p.person_id).individual_number for p in entered} == {N1, N2}
    assert "特例転入" in approved.outcome.summary_ja

    assert world.new.complete() == [received.id]
    assert world.new.complete() == []
    deliveries = Deliveries(world.chiba.engine, clock=world.clock)
    report = deliveries.deliver_due(world.send)
    assert len(report.done) == 2 and not report.failed
    for p in removed:
        now = world.sapporo.store.person_current(p.person_id)
        assert now.move_out_confirmed and now.moved_out_to == Address(**NEW_ADDRESS)
        event, _ = world.sapporo.store.person_history(p.person_id)[-1]
        assert event.kind is ChangeKind.MOVE_OUT_CONFIRMED and event.origin is Origin.NOTICE
    card = world.cards.card(SERIAL)
    assert (card.state, card.lg_code) == (CardState.ACTIVE, "121002")

    # a notice delivered again (a lost acknowledgement) confirms nothing twice
    history_len = len(world.sapporo.store.person_history(head.person_id))
    for d in deliveries.list():
        world.send(d.kind, d.peer, d.payload, d.dedupe_key)
    assert len(world.sapporo.store.person_history(head.person_id)) == history_len
    # a confirmed move-out has no certificate any more
    with pytest.raises(RuleViolation) as e:
        world.fetch(head.juminhyo_code)
    assert e.value.problems[0].rule == "NET-6/confirmed"


def test_unused_certificate_is_deleted_after_thirty_days(world):
    head = world.family_moves_out()[0]
    world.issue_card(head.juminhyo_code)
    received = world.fetch(head.juminhyo_code)
    world.clock.now = dt.datetime(2026, 5, 15, 3, 0, tzinfo=dt.UTC)  # 転出予定日 + 30 days: still kept
    assert world.new.purge() == 0
    assert world.new.received(received.id).status == "received"
    world.clock.now = dt.datetime(2026, 5, 16, 3, 0, tzinfo=dt.UTC)  # the 31st day
    assert world.new.purge() == 1
    with pytest.raises(NotFound):
        world.new.received(received.id)
    with world.chiba.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM moveout_certificates_received")).scalar() == 0


def test_a_card_that_fails_the_check_asks_nothing_of_the_former_municipality(world):
    head = world.family_moves_out()[0]
    world.issue_card(head.juminhyo_code)
    world.cards.record(CardNotice(CardEvent.SUSPEND, SERIAL, head.juminhyo_code, "011002", dt.date(2026, 4, 9)),
                       caller_lg_code="011002", dedupe_key="suspend-1")
    with pytest.raises(RuleViolation) as e:
        world.fetch(head.juminhyo_code)
    assert e.value.problems[0].rule == "NET-6/card-state"
    assert world.former_calls == []
    with world.chiba.engine.connect() as conn:
        denied = conn.execute(sa.text("SELECT count(*) FROM audit_entries WHERE action = 'moveout.certificate.request' "
                                      "AND outcome = 'denied'")).scalar()
    assert denied == 1


def test_the_former_municipality_answers_only_for_an_open_move_out_and_its_own_caller(world):
    removed = world.family_moves_out()
    code = removed[0].juminhyo_code
    with pytest.raises(Forbidden):
        world.old.answer_certificate(tr.CertificateRequest(code, "121002"), caller_lg_code="142051")
    with pytest.raises(NotFound):
        world.old.answer_certificate(tr.CertificateRequest("12345678903", "121002"), caller_lg_code="121002")
    cert = world.old.answer_certificate(tr.CertificateRequest(code, "121002"), caller_lg_code="121002")
    assert {p.individual_number for p in cert.persons} == {N1, N2} and not cert.support_measure


def test_a_returned_move_in_frees_the_certificate(world):
    head = world.family_moves_out()[0]
    world.issue_card(head.juminhyo_code)
    received = world.fetch(head.juminhyo_code)
    world.clock.advance(days=10)
    sub = world.new.submit_move_in(received.id, tr.Arrival(address=Address(**NEW_ADDRESS)), actor=CLERK,
                                   effective_date=dt.date(2026, 4, 16), notified_date=dt.date(2026, 4, 20))
    world.chiba.changes.return_request(sub.request_id, actor=CHIEF, reason="住所の方書が未記入")
    assert world.new.complete() == []
    assert world.new.received(received.id).status == "received"
    again = world.new.submit_move_in(received.id, tr.Arrival(address=Address(**{**NEW_ADDRESS, "katagaki": "101号"})),
                                     actor=CLERK, effective_date=dt.date(2026, 4, 16), notified_date=dt.date(2026, 4, 20))
    assert again.request_id != sub.request_id
