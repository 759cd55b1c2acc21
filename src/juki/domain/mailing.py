"""What is printed to mail certificates (郵送交付, REG-CERT; the 002 別紙2 incidents): a 送付状 (cover
sheet) per envelope, and for a batch (一括交付) a 発送一覧 (dispatch list) first.  Stdlib only.

The print file a clerk stuffs envelopes from is, in envelope order: the 発送一覧 (a batch's count and every
envelope: what the incident's remedy asks to compare with the envelopes before posting), then for each
envelope its 送付状 -- the addressee and address placed for a 窓あき封筒 (長形3号), so the address shown
through the window is the one printed on the sheet in front of the certificate -- followed by the
certificate's pages.  Each 送付状 begins an envelope; everything up to the next 送付状 goes in it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .wareki import wareki


@dataclass(frozen=True)
class Enclosure:
    """One envelope: where it goes and the one certificate in it."""

    number: int  # 1..n in the print file's order
    addressee: str  # 宛名 (as on the 返信用封筒)
    address: str  # 住所
    certificate_id: str
    kind_ja: str  # 住民票の写し, ...
    request_id: str = ""  # 郵送受付番号, when it came from the mail queue


@dataclass(frozen=True)
class MailingSet:
    """The 送付状 (and, for a batch, the 発送一覧) of certificates mailed together."""

    municipality: str  # 札幌市
    office: str  # the sender line: 札幌市 市民課
    issued_on: dt.date
    envelopes: tuple[Enclosure, ...]
    batch_id: str = ""  # a batch prints its 発送一覧 first

    @property
    def date_text(self) -> str:
        return wareki(self.issued_on)

    @property
    def count(self) -> int:
        return len(self.envelopes)
