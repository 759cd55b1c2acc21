"""Rules of the register (REG-E1…E11, REG-R1, REG-R2), each refusal naming its field and rule."""

from __future__ import annotations

import dataclasses

import pytest

from juki.domain.changes import command_from_json
from juki.domain.errors import InvalidInput, JukiError, NotFound, RuleViolation
from juki.domain.events import ChangeKind
from juki.domain.model import HEAD, Status

from .registry import KITA, Registry, address, chiba_address, person

NUMBER = "123456789018"


def move_in_family(r: Registry, **kw) -> list[str]:
    out = r.run("move_in", {
        "persons": [person(individual_number=NUMBER, juminhyo_code="24727059608"),
                    person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻"),
                    person("札幌　一郎", "サッポロ　イチロウ", "2015-01-01", "1", "子")],
        "address": address(), "prior_address": chiba_address(), "moved_out_on": "2026-04-01", **kw})
    r.check_invariants()
    return [p.person_id for p in out.persons]


def refused(exc: type[JukiError], fn, *args, **kw) -> tuple[str, str]:
    with pytest.raises(exc) as e:
        fn(*args, **kw)
    p = e.value.problems[0]
    assert p.ja and p.en
    return p.field, p.rule


def test_move_in_creates_household_with_one_head_and_requests_numbers():
    r = Registry()
    ids = move_in_family(r)
    h = r.household_of(ids[0])
    assert h.head_id == ids[0] and h.member_ids == tuple(ids)
    wife = r.persons[ids[1]]
    assert wife.head_name == "札幌　太郎" and wife.relationship == "妻"
    assert wife.address_before_move_in.city == "千葉市中央区"
    assert r.persons[ids[0]].juminhyo_code == "24727059608"
    assert r.events[-1][1].new_individual_numbers == (ids[1], ids[2])


def test_move_in_of_a_current_resident_is_refused():
    r = Registry()
    move_in_family(r)
    field, rule = refused(RuleViolation, r.run, "move_in", {
        "persons": [person("別人　名前", "ベツジン　ナマエ", individual_number=NUMBER)],
        "address": address(block="2丁目2番2号"), "prior_address": chiba_address()})
    assert (field, rule) == ("persons[0].individual_number", "REG-R1/already-resident")


def test_move_in_of_a_former_resident_reuses_the_person_id():
    r = Registry()
    ids = move_in_family(r)
    h = r.household_of(ids[0])
    r.run("move_out", {"household_id": h.household_id, "person_ids": ids, "destination": chiba_address()}, effective="2026-04-12")
    assert all(r.persons[i].status is Status.REMOVED for i in ids)
    out = r.run("move_in", {"persons": [person(individual_number=NUMBER)], "address": address(block="9番9号"),
                            "prior_address": chiba_address()}, effective="2026-04-18")
    assert out.persons[0].person_id == ids[0]  # 003 II-3⑧
    r.check_invariants()


def test_move_in_before_the_move_out_date_is_refused():
    field, rule = refused(RuleViolation, move_in_family, Registry(), moved_out_on="2026-04-15")
    assert (field, rule) == ("effective_date", "REG-R1/move-in-before-move-out")


def test_move_in_from_inside_the_city_is_refused():
    r = Registry()
    _field, rule = refused(RuleViolation, r.run, "move_in", {"persons": [person()], "address": address(), "prior_address": address(lg=KITA)})
    assert rule == "REG-R1/move-in-from-outside"


def test_late_notification_is_accepted_and_flagged():
    r = Registry()
    on_time = r.run("move_in", {"persons": [person()], "address": address(), "prior_address": chiba_address()}, effective="2026-04-01", notified="2026-04-15")
    assert on_time.late is False
    late = r.run("move_in", {"persons": [person("遅刻　次郎", "チコク　ジロウ")], "address": address(block="5番"), "prior_address": chiba_address()},
                 effective="2026-03-01", notified="2026-04-15")
    assert late.late is True


def test_move_within_changes_only_the_address():
    r = Registry()
    ids = move_in_family(r)
    before = {i: r.persons[i] for i in ids}
    hid = before[ids[0]].household_id
    r.run("move_within", {"household_id": hid, "person_ids": ids, "address": address(block="3丁目3番3号", lg=KITA, city="札幌市北区")}, effective="2026-04-15")
    r.check_invariants()
    for i in ids:
        after = r.persons[i]
        assert after.address.block == "3丁目3番3号" and after.previous_address == before[i].address
        same = {f.name for f in dataclasses.fields(after)} - {"address", "previous_address", "address_since", "address_notified_on"}
        assert all(getattr(after, f) == getattr(before[i], f) for f in same)


def test_move_within_that_changes_more_than_the_address_is_refused():
    field, rule = refused(InvalidInput, command_from_json, "move_within", {
        "household_id": "9000000001", "person_ids": ["0000000001"], "address": address(), "name": "別名"})
    assert (field, rule) == ("name", "REG-R2")


