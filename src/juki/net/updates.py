"""Feature ``updates``: the 本人確認情報 streams (NET-2, NET-3, PRF-1..3).

* municipality: workers ``intake`` (register outbox → CS file → notices, :mod:`juki.net.cs`) and
  ``relay`` (notices → the prefecture, :mod:`juki.net.relay`);
* prefecture: route ``POST /net/v1/updates`` for the CS of its own municipalities; workers ``applier``
  (:mod:`juki.net.apply`, forwards what it applied) and ``relay`` (→ the national server);
* national: route ``POST /net/v1/updates`` for the prefectures; worker ``applier``.

``POST /net/v1/updates``: ``{"source": "<the sender's code>", "entries": [entry, …]}`` (entries as in
:mod:`juki.net.notices`) → ``{"received_through": N, "applied": {origin: 更新順番号}, "halts": [...]}``.
The sender must be the peer its certificate names; a municipality sends only its own notices, a
prefecture only those of its municipalities.  The entries are stored before the answer (so the answer's
``received_through`` is a promise), then applied at once as far as order allows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from juki.api.common import json_body
from juki.domain.errors import Forbidden, InvalidInput, Problem

from .apply import origin_scope
from .node import Node, Worker, allow, peer_of, prefecture_of
from .notices import Entry, entry_from_wire
from .pki import Tier

ROLES = frozenset({Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL})
RULES = {
    "receive_from_municipality": allow(Tier.MUNICIPALITY, own_prefecture=True),
    "receive_from_prefecture": allow(Tier.PREFECTURE),
}
MAX_ENTRIES = 1000


def _entries(data: dict[str, Any], source: str, role: Tier) -> list[Entry]:
    unknown = sorted(set(data) - {"source", "entries"})
    if unknown:
        raise InvalidInput([Problem(k, "NET-3/format", "受け付けない項目です。", "This item is not accepted.") for k in unknown])
    if data.get("source") != source:
        raise Forbidden(Problem("source", "NET-2/source", f"送信元 {data.get('source')!r} が証明書の {source} と異なります。",
                                f"The source {data.get('source')!r} is not the certificate's {source}."))
    raw = data.get("entries")
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        raise InvalidInput(Problem("entries", "NET-3/format", f"entries は {MAX_ENTRIES} 件までの配列です。",
                                   f"entries must be a list of at most {MAX_ENTRIES}."))
    entries = [entry_from_wire(e, i) for i, e in enumerate(raw)]
    for i, e in enumerate(entries):
        if role is Tier.PREFECTURE and (e.origin != source or e.origin_seq != e.seq):
            raise Forbidden(Problem(f"entries[{i}].origin", "PRF-2/origin",
                                    f"市町村CS {source} は自らの更新（更新順番号＝送信番号）だけを送れます。",
                                    f"The CS of {source} may send only its own updates, numbered by their seq."))
        if role is Tier.NATIONAL and prefecture_of(e.origin) != source:
            raise Forbidden(Problem(f"entries[{i}].origin", "PRF-3/origin",
                                    f"都道府県サーバ {source} は {e.origin} の更新を送れません（区域外）。",
                                    f"The prefecture {source} may not send updates of {e.origin} (not in its area)."))
    return entries


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1", tags=["本人確認情報の更新"])

    def receive(peer_code: str, data: dict[str, Any]) -> dict[str, Any]:
        entries = _entries(data, peer_code, node.role)
        store = node.store
        with store.engine.begin() as conn:
            through = store.receive(conn, peer_code, entries)
        node.applier.drain({e.origin for e in entries})
        def mine(origin: str) -> bool:
            return origin == peer_code if node.role is Tier.PREFECTURE else prefecture_of(origin) == peer_code

        with store.engine.connect() as conn:
            applied = {o: v for o, v in store.cursors(conn, "applied:").items() if mine(o)}
            halts = []
            for origin in sorted(applied):
                a = store.open_alert(conn, origin_scope(origin))
                if a is not None:
                    halts.append({"origin": origin, "origin_seq": int(a.ref), "alert_id": a.alert_id, "rule": a.rule,
                                  "message_ja": a.message_ja, "message_en": a.message_en})
        return {"received_through": through, "applied": applied, "halts": halts}

    if node.role is Tier.PREFECTURE:
        @r.post("/updates", name="receive_from_municipality", summary="市町村CSからの本人確認情報の更新（更新順番号順）")
        async def receive_from_municipality(request: Request) -> dict[str, Any]:
            data = await json_body(request)
            return await asyncio.to_thread(receive, peer_of(request).identity.code, data)

    if node.role is Tier.NATIONAL:
        @r.post("/updates", name="receive_from_prefecture", summary="都道府県サーバからの本人確認情報の更新（市町村ごとに更新順番号順）")
        async def receive_from_prefecture(request: Request) -> dict[str, Any]:
            data = await json_body(request)
            return await asyncio.to_thread(receive, peer_of(request).identity.code, data)

    return r


def workers(node: Node) -> list[Worker]:
    idle = node.config.poll_seconds
    out: list[Worker] = []
    if node.role is Tier.MUNICIPALITY:
        out.append(Worker("intake", lambda: node.intake.step(idle)))
    if node.role in (Tier.PREFECTURE, Tier.NATIONAL):
        out.append(Worker("applier", lambda: node.applier.step(idle)))
    if node.upstream is not None:
        out.append(Worker("relay", lambda: node.relay.step(idle)))
    return out

