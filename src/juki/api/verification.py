"""Certificate verification for relying offices (REG-CERT): both routes are public (no session).

* ``POST /api/v1/certificates/verify``: the body is the PDF's bytes (``Content-Type: application/pdf``);
  the answer is ``{"ok", "reasons": [{"field", "rule", "message_ja", "message_en"}], "payload"}`` with
  status 200 whether or not the certificate is valid.  The app's 1 MB body limit stands: a certificate is
  35–70 KB (a 4-person 世帯連記式 about 45 KB; each further sheet adds about 10 KB).
* ``GET /api/v1/certificates/public-key``: the certificate-signing public key (PEM) and its key id, so
  that anyone can verify offline with ``juki verify FILE.pdf --public-key KEY.pem``.

Every verification is in the audit log (``certificate.verify``: the certificate id, valid or not, the
failed checks, the caller's address), so that forged certificates presented somewhere leave a trace.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from juki.api.security import PUBLIC, Rule
from juki.config import Register
from juki.domain.errors import InvalidInput, Problem

RULES: dict[str, Rule] = {"verify_certificate": PUBLIC, "certificate_public_key": PUBLIC}

PDF_BODY = {"requestBody": {"required": True, "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


def router(reg: Register) -> APIRouter:
    r = APIRouter(prefix="/api/v1/certificates", tags=["証明書の検証"])

    @r.post("/verify", name="verify_certificate", openapi_extra=PDF_BODY,
            summary="証明書PDFの真正性を確認（公開・ログイン不要）/ verify a certificate PDF")
    async def verify_certificate(request: Request) -> dict[str, Any]:
        from juki.adapters.pdf.verify import verify_pdf

        pdf = await request.body()
        if not pdf:
            raise InvalidInput(Problem("body", "REG-CERT/verify-body", "証明書のPDFを本文として送ってください。",
                                       "Send the certificate PDF as the request body."))
        result = await run_in_threadpool(verify_pdf, pdf, reg.certificate_signer.public_key)
        if reg.audit_enabled:
            client = request.client.host if request.client else "(不明)"
            reg.audit_queue.submit(user_id="(公開)", terminal=client[:64], session_id=None, action="certificate.verify",
                                   subject_ids=[], detail={
                                       "certificate_id": (result.payload or {}).get("id"), "ok": result.ok,
                                       "rules": [p.rule for p in result.reasons], "bytes": len(pdf)})
        return result.as_dict()

    @r.get("/public-key", name="certificate_public_key",
           summary="証明書の検証用公開鍵（Ed25519, PEM）/ the certificate verification key")
    def certificate_public_key() -> dict[str, Any]:
        signer = reg.certificate_signer
        return {"algorithm": "Ed25519", "key_id": signer.key_id, "public_key": signer.public_key_pem(),
                "municipality": reg.jurisdiction.name, "lg_code": reg.jurisdiction.lg_code}

    return r