def test_move_within_to_the_same_address_is_refused():
    r = Registry()
    ids = move_in_family(r)
    _field, rule = refused(RuleViolation, r.run, "move_within", {"household_id": r.persons[ids[0]].household_id, "person_ids": ids, "address": address()}, effective="2026-04-15")
    assert rule == "REG-R1/move-within-same-address"


def test_part_of_a_household_moving_forms_a_new_household():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    r.run("move_within", {"household_id": hid, "person_ids": [ids[0]], "address": address(block="8番"), "new_head_id": ids[0],
                          "remaining_head_id": ids[1], "remaining_memberships": [{"person_id": ids[2], "relationship": "子"}]}, effective="2026-04-15")
    r.check_invariants()
    assert r.persons[ids[0]].household_id != hid
    assert r.households[hid].head_id == ids[1] and r.persons[ids[2]].head_name == "札幌　花子"


def test_death_before_birth_is_refused():
    r = Registry()
    ids = move_in_family(r)
    _field, rule = refused(RuleViolation, r.run, "death", {"person_id": ids[2], "household_id": r.persons[ids[2]].household_id}, effective="2014-12-31")
    assert rule in ("REG-R1/death-before-birth", "REG-R1/date-order")


def test_death_of_the_head_forces_a_head_decision():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    field, rule = refused(RuleViolation, r.run, "death", {"person_id": ids[0], "household_id": hid}, effective="2026-04-15")
    assert (field, rule) == ("remaining_head_id", "REG-E6/head-decision")
    field, rule = refused(RuleViolation, r.run, "death", {"person_id": ids[0], "household_id": hid, "remaining_head_id": ids[1]}, effective="2026-04-15")
    assert rule == "REG-R1/relationship-required"
    r.run("death", {"person_id": ids[0], "household_id": hid, "remaining_head_id": ids[1],
                    "remaining_memberships": [{"person_id": ids[2], "relationship": "子"}]}, effective="2026-04-15")
    r.check_invariants()
    dead = r.persons[ids[0]]
    assert dead.status is Status.REMOVED and dead.removal_date.isoformat() == "2026-04-15"


def test_head_who_is_not_a_member_is_refused():
    r = Registry()
    ids = move_in_family(r)
    other = r.run("move_in", {"persons": [person("他人　三郎", "タニン　サブロウ")], "address": address(block="7番"), "prior_address": chiba_address()})
    stranger = other.persons[0].person_id
    hid = r.persons[ids[0]].household_id
    field, rule = refused(RuleViolation, r.run, "head_change", {"household_id": hid, "new_head_id": stranger,
                          "memberships": [{"person_id": i, "relationship": "同居人"} for i in ids]}, effective="2026-04-15")
    assert (field, rule) == ("new_head_id", "REG-R1/head-not-member")


def test_split_merge_and_head_change_keep_one_head():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    out = r.run("household_split", {"household_id": hid, "person_ids": [ids[2]], "new_head_id": ids[2]}, effective="2026-04-15")
    new_hid = out.details["new_household_id"]
    r.check_invariants()
    assert r.persons[ids[2]].relationship == HEAD
    r.run("household_merge", {"from_household_id": new_hid, "into_household_id": hid,
                              "memberships": [{"person_id": ids[2], "relationship": "子"}]}, effective="2026-04-16")
    r.check_invariants()
    assert r.households[new_hid].is_empty
    r.run("head_change", {"household_id": hid, "new_head_id": ids[1], "memberships": [
        {"person_id": ids[0], "relationship": "夫"}, {"person_id": ids[2], "relationship": "子"}]}, effective="2026-04-17")
    r.check_invariants()
    assert all(r.persons[i].head_name == "札幌　花子" for i in ids)


def test_birth_gets_a_new_code_and_a_number_request():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    out = r.run("birth", {"household_id": hid, "child": person("札幌　二郎", "さっぽろ　じろう", "2026-04-15", rel="子")}, effective="2026-04-15")
    child = out.persons[0]
    assert child.name_kana == "サッポロ　ジロウ"  # hiragana accepted, stored as katakana
    assert child.juminhyo_code and child.individual_number is None
    assert out.new_individual_numbers == (child.person_id,)
    _field, rule = refused(RuleViolation, r.run, "birth", {"household_id": hid, "child": person("札幌　三郎", "サッポロ　サブロウ", "2026-04-14", rel="子")}, effective="2026-04-15")
    assert rule == "REG-R1/dates"


def test_impossible_date_and_wrong_check_digit_are_input_errors():
    field, rule = refused(InvalidInput, command_from_json, "birth", {"household_id": "x", "child": person(birth="2023-02-30")})
    assert field == "child.birth_date"
    r = Registry()
    field, rule = refused(InvalidInput, r.run, "move_in", {"persons": [person(individual_number="123456789017")], "address": address(), "prior_address": chiba_address()})
    assert (field, rule) == ("persons[0].individual_number", "ID-INDIVIDUAL-NUMBER/check-digit")


