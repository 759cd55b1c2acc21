"""個人番号カード at 機構's card management system (個人番号カード管理システム, NET-9, NET-6).

The municipality issues the card at its counter and tells 機構 of every event in the card's life
(003 システム3-8, 001 別添1-13): 交付 (issued), 廃止 (abolished), 回収 (taken back), 一時停止解除 (a
suspension lifted), 返還 (given back); 一時停止 (suspended, e.g. reported lost) is usually reported by the
holder to 機構's call centre, and is accepted from the municipality too.  A 特例転入 checks the card
before anything else (NET-6) and ends with 継続利用 (continued use at the new address).

The states and which event may follow which (:data:`TRANSITIONS`) are plain data; :func:`apply_event`
refuses any other step with a Problem naming it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from . import identifiers
from .errors import InvalidInput, Problem, Problems, RuleViolation


class CardState(StrEnum):
    ACTIVE = "active"  # 有効 (交付済み)
    SUSPENDED = "suspended"  # 一時停止中
    ABOLISHED = "abolished"  # 廃止
    COLLECTED = "collected"  # 回収済み
    RETURNED = "returned"  # 返還済み

    @property
    def ja(self) -> str:
        return {"active": "有効", "suspended": "一時停止中", "abolished": "廃止", "collected": "回収済み",
                "returned": "返還済み"}[self.value]


class CardEvent(StrEnum):
    ISSUE = "issue"  # 交付
    SUSPEND = "suspend"  # 一時停止
    LIFT_SUSPENSION = "lift_suspension"  # 一時停止解除
    ABOLISH = "abolish"  # 廃止
    COLLECT = "collect"  # 回収
    RETURN = "return"  # 返還
    CONTINUE = "continue"  # 継続利用 (特例転入, NET-6)

    @property
    def ja(self) -> str:
        return {"issue": "交付", "suspend": "一時停止", "lift_suspension": "一時停止解除", "abolish": "廃止",
                "collect": "回収", "return": "返還", "continue": "継続利用"}[self.value]


TRANSITIONS: dict[CardEvent, dict[CardState | None, CardState]] = {
    CardEvent.ISSUE: {None: CardState.ACTIVE},
    CardEvent.SUSPEND: {CardState.ACTIVE: CardState.SUSPENDED},
    CardEvent.LIFT_SUSPENSION: {CardState.SUSPENDED: CardState.ACTIVE},
    CardEvent.ABOLISH: {CardState.ACTIVE: CardState.ABOLISHED, CardState.SUSPENDED: CardState.ABOLISHED},
    CardEvent.COLLECT: {CardState.ABOLISHED: CardState.COLLECTED},
    CardEvent.RETURN: {CardState.ACTIVE: CardState.RETURNED, CardState.SUSPENDED: CardState.RETURNED,
                       CardState.ABOLISHED: CardState.RETURNED},
    CardEvent.CONTINUE: {CardState.ACTIVE: CardState.ACTIVE},
}
"""Which state each event may start from (None: the card is not known yet) and the state it leads to."""

CARD_VALIDITY_YEARS_ADULT = 10  # 有効期間: 18歳以上は発行日後10回目の誕生日まで (番号法施行令)
CARD_VALIDITY_YEARS_MINOR = 5  # 18歳未満は5回目の誕生日まで

_SERIAL = re.compile(r"[A-Z]{2}[0-9]{10}")


def card_serial_problem(value: object, field: str = "card_serial") -> Problem | None:
    """The card's management number (カード管理番号) as juki writes it: two letters and ten digits, so that
    it can never be mistaken for a 個人番号 (which the logs refuse)."""
    if isinstance(value, str) and _SERIAL.fullmatch(value):
        return None
    return Problem(field, "NET-9/card-serial", "カードの管理番号は英大文字2文字と数字10桁です（例 AB1234567890）。",
                   "The card serial is two capital letters and ten digits (e.g. AB1234567890).")


@dataclass(frozen=True)
class CardRecord:
    """What the card management system knows of one card."""

    card_serial: str
    juminhyo_code: str
    lg_code: str  # the municipality the holder lives in (changes on 継続利用)
    state: CardState
    expires_on: dt.date


@dataclass(frozen=True)
class CardNotice:
    """One card event as a municipality reports it (NET-9)."""

    event: CardEvent
    card_serial: str
    juminhyo_code: str
    lg_code: str  # the reporting municipality (the holder's, after the event)
    on: dt.date
    expires_on: dt.date | None = None  # 交付 only

    def check(self) -> CardNotice:
        problems = Problems()
        for p in (card_serial_problem(self.card_serial), identifiers.juminhyo_code_problem(self.juminhyo_code),
                  identifiers.lg_code_problem(self.lg_code)):
            if p:
                problems.extend([p])
        if self.event is CardEvent.ISSUE and self.expires_on is None:
            problems.add("expires_on", "NET-9/expiry", "交付には有効期限が必要です。", "An issue needs the expiry date.")
        if self.event is CardEvent.ISSUE and self.expires_on is not None and self.expires_on <= self.on:
            problems.add("expires_on", "NET-9/expiry", "有効期限が交付日以前です。", "The expiry is not after the issue date.")
        if self.event is not CardEvent.ISSUE and self.expires_on is not None:
            problems.add("expires_on", "REG-R2", "有効期限は交付のときだけ指定します。", "The expiry is given on issue only.")
        problems.raise_if_any(InvalidInput)
        return self


def apply_event(current: CardRecord | None, notice: CardNotice) -> CardRecord:
    """The card after ``notice``; refuses an event the card's state does not allow, a card that belongs
    to another person, and (for 継続利用) an expired card."""
    notice.check()
    allowed = TRANSITIONS[notice.event]
    state = current.state if current else None
    if current is not None and current.juminhyo_code != notice.juminhyo_code:
        raise RuleViolation(Problem("juminhyo_code", "NET-9/holder", "このカードは別の住民票コードの人のものです。",
                                    "This card belongs to a person with another resident record code."))
    if state not in allowed:
        now = state.ja if state else "未登録"
        raise RuleViolation(Problem("event", "NET-9/state", f"{now}のカードに「{notice.event.ja}」はできません。",
                                    f"A card that is {state.value if state else 'unknown'} cannot take '{notice.event.value}'."))
    if current is None:
        assert notice.expires_on is not None
        return CardRecord(notice.card_serial, notice.juminhyo_code, notice.lg_code, allowed[None], notice.expires_on)
    if notice.event is CardEvent.CONTINUE and current.expires_on < notice.on:
        raise RuleViolation(Problem("card_serial", "NET-6/card-expired", "カードの有効期限が切れています。",
                                    "The card has expired."))
    return CardRecord(current.card_serial, current.juminhyo_code, notice.lg_code, allowed[state], current.expires_on)


def check_for_move_in(card: CardRecord | None, juminhyo_code: str, today: dt.date) -> None:
    """The card check of a 特例転入 (NET-6): the card is known, belongs to the person and is valid today."""
    if card is None:
        raise RuleViolation(Problem("card_serial", "NET-6/card-unknown", "このカードは個人番号カード管理システムに登録されていません。",
                                    "This card is not known to the card management system."))
    if card.juminhyo_code != juminhyo_code:
        raise RuleViolation(Problem("card_serial", "NET-6/card-holder", "カードの住民票コードが一致しません。",
                                    "The card does not belong to this resident record code."))
    if card.state is not CardState.ACTIVE:
        raise RuleViolation(Problem("card_serial", "NET-6/card-state", f"カードが{card.state.ja}のため特例転入はできません。",
                                    f"The card is {card.state.value}: no special move-in with it."))
    if card.expires_on < today:
        raise RuleViolation(Problem("card_serial", "NET-6/card-expired", "カードの有効期限が切れています。",
                                    "The card has expired."))
