"""The print file of mailed certificates (郵送交付, REG-CERT; the 002 別紙2 incidents): the 発送一覧 and the
送付状 of :class:`juki.domain.mailing.MailingSet`, printed by WeasyPrint with the certificates' set-up
(:class:`~juki.adapters.pdf.render.Printer`), and put together with the signed certificates into one PDF in
envelope order (pypdfium2): [発送一覧], then per envelope its 送付状 and its certificate's pages.

The 送付状 is one A4 page: the address block sits where a 長形3号 窓あき封筒 shows it (folded in three), then
the sender, the date and what is enclosed (kind and 証明書番号).  It is not a certificate.  The combined
file is for printing only: each certificate in it is the signed one page for page (its QR code verifies
the paper), but the file's own signature is the certificate's PDF, kept in the issuance log and
``certificate_copies``.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from juki.domain.mailing import MailingSet

from .render import Printer
from .verify import PDFIUM_LOCK


@dataclass(frozen=True)
class PrintFile:
    """The combined PDF and where each envelope's sheets are in it: ``segments[i]`` is ``(first page of the
    送付状, number of pages including it)``, 0-based; the 発送一覧 is pages ``0 .. list_pages - 1``."""

    pdf: bytes
    list_pages: int
    segments: tuple[tuple[int, int], ...]


class MailingRenderer(Printer):
    """Renders 送付状 and 発送一覧; build one and reuse it (see :class:`~juki.adapters.pdf.render.Printer`)."""

    def __init__(self) -> None:
        super().__init__("mailing.html", "mailing.css")

    def render(self, mailing: MailingSet, part: str) -> bytes:
        """``part`` is ``"list"`` (the 発送一覧) or ``"covers"`` (one 送付状 per page, in envelope order)."""
        return self.pdf(self.page(m=mailing, part=part))


_default: MailingRenderer | None = None
_default_lock = threading.Lock()


def renderer() -> MailingRenderer:
    global _default
    with _default_lock:
        if _default is None:
            _default = MailingRenderer()
        return _default


def _pages(pdf: bytes) -> int:
    doc = pdfium.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def print_file(mailing: MailingSet, certificates: list[bytes]) -> PrintFile:
    """The combined print file: ``certificates[i]`` is the signed PDF of ``mailing.envelopes[i]``."""
    if len(certificates) != mailing.count:
        raise ValueError("one certificate per envelope")
    r = renderer()
    covers = r.render(mailing, "covers")
    listing = r.render(mailing, "list") if mailing.batch_id else None
    with PDFIUM_LOCK:  # PDFium is not thread-safe
        if _pages(covers) != mailing.count:
            raise ValueError("a 送付状 must be exactly one page")
        out = pdfium.PdfDocument.new()
        opened = []
        try:
            list_pages = 0
            if listing is not None:
                src = pdfium.PdfDocument(listing)
                opened.append(src)
                out.import_pages(src)
                list_pages = len(out)
            cover_doc = pdfium.PdfDocument(covers)
            opened.append(cover_doc)
            segments = []
            for i, pdf in enumerate(certificates):
                start = len(out)
                out.import_pages(cover_doc, [i])
                cert = pdfium.PdfDocument(pdf)
                opened.append(cert)
                out.import_pages(cert)
                segments.append((start, len(out) - start))
            buffer = io.BytesIO()
            out.save(buffer)
        finally:
            for doc in opened:
                doc.close()
            out.close()
    return PrintFile(buffer.getvalue(), list_pages, tuple(segments))
