"""コンビニ交付 cards on both engines: a real key pair (Ed25519 or ECDSA P-256) whose private half leaves
once, a hashed 4-digit PIN, three wrong PINs lock it, only the counter unlocks it, a new card revokes the
old one; every step audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from juki.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from juki.domain.events import ChangeKind
from juki.issuance.cards import card_message, sign_challenge, verify_signature
from juki.issuance.tables import resident_cards

from ..issuance_support import CLERK, VIEWER
from ..unit.registry import chiba_address


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_a_card_is_a_real_key_pair_and_the_server_keeps_only_the_public_half(world, algorithm):
    taro = world.ids["札幌　太郎"]
    card = world.reg.cards.issue(CLERK, taro, "1234", algorithm=algorithm)
    assert serialization.load_pem_private_key(card.private_key_pem, password=None)
    signature = sign_challenge(card.private_key_pem, "K1", "ab" * 32)
    assert verify_signature(card.public_key_pem, card_message("K1", "ab" * 32), signature)
    assert not verify_signature(card.public_key_pem, card_message("K2", "ab" * 32), signature)  # bound to the kiosk
    assert not verify_signature(card.public_key_pem, card_message("K1", "cd" * 32), signature)  # and the challenge
    with world.reg.engine.connect() as c:
        row = c.execute(sa.select(resident_cards)).one()
    assert row.pin_hash.startswith("$argon2id$") and "1234" not in row.pin_hash
    assert "PRIVATE" not in row.public_key and row.status == "active" and row.person_id == taro
    assert world.audit("card.issue")[-1]["subject_ids"] == [taro]


def test_three_wrong_pins_lock_and_the_counter_unlocks(world):
    card = world.reg.cards.issue(CLERK, world.ids["札幌　太郎"], "1234")
    cards = world.reg.cards
    assert cards.check_pin_and_count(card.card_id, "0000") == (False, 1, False)
    assert cards.check_pin_and_count(card.card_id, "1234") == (True, 0, False)  # a right PIN resets the count
    assert cards.check_pin_and_count(card.card_id, "0000") == (False, 1, False)
    assert cards.check_pin_and_count(card.card_id, "9999") == (False, 2, False)
    assert cards.check_pin_and_count(card.card_id, "12345") == (False, 3, True)
    assert cards.info(card.card_id).status == "locked"
    unlocked = cards.unlock(CLERK, card.card_id, new_pin="4321")
    assert unlocked.status == "active" and unlocked.failed_pins == 0
    assert cards.check_pin_and_count(card.card_id, "1234")[0] is False
    assert cards.check_pin_and_count(card.card_id, "4321")[0] is True
    assert [e["detail"]["was"] for e in world.audit("card.unlock")] == ["locked"]


def test_a_new_card_revokes_the_old_one_and_a_revoked_card_stays_revoked(world):
    taro = world.ids["札幌　太郎"]
    old = world.reg.cards.issue(CLERK, taro, "1234")
    new = world.reg.cards.issue(CLERK, taro, "5678")
    assert world.reg.cards.info(old.card_id).status == "revoked" and world.reg.cards.info(new.card_id).status == "active"
    assert world.audit("card.issue")[-1]["detail"]["revoked"] == [old.card_id]
    world.reg.cards.revoke(CLERK, new.card_id, reason="紛失")
    with pytest.raises(Conflict):
        world.reg.cards.unlock(CLERK, new.card_id)


def test_what_refuses_a_card(world):
    taro = world.ids["札幌　太郎"]
    for pin in ("123", "12345", "abcd", "１２３４"):
        with pytest.raises(InvalidInput) as e:
            world.reg.cards.issue(CLERK, taro, pin)
        assert e.value.problems[0].field == "pin"
    with pytest.raises(InvalidInput):
        world.reg.cards.issue(CLERK, taro, "1234", algorithm="rsa")
    with pytest.raises(Forbidden):
        world.reg.cards.issue(VIEWER, taro, "1234")
    with pytest.raises(NotFound):
        world.reg.cards.unlock(CLERK, "C0000")
    saburo = world.ids["函館　三郎"]
    world.change(ChangeKind.MOVE_OUT, {"household_id": world.households["hakodate"], "person_ids": [saburo],
                                       "destination": chiba_address()}, effective="2026-04-15")
    with pytest.raises(NotFound):
        world.reg.cards.issue(CLERK, saburo, "1234")
    assert world.count("resident_cards") == 0
