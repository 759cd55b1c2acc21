"""印鑑登録 on both engines (REG-LINK5): registration at once with photo ID or by 照会書 confirmed by another
user, the rules that refuse (age, size, one registration, four eyes, 回答期限), abolition and 亡失, and the
sweep that follows the register (転出, 死亡, 氏名変更)."""

from __future__ import annotations

import datetime as dt

import pytest

from juki.domain.certificate_requests import IdentityDocument
from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from juki.domain.events import ChangeKind

from ..issuance_support import CHIEF, CLERK, VIEWER, png
from ..unit.registry import chiba_address

PHOTO = (IdentityDocument("drivers_license"),)


def test_registration_in_person_with_photo_id_is_effective_at_once(world):
    taro = world.ids["札幌　太郎"]
    reg = world.reg.seals.register(CLERK, taro, png(), 15, identity=PHOTO)
    assert reg.status == "effective" and reg.method == "immediate" and reg.registered_on == dt.date(2026, 4, 20)
    assert len(reg.card_number) == 8 and reg.card_number.isdigit() and reg.registered_name == "札幌　太郎"
    entry = world.audit("seal.register")[-1]
    assert entry["subject_ids"] == [taro] and entry["detail"]["method"] == "immediate"
    assert reg.imprint().registration_number == str(reg.registration_number)


def test_by_agent_or_without_photo_it_waits_for_the_inquiry_answer_confirmed_by_another_user(world):
    hanako = world.ids["札幌　花子"]
    with pytest.raises(InvalidInput) as e:
        world.reg.seals.register(CLERK, hanako, png(), 12, agent="代理　人")
    assert e.value.problems[0].rule == "REG-LINK5/agent"
    reg = world.reg.seals.register(CLERK, hanako, png(), 12, agent="代理　人", proxy_letter=True)
    assert reg.status == "pending" and reg.registered_on is None
    with pytest.raises(Forbidden) as e:
        world.reg.seals.confirm(CHIEF.__class__.build(user_id="clerk", terminal_id="T1", session_id="s", section="市民課",
                                                      grants={("approver", "市民課")}), reg.registration_number)
    assert e.value.problems[0].rule == "REG-LINK5/four-eyes"
    with pytest.raises(Forbidden):
        world.reg.seals.confirm(CLERK, reg.registration_number)  # a clerk has no seal.confirm
    world.clock.advance(days=3)
    done = world.reg.seals.confirm(CHIEF, reg.registration_number, reference="回答書123")
    assert done.status == "effective" and done.registered_on == dt.date(2026, 4, 23) and done.confirmed_by == "chief"
    with pytest.raises(Conflict):
        world.reg.seals.confirm(CHIEF, reg.registration_number)


def test_an_unanswered_inquiry_expires(world):
    reg = world.reg.seals.register(CLERK, world.ids["札幌　花子"], png(), 12,
                                   identity=(IdentityDocument("health_insurance"),))
    assert reg.status == "pending"
    world.clock.advance(days=31)
    with pytest.raises(RuleViolation) as e:
        world.reg.seals.confirm(CHIEF, reg.registration_number)
    assert e.value.problems[0].rule == "REG-LINK5/inquiry-expired"


def test_what_refuses_a_registration(world):
    seals = world.reg.seals
    taro = world.ids["札幌　太郎"]
    with pytest.raises(RuleViolation) as e:
        seals.register(CLERK, world.ids["札幌　次郎"], png(), 15, identity=PHOTO)  # born 2015: under 15
    assert e.value.problems[0].rule == "REG-LINK5/age"
    seals.register(CLERK, world.ids["札幌　一郎"], png(), 15, identity=PHOTO)  # 16 on 2026-04-01
    for image, size, field in ((b"GIF89a", 15, "imprint"), (png(), 8, "size_mm"), (png(), 26, "size_mm")):
        with pytest.raises(InvalidInput) as e:
            seals.register(CLERK, taro, image, size, identity=PHOTO)
        assert e.value.problems[0].field == field
    with pytest.raises(NotFound):
        seals.register(CLERK, "0000009999", png(), 15, identity=PHOTO)
    with pytest.raises(Forbidden):
        seals.register(VIEWER, taro, png(), 15, identity=PHOTO)
    first = seals.register(CLERK, taro, png(), 15, identity=PHOTO)
    with pytest.raises(Conflict) as e:
        seals.register(CLERK, taro, png(), 15, identity=PHOTO)
    assert e.value.problems[0].rule == "REG-LINK5/one-registration"
    assert world.count("seal_registrations") == 2
    # 亡失届: the registration ends; a new one (with a new card) may follow
    lost = seals.abolish(CLERK, first.registration_number, reason="card_lost")
    assert lost.status == "abolished" and lost.abolished_reason == "card_lost"
    with pytest.raises(Conflict):
        seals.abolish(CLERK, first.registration_number)
    again = seals.register(CLERK, taro, png(), 15, identity=PHOTO)
    assert again.card_number != first.card_number
    assert [r.status for r in seals.for_person(CLERK, taro)] == ["abolished", "effective"]


def test_the_sweep_abolishes_for_removed_registrants_and_flags_name_changes(world):
    seals = world.reg.seals
    taro, hanako, ichiro = (world.ids[n] for n in ("札幌　太郎", "札幌　花子", "札幌　一郎"))
    saburo = world.ids["函館　三郎"]
    regs = {pid: seals.register(CLERK, pid, png(), 15, identity=PHOTO) for pid in (taro, hanako, ichiro, saburo)}
    world.change(ChangeKind.DEATH, {"person_id": hanako, "household_id": world.households["sapporo"]},
                 effective="2026-04-15")
    world.change(ChangeKind.MOVE_OUT, {"household_id": world.households["hakodate"], "person_ids": [saburo],
                                       "destination": chiba_address()}, effective="2026-04-25")
    world.change(ChangeKind.NAME_CHANGE, {"person_id": ichiro, "cause": "other", "name": "札幌　市郎",
                                          "name_kana": "サッポロ　イチロウ"}, effective="2026-04-16")
    done = seals.sweep()
    assert done == {"moved_out": [regs[saburo].registration_number], "died": [regs[hanako].registration_number],
                    "removed": [], "name_changed": [regs[ichiro].registration_number]}
    after = {pid: seals.for_person(CLERK, pid)[-1] for pid in regs}
    assert after[hanako].abolished_reason == "died" and after[hanako].abolished_on == dt.date(2026, 4, 15)
    assert after[saburo].abolished_reason == "moved_out" and after[saburo].abolished_on == dt.date(2026, 4, 25)
    assert after[taro].status == "effective" and after[ichiro].status == "effective"
    assert {e["subject_ids"][0] for e in world.audit("seal.abolish") if e["detail"].get("automatic")} == {hanako, saburo}
    assert seals.sweep() == {"moved_out": [], "died": [], "removed": [], "name_changed": [regs[ichiro].registration_number]}
    with world.reg.engine.connect() as conn, pytest.raises(RuleViolation) as e:
        seals.certificate_registration(conn, ichiro, regs[ichiro].card_number)
    assert e.value.problems[0].rule == "REG-LINK5/name-changed"
    with world.reg.engine.connect() as conn:
        assert seals.certificate_registration(conn, taro, regs[taro].card_number) is not None
        assert seals.certificate_registration(conn, taro, "00000000") is None
        assert seals.certificate_registration(conn, hanako, regs[hanako].card_number) is None
