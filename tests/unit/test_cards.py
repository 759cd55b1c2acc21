"""個人番号カード events at the card management system (NET-9) and the card check of a 特例転入 (NET-6)."""

import datetime as dt

import pytest

from juki.domain.cards import (
    CardEvent,
    CardNotice,
    CardState,
    apply_event,
    card_serial_problem,
    check_for_move_in,
)
from juki.domain.errors import InvalidInput, RuleViolation

CODE = "24727059608"
DAY = dt.date(2026, 4, 1)


def notice(event, on=DAY, **kw):
    base = dict(event=event, card_serial="AB1234567890", juminhyo_code=CODE, lg_code="011002", on=on)
    if event is CardEvent.ISSUE:
        base["expires_on"] = dt.date(2036, 5, 1)
    return CardNotice(**{**base, **kw})


def test_the_life_of_a_card():
    card = apply_event(None, notice(CardEvent.ISSUE))
    assert card.state is CardState.ACTIVE
    card = apply_event(card, notice(CardEvent.SUSPEND))
    assert card.state is CardState.SUSPENDED
    with pytest.raises(RuleViolation):
        check_for_move_in(card, CODE, DAY)
    card = apply_event(card, notice(CardEvent.LIFT_SUSPENSION))
    check_for_move_in(card, CODE, DAY)
    card = apply_event(card, notice(CardEvent.CONTINUE, lg_code="121002"))
    assert (card.state, card.lg_code) == (CardState.ACTIVE, "121002")
    card = apply_event(card, notice(CardEvent.ABOLISH))
    card = apply_event(card, notice(CardEvent.COLLECT))
    assert card.state is CardState.COLLECTED
    with pytest.raises(RuleViolation) as e:
        apply_event(card, notice(CardEvent.LIFT_SUSPENSION))
    assert e.value.problems[0].rule == "NET-9/state" and "回収済み" in e.value.problems[0].ja


def test_refusals():
    with pytest.raises(RuleViolation):
        apply_event(None, notice(CardEvent.ABOLISH))
    card = apply_event(None, notice(CardEvent.ISSUE))
    with pytest.raises(RuleViolation) as e:
        apply_event(card, notice(CardEvent.SUSPEND, juminhyo_code="12345678903"))
    assert e.value.problems[0].rule == "NET-9/holder"
    with pytest.raises(InvalidInput):
        notice(CardEvent.ISSUE, expires_on=None).check()
    with pytest.raises(InvalidInput):
        notice(CardEvent.ABOLISH, expires_on=dt.date(2030, 1, 1)).check()
    assert card_serial_problem("ab12") is not None and card_serial_problem("AB1234567890") is None
    with pytest.raises(RuleViolation) as e:
        check_for_move_in(card, CODE, dt.date(2036, 5, 2))
    assert e.value.problems[0].rule == "NET-6/card-expired"
    with pytest.raises(RuleViolation):
        check_for_move_in(card, "12345678903", DAY)
    with pytest.raises(RuleViolation):
        check_for_move_in(None, CODE, DAY)
