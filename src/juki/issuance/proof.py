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


def page_texts(pdf: bytes) -> list[str]:
    """The text layer of each page."""
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
            return parts
        finally:
            doc.close()


def pdf_text(pdf: bytes) -> str:
    """The text layer of every page, joined."""
    return "\n".join(page_texts(pdf))


def check_output(pdf: bytes, subject: PersonRecord, batch: Sequence[PersonRecord], envelope: Envelope,
                 intended: Envelope) -> list[Problem]:
    """Every reason this PDF must not go into this envelope (empty: it may)."""
    problems = _subject_problems(normalise(pdf_text(pdf)), (subject,), batch)
    if normalise(envelope.addressee) != normalise(intended.addressee) or \
            normalise(envelope.address) != normalise(intended.address):
        problems.append(Problem("envelope", "REG-CERT/bulk-mismatch",
                                f"封筒の宛名・住所（{envelope.addressee}、{envelope.address}）が、この証明書の送付先"
                                f"（{intended.addressee}、{intended.address}）と一致しません。",
                                "The envelope is not addressed to where this certificate must go."))
    return problems


@dataclass(frozen=True)
class Segment:
    """One envelope's sheets in a print file: its 送付状 (first page) and its certificate's pages."""

    envelope: Envelope
    certificate_id: str
    subjects: tuple[PersonRecord, ...]
    first_page: int
    pages: int


def check_print_file(pdf: bytes, list_pages: int, segments: Sequence[Segment]) -> list[Problem]:
    """Every reason the combined print file of mailed certificates (:mod:`juki.adapters.pdf.mailing`) must
    not be stuffed into its envelopes as printed (empty: it may), read back page by page as a second
    clerk would: the pages follow one another with nothing between or after the envelopes; each
    envelope's 送付状 shows its addressee, its address and the certificate's number, and no other
    envelope's addressee; its certificate pages show the certificate's number and its subjects (name and
    address) and no subject of another envelope."""
    texts = [normalise(t) for t in page_texts(pdf)]
    everyone = [p for s in segments for p in s.subjects]
    problems: list[Problem] = []
    expected = list_pages
    for i, seg in enumerate(segments):
        where = f"envelopes[{i}]"
        if seg.first_page != expected or seg.pages < 2 or seg.first_page + seg.pages > len(texts):
            problems.append(Problem(where, "REG-CERT/print-mismatch", f"{i + 1}通目の封筒の頁の位置が正しくありません。",
                                    f"Envelope {i + 1}'s pages are not where they belong in the print file."))
            break
        expected = seg.first_page + seg.pages
        cover, body = texts[seg.first_page], "".join(texts[seg.first_page + 1:expected])
        if not all(normalise(x) in cover for x in (seg.envelope.addressee, seg.envelope.address, seg.certificate_id)):
            problems.append(Problem(f"{where}.cover", "REG-CERT/print-mismatch",
                                    f"{i + 1}通目の送付状に宛名・住所・証明書番号（{seg.certificate_id}）が見つかりません。",
                                    f"The cover sheet of envelope {i + 1} lacks its addressee, address or certificate number."))
        for j, other in enumerate(segments):
            if j != i and normalise(other.envelope.addressee) != normalise(seg.envelope.addressee) \
                    and normalise(other.envelope.addressee) in cover:
                problems.append(Problem(f"{where}.cover", "REG-CERT/print-mismatch",
                                        f"{i + 1}通目の送付状に別の封筒の宛名（{other.envelope.addressee}）があります。",
                                        f"The cover sheet of envelope {i + 1} shows envelope {j + 1}'s addressee."))
        if normalise(seg.certificate_id) not in body:
            problems.append(Problem(f"{where}.pdf", "REG-CERT/print-mismatch",
                                    f"{i + 1}通目の送付状の後に証明書 {seg.certificate_id} がありません。",
                                    f"Certificate {seg.certificate_id} does not follow envelope {i + 1}'s cover sheet."))
        problems += [p.at(where) for p in _subject_problems(body, seg.subjects, everyone)]
    if not problems and expected != len(texts):
        problems.append(Problem("envelopes", "REG-CERT/print-mismatch", "印刷用ファイルの最後に余分な頁があります。",
                                "The print file has pages after the last envelope."))
    return problems


def _subject_problems(text: str, subjects: Sequence[PersonRecord], batch: Sequence[PersonRecord]) -> list[Problem]:
    """The subjects must be on ``text`` (normalised), and no one else of ``batch``."""
    problems: list[Problem] = []
    for subject in subjects:
        if normalise(subject.name) not in text or normalise(subject.address.text) not in text:
            problems.append(Problem("pdf", "REG-CERT/bulk-mismatch",
                                    f"証明書に対象者（{subject.name}）の氏名・住所が見つかりません。",
                                    f"The certificate does not show its subject's ({subject.person_id}) name and address."))
    ours = {p.person_id for p in subjects}
    names = {normalise(p.name) for p in subjects}
    addresses = {normalise(p.address.text) for p in subjects}
    for other in batch:
        if other.person_id in ours:
            continue
        name = normalise(other.name)
        namesake = name in names
        if name in text and (not namesake or (normalise(other.address.text) in text and
                             normalise(other.address.text) not in addresses)):
            problems.append(Problem("pdf", "REG-CERT/bulk-mismatch",
                                    f"証明書に別の対象者（{other.name}）が記載されています。",
                                    f"The certificate shows another subject of the batch ({other.person_id})."))
    return problems