def test_correction_names_the_change_and_syncs_the_head_name():
    r = Registry()
    ids = move_in_family(r)
    r.run("ex_officio_correction", {"person_id": ids[0], "corrections": [{"item": "name", "value": "札幌　太朗"}],
                                    "reason": "入力誤り", "corrects_event": 1}, effective="2026-04-15")
    assert r.events[-1][1].corrects_event == 1
    assert r.persons[ids[1]].head_name == "札幌　太朗"
    field, rule = refused(RuleViolation, r.run, "ex_officio_correction", {"person_id": ids[0], "corrections": [{"item": "address", "value": {}}], "reason": "x"}, effective="2026-04-15")
    assert (field, rule) == ("corrections[0].item", "REG-E7/correctable")


def test_number_change_checks_the_check_digit_and_keeps_both():
    r = Registry()
    ids = move_in_family(r)
    refused(InvalidInput, r.run, "individual_number_change", {"person_id": ids[1], "new_number": "621498320250", "reason": "指定"}, effective="2026-04-15")
    out = r.run("individual_number_change", {"person_id": ids[1], "new_number": "621498320257", "reason": "指定"}, effective="2026-04-15")
    assert out.details["designated"] is True and r.persons[ids[1]].individual_number == "621498320257"
    _field, rule = refused(RuleViolation, r.run, "individual_number_change", {"person_id": ids[2], "new_number": "621498320257", "reason": "変更"}, effective="2026-04-15")
    assert rule == "REG-E9/unique"


def test_move_out_makes_removed_records_and_confirmation_records_the_new_address():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    r.run("move_out", {"household_id": hid, "person_ids": [ids[2]], "destination": chiba_address()}, effective="2026-04-25", notified="2026-04-20")
    r.check_invariants()
    child = r.persons[ids[2]]
    assert child.status is Status.REMOVED and child.moved_out_to.city == "千葉市中央区"
    r.run("move_out_confirmed", {"person_id": ids[2], "confirmed_address": chiba_address() | {"block": "2番2号"}, "moved_in_on": "2026-04-26"},
          effective="2026-04-20", origin="notice")
    assert r.persons[ids[2]].move_out_confirmed and r.persons[ids[2]].moved_out_to.block == "2番2号"
    refused(RuleViolation, r.run, "move_out_confirmed", {"person_id": ids[2], "confirmed_address": chiba_address(), "moved_in_on": "2026-04-26"}, effective="2026-04-20")


def test_move_out_to_a_place_inside_the_city_is_refused():
    r = Registry()
    ids = move_in_family(r)
    _, rule = refused(RuleViolation, r.run, "move_out", {"household_id": r.persons[ids[0]].household_id, "person_ids": ids, "destination": address(lg=KITA)}, effective="2026-04-15")
    assert rule == "REG-R1/move-out-outside"


def test_cancellation_restores_the_previous_state_and_only_the_latest_change():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    before = dict(r.persons)
    r.run("move_out", {"household_id": hid, "person_ids": [ids[2]], "destination": chiba_address()}, effective="2026-04-15")
    r.run("move_within", {"household_id": hid, "person_ids": ids[:2], "address": address(block="6番")}, effective="2026-04-16")
    _, rule = refused(RuleViolation, r.run, "cancellation", {"event_seq": 2, "reason": "誤入力"}, effective="2026-04-17")
    assert rule == "REG-E11/later-changes"
    # the move-out of ids[2] was not touched by the move within only if it was a different household record
    r.run("cancellation", {"event_seq": 3, "reason": "誤入力"}, effective="2026-04-17")
    r.run("cancellation", {"event_seq": 2, "reason": "転出取消"}, effective="2026-04-17")
    assert r.persons == before
    r.check_invariants()
    _, rule = refused(RuleViolation, r.run, "cancellation", {"event_seq": 2, "reason": "again"}, effective="2026-04-17")
    assert rule == "REG-E11/already"


def test_cancelled_move_in_voids_the_records():
    r = Registry()
    ids = move_in_family(r)
    r.run("cancellation", {"event_seq": 1, "reason": "二重登録"}, effective="2026-04-12")
    assert all(r.persons[i].status is Status.VOID for i in ids)
    assert r.household_of(ids[0]).is_empty
    r.check_invariants()


def test_date_before_the_latest_change_is_refused():
    r = Registry()
    ids = move_in_family(r)
    hid = r.persons[ids[0]].household_id
    _, rule = refused(RuleViolation, r.run, "household_split", {"household_id": hid, "person_ids": [ids[2]], "new_head_id": ids[2]}, effective="2026-04-05")
    assert rule == "REG-R1/date-order"


def test_unknown_household_is_not_found():
    r = Registry()
    refused(NotFound, r.run, "birth", {"household_id": "9999999999", "child": person(birth="2026-04-10", rel="子")})


def test_every_kind_has_a_command():
    from juki.domain.changes import COMMANDS

    assert set(COMMANDS) == set(ChangeKind) - {ChangeKind.INITIAL_LOAD}
