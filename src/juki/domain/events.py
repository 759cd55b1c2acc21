"""The 異動 as recorded: kinds, provenance and the outcome of one approved change (REG-EVENTS, REG-R4).

A change request (届出 or 職権 entry) becomes effective only on approval (REG-R3).  The domain turns an
approved request into an :class:`Outcome`: the new versions of every 住民票 and 世帯 it touches.  Storage
records the outcome as one event row plus those versions, in one transaction, and never updates or
deletes any of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .model import HouseholdRecord, PersonRecord


class ChangeKind(StrEnum):
    """異動の種類.  The value is the stable API name; ``ja`` the label clerks see."""

    MOVE_IN = "move_in"  # 転入 REG-E1
    MOVE_WITHIN = "move_within"  # 転居 REG-E2
    MOVE_OUT = "move_out"  # 転出 REG-E3
    MOVE_OUT_CONFIRMED = "move_out_confirmed"  # 転出確定 (転入通知受理) REG-E3
    HOUSEHOLD_SPLIT = "household_split"  # 世帯分離 REG-E4
    HOUSEHOLD_MERGE = "household_merge"  # 世帯合併 REG-E4
    HEAD_CHANGE = "head_change"  # 世帯主変更 REG-E4
    HOUSEHOLD_REORGANISE = "household_reorganise"  # 世帯構成変更 REG-E4
    BIRTH = "birth"  # 出生 REG-E5
    DEATH = "death"  # 死亡 REG-E6
    EX_OFFICIO_ENTRY = "ex_officio_entry"  # 職権記載 REG-E7
    EX_OFFICIO_CORRECTION = "ex_officio_correction"  # 職権修正 REG-E7
    EX_OFFICIO_REMOVAL = "ex_officio_removal"  # 職権消除 REG-E7
    MOVE_ABROAD = "move_abroad"  # 国外転出 REG-E8
    MOVE_IN_FROM_ABROAD = "move_in_from_abroad"  # 国外からの転入 REG-E8
    INDIVIDUAL_NUMBER_CHANGE = "individual_number_change"  # 個人番号変更 REG-E9
    JUMINHYO_CODE_CHANGE = "juminhyo_code_change"  # 住民票コード変更 REG-E9
    NAME_CHANGE = "name_change"  # 氏名等の変更 REG-E10
    CANCELLATION = "cancellation"  # 取消 REG-E11
    INITIAL_LOAD = "initial_load"  # 移行 (bulk load of an existing register)

    @property
    def ja(self) -> str:
        return CHANGE_KIND_JA[self]


CHANGE_KIND_JA: dict[ChangeKind, str] = {
    ChangeKind.MOVE_IN: "転入",
    ChangeKind.MOVE_WITHIN: "転居",
    ChangeKind.MOVE_OUT: "転出",
    ChangeKind.MOVE_OUT_CONFIRMED: "転出確定",
    ChangeKind.HOUSEHOLD_SPLIT: "世帯分離",
    ChangeKind.HOUSEHOLD_MERGE: "世帯合併",
    ChangeKind.HEAD_CHANGE: "世帯主変更",
    ChangeKind.HOUSEHOLD_REORGANISE: "世帯構成変更",
    ChangeKind.BIRTH: "出生",
    ChangeKind.DEATH: "死亡",
    ChangeKind.EX_OFFICIO_ENTRY: "職権記載",
    ChangeKind.EX_OFFICIO_CORRECTION: "職権修正",
    ChangeKind.EX_OFFICIO_REMOVAL: "職権消除",
    ChangeKind.MOVE_ABROAD: "国外転出",
    ChangeKind.MOVE_IN_FROM_ABROAD: "国外からの転入",
    ChangeKind.INDIVIDUAL_NUMBER_CHANGE: "個人番号変更",
    ChangeKind.JUMINHYO_CODE_CHANGE: "住民票コード変更",
    ChangeKind.NAME_CHANGE: "氏名等の変更",
    ChangeKind.CANCELLATION: "取消",
    ChangeKind.INITIAL_LOAD: "移行",
}


class Origin(StrEnum):
    """How a change reached the register (REG-R3 provenance)."""

    NOTIFICATION = "notification"  # 届出 (by the resident or an agent)
    EX_OFFICIO = "ex_officio"  # 職権 (after the municipality's own investigation)
    NOTICE = "notice"  # 通知 (from 戸籍, 入管, another municipality)

    @property
    def ja(self) -> str:
        return {"notification": "届出", "ex_officio": "職権", "notice": "通知"}[self.value]


@dataclass(frozen=True)
class Provenance:
    """Who, when, on what basis: required on every change (house rule 3)."""

    origin: Origin
    legal_basis: str  # 根拠法令, e.g. "住民基本台帳法第22条"
    effective_date: dt.date  # 異動日
    notified_date: dt.date  # 届出日 (the date of the notice or of the 職権 decision)
    entered_by: str  # 入力者 user id
    terminal: str  # 端末ID
    case_ref: str = ""  # 受付番号 / 処理ID
    agent: str = ""  # 代理人 (氏名; 委任状 recorded) when someone other than the person files


@dataclass(frozen=True)
class Outcome:
    """What one approved change does to the register.

    ``persons`` and ``households`` are the *new* versions of every record the change touches; each takes
    effect from ``valid_from`` (the 異動日, or for a 取消 the 異動日 of the change it cancels).
    """

    kind: ChangeKind
    valid_from: dt.date
    persons: tuple[PersonRecord, ...]
    households: tuple[HouseholdRecord, ...]
    summary_ja: str
    late: bool = False  # 届出期間 (14日) 経過
    corrects_event: int | None = None  # seq of the event a 職権修正 corrects
    cancels_event: int | None = None  # seq of the event a 取消 cancels
    new_individual_numbers: tuple[str, ...] = ()  # persons needing a 個人番号 生成要求 (NET-7)
    details: dict[str, Any] = field(default_factory=dict)  # extra facts for history and the outbox
