"""特例転入 (住基法24条の2, NET-6): moving in with the My Number card, between two municipalities.

The flow (001 別添1-6, 003 別添1-3):

1. **転出** at the former municipality (転出地): the 転出届 makes the persons' 住民票 into 除票 as of the
   planned move-out date (転出予定日); no paper 転出証明書 is needed when the card is used.
2. **Card check** at the new municipality (転入地): the card presented is valid at 機構's card
   management system and its 住民票コード names the person moving in.
3. **転出証明書情報の送信依頼** (the request): the new municipality asks the former one, over the network,
   for the 転出証明書情報 of that 住民票コード.  The request carries **no 個人番号**
   (「特定個人情報を含まない」): only the 住民票コード, the card's holder check and who asks.
4. **転出証明書情報** (the answer): the items of the 転出証明書 (住基法施行令23条) for every person removed
   by that 転出届, 個人番号 included (it is carried over into the new 住民票).
5. **転入**: the new register enters the persons through its normal change workflow (四つの目),
   ``special=True``, from the 転出証明書情報.
6. **転入通知** (住基法9条1項) back to the former municipality, which records the confirmed new address on
   its 除票 (転出確定); at the same moment the update goes to the prefecture (the 住基ネット stream).
7. **継続利用**: the card stays valid at the new address (card management system).

Received 転出証明書情報 that no 転入 used within :data:`UNUSED_CERTIFICATE_DAYS` days after the planned
move-out date is deleted (001 別添1-6 ※).

This module holds the messages and the rules; :mod:`juki.net.transfer` moves them between nodes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import identifiers
from .changes import MoveIn, NewPerson, from_json
from .errors import InvalidInput, Problem, Problems, RuleViolation
from .model import (
    HEAD,
    Address,
    Eligibility,
    ForeignResidentItems,
    FuriganaStatus,
    PersonRecord,
    RemovalReason,
    Sex,
    to_json,
)
from .rules import LegalParameter, in_force

UNUSED_CERTIFICATE_DAYS = (
    LegalParameter(
        "受信した転出証明書情報の保存期間",
        30,
        "住民基本台帳法第24条の2, 札幌市評価書 別添1-6 (転出の予定年月日から30日後までに転入手続が行われない場合は消去)",
        dt.date(2016, 1, 1),
    ),
)
"""Received 転出証明書情報 is kept this many days after the planned move-out date, then deleted."""


def deletion_date(planned_move_out: dt.date) -> dt.date:
    """The first day on which unused 転出証明書情報 with this 転出予定日 is deleted."""
    days = in_force(UNUSED_CERTIFICATE_DAYS, planned_move_out).value
    return planned_move_out + dt.timedelta(days=days + 1)


# --- the request (no 個人番号) ------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateRequest:
    """転出証明書情報の送信依頼: from the new municipality's CS to the former one's (NET-6).

    It names the card holder's 住民票コード (read from the card) and the card's serial, who asks and on
    which counter case; it never carries a 個人番号."""

    juminhyo_code: str
    requesting_lg_code: str  # 転入地 地方公共団体コード
    card_serial: str = ""  # 個人番号カードの券面管理番号 (the card shown at the counter)
    case_ref: str = ""  # 受付番号 at the new municipality

    def check(self) -> CertificateRequest:
        problems = Problems()
        for p in (identifiers.juminhyo_code_problem(self.juminhyo_code),
                  identifiers.lg_code_problem(self.requesting_lg_code, "requesting_lg_code")):
            if p:
                problems.extend([p])
        problems.raise_if_any()
        return self


# --- the answer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificatePerson:
    """One person on the 転出証明書情報 (住基法施行令23条 items)."""

    juminhyo_code: str
    individual_number: str | None  # carried over to the new 住民票 (NET-6: 転出証明書情報 carries it)
    name: str
    name_kana: str | None
    furigana_status: FuriganaStatus
    birth_date: dt.date
    sex: Sex
    relationship: str  # 世帯主との続柄 at the former address
    head_name: str  # 世帯主の氏名
    honseki: str = ""
    hittosha: str = ""
    former_surname: str = ""
    former_surname_kana: str = ""
    alias: str = ""
    alias_kana: str = ""
    foreign: ForeignResidentItems | None = None
    eligibility: Eligibility = field(default_factory=Eligibility)


@dataclass(frozen=True)
class MoveOutCertificate:
    """転出証明書情報: the 転出届 of one or more persons of one household, as the former municipality
    sends it (住基法24条の2第7項)."""

    from_lg_code: str  # 転出地 地方公共団体コード
    from_name: str  # 転出地 市町村名
    address: Address  # the address moved out of (becomes the 転入前住所)
    destination: Address  # 転出先 (予定) as notified
    planned_move_out: dt.date  # 転出の予定年月日
    notified_on: dt.date  # 転出届の年月日
    persons: tuple[CertificatePerson, ...]
    support_measure: bool = False  # a person on it is under a DV 支援措置 (SEC-8): handle by hand, carry the measure over

    def person(self, juminhyo_code: str) -> CertificatePerson | None:
        return next((p for p in self.persons if p.juminhyo_code == juminhyo_code), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = to_json(self)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> MoveOutCertificate:
        result = from_json(MoveOutCertificate, data, "certificate")
        assert isinstance(result, MoveOutCertificate)
        return result


def certificate_problem(removed: Sequence[PersonRecord], juminhyo_code: str) -> Problem | None:
    """Why the former municipality cannot answer for ``juminhyo_code`` (None when it can).

    ``removed`` is what the register holds under that code (the 除票 and anyone else).  Only a 除票 made
    by a 転出 that no 転入通知 has confirmed yet has 転出証明書情報."""
    if not removed:
        return Problem("juminhyo_code", "NET-6/not-found", "この住民票コードの転出者はいません。",
                       "No one moved out with this resident record code.")
    p = removed[0]
    if p.is_resident:
        return Problem("juminhyo_code", "NET-6/no-move-out", "この住民票コードの人は転出届をしていません（住民です）。",
                       "The person with this resident record code has not notified a move-out (still a resident).")
    if p.removal_reason is not RemovalReason.MOVE_OUT:
        return Problem("juminhyo_code", "NET-6/no-move-out", "転出による除票ではないため転出証明書情報はありません。",
                       "The record was not removed by a move-out, so there is no move-out certificate.")
    if p.move_out_confirmed:
        return Problem("juminhyo_code", "NET-6/confirmed", "転入通知を受けて転出は確定済みです。",
                       "The move-out has already been confirmed by a move-in notice.")
    return None


def certificate_from_records(
    *, from_lg_code: str, from_name: str, persons: Sequence[PersonRecord], notified_on: dt.date,
    support_measure: bool = False,
) -> MoveOutCertificate:
    """The 転出証明書情報 for the persons one 転出届 removed (their 除票, in household order)."""
    first = persons[0]
    assert first.removal_date is not None and first.moved_out_to is not None
    return MoveOutCertificate(
        from_lg_code=from_lg_code,
        from_name=from_name,
        address=first.address,
        destination=first.moved_out_to,
        planned_move_out=first.removal_date,
        notified_on=notified_on,
        persons=tuple(
            CertificatePerson(
                juminhyo_code=p.juminhyo_code, individual_number=p.individual_number, name=p.name,
                name_kana=p.name_kana, furigana_status=p.furigana_status, birth_date=p.birth_date, sex=p.sex,
                relationship=p.relationship, head_name=p.head_name, honseki=p.honseki, hittosha=p.hittosha,
                former_surname=p.former_surname, former_surname_kana=p.former_surname_kana, alias=p.alias,
                alias_kana=p.alias_kana, foreign=p.foreign, eligibility=p.eligibility,
            )
            for p in persons
        ),
        support_measure=support_measure,
    )


# --- the 転入 from a certificate ---------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """What the clerk adds to the 転出証明書情報 at the new counter: who of the certificate moves in
    (by 住民票コード; default everyone), their 続柄 in the new household (default as before), the new
    address, or the household they join."""

    address: Address
    juminhyo_codes: tuple[str, ...] = ()
    relationships: tuple[tuple[str, str], ...] = ()  # (住民票コード, 続柄)
    join_household_id: str = ""


def move_in_command(certificate: MoveOutCertificate, arrival: Arrival, *, moved_in_on: dt.date, today: dt.date) -> MoveIn:
    """The 転入 command for the persons of ``certificate`` (特例転入, ``special=True``).

    Refused: a person not on the certificate, a move-in before the planned move-out date, and a
    certificate past its keeping period (転出予定日 + 30 days: the 特例 no longer applies, the person
    needs a paper 転出証明書)."""
    problems = Problems()
    codes = arrival.juminhyo_codes or tuple(p.juminhyo_code for p in certificate.persons)
    if len(set(codes)) != len(codes):
        problems.add("juminhyo_codes", "REG-R2", "同じ住民票コードが重複しています。", "A resident record code is given twice.")
    chosen = []
    for i, code in enumerate(codes):
        p = certificate.person(code)
        if p is None:
            problems.add(f"juminhyo_codes[{i}]", "NET-6/not-on-certificate", "転出証明書情報に記載のない住民票コードです。",
                         "This resident record code is not on the move-out certificate.")
        else:
            chosen.append(p)
    relationships = dict(arrival.relationships)
    for code in relationships:
        if code not in codes:
            problems.add("relationships", "NET-6/not-on-certificate", f"続柄の指定 {code} は転入する人ではありません。",
                         f"The relationship given for {code} is not for a person moving in.")
    if moved_in_on < certificate.planned_move_out:
        problems.add("effective_date", "REG-R1/move-in-before-move-out",
                     f"転入日が転出予定日（{certificate.planned_move_out.isoformat()}）より前です。",
                     f"The move-in date is before the planned move-out date ({certificate.planned_move_out.isoformat()}).")
    if today >= deletion_date(certificate.planned_move_out):
        problems.add("certificate", "NET-6/expired",
                     "転出予定日から30日を過ぎたため、この転出証明書情報では特例転入できません。",
                     "More than 30 days have passed since the planned move-out date: the special move-in no longer applies.")
    problems.raise_if_any(RuleViolation)
    persons = []
    for p in chosen:
        rel = relationships.get(p.juminhyo_code, p.relationship)
        persons.append(NewPerson(
            name=p.name, birth_date=p.birth_date, sex=p.sex, relationship=rel, name_kana=p.name_kana,
            furigana_status=p.furigana_status, juminhyo_code=p.juminhyo_code, individual_number=p.individual_number,
            former_surname=p.former_surname, former_surname_kana=p.former_surname_kana, alias=p.alias,
            alias_kana=p.alias_kana, honseki=p.honseki, hittosha=p.hittosha, foreign=p.foreign,
            eligibility=p.eligibility,
        ))
    if not arrival.join_household_id and not any(p.relationship == HEAD for p in persons) and len(persons) == 1:
        persons[0] = dataclasses.replace(persons[0], relationship=HEAD)
    return MoveIn(persons=tuple(persons), address=arrival.address, prior_address=certificate.address,
                  moved_out_on=certificate.planned_move_out, join_household_id=arrival.join_household_id,
                  special=True)


# --- 転入通知 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoveInNotice:
    """転入通知 (住基法9条1項): the new municipality tells the former one that the persons moved in."""

    from_lg_code: str  # the new municipality (sender)
    to_lg_code: str  # the former municipality
    juminhyo_codes: tuple[str, ...]
    address: Address  # the confirmed new address (転出確定住所)
    moved_in_on: dt.date  # 異動日 of the 転入
    event_ref: str  # the new municipality's event (idempotency: one notice per 転入 event)
    seq: int = 0  # 通知番号: dense from 1 per (sender, addressee); the addressee takes them in this order
    prior_address: Address | None = None  # 従前の住所 (the address at the former municipality)

    def check(self) -> MoveInNotice:
        problems = Problems()
        for p in (identifiers.lg_code_problem(self.from_lg_code, "from_lg_code"),
                  identifiers.lg_code_problem(self.to_lg_code, "to_lg_code")):
            if p:
                problems.extend([p])
        if not self.juminhyo_codes:
            problems.add("juminhyo_codes", "REG-R2", "住民票コードを1つ以上指定してください。", "Name at least one code.")
        for i, code in enumerate(self.juminhyo_codes):
            if (p := identifiers.juminhyo_code_problem(code, f"juminhyo_codes[{i}]")) is not None:
                problems.extend([p])
        if not self.event_ref:
            problems.add("event_ref", "REG-R2", "通知元の異動の参照が必要です。", "The notice must name its move-in event.")
        if self.seq < 0:
            problems.add("seq", "NET-6/order", "通知番号は1以上の整数です。", "The notice number is a positive integer.")
        problems.raise_if_any(InvalidInput)
        return self


@dataclass(frozen=True)
class MoveInNoticeSkip:
    """The place of a 転入通知 the sender's operator decided not to send (by name and with a reason,
    ``juki net resume --action skip``): the addressee records the skip and takes the next one."""

    from_lg_code: str
    to_lg_code: str
    seq: int
    event_ref: str
    skipped_by: str
    reason: str
