"""本人確認情報検索 (NET-4): the CS's file first, then the prefecture's, then the national server's.

A clerk searches at the municipality (``GET /api/v1/jukinet/search`` in the register's API, with the
clerk's session); :class:`IdentitySearch` asks the node's own 本人確認情報 file, and when nothing is found
and the scope allows, the prefecture (``POST /net/v1/search``), which asks its own file and, for a person
of another prefecture, the national server.  The query must name enough (:class:`IdentityQuery`, NET-4)
at every node: a node never trusts another's check.  A search by card asks the national server's card
management system for the card's 住民票コード first.

Every node a search touches writes an audit entry naming the operator (the clerk, forwarded by the CS),
the key used and the 住民票コード it answered with; a refused search is audited as denied.  The 個人番号 of
a result is masked unless the clerk is in number-use work (the CS asks the other tiers for it only then).
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from juki.adapters.db.store import prefix_bounds
from juki.api.common import json_body
from juki.domain.changes import from_json
from juki.domain.errors import InvalidInput, JukiError, Problem
from juki.domain.identity import IdentityUpdate, RecordFile
from juki.domain.identity_search import IdentityQuery, QueryKey, Scope, scope_order
from juki.domain.kana import address_key, kana_key, name_key
from juki.domain.model import to_json

from .node import Node, allow, peer_of, prefecture_of
from .pki import NATIONAL_CODE, Tier
from .services import call, services
from .tables import net_records

MASK = "************"
LIMIT = 50
"""At most this many persons are answered; more means the query names too little."""

ROLES = frozenset({Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL})
RULES = {
    "search_at_prefecture": allow(Tier.MUNICIPALITY, own_prefecture=True),
    "search_at_national": allow(Tier.MUNICIPALITY, Tier.PREFECTURE),
}


def query_from_json(data: Any) -> IdentityQuery:
    result = from_json(IdentityQuery, data, "query")
    assert isinstance(result, IdentityQuery)
    return result


def matching(query: IdentityQuery, file: RecordFile, blind_index: Any, limit: int = LIMIT + 1) -> sa.Select[Any]:
    """The 住民票コード in ``file`` of this node matching ``query`` (current records first)."""
    t = net_records.c
    q = sa.select(t.juminhyo_code).where(t.file == file.value)
    if query.key is QueryKey.JUMINHYO_CODE:
        q = q.where(t.juminhyo_code == query.juminhyo_code)
    elif query.key is QueryKey.INDIVIDUAL_NUMBER:
        q = q.where(t.number_index == blind_index(query.individual_number))
    elif query.key is QueryKey.CARD:
        raise InvalidInput(Problem("card_serial", "NET-4/card", "カードは住民票コードに読み替えてから検索します。",
                                   "A card is resolved to its resident record code before the search."))
    else:
        q = q.where(sa.or_(t.name_key == name_key(query.name), t.kana_key == kana_key(query.name)))
        if query.address.strip():
            lo, hi = prefix_bounds(address_key(query.address))
            q = q.where(t.address_key >= lo)
            if hi is not None:
                q = q.where(t.address_key < hi)
        if query.birth_date is not None:
            q = q.where(t.birth_date == query.birth_date)
        if query.sex:
            q = q.where(t.sex == query.sex)
    return q.order_by((t.state == "current").desc(), t.juminhyo_code).limit(limit)


class IdentitySearch:
    def __init__(self, node: Node) -> None:
        self.node = node

    # -- this node's file -------------------------------------------------------------------------

    def local(self, query: IdentityQuery, *, number: bool) -> list[dict[str, Any]]:
        """Matches in this node's 本人確認情報 file (current and removed records, current first)."""
        query.check()
        q = matching(query, RecordFile.IDENTITY, self.node.keyring.blind_index)
        store = self.node.store
        with store.engine.connect() as conn:
            codes = [r.juminhyo_code for r in conn.execute(q)]
            records = [store.current(conn, RecordFile.IDENTITY, c) for c in codes]
        return [_view(r.notice, r.state, self.node.code, number=number) for r in records
                if r is not None and isinstance(r.notice, IdentityUpdate)]

    # -- the escalation ---------------------------------------------------------------------------

    def search(self, query: IdentityQuery, *, scope: Scope, operator: str, number: bool) -> dict[str, Any]:
        """Local first, then the wider tiers up to ``scope`` (NET-4); audited at this node."""
        query.check()
        if query.key is QueryKey.CARD:
            query = IdentityQuery(juminhyo_code=self.card_holder(query.card_serial))
        found: list[dict[str, Any]] = []
        asked: list[str] = []
        for tier in scope_order(scope):
            if tier is Scope.LOCAL:
                found = self.local(query, number=number)
                asked.append(self.node.code)
            elif tier is Scope.PREFECTURE and self.node.role is Tier.MUNICIPALITY:
                answer = call(self.node, prefecture_of(self.node.code), "/net/v1/search",
                              {"query": to_json(query), "scope": scope.value, "operator": operator, "number": number})
                found, asked = answer["results"], asked + answer["asked"]
                break  # the prefecture went on to the national server itself when needed
            elif tier is Scope.NATIONAL and self.node.role is not Tier.NATIONAL:
                answer = call(self.node, NATIONAL_CODE, "/net/v1/search",
                              {"query": to_json(query), "scope": Scope.LOCAL.value, "operator": operator,
                               "number": number})
                found, asked = answer["results"], asked + answer["asked"]
            if found:
                break
        too_many = len(found) > LIMIT
        return {"results": found[:LIMIT], "too_many": too_many, "asked": asked, "key": query.key.value}

    def card_holder(self, card_serial: str) -> str:
        """The 住民票コード of a card, from the card management system."""
        if self.node.role is Tier.NATIONAL:
            card = services(self.node).cards.card(card_serial)
            if card is None:
                raise InvalidInput(Problem("card_serial", "NET-4/card", "このカードは登録されていません。",
                                           "This card is not registered."))
            return card.juminhyo_code
        answer = call(self.node, NATIONAL_CODE, "/net/v1/cards/holder", {"card_serial": card_serial})
        return str(answer["juminhyo_code"])

    def audit(self, *, user: str, terminal: str, query: IdentityQuery, result: dict[str, Any] | None,
              error: JukiError | None = None) -> None:
        detail: dict[str, Any] = {"key": query.key.value, "node": self.node.code}
        if error is not None:
            detail["rule"] = error.problems[0].rule
        else:
            assert result is not None
            detail["asked"] = result["asked"]
            detail["found"] = len(result["results"])
        codes = [r["juminhyo_code"] for r in result["results"]] if result else []
        self.node.audit.record_now(self.node.engine, user_id=user, terminal=terminal[:64], action="search",
                                   outcome="denied" if error else "allowed", subject_ids=codes, detail=detail)


