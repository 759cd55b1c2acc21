"""Verifying a certificate offline with the municipality's public key only (REG-CERT).

:func:`verify_pdf` checks, and reports every failure in Japanese and English:

1. the signature block is there and well formed (:mod:`juki.adapters.pdf.signing`);
2. it was made with this key (key id), and the PDF file is exactly as signed (``pdf-sig``: a one-byte
   change anywhere fails);
3. the payload is exactly as signed (``payload-sig``) and well formed;
4. the QR code printed on the last page, decoded from a rendering of the page (zxing-cpp), carries the same
   signed payload;
5. the embedded content (``juki-certificate-content.json``) has the SHA-256 the payload certifies, and
   everything in it is printed on the pages (text read back with pdfium).

:func:`verify_qr_text` checks a QR code's text alone (a paper copy scanned with a phone).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import zxingcpp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from juki.adapters import signing_keys
from juki.domain.errors import Problem

from .signing import (
    ATTACHMENT_NAME,
    BLOCK_END,
    BLOCK_START,
    FORMAT,
    PAYLOAD_CONTEXT,
    PAYLOAD_FIELDS,
    PDF_CONTEXT,
    QR_PREFIX,
    payload_json,
    unb64url,
)

QR_SCALE = 3.0  # 216 dpi: a 34 mm symbol of 93 modules gets about 3 pixels per module
PDFIUM_LOCK = threading.RLock()
"""PDFium is not thread-safe: every use of pypdfium2 in juki holds this lock (the API verifies in a
thread pool)."""


@dataclass(frozen=True)
class Verification:
    """The answer: ``ok`` only when every check passed; ``reasons`` says why not."""

    ok: bool
    payload: dict[str, Any] | None
    reasons: tuple[Problem, ...] = ()
    content: dict[str, Any] | None = field(default=None, repr=False)

    def as_dict(self, *, with_content: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "payload": self.payload,
                               "reasons": [p.as_dict() for p in self.reasons]}
        if with_content:
            out["content"] = self.content
        return out


def _problem(check: str, ja: str, en: str) -> Problem:
    return Problem(check, f"REG-CERT/verify-{check}", ja, en)


@dataclass(frozen=True)
class _Signed:
    body: bytes
    signed_part: bytes
    key_id: str
    payload: bytes
    payload_sig: str
    pdf_sig: str


def _split(pdf: bytes) -> _Signed | Problem:
    bad = _problem("format", "証明書の署名がありません（改ざん、または juki が発行したものではありません）。",
                   "The file carries no juki certificate signature (altered, or not issued by juki).")
    if not pdf.endswith(BLOCK_END):
        return bad
    start = pdf.rfind(b"\n" + BLOCK_START)
    if start < 0:
        return bad
    body, block = pdf[:start + 1], pdf[start + 1:]
    lines = block.split(b"\n")
    prefixes = (BLOCK_START[:-1], b"%kid ", b"%payload ", b"%payload-sig ", b"%pdf-sig ", BLOCK_END[:-1], b"")
    if len(lines) != len(prefixes) or lines[0] != prefixes[0] or lines[5] != prefixes[5] or lines[6] != b"" \
            or not all(line.startswith(p) for line, p in zip(lines[1:5], prefixes[1:5], strict=True)) \
            or not body.rstrip().endswith(b"%%EOF"):
        return bad
    try:
        kid, payload, payload_sig, pdf_sig = (line[len(p):].decode("ascii")
                                              for line, p in zip(lines[1:5], prefixes[1:5], strict=True))
    except UnicodeDecodeError:
        return bad
    signed_part = pdf[:start + 1 + len(b"\n".join(lines[:4])) + 1]
    return _Signed(body, signed_part, kid, payload.encode("ascii"), payload_sig, pdf_sig)


def _signature_ok(public_key: Ed25519PublicKey, signature: str, data: bytes) -> bool:
    try:
        public_key.verify(unb64url(signature), data)
        return True
    except (InvalidSignature, ValueError):
        return False


def _payload(raw: bytes) -> tuple[dict[str, Any] | None, Problem | None]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or set(data) != set(PAYLOAD_FIELDS) or data.get("v") != FORMAT \
            or payload_json(data) != raw:
        return None, _problem("payload", "署名データの形式が正しくありません。", "The signed payload is malformed.")
    return data, None


def verify_qr_text(text: str, public_key: Ed25519PublicKey) -> Verification:
    """Check the text of a certificate's QR code: its payload signature under ``public_key``."""
    parts = text.split(":", 2)
    if len(parts) != 3 or parts[0] != QR_PREFIX:
        return Verification(False, None, (_problem("qr", "juki の証明書のQRコードではありません。",
                                                   "This is not a juki certificate QR code."),))
    raw = parts[2].encode("ascii", "replace")
    payload, problem = _payload(raw)
    reasons = [problem] if problem else []
    if not _signature_ok(public_key, parts[1], PAYLOAD_CONTEXT + raw):
        reasons.append(_problem("payload-signature", "QRコードの署名が正しくありません（改ざん、または別の鍵）。",
                                "The QR code's signature is not valid (altered, or another key)."))
    elif payload is not None and payload["kid"] != signing_keys.key_id(public_key):
        reasons.append(_problem("key", "別の鍵の識別子が記載されています。", "The payload names another key."))
    return Verification(not reasons, payload, tuple(reasons))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("kind", "layout", "key", "label", "seal_sha256") and not isinstance(v, int | bool):
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


