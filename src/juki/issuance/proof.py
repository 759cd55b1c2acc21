"""Proof that a mailed certificate goes to the right person (the seeds' incidents, 002 別紙2: person B's
certificate in person A's envelope; A's and B's documents swapped).

:func:`check_output` reads a rendered PDF back (its text layer, with pypdfium2) and checks it against its
envelope, as a second clerk would before sealing it:

* the subject's name and address are printed on it;
* no other subject of the batch is printed on it (by name; a namesake -- 同姓同名 -- counts when their
  address is on it too);
* the envelope is addressed as the request implies (the service computed ``intended``).

Text is compared without spaces and IVS selectors, in NFKC: the PDF's text layer may break lines and
drop variation selectors while printing the glyph exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from juki.adapters.pdf.verify import PDFIUM_LOCK
from juki.domain.errors import Problem
from juki.domain.model import PersonRecord

_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


@dataclass(frozen=True)
class Envelope:
    """封筒: the addressee and address printed in its window."""

    addressee: str
    address: str

    def view(self) -> dict[str, str]:
        return {"addressee": self.addressee, "address": self.address}


def normalise(text: str) -> str:
    text = _SELECTORS.sub("", unicodedata.normalize("NFKC", text))
    return "".join(ch for ch in text if not ch.isspace())


def pdf_text(pdf: bytes) -> str:
    """The text layer of every page, joined."""
    with PDFIUM_LOCK:  # PDFium is not thread-safe (the API runs handlers in a thread pool)
        doc = pdfium.PdfDocument(pdf)
        try:
            parts = []
            for i in range(len(doc)):
                page = doc[i]
                textpage = page.get_textpage()
                parts.append(textpage.get_text_range())
                textpage.close()
                page.close()
            return "\n".join(parts)
        finally:
            doc.close()


def check_output(pdf: bytes, subject: PersonRecord, batch: Sequence[PersonRecord], envelope: Envelope,
                 intended: Envelope) -> list[Problem]:
    """Every reason this PDF must not go into this envelope (empty: it may)."""
    text = normalise(pdf_text(pdf))
    problems: list[Problem] = []
    if normalise(subject.name) not in text or normalise(subject.address.text) not in text:
        problems.append(Problem("pdf", "REG-CERT/bulk-mismatch",
                                f"証明書に対象者（{subject.name}）の氏名・住所が見つかりません。",
                                f"The certificate does not show its subject's ({subject.person_id}) name and address."))
    for other in batch:
        if other.person_id == subject.person_id:
            continue
        name = normalise(other.name)
        namesake = name == normalise(subject.name)
        if name in text and (not namesake or (normalise(other.address.text) in text and
                             normalise(other.address.text) != normalise(subject.address.text))):
            problems.append(Problem("pdf", "REG-CERT/bulk-mismatch",
                                    f"証明書に別の対象者（{other.name}）が記載されています。",
                                    f"The certificate shows another subject of the batch ({other.person_id})."))
    if normalise(envelope.addressee) != normalise(intended.addressee) or \
            normalise(envelope.address) != normalise(intended.address):
        problems.append(Problem("envelope", "REG-CERT/bulk-mismatch",
                                f"封筒の宛名・住所（{envelope.addressee}、{envelope.address}）が、この証明書の送付先"
                                f"（{intended.addressee}、{intended.address}）と一致しません。",
                                "The envelope is not addressed to where this certificate must go."))
    return problems
