"""Feature ``status``: what an operator (or a peer's monitoring) may ask any node.

* ``GET /net/v1/status`` -- the node's streams (:func:`juki.net.operations.status`; no personal data):
  any node or operator certificate of the deployment;
* ``GET /net/v1/alerts`` -- open alerts (``?all=true`` for resolved ones too): operator certificates;
* ``GET /net/v1/records/{file}/{juminhyo_code}`` -- one person's record in this node's file, as the
  file's items (本人確認情報 or 附票本人確認情報), the 個人番号 masked: operator certificates only, and
  every read is in the node's audit log with the 住民票コード as its subject (SEC-3).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from juki.domain.errors import NotFound, Problem
from juki.domain.identity import RecordFile

from .node import Node, allow, peer_of
from .operations import status
from .pki import Tier

ROLES = frozenset({Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL})
RULES = {
    "status": allow(Tier.OPERATOR, Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL),
    "alerts": allow(Tier.OPERATOR),
    "record": allow(Tier.OPERATOR),
}
MASK = "************"


def record_view(node: Node, file: RecordFile, juminhyo_code: str) -> dict[str, Any]:
    stored = node.store.record_of(file, juminhyo_code)
    if stored is None:
        raise NotFound(Problem("juminhyo_code", "NET-4", f"住民票コード {juminhyo_code} の{file.ja}はありません。",
                               f"There is no {file.value} record for {juminhyo_code}."))
    record = dict(stored.record)
    if file is RecordFile.IDENTITY:
        record["individual_number"] = MASK if stored.individual_number else None
    return {"file": file.value, "file_ja": file.ja, "juminhyo_code": stored.juminhyo_code, "state": stored.state,
            "origin": stored.origin, "update_seq": stored.origin_seq, "record": record}


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1", tags=["運用"])

    @r.get("/status", name="status", summary="ノードの状態（ストリーム・受信・適用・警告）")
    async def get_status() -> dict[str, Any]:
        return await asyncio.to_thread(status, node)

    @r.get("/alerts", name="alerts", summary="運用者への警告")
    async def get_alerts(all: bool = False) -> list[dict[str, Any]]:
        alerts = await asyncio.to_thread(node.store.alerts, open_only=not all)
        return [a.as_dict() for a in alerts]

    @r.get("/records/{file}/{juminhyo_code}", name="record", summary="本人確認情報の閲覧（運用者、監査ログに記録）")
    async def get_record(file: RecordFile, juminhyo_code: str, request: Request) -> dict[str, Any]:
        peer = peer_of(request)
        try:
            view = await asyncio.to_thread(record_view, node, file, juminhyo_code)
        except NotFound:
            await asyncio.to_thread(node.audit_peer, peer, "net.read", subjects=[juminhyo_code],
                                    detail={"file": file.value, "found": False})
            raise
        await asyncio.to_thread(node.audit_peer, peer, "net.read", subjects=[juminhyo_code],
                                detail={"file": file.value, "found": True})
        return view

    return r
