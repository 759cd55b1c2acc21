"""コンビニ交付 over HTTP: the kiosk's side (challenge → card signature + PIN → certificates → end) and the
counter's side (register a kiosk; issue, unlock and revoke a resident's card).

The kiosk routes are not staff sessions: a kiosk authenticates itself on every call with
``X-Juki-Kiosk`` and ``X-Juki-Kiosk-Key`` (its key, stored hashed), and after the card's authentication
with ``X-Juki-Kiosk-Transaction`` and ``X-Juki-Kiosk-Token``.  So they are ``PUBLIC`` in the staff rule
table and refuse a missing header (422) or a wrong one (401) themselves.  Every step and every refusal
is audited by :class:`juki.issuance.kiosk.KioskService` under the kiosk transaction's id.

    POST /api/v1/kiosk/challenge     → {"challenge", "expires_at"}
    POST /api/v1/kiosk/start         {"card_id", "challenge", "signature", "pin"} → {"transaction_id", "token", "name", "offers"}
    POST /api/v1/kiosk/certificate   {"kind", "scope": "self"|"household", "items": [...]} → application/pdf
    POST /api/v1/kiosk/end           → {"transaction_id", "ended_at", "certificates"}
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from juki.api.certificates import answered, pdf_response
from juki.api.common import Principal_, json_body
from juki.api.security import PUBLIC, Rule
from juki.config import Register
from juki.domain.changes import from_json
from juki.domain.errors import InvalidInput, Problem

RULES: dict[str, Rule] = {
    "kiosk_challenge": PUBLIC,
    "kiosk_start": PUBLIC,
    "kiosk_certificate": PUBLIC,
    "kiosk_end": PUBLIC,
    "kiosk_register": "kiosk.manage",
    "card_issue": "card.manage",
    "card_unlock": "card.manage",
    "card_revoke": "card.manage",
}

Kiosk = Annotated[str, Header(alias="X-Juki-Kiosk", description="キオスク端末ID")]
KioskKey = Annotated[str, Header(alias="X-Juki-Kiosk-Key", description="キオスク端末の鍵")]
Transaction = Annotated[str, Header(alias="X-Juki-Kiosk-Transaction", description="取引ID")]
Token = Annotated[str, Header(alias="X-Juki-Kiosk-Token", description="取引のトークン")]


def _body(data: dict[str, Any], allowed: dict[str, Any], required: set[str]) -> dict[str, Any]:
    problems = [Problem(k, "REG-CERT/request", "受け付けない項目です。", "This item is not accepted.")
                for k in sorted(set(data) - set(allowed))]
    problems += [Problem(k, "REG-CERT/request", "必須項目です。", "This item is required.")
                 for k in sorted(required - set(data))]
    if problems:
        raise InvalidInput(problems)
    return {k: from_json(tp, data[k], k) for k, tp in allowed.items() if k in data}


def router(reg: Register) -> APIRouter:
    r = APIRouter(tags=["コンビニ交付"])

    # --- the kiosk ---------------------------------------------------------------------------------

    @r.post("/api/v1/kiosk/challenge", name="kiosk_challenge", summary="カード認証用のチャレンジ（一回限り）")
    def kiosk_challenge(kiosk: Kiosk, key: KioskKey) -> Any:
        result = answered(lambda: reg.kiosks.challenge(kiosk, key))
        if isinstance(result, JSONResponse):
            return result
        challenge, expires = result
        return {"challenge": challenge, "expires_at": expires.isoformat()}

    @r.post("/api/v1/kiosk/start", name="kiosk_start", summary="カードの署名と暗証番号で本人確認し、取引を開始")
    async def kiosk_start(request: Request, kiosk: Kiosk, key: KioskKey) -> Any:
        b = _body(await json_body(request), {"card_id": str, "challenge": str, "signature": str, "pin": str},
                  {"card_id", "challenge", "signature", "pin"})
        result = answered(lambda: reg.kiosks.start(kiosk, key, **b))
        if isinstance(result, JSONResponse):
            return result
        return {"transaction_id": result.transaction_id, "token": result.token,
                "expires_at": result.expires_at.isoformat(), "name": result.name, "offers": list(result.offers)}

    @r.post("/api/v1/kiosk/certificate", name="kiosk_certificate", summary="証明書を選んで受け取る（PDF）",
            responses={200: {"content": {"application/pdf": {}}}})
    async def kiosk_certificate(request: Request, kiosk: Kiosk, key: KioskKey, transaction: Transaction,
                                token: Token) -> Any:
        b = _body(await json_body(request), {"kind": str, "scope": str, "items": tuple[str, ...]}, {"kind"})
        issued = answered(lambda: reg.kiosks.certificate(kiosk, key, transaction_id=transaction, token=token, **b))
        if isinstance(issued, JSONResponse):
            return issued
        return pdf_response(issued.pdf, issued.certificate_id)

    @r.post("/api/v1/kiosk/end", name="kiosk_end", summary="取引の終了")
    def kiosk_end(kiosk: Kiosk, key: KioskKey, transaction: Transaction, token: Token) -> Any:
        return answered(lambda: reg.kiosks.end(kiosk, key, transaction_id=transaction, token=token))

    # --- the counter -------------------------------------------------------------------------------

    @r.post("/api/v1/kiosks", name="kiosk_register", status_code=201, summary="キオスク端末の登録（鍵は一度だけ表示）")
    async def kiosk_register(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        b = _body(await json_body(request), {"kiosk_id": str, "name": str, "location": str}, {"kiosk_id", "name"})
        key = reg.kiosks.register(principal, b["kiosk_id"], b["name"], location=b.get("location", ""))
        return {"kiosk_id": b["kiosk_id"], "key": key}

    @r.post("/api/v1/cards", name="card_issue", status_code=201,
            summary="カードの交付（鍵ペアを作成し、秘密鍵はカードへ一度だけ渡す）")
    async def card_issue(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        b = _body(await json_body(request), {"person_id": str, "pin": str, "algorithm": str}, {"person_id", "pin"})
        card = reg.cards.issue(principal, b["person_id"], b["pin"], algorithm=b.get("algorithm", "ed25519"))
        return {"card_id": card.card_id, "person_id": card.person_id, "algorithm": card.algorithm,
                "valid_until": card.valid_until.isoformat(), "public_key_pem": card.public_key_pem,
                "private_key_pem": card.private_key_pem.decode("ascii")}

    @r.post("/api/v1/cards/unlock", name="card_unlock", summary="カードのロック解除（窓口で本人確認の上）")
    async def card_unlock(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        b = _body(await json_body(request), {"card_id": str, "new_pin": str}, {"card_id"})
        info = reg.cards.unlock(principal, b["card_id"], new_pin=b.get("new_pin"))
        return {"card_id": info.card_id, "status": info.status, "failed_pins": info.failed_pins}

    @r.post("/api/v1/cards/revoke", name="card_revoke", summary="カードの廃止（紛失等）")
    async def card_revoke(request: Request, principal: Principal_ = None) -> dict[str, Any]:
        assert principal is not None
        b = _body(await json_body(request), {"card_id": str, "reason": str}, {"card_id", "reason"})
        info = reg.cards.revoke(principal, b["card_id"], reason=b["reason"])
        return {"card_id": info.card_id, "status": info.status}

    return r