def _view(notice: IdentityUpdate, state: str, node_code: str, *, number: bool) -> dict[str, Any]:
    n = notice
    return {
        "juminhyo_code": n.juminhyo_code, "name": n.name, "name_kana": n.name_kana,
        "birth_date": n.birth_date.isoformat(), "sex": n.sex, "address": n.address, "lg_code": n.lg_code,
        "individual_number": (n.individual_number if number else MASK) if n.individual_number else None,
        "reason": n.reason.value, "change_date": n.change_date.isoformat(), "state": state, "found_at": node_code,
    }


# --- the node feature -----------------------------------------------------------------------------


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1", tags=["本人確認情報検索"])

    def answer(peer_label: str, peer_address: str, data: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(data) - {"query", "scope", "operator", "number"})
        if unknown:
            raise InvalidInput([Problem(k, "REG-R2", "受け付けない項目です。", "This item is not accepted.") for k in unknown])
        query = query_from_json(data.get("query") or {})
        try:
            scope = Scope(data.get("scope", Scope.LOCAL.value))
        except ValueError:
            raise InvalidInput(Problem("scope", "NET-4/scope", "scope は local / prefecture / national です。",
                                       "scope is local, prefecture or national.")) from None
        operator = str(data.get("operator") or "")[:64]
        search = services(node).search
        user = f"{operator}@{peer_label}" if operator else peer_label
        try:
            query.check()
            widest = Scope.NATIONAL if scope is Scope.NATIONAL and node.role is Tier.PREFECTURE else Scope.LOCAL
            result = search.search(query, scope=widest, operator=user, number=bool(data.get("number")))
        except JukiError as e:
            search.audit(user=user, terminal=peer_address, query=query, result=None, error=e)
            raise
        search.audit(user=user, terminal=peer_address, query=query, result=result)
        return result

    if node.role is Tier.PREFECTURE:
        @r.post("/search", name="search_at_prefecture", summary="本人確認情報検索（都道府県サーバ）")
        async def search_at_prefecture(request: Request) -> dict[str, Any]:
            peer = peer_of(request)
            return await asyncio.to_thread(answer, peer.label, peer.address, await json_body(request))

    if node.role is Tier.NATIONAL:
        @r.post("/search", name="search_at_national", summary="本人確認情報検索（全国サーバ）")
        async def search_at_national(request: Request) -> dict[str, Any]:
            peer = peer_of(request)
            return await asyncio.to_thread(answer, peer.label, peer.address, await json_body(request))

    return r
