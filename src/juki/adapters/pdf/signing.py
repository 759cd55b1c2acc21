"""Issuing a certificate: render it, sign what it certifies, and seal the PDF file (REG-CERT, SEC-3).

Two Ed25519 signatures by the municipality's certificate-signing key (a PEM file outside the database,
``JUKI_CERT_KEY_FILE``; its public half is published with ``juki cert public-key`` and
``GET /api/v1/certificates/public-key``):

1. **The payload**, printed as the QR code on the last page: what was certified (kind, layout, items,
   municipality, the number of subjects and a SHA-256 over their ids, the SHA-256 of the printed content),
   when (``issued_on`` and the signing time) and by whom (the issuing user id or kiosk id).  A phone can
   check a paper copy's QR code with the public key alone.  QR text::

       JKC1:<base64url signature>:<payload as canonical ASCII JSON>

2. **The whole PDF file.**  The PDF as WeasyPrint wrote it (the body, ending in ``%%EOF``) is followed by a
   block of PDF comment lines where an incremental update would go; readers skip comments (checked with
   PDFium, the engine of Chrome's viewer)::

       %JUKI-CERTIFICATE-SIGNATURE 1
       %kid <key id>
       %payload <the same payload JSON>
       %payload-sig <base64url payload signature>
       %pdf-sig <base64url signature over the body and the four lines above>
       %%JUKI-END

   Changing any byte of the body changes what ``pdf-sig`` covers; changing any byte of the block breaks
   its syntax, a signature, or what ``pdf-sig`` covers; bytes added after ``%%JUKI-END`` are refused.  The
   block is under 1 KB, so ``%%EOF`` stays within the last 1024 bytes that strict readers search.  (A PAdES
   signature would need a signing certificate from a CA the relying office trusts; this scheme needs only
   the published public key and works offline: :mod:`juki.adapters.pdf.verify`.)

The printed content's canonical JSON (:func:`juki.domain.certificates.content_json`) is embedded in the PDF
as the file attachment ``juki-certificate-content.json``: the verifier recomputes its SHA-256, compares
it with the payload, and checks that every value of it is on the printed pages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from juki.adapters import signing_keys
from juki.clock import utcnow
from juki.domain.certificates import Document, canonical_json, content, content_json, subjects_sha256

if TYPE_CHECKING:  # rendering (WeasyPrint) is imported on first use, so that verifying starts fast
    from .render import Renderer

FORMAT = 1
QR_PREFIX = "JKC1"
BLOCK_START = b"%JUKI-CERTIFICATE-SIGNATURE 1\n"
BLOCK_END = b"%%JUKI-END\n"
PAYLOAD_CONTEXT = b"juki-certificate-payload/1\n"
PDF_CONTEXT = b"juki-certificate-pdf/1\n"
ATTACHMENT_NAME = "juki-certificate-content.json"
"""The canonical JSON of the printed content, embedded in the PDF as a file attachment."""
PAYLOAD_FIELDS = ("v", "id", "kind", "layout", "lg", "items", "n", "subjects", "content", "pages", "issued_on",
                  "at", "by", "kid")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict: only the canonical spelling decodes (base64 tolerates other values of the unused bits of
    the last character, which would let a changed byte through)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def payload_json(payload: dict[str, Any]) -> bytes:
    """The payload's canonical bytes: sorted keys, no spaces, ASCII only (so that any QR reader decodes
    it without guessing an encoding)."""
    return json.dumps(payload, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode("ascii")


class CertificateSigner:
    """The municipality's certificate-signing key (Ed25519)."""

    def __init__(self, key: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._key = key
        self.path = path
        self.public_key: Ed25519PublicKey = key.public_key()
        self.key_id = signing_keys.key_id(key)

    @classmethod
    def load_or_create(cls, path: str | Path) -> CertificateSigner:
        """The key in ``path`` (PEM, mode 0600), created on first use."""
        p = Path(path)
        return cls(signing_keys.load_or_create(p, what=("証明書署名鍵", "certificate signing key")), p)

    def public_key_pem(self) -> str:
        return signing_keys.public_key_pem(self.public_key)

    def sign_payload(self, payload: bytes) -> bytes:
        return self._key.sign(PAYLOAD_CONTEXT + payload)

    def sign_pdf(self, signed_part: bytes) -> bytes:
        return self._key.sign(PDF_CONTEXT + signed_part)


@dataclass(frozen=True)
class IssuedCertificate:
    """A signed certificate: the PDF, its id, the signed payload (as in the QR code), the SHA-256 of the
    printed content, and the subjects (their ids are in the issuance log, not on the paper)."""

    pdf: bytes
    certificate_id: str
    payload: dict[str, Any]
    content_sha256: str
    subject_ids: tuple[str, ...]
    qr_text: str


def _at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def issue(document: Document, signer: CertificateSigner, issuer: str, *, at: dt.datetime | None = None,
          renderer: Renderer | None = None) -> IssuedCertificate:
    """Validate, render, sign: the entry point of certificate issuance.  ``issuer`` is who issues it (the
    user id at the counter, or the kiosk id of a コンビニ交付); ``at`` the signing time (now)."""
    printed = content(document)  # validates the document
    content_bytes = canonical_json(content_json(printed))
    digest = hashlib.sha256(content_bytes).hexdigest()
    payload: dict[str, Any] = {
        "v": FORMAT,
        "id": document.certificate_id,
        "kind": document.kind.value,
        "layout": document.layout.value,
        "lg": document.lg_code,
        "items": list(document.printed_items.names()),
        "n": len(document.persons),
        "subjects": subjects_sha256(document.certificate_id, document.subject_ids),
        "content": digest,
        "pages": printed.pages,
        "issued_on": document.issued_on.isoformat(),
        "at": _at(at or utcnow()),
        "by": issuer,
        "kid": signer.key_id,
    }
    payload_bytes = payload_json(payload)
    payload_sig = b64url(signer.sign_payload(payload_bytes))
    qr_text = f"{QR_PREFIX}:{payload_sig}:{payload_bytes.decode('ascii')}"
    if renderer is None:
        from .render import default_renderer

        renderer = default_renderer()
    body = renderer.render(document, qr=qr_text, attachment=content_bytes, printed=printed)
    return IssuedCertificate(seal(body, signer, payload_bytes, payload_sig), document.certificate_id,
                             json.loads(payload_bytes), digest, document.subject_ids, qr_text)


def seal(body: bytes, signer: CertificateSigner, payload: bytes, payload_sig: str) -> bytes:
    """Append the signature block to the PDF ``body`` (see the module docstring)."""
    if not body.rstrip().endswith(b"%%EOF"):
        raise ValueError("not a complete PDF (no %%EOF at the end)")
    if not body.endswith(b"\n"):
        body += b"\n"
    block = (BLOCK_START + b"%kid " + signer.key_id.encode("ascii") + b"\n" + b"%payload " + payload + b"\n"
             + b"%payload-sig " + payload_sig.encode("ascii") + b"\n")
    pdf_sig = b64url(signer.sign_pdf(body + block)).encode("ascii")
    return body + block + b"%pdf-sig " + pdf_sig + b"\n" + BLOCK_END
