"""引越しワンストップ (CTR-3): an online 転出届 or 転入予約 / 転居予約 from マイナポータル, as it arrives.

The portal sends the applicant's 4情報 (from the My Number card), the persons who move and where to;
the municipality receives it into a queue, and a clerk completes it at the counter by entering the
change (転出 at once; 転入・転居 when the resident comes on the reserved day).  Parsing is strict
(REG-R2): an unknown or missing item is refused, naming the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .changes import from_json
from .errors import InvalidInput, Problems
from .model import Address, Sex


class ApplicationKind(StrEnum):
    MOVE_OUT = "move_out"  # 転出届（オンライン）
    MOVE_IN_RESERVATION = "move_in_reservation"  # 転入予約
    MOVE_WITHIN_RESERVATION = "move_within_reservation"  # 転居予約

    @property
    def ja(self) -> str:
        return {"move_out": "転出届", "move_in_reservation": "転入予約", "move_within_reservation": "転居予約"}[self.value]


class ApplicationStatus(StrEnum):
    RECEIVED = "received"  # 受付（窓口での処理待ち）
    IN_PROGRESS = "in_progress"  # 処理中（異動を入力し、決裁待ち）
    COMPLETED = "completed"  # 完了（異動が決裁された）
    WITHDRAWN = "withdrawn"  # 取下げ
    REFUSED = "refused"  # 受理できない（不備）

    @property
    def ja(self) -> str:
        return {"received": "受付", "in_progress": "処理中", "completed": "完了", "withdrawn": "取下げ",
                "refused": "不受理"}[self.value]


@dataclass(frozen=True)
class Applicant:
    """申請者 (本人確認済み: マイナンバーカードの署名用電子証明書による)."""

    name: str
    name_kana: str
    birth_date: dt.date


@dataclass(frozen=True)
class ApplicationPerson:
    """異動する人."""

    name: str
    name_kana: str
    birth_date: dt.date
    sex: Sex
    relationship: str = ""


@dataclass(frozen=True)
class OnlineApplication:
    reference: str  # the portal's 申請番号
    kind: ApplicationKind
    applicant: Applicant
    planned_date: dt.date  # 異動（予定）日
    persons: tuple[ApplicationPerson, ...]
    channel: str = "マイナポータル"
    visit_date: dt.date | None = None  # 来庁予定日
    destination: Address | None = None  # 転出先 (転出届)
    address: Address | None = None  # 新住所 (転入予約・転居予約)
    prior_address: Address | None = None  # 転入前住所 (転入予約)
    contact: str = ""  # 連絡先


def parse_application(data: dict[str, Any]) -> OnlineApplication:
    app = from_json(OnlineApplication, data, "")
    assert isinstance(app, OnlineApplication)
    problems = Problems()
    if not app.reference.strip() or len(app.reference) > 64:
        problems.add("reference", "CTR-3", "申請番号は1〜64文字です。", "The reference must be 1-64 characters.")
    if not app.persons:
        problems.add("persons", "CTR-3", "異動する人を1人以上指定してください。", "Name at least one person.")
    if app.kind is ApplicationKind.MOVE_OUT and app.destination is None:
        problems.add("destination", "CTR-3", "転出届には転出先が必要です。", "A move-out needs its destination.")
    if app.kind is not ApplicationKind.MOVE_OUT and app.address is None:
        problems.add("address", "CTR-3", "予約には新しい住所が必要です。", "A reservation needs the new address.")
    if app.kind is ApplicationKind.MOVE_IN_RESERVATION and app.prior_address is None:
        problems.add("prior_address", "CTR-3", "転入予約には転入前の住所が必要です。", "A move-in reservation needs the previous address.")
    if app.visit_date is not None and app.visit_date < app.planned_date and app.kind is not ApplicationKind.MOVE_OUT:
        problems.add("visit_date", "CTR-3", "来庁予定日は異動予定日以後にしてください。",
                     "The visit must be on or after the planned move.")
    problems.raise_if_any(InvalidInput)
    return app
