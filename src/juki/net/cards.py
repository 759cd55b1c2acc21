"""個人番号カード管理システム at the national server (NET-9), and the municipality's side of it.

**National** (:class:`CardRegistry`): keeps each card's state (``card_registry``) and an insert-only log
of every event reported (``card_events``), idempotent by the sender's ``dedupe_key``.  Only the
municipality the holder lives in reports events for a card (its certificate names it); a 交付 is
reported by the issuing municipality; 継続利用 by the new municipality after a 特例転入 (NET-6).
:meth:`CardRegistry.check` is the card check of a 特例転入.

**Municipality** (:func:`report_card_event`): records the event for delivery to the national server in
the caller's transaction (:mod:`juki.net.deliveries`), so that a counter action and its report commit
together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from sqlalchemy.engine import Connection, Engine

from juki.api.common import json_body
from juki.clock import Clock, jst_date, utcnow
from juki.domain.cards import CardEvent, CardNotice, CardRecord, CardState, apply_event, check_for_move_in
from juki.domain.changes import from_json
from juki.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from juki.domain.model import to_json

from .deliveries import enqueue
from .node import Node, allow, peer_of
from .pki import Tier
from .services import services
from .svc_tables import card_events, card_registry

NATIONAL = "national"
"""The peer name of the national server in deliveries."""


def _record(row: Any) -> CardRecord:
    return CardRecord(row.card_serial, row.juminhyo_code, row.lg_code, CardState(row.state), row.expires_on)


class CardRegistry:
    """The card management system's state of every card (at the national node)."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow, audit: Any = None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit

    def card(self, card_serial: str) -> CardRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(card_registry).where(card_registry.c.card_serial == card_serial)).first()
        return _record(row) if row else None

    def record(self, notice: CardNotice, *, caller_lg_code: str, dedupe_key: str) -> CardRecord:
        """Apply one reported event (NET-9); the same ``dedupe_key`` twice is applied once."""
        notice.check()
        with self.engine.begin() as conn:
            seen = conn.execute(sa.select(card_events.c.id).where(card_events.c.dedupe_key == dedupe_key)).first()
            row = conn.execute(sa.select(card_registry).where(card_registry.c.card_serial == notice.card_serial)
                               .with_for_update()).first()
            current = _record(row) if row else None
            if seen is not None:
                assert current is not None
                return current
            allowed = {notice.lg_code} if current is None or notice.event is CardEvent.CONTINUE else {current.lg_code}
            if caller_lg_code not in allowed or caller_lg_code != notice.lg_code:
                raise Forbidden(Problem("lg_code", "NET-9/caller", "このカードの事象を通知できるのは住所地の市町村だけです。",
                                        "Only the holder's municipality may report events of this card."))
            new = apply_event(current, notice)
            values = dict(juminhyo_code=new.juminhyo_code, lg_code=new.lg_code, state=new.state.value,
                          expires_on=new.expires_on, updated_at=self.clock())
            if current is None:
                conn.execute(card_registry.insert().values(card_serial=new.card_serial, **values))
            else:
                conn.execute(card_registry.update().where(card_registry.c.card_serial == new.card_serial).values(**values))
            conn.execute(card_events.insert().values(card_serial=notice.card_serial, event=notice.event.value,
                                                     juminhyo_code=notice.juminhyo_code, lg_code=notice.lg_code,
                                                     event_date=notice.on, dedupe_key=dedupe_key, received_at=self.clock()))
            if self.audit is not None:
                self.audit.record(conn, user_id=f"node:{caller_lg_code}", terminal="", action=f"card.{notice.event.value}",
                                  subject_ids=[notice.juminhyo_code], detail={"card_serial": notice.card_serial})
        return new

    def check(self, card_serial: str, juminhyo_code: str, *, caller_lg_code: str) -> CardRecord:
        """The card check of a 特例転入 (NET-6): known, this person's, active and not expired."""
        card = self.card(card_serial)
        with self.engine.begin() as conn:
            try:
                check_for_move_in(card, juminhyo_code, jst_date(self.clock()))
            except Exception:
                self._audit_check(conn, caller_lg_code, juminhyo_code, card_serial, "denied")
                raise
            self._audit_check(conn, caller_lg_code, juminhyo_code, card_serial, "allowed")
        assert card is not None
        return card

    def _audit_check(self, conn: Connection, caller: str, code: str, serial: str, outcome: str) -> None:
        if self.audit is not None:
            self.audit.record(conn, user_id=f"node:{caller}", terminal="", action="card.check", outcome=outcome,
                              subject_ids=[code], detail={"card_serial": serial})