_INVISIBLE = re.compile("[\\s\u3000\ufe00-\ufe0f\U000e0100-\U000e01ef\ufffe\uffff\x00-\x1f]+")


def _normal(text: str) -> str:
    """Text for comparison: no spaces or line breaks, no variation selectors (text layers differ in how
    they give an IVS sequence; the glyph printed is covered by the file's signature, not by this check)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))


def _read(pdf: bytes) -> tuple[pdfium.PdfDocument | None, Problem | None]:
    try:
        return pdfium.PdfDocument(pdf), None
    except pdfium.PdfiumError:
        return None, _problem("pdf", "PDFとして読めません。", "The file cannot be read as a PDF.")


def _attachment(doc: pdfium.PdfDocument) -> bytes | None:
    for i in range(doc.count_attachments()):
        att = doc.get_attachment(i)
        if att.get_name() == ATTACHMENT_NAME:
            return bytes(att.get_data())
    return None


def _page_text(doc: pdfium.PdfDocument) -> str:
    texts = []
    for i in range(len(doc)):
        page = doc[i]
        textpage = page.get_textpage()
        texts.append(textpage.get_text_range())
        textpage.close()
        page.close()
    return "".join(texts)


def read_qr_codes(doc: pdfium.PdfDocument, page_index: int = -1) -> list[str]:
    """The texts of the QR codes on one page (the last by default), read from a 216 dpi rendering."""
    with PDFIUM_LOCK:
        page = doc[page_index if page_index >= 0 else len(doc) + page_index]
        image = page.render(scale=QR_SCALE, grayscale=True).to_pil()
        page.close()
    return [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))]


def _check_document(signed: _Signed, payload: dict[str, Any] | None,
                    check_qr: bool) -> Problem | tuple[list[Problem], dict[str, Any] | None]:
    """The checks that read the PDF itself: the printed QR code, the embedded content, the text."""
    doc, problem = _read(signed.body)
    if doc is None:
        assert problem is not None
        return problem
    reasons: list[Problem] = []
    content: dict[str, Any] | None = None
    try:
        if check_qr:
            expected = f"{QR_PREFIX}:{signed.payload_sig}:{signed.payload.decode('ascii')}"
            if expected not in read_qr_codes(doc):
                reasons.append(_problem("qr", "印刷されたQRコードが署名データと一致しません（または読み取れません）。",
                                        "The printed QR code does not carry the signed payload (or cannot be read)."))
        raw = _attachment(doc)
        if raw is None or payload is None or hashlib.sha256(raw).hexdigest() != payload["content"]:
            reasons.append(_problem("content", "証明内容のハッシュが署名データと一致しません。",
                                    "The certified content does not match the hash in the signed payload."))
        else:
            content = json.loads(raw)
            printed = _normal(_page_text(doc))
            missing = [s for s in _strings(content) if _normal(s) and _normal(s) not in printed]
            if missing:
                reasons.append(_problem("content", f"証明内容の一部が印刷されていません: {'、'.join(missing[:3])}",
                                        f"Part of the certified content is not printed: {', '.join(missing[:3])}"))
    except (pdfium.PdfiumError, ValueError):  # a damaged stream: the file was altered
        reasons.append(_problem("pdf", "PDFの内容を読み取れません（破損、または改ざん）。",
                                "Part of the PDF cannot be read (damaged, or altered)."))
    finally:
        doc.close()
    return reasons, content


def verify_pdf(pdf: bytes, public_key: Ed25519PublicKey, *, check_qr: bool = True) -> Verification:
    """Verify a certificate PDF with the public key only (offline); see the module docstring."""
    signed = _split(pdf)
    if isinstance(signed, Problem):
        return Verification(False, None, (signed,))
    reasons: list[Problem] = []
    if signed.key_id != signing_keys.key_id(public_key):
        reasons.append(_problem("key", "この公開鍵で署名された証明書ではありません（別の市区町村、または鍵の更新前）。",
                                "The certificate was not signed with this public key (another municipality, or an older key)."))
    if not _signature_ok(public_key, signed.pdf_sig, PDF_CONTEXT + signed.signed_part):
        reasons.append(_problem("pdf-signature", "PDFファイルが署名後に変更されています。",
                                "The PDF file was changed after it was signed."))
    payload, problem = _payload(signed.payload)
    if problem:
        reasons.append(problem)
    if not _signature_ok(public_key, signed.payload_sig, PAYLOAD_CONTEXT + signed.payload):
        reasons.append(_problem("payload-signature", "証明内容（署名データ）の署名が正しくありません。",
                                "The signature over the certified payload is not valid."))
    with PDFIUM_LOCK:
        checked = _check_document(signed, payload, check_qr)
    if isinstance(checked, Problem):
        return Verification(False, payload, (*reasons, checked))
    more, content = checked
    reasons += more
    return Verification(not reasons, payload, tuple(reasons), content)
