"""特例転入 in the domain (NET-6): the 転出証明書情報 made from the former municipality's 除票, the 転入
command the new municipality builds from it, and the rules around both."""

import dataclasses
import datetime as dt

import pytest

from juki.domain import transfer as tr
from juki.domain.errors import InvalidInput, RuleViolation
from juki.domain.model import Address, Status
from juki.domain.register import Jurisdiction
from tests.unit.registry import CHIBA, Registry, address, chiba_address, person

CHIBA_J = Jurisdiction(CHIBA, "千葉市", "千葉県", frozenset({CHIBA}))
N1, N2 = "123456789018", "621498320257"


class ChibaRegistry(Registry):
    def context(self, pv):
        ctx = super().context(pv)
        ctx.jurisdiction = CHIBA_J
        return ctx


def _moved_out():
    old = Registry()
    old.run("move_in", {"persons": [person(individual_number=N1),
                                    person(name="札幌　花子", kana="サッポロ　ハナコ", sex="2", rel="妻", individual_number=N2)],
                        "address": address(), "prior_address": chiba_address()}, effective="2026-03-01")
    hid = next(iter(old.households))
    ids = list(old.households[hid].member_ids)
    old.run("move_out", {"household_id": hid, "person_ids": ids, "destination": chiba_address()},
            effective="2026-04-15", notified="2026-04-10")
    return old, [old.persons[i] for i in ids]


def test_certificate_from_the_removed_records_round_trips_through_json():
    _, removed = _moved_out()
    assert all(p.status is Status.REMOVED for p in removed)
    cert = tr.certificate_from_records(from_lg_code="011002", from_name="札幌市", persons=removed,
                                       notified_on=dt.date(2026, 4, 10))
    assert cert.planned_move_out == dt.date(2026, 4, 15)
    assert [p.individual_number for p in cert.persons] == [N1, N2]
    assert cert.destination.lg_code == CHIBA
    assert tr.MoveOutCertificate.from_json(cert.to_json()) == cert


def test_only_an_unconfirmed_move_out_has_a_certificate():
    _, removed = _moved_out()
    code = removed[0].juminhyo_code
    assert tr.certificate_problem(removed, code) is None
    assert tr.certificate_problem([], code).rule == "NET-6/not-found"
    assert tr.certificate_problem([removed[0].replace(status=Status.RESIDENT)], code).rule == "NET-6/no-move-out"
    assert tr.certificate_problem([removed[0].replace(move_out_confirmed=True)], code).rule == "NET-6/confirmed"


def test_the_move_in_built_from_the_certificate_enters_the_new_register():
    _, removed = _moved_out()
    cert = tr.certificate_from_records(from_lg_code="011002", from_name="札幌市", persons=removed,
                                       notified_on=dt.date(2026, 4, 10))
    new_address = Address(**{**chiba_address(), "block": "2番2号"})
    command = tr.move_in_command(cert, tr.Arrival(address=new_address), moved_in_on=dt.date(2026, 4, 16),
                                 today=dt.date(2026, 4, 20))
    assert command.special and command.moved_out_on == cert.planned_move_out
    assert command.prior_address == cert.address
    new = ChibaRegistry()
    outcome = new.apply(command, _pv())
    entered = {p.juminhyo_code: p for p in outcome.persons}
    assert set(entered) == {p.juminhyo_code for p in removed}
    assert {p.individual_number for p in entered.values()} == {N1, N2}
    assert all(p.address_before_move_in == cert.address for p in entered.values())
    assert outcome.new_individual_numbers == ()  # carried over, no 生成要求
    assert "特例転入" in outcome.summary_ja
    new.check_invariants()


def _pv():
    from juki.domain.events import Origin, Provenance

    return Provenance(Origin.NOTIFICATION, "住民基本台帳法第24条の2", dt.date(2026, 4, 16), dt.date(2026, 4, 20), "clerk1", "T001")


def test_move_in_command_refusals():
    _, removed = _moved_out()
    cert = tr.certificate_from_records(from_lg_code="011002", from_name="札幌市", persons=removed,
                                       notified_on=dt.date(2026, 4, 10))
    arrival = tr.Arrival(address=Address(**chiba_address()))
    with pytest.raises(RuleViolation) as e:
        tr.move_in_command(cert, arrival, moved_in_on=dt.date(2026, 4, 14), today=dt.date(2026, 4, 20))
    assert e.value.problems[0].rule == "REG-R1/move-in-before-move-out"
    # the 30th day after the planned date is the last one; the 31st is too late
    tr.move_in_command(cert, arrival, moved_in_on=dt.date(2026, 5, 15), today=dt.date(2026, 5, 15))
    with pytest.raises(RuleViolation) as e:
        tr.move_in_command(cert, arrival, moved_in_on=dt.date(2026, 5, 16), today=dt.date(2026, 5, 16))
    assert e.value.problems[0].rule == "NET-6/expired"
    with pytest.raises(RuleViolation) as e:
        tr.move_in_command(cert, dataclasses.replace(arrival, juminhyo_codes=("12345678903",)),
                           moved_in_on=dt.date(2026, 4, 16), today=dt.date(2026, 4, 20))
    assert e.value.problems[0].field == "juminhyo_codes[0]"


def test_one_person_alone_becomes_head_of_the_new_household():
    _, removed = _moved_out()
    cert = tr.certificate_from_records(from_lg_code="011002", from_name="札幌市", persons=removed,
                                       notified_on=dt.date(2026, 4, 10))
    wife = removed[1].juminhyo_code
    command = tr.move_in_command(cert, tr.Arrival(address=Address(**chiba_address()), juminhyo_codes=(wife,)),
                                 moved_in_on=dt.date(2026, 4, 16), today=dt.date(2026, 4, 20))
    assert [p.relationship for p in command.persons] == ["世帯主"]


def test_requests_and_notices_are_checked():
    tr.CertificateRequest("24727059608", "121002").check()
    with pytest.raises(InvalidInput) as e:
        tr.CertificateRequest("24727059609", "121003").check()
    assert {p.field for p in e.value.problems} == {"juminhyo_code", "requesting_lg_code"}
    assert not any(f.name == "individual_number" for f in dataclasses.fields(tr.CertificateRequest))
    notice = tr.MoveInNotice("121002", "011002", ("24727059608",), Address(**chiba_address()), dt.date(2026, 4, 16), "121002:5")
    assert notice.check() is notice
    with pytest.raises(InvalidInput):
        dataclasses.replace(notice, juminhyo_codes=()).check()
    assert tr.deletion_date(dt.date(2026, 4, 15)) == dt.date(2026, 5, 16)
