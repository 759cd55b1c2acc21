"""送付先情報 (NET-8): what the municipality sends 機構 so that it can mail the 個人番号通知書 and the card
application form (個人番号カード省令23条の2; 003 別添2 送付先情報ファイル, 67 items).

The record is built from the 住民票 as it stands and sent **unedited** (NET-8: 「編集せず」); it names the
person, the address the notice goes to, the municipality's contact points, and the 個人番号 the notice
announces.  It is made only for a living resident whose number was just designated or changed; never
for a deceased person.

Items are those of 003 別添2 (送付先情報ファイル) that juki holds; the lengths (項目長), 外字数 and 代替文字
items are derived by the receiver from the text itself, and the 交付場所 / カード送付場所 are the
municipality's counter unless configured otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .errors import Problem, RuleViolation
from .model import PersonRecord
from .rules import LegalParameter

SENDING_INFO_KEEP_DAYS = (
    LegalParameter("送付先情報の保存期間（提供後）", 30,
                   "札幌市評価書 II(3)-6 (送付先情報の提供後30日経過後に自動削除; 別の箇所では1営業日。設定で変更可)",
                   dt.date(2015, 10, 5)),
)
"""Default days a 送付先情報 record is kept after it was provided, then deleted (configurable; under 1 year)."""


@dataclass(frozen=True)
class Office:
    """The municipality as printed on the notice (市町村名, 住所, 電話番号, 交付場所)."""

    lg_code: str
    name: str
    postcode: str = ""
    address: str = ""
    phone: str = ""
    issue_place: str = ""  # 交付場所名 (the counter where the card is handed over)


@dataclass(frozen=True)
class SendingInfo:
    """One 送付先情報 record (NET-8)."""

    sending_ref: str  # 送付先管理番号
    processed_on: dt.date  # 処理年月日
    operator: str  # 操作者ID
    terminal: str  # 操作端末ID
    lg_code: str  # 市町村コード
    municipality: str  # 市町村名
    municipality_postcode: str  # 市町村郵便番号
    municipality_address: str  # 市町村住所
    municipality_phone: str  # 市町村電話番号
    issue_place: str  # 交付場所名
    recipient_postcode: str  # 送付先郵便番号
    recipient_address: str  # 送付先住所
    recipient_name: str  # 送付先氏名
    persons: int  # 対象となる人数
    juminhyo_code: str  # 住民票コード
    name: str  # 氏名 漢字
    name_kana: str  # 氏名 かな
    postcode: str  # 郵便番号
    address: str  # 住所
    birth_date: dt.date  # 生年月日
    sex: str  # 性別
    individual_number: str  # 個人番号
    category_30_45: str  # 第30条の45に規定する区分 (外国人住民)
    stay_expiry: dt.date | None  # 在留期間の満了の日
    former_surname: str  # 旧氏 漢字
    former_surname_kana: str  # 旧氏 ふりがな
    roman_name: str  # ローマ字氏名


def sending_info(person: PersonRecord, *, office: Office, sending_ref: str, processed_on: dt.date, operator: str,
                 terminal: str) -> SendingInfo:
    """The record for ``person`` (a living resident with a 個人番号), as it stands in the register."""
    if not person.is_resident:
        raise RuleViolation(Problem("person_id", "NET-8/resident", "住民でない人（死亡者を含む）の送付先情報は作成しません。",
                                    "No sending information is made for someone who is not a resident (the deceased included)."))
    if not person.individual_number:
        raise RuleViolation(Problem("person_id", "NET-8/number", "個人番号が指定されていません。",
                                    "The person has no individual number."))
    foreign = person.foreign
    return SendingInfo(
        sending_ref=sending_ref, processed_on=processed_on, operator=operator, terminal=terminal,
        lg_code=office.lg_code, municipality=office.name, municipality_postcode=office.postcode,
        municipality_address=office.address, municipality_phone=office.phone,
        issue_place=office.issue_place or office.name,
        recipient_postcode=person.address.postcode, recipient_address=person.address.text, recipient_name=person.name,
        persons=1, juminhyo_code=person.juminhyo_code, name=person.name, name_kana=person.name_kana or "",
        postcode=person.address.postcode, address=person.address.text, birth_date=person.birth_date,
        sex=person.sex.value, individual_number=person.individual_number,
        category_30_45=foreign.category if foreign else "", stay_expiry=foreign.stay_expiry if foreign else None,
        former_surname=person.former_surname, former_surname_kana=person.former_surname_kana,
        roman_name=foreign.roman_name if foreign else "",
    )
