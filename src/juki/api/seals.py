"""印鑑登録 over HTTP (REG-LINK5): register (the 印影 as base64 PNG), confirm an inquiry (another user),
abolish (廃止申請 / 亡失届), and a person's registrations.  The 印鑑登録証明書 itself is issued through
``POST /api/v1/certificates`` with ``kind: "seal"`` and the ``seal_card_number`` presented."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request

from juki.api.common import Principal_, json_body
from juki.api.security import Rule
from juki.config import Register
from juki.domain.certificate_requests import IdentityDocument
from juki.domain.changes import from_json
from juki.domain.errors import InvalidInput, Problem

RULES: dict[str, Rule] = {
    "seal_register": "seal.register",
    "seal_list": "seal.register",
    "seal_confirm": "seal.confirm",
    "seal_abolish": "seal.register",
}


def _fields(data: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    problems = [Problem(k, "REG-LINK5/request", "受け付けない項目です。", "This item is not accepted.")
                for k in sorted(set(data) - allowed)]
    problems += [Problem(k, "REG-LINK5/request", "必須項目です。", "This item is required.")
                 for k in sorted(required - set(data))]
    if problems:
        raise InvalidInput(problems)


def router(reg: Register) -> APIRouter:
    r = APIRouter(tags=["印鑑登録"])

    @r.post("/api/v1/seals", name="seal_register", status_code=201,
            summary="印鑑登録（写真付き本人確認で即日、それ以外は照会書）")
    async def seal_register(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"person_id", "imprint_png_base64", "size_mm", "identity", "agent", "proxy_letter"},
                {"person_id", "imprint_png_base64", "size_mm"})
        try:
            image = base64.b64decode(str(data["imprint_png_base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(Problem("imprint_png_base64", "REG-LINK5/imprint", "印影はbase64で送ってください。",
                                       "The imprint must be base64.")) from None
        identity = from_json(tuple[IdentityDocument, ...], data.get("identity", []), "identity")
        reg_ = reg.seals.register(principal, from_json(str, data["person_id"], "person_id"), image,
                                  from_json(int, data["size_mm"], "size_mm"), identity=identity,
                                  agent=from_json(str, data.get("agent", ""), "agent"),
                                  proxy_letter=from_json(bool, data.get("proxy_letter", False), "proxy_letter"))
        return reg_.view()

    @r.get("/api/v1/seals", name="seal_list", summary="印鑑登録の状況（本人の登録一覧）")
    def seal_list(person_id: str, principal: Principal_ = None) -> list[dict[str, Any]]:
        assert principal is not None
        return [x.view() for x in reg.seals.for_person(principal, person_id)]

    @r.post("/api/v1/seals/confirm", name="seal_confirm", summary="照会書の回答による登録（受付とは別の職員）")
    async def seal_confirm(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"registration_number", "reference"}, {"registration_number"})
        return reg.seals.confirm(principal, from_json(int, data["registration_number"], "registration_number"),
                                 reference=from_json(str, data.get("reference", ""), "reference")).view()

    @r.post("/api/v1/seals/abolish", name="seal_abolish", summary="印鑑登録の廃止（廃止申請・印鑑登録証の亡失）")
    async def seal_abolish(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        data = await json_body(request)
        _fields(data, {"registration_number", "reason", "note"}, {"registration_number"})
        return reg.seals.abolish(principal, from_json(int, data["registration_number"], "registration_number"),
                                 reason=from_json(str, data.get("reason", "request"), "reason"),
                                 note=from_json(str, data.get("note", ""), "note")).view()

    return r