def report_card_event(conn: Connection, notice: CardNotice, *, now: dt.datetime, dedupe_key: str) -> None:
    """Record a card event for delivery to the card management system (NET-9), in ``conn``'s
    transaction."""
    notice.check()
    enqueue(conn, kind="card_event", peer=NATIONAL, dedupe_key=dedupe_key, payload=card_notice_json(notice), now=now)


def card_notice_json(notice: CardNotice) -> dict[str, Any]:
    data: dict[str, Any] = to_json(notice)
    return data


def card_notice_from_json(data: dict[str, Any]) -> CardNotice:
    result = from_json(CardNotice, data, "notice")
    assert isinstance(result, CardNotice)
    return result


# --- the node feature (juki.net.node.FEATURES) -----------------------------------------------------
# national: POST /net/v1/cards/events (NET-9), /net/v1/cards/check (特例転入), /net/v1/cards/holder (検索)

ROLES = frozenset({Tier.NATIONAL})
RULES = {
    "card_event": allow(Tier.MUNICIPALITY),
    "card_check": allow(Tier.MUNICIPALITY),
    "card_holder": allow(Tier.MUNICIPALITY, Tier.PREFECTURE),
}


def _fields(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput([Problem(k, "REG-R2", "受け付けない項目です。", "This item is not accepted.") for k in unknown])


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1/cards", tags=["個人番号カード管理システム"])

    def registry() -> CardRegistry:
        return services(node).cards

    @r.post("/events", name="card_event", summary="カードの交付・廃止・回収・一時停止解除・返還・継続利用の通知")
    async def card_event(request: Request) -> dict[str, Any]:
        data = await json_body(request)
        _fields(data, {"notice", "dedupe_key"})
        notice = card_notice_from_json(data.get("notice") or {})
        key = str(data.get("dedupe_key") or "")
        if not key:
            raise InvalidInput(Problem("dedupe_key", "REG-R2", "必須項目です。", "This item is required."))
        card = await asyncio.to_thread(registry().record, notice, caller_lg_code=peer_of(request).identity.code,
                                       dedupe_key=key)
        return {"card_serial": card.card_serial, "state": card.state.value, "lg_code": card.lg_code}

    @r.post("/check", name="card_check", summary="特例転入のカード確認")
    async def card_check(request: Request) -> dict[str, Any]:
        data = await json_body(request)
        _fields(data, {"card_serial", "juminhyo_code"})
        card = await asyncio.to_thread(registry().check, str(data.get("card_serial", "")),
                                       str(data.get("juminhyo_code", "")), caller_lg_code=peer_of(request).identity.code)
        return {"card_serial": card.card_serial, "state": card.state.value, "expires_on": card.expires_on.isoformat()}

    @r.post("/holder", name="card_holder", summary="カードの住民票コード（本人確認情報検索）")
    async def card_holder(request: Request) -> dict[str, Any]:
        data = await json_body(request)
        _fields(data, {"card_serial"})
        serial = str(data.get("card_serial", ""))
        card = await asyncio.to_thread(registry().card, serial)
        if card is None:
            raise NotFound(Problem("card_serial", "NET-4/card", "このカードは登録されていません。", "This card is not registered."))
        peer = peer_of(request)
        await asyncio.to_thread(node.audit_peer, peer, "card.holder", subjects=[card.juminhyo_code],
                                detail={"card_serial": serial})
        return {"juminhyo_code": card.juminhyo_code, "state": card.state.value}

    return r
