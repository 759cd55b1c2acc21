"""本人確認情報: what the 住基ネット keeps and sends about a person, at each tier (NET-1..3, PRF-1..4, PRF-8).

Record sets (item names and order as in the seeds' 特定個人情報ファイル descriptions):

* :class:`CsRecord` -- 市町村CS 本人確認情報ファイル, **40 items** (NET-1; 001/003 別添2);
* :class:`PrefectureRecord` -- 都道府県知事保存本人確認情報ファイル, **28 items** (PRF-1; 004).  The national
  server (機構保存本人確認情報) keeps the same items: the seeds describe it only from the outside (§6);
* :class:`FuhyoRecord` -- 附票本人確認情報, **18 items** (PRF-8; 004): no 本籍/筆頭者 and no 個人番号.

Notices between tiers:

* :class:`IdentityUpdate` -- 本人確認情報の更新 (住基法30条の6 → 都道府県, 30条の7 → 機構): the **8 items**
  住民票コード, 氏名, 生年月日, 性別, 住所, 個人番号, 異動事由, 異動年月日, with the attributes the receiving
  files derive their other items from (ふりがな, 旧氏, 市町村コード, 大字・字コード, 操作者ID, 操作端末ID,
  タイムスタンプ) and the record's state afterwards (現存 / 消除 / 無効);
* :class:`FuhyoUpdate` -- 附票本人確認情報の更新 (住基法30条の41 ff.).

Both are numbered by the municipality's **更新順番号** (``seq``, dense from 1 per municipality) and carry
the municipality's code (``origin``).

Mapping from the register (NET-3: the CS takes only the items the law allows): :func:`cs_record` builds
the 40 items from a 住民票 (:class:`~juki.domain.model.PersonRecord`) and the facts of the change
(:class:`ChangeFacts`); :func:`identity_update` the 8-item notice from a CS record; :func:`fuhyo_update`
the 附票 notice; :func:`prefecture_record` and :func:`fuhyo_record` what the receiving tiers keep.

Checks (the same at every tier): :func:`format_problems` (NET-3 項目チェック: format and codes) and
:func:`logic_problems` (PRF-2 論理チェック against the receiver's current record: a 転入 for a person who
already lives in that municipality, a 転居 that changes more than the address, a 消除 of someone already
removed, a 附票 消除 for someone already removed).  :func:`effect` says what an accepted update does to
the receiver's current record.

外字 (characters outside JIS X 0208, and any character with an ideographic variation selector) are
counted per field (外字数) and listed (外字パターン, as code points); 外字変更連番 counts how often a field's
外字 changed.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from .errors import Problem
from .events import ChangeKind
from .identifiers import individual_number_problem, juminhyo_code_problem, lg_code_problem
from .kana import kana_key
from .model import PersonRecord, RemovalReason, Status
from .rules import EARLIEST_BIRTH_DATE

NAME_LIMIT = 100
ADDRESS_LIMIT = 300


class RecordState(StrEnum):
    """レコード状況 (CS) / 削除フラグ (prefecture) / 附票本人確認情報状態区分."""

    CURRENT = "current"  # 現存
    REMOVED = "removed"  # 消除
    VOID = "void"  # 無効 (created by a change that was cancelled, 取消)

    @property
    def ja(self) -> str:
        return {"current": "現存", "removed": "消除", "void": "無効"}[self.value]


class RecordFile(StrEnum):
    """Which file a notice updates."""

    IDENTITY = "identity"  # 本人確認情報
    FUHYO = "fuhyo"  # 附票本人確認情報

    @property
    def ja(self) -> str:
        return "本人確認情報" if self is RecordFile.IDENTITY else "附票本人確認情報"


class FuhyoNotice(StrEnum):
    """通知区分 of a 附票本人確認情報 notice."""

    ENTRY = "entry"  # 記載
    AMENDMENT = "amendment"  # 修正
    REMOVAL = "removal"  # 消除

    @property
    def ja(self) -> str:
        return {"entry": "記載", "amendment": "修正", "removal": "消除"}[self.value]


ENTERING: frozenset[ChangeKind] = frozenset({
    ChangeKind.MOVE_IN, ChangeKind.MOVE_IN_FROM_ABROAD, ChangeKind.BIRTH, ChangeKind.EX_OFFICIO_ENTRY,
})
"""異動事由 that create a record (記載)."""

LEAVING: frozenset[ChangeKind] = frozenset({
    ChangeKind.MOVE_OUT, ChangeKind.MOVE_ABROAD, ChangeKind.DEATH, ChangeKind.EX_OFFICIO_REMOVAL,
})
"""異動事由 that remove a record (消除)."""

AMENDING: frozenset[ChangeKind] = frozenset({
    ChangeKind.MOVE_WITHIN, ChangeKind.EX_OFFICIO_CORRECTION, ChangeKind.NAME_CHANGE,
    ChangeKind.INDIVIDUAL_NUMBER_CHANGE, ChangeKind.JUMINHYO_CODE_CHANGE, ChangeKind.CANCELLATION,
    ChangeKind.MOVE_OUT_CONFIRMED,
})
"""異動事由 that amend an existing record (修正; a 取消 restores or voids)."""

RESYNC_DETAIL = "整合性確認による再送"
"""異動事由詳細 of a notice the CS re-sends to repair a difference found by 整合性確認 (NET-10): it restates
the master's current record, so the receivers replace theirs without the logic checks (PRF-2), as for a
移行 (initial load); the format checks still apply."""

NOTIFIED_REASONS: frozenset[ChangeKind] = ENTERING | LEAVING | AMENDING | {ChangeKind.INITIAL_LOAD}
"""Every 異動事由 an update may carry; 世帯 changes alone never change 本人確認情報 (住基法30条の6)."""


# ---------------------------------------------------------------------------------------------------
# 外字


def _is_variation_selector(ch: str) -> bool:
    o = ord(ch)
    return 0xFE00 <= o <= 0xFE0F or 0xE0100 <= o <= 0xE01EF


@functools.lru_cache(maxsize=65536)
def gaiji(text: str) -> tuple[str, ...]:
    """The 外字 of ``text``: characters outside JIS X 0208 (as Shift_JIS encodes it), and any character
    followed by an ideographic variation selector (IVS), each as ``U+XXXX`` (``U+XXXX U+E01xx`` for an
    IVS sequence); in order, repeats kept."""
    if text.isascii():
        return ()
    try:
        text.encode("shift_jis")
    except UnicodeEncodeError:
        pass
    else:
        return ()  # all of JIS X 0208 (no selector encodes in Shift_JIS)
    out: list[str] = []
    chars = list(text)
    for i, ch in enumerate(chars):
        if _is_variation_selector(ch):
            continue
        nxt = chars[i + 1] if i + 1 < len(chars) else ""
        if nxt and _is_variation_selector(nxt):
            out.append(f"U+{ord(ch):04X} U+{ord(nxt):04X}")
            continue
        try:
            ch.encode("shift_jis")
        except UnicodeEncodeError:
            out.append(f"U+{ord(ch):04X}")
    return tuple(out)


def _serial(previous_serial: int, previous_text: str | None, text: str) -> int:
    """外字変更連番: +1 whenever the field's 外字 differ from the previous version's."""
    if previous_text is None:
        return 1 if gaiji(text) else 0
    return previous_serial + (1 if gaiji(previous_text) != gaiji(text) else 0)


# ---------------------------------------------------------------------------------------------------
# The facts of one change, as the CS takes them from the register


@dataclass(frozen=True)
class ChangeFacts:
    """What the 市町村CS takes from one committed 異動 besides the 住民票 itself."""

    kind: ChangeKind  # 異動事由
    change_date: dt.date  # 異動年月日
    operator: str  # 操作者ID (who entered the change)
    terminal: str  # 操作端末ID
    recorded_at: dt.datetime  # タイムスタンプ
    request_ref: str = ""  # 依頼管理番号 (the register's request / case)
    detail: str = ""  # 異動事由詳細 (特例転入, the cause of a 氏名 change, what a 取消 cancelled, ...)


def state_of(person: PersonRecord) -> RecordState:
    if person.status is Status.RESIDENT:
        return RecordState.CURRENT
    if person.status is Status.VOID:
        return RecordState.VOID
    return RecordState.REMOVED


# ---------------------------------------------------------------------------------------------------
# The 8-item notice


@dataclass(frozen=True)
class IdentityUpdate:
    """本人確認情報の更新: the 8 items (住基法30条の6) with their attributes, one per person and change."""

    origin: str  # 市町村コード of the sending municipality (its CS)
    seq: int  # 更新順番号 (dense per municipality)
    juminhyo_code: str  # 住民票コード
    name: str  # 氏名 (漢字, exactly as registered)
    name_kana: str  # 氏名 ふりがな ("" when absent)
    birth_date: dt.date  # 生年月日
    sex: str  # 性別 ("1" 男, "2" 女)
    address: str  # 住所
    lg_code: str  # 市町村コード of the 住所 (a ward's code in a 政令指定都市; "" abroad)
    town_code: str  # 大字・字コード
    individual_number: str | None  # 個人番号 (None until designated)
    reason: ChangeKind  # 異動事由
    change_date: dt.date  # 異動年月日
    state: RecordState  # the record after this update: 現存 / 消除 / 無効
    operator: str  # 操作者ID
    terminal: str  # 操作端末ID
    recorded_at: dt.datetime  # タイムスタンプ
    former_surname: str = ""  # 旧氏 漢字
    former_surname_kana: str = ""  # 旧氏 ふりがな
    old_juminhyo_code: str = ""  # 旧住民票コード (a 住民票コードの変更 names the code it replaces)
    reason_detail: str = ""  # 異動事由詳細

    def same_person_items(self, other: IdentityUpdate) -> list[str]:
        """The items other than the address (and the bookkeeping) in which ``other`` differs."""
        names = ("juminhyo_code", "name", "name_kana", "birth_date", "sex", "individual_number",
                 "former_surname", "former_surname_kana")
        return [n for n in names if getattr(self, n) != getattr(other, n)]


@dataclass(frozen=True)
class FuhyoUpdate:
    """附票本人確認情報の更新, from the 市町村CS of the municipality that keeps the 戸籍の附票."""

    origin: str  # 市町村コード of the sending municipality
    seq: int  # 更新順番号 (the same stream as the 本人確認情報)
    juminhyo_code: str  # 住民票コード
    name: str  # 氏名 漢字
    name_kana: str  # 氏名 ふりがな
    birth_date: dt.date  # 生年月日
    sex: str  # 性別
    address_lg_code: str  # 住所 市町村コード ("" abroad)
    address: str  # 住所 漢字 (the address abroad for a 国外転出者)
    last_address: str  # 最終住所 漢字 (the last address in Japan)
    change_date: dt.date  # 異動年月日
    managing_lg_code: str  # 附票管理市町村コード (the municipality of the 本籍)
    state: RecordState  # 附票本人確認情報状態区分
    notice: FuhyoNotice  # 通知区分
    old_juminhyo_code: str = ""  # 旧住民票コード
    resync: bool = False  # 整合性確認による再送 (RESYNC_DETAIL): restates the CS's record, no logic checks


# ---------------------------------------------------------------------------------------------------
# The record sets


@dataclass(frozen=True)
class CsRecord:
    """市町村CS 本人確認情報ファイル: the 40 items of NET-1, in the seeds' order."""

    juminhyo_code: str  # 1 住民票コード
    name: str  # 2 漢字氏名
    name_gaiji_count: int  # 3 外字数(氏名)
    name_kana: str  # 4 ふりがな氏名
    name_kana_plain: str  # 5 清音化かな氏名
    birth_date: dt.date  # 6 生年月日
    sex: str  # 7 性別
    lg_code: str  # 8 市町村コード
    town_code: str  # 9 大字・字コード
    postcode: str  # 10 郵便番号
    address: str  # 11 住所
    address_gaiji_count: int  # 12 外字数(住所)
    individual_number: str | None  # 13 個人番号
    resident_since: dt.date  # 14 住民となった日
    address_since: dt.date  # 15 住所を定めた日
    notified_on: dt.date  # 16 届出の年月日
    prior_lg_code: str  # 17 市町村コード(転入前)
    prior_address: str  # 18 転入前住所
    prior_address_gaiji_count: int  # 19 外字数(転入前住所)
    relationship: str  # 20 続柄
    reason: ChangeKind  # 21 異動事由
    change_date: dt.date  # 22 異動年月日
    reason_detail: str  # 23 異動事由詳細
    old_juminhyo_code: str  # 24 旧住民票コード
    code_since: dt.date  # 25 住民票コード使用年月日
    request_ref: str  # 26 依頼管理番号
    operator: str  # 27 操作者ID
    terminal: str  # 28 操作端末ID
    seq: int  # 29 更新順番号 (of the last notice sent for this record; 0 if none yet)
    recovery_seq: int  # 30 異常時更新順番号 (the 更新順番号 an operator re-sent after a refusal; 0 if none)
    update_prohibited: bool  # 31 更新禁止フラグ
    scheduled: bool  # 32 予定者フラグ (転出予定者: moved out, 転出 not yet confirmed by the 転入通知)
    exclusive: bool  # 33 排他フラグ (set only while an update is being processed; never stored set)
    gaiji_flag: bool  # 34 外字フラグ
    state: RecordState  # 35 レコード状況フラグ
    recorded_at: dt.datetime  # 36 タイムスタンプ
    former_surname: str  # 37 旧氏 漢字
    former_surname_gaiji_count: int  # 38 旧氏 外字数
    former_surname_kana: str  # 39 旧氏 ふりがな
    former_surname_gaiji_serial: int  # 40 旧氏 外字変更連番


@dataclass(frozen=True)
class PrefectureRecord:
    """都道府県知事保存本人確認情報ファイル: the 28 items of PRF-1 (also what 機構 keeps)."""

    juminhyo_code: str  # 1 住民票コード
    name: str  # 2 漢字氏名
    name_gaiji_count: int  # 3 外字数(氏名)
    name_kana: str  # 4 ふりがな氏名
    birth_date: dt.date  # 5 生年月日
    sex: str  # 6 性別
    address: str  # 7 住所
    address_gaiji_count: int  # 8 外字数(住所)
    individual_number: str | None  # 9 個人番号
    reason: ChangeKind  # 10 異動事由
    change_date: dt.date  # 11 異動年月日
    retention_flag: bool  # 12 保存期間フラグ (a 消除 record kept for its retention period, PRF-4)
    name_kana_plain: str  # 13 清音化かな氏名
    lg_code: str  # 14 市町村コード
    town_code: str  # 15 大字・字コード
    operator: str  # 16 操作者ID
    terminal: str  # 17 操作端末ID
    recorded_at: dt.datetime  # 18 タイムスタンプ
    notified_on: dt.date  # 19 通知を受けた年月日
    gaiji_flag: bool  # 20 外字フラグ
    removed: bool  # 21 削除フラグ
    seq: int  # 22 更新順番号
    name_gaiji_serial: int  # 23 氏名外字変更連番
    address_gaiji_serial: int  # 24 住所外字変更連番
    former_surname: str  # 25 旧氏 漢字
    former_surname_gaiji_count: int  # 26 旧氏 外字数
    former_surname_kana: str  # 27 旧氏 ふりがな
    former_surname_gaiji_serial: int  # 28 旧氏 外字変更連番


@dataclass(frozen=True)
class FuhyoRecord:
    """附票本人確認情報: the 18 items of PRF-8 (no 本籍・筆頭者, no 個人番号)."""

    juminhyo_code: str  # 1 住民票コード
    name: str  # 2 氏名 漢字
    name_gaiji_count: int  # 3 氏名 外字数
    name_kana: str  # 4 氏名 ふりがな
    birth_date: dt.date  # 5 生年月日
    sex: str  # 6 性別
    address_lg_code: str  # 7 住所 市町村コード
    address: str  # 8 住所 漢字
    address_gaiji_count: int  # 9 住所 外字数
    last_address: str  # 10 最終住所 漢字
    last_address_gaiji_count: int  # 11 最終住所 外字数
    change_date: dt.date  # 12 異動年月日
    old_juminhyo_code: str  # 13 旧住民票コード
    managing_lg_code: str  # 14 附票管理市町村コード
    state: RecordState  # 15 附票本人確認情報状態区分
    gaiji_flag: bool  # 16 外字フラグ
    gaiji_pattern: tuple[str, ...]  # 17 外字パターン (the 外字 of 氏名 and 住所, as code points)
    notice: FuhyoNotice  # 18 通知区分


ITEMS_JA: dict[type, tuple[str, ...]] = {
    CsRecord: (
        "住民票コード", "漢字氏名", "外字数(氏名)", "ふりがな氏名", "清音化かな氏名", "生年月日", "性別", "市町村コード",
        "大字・字コード", "郵便番号", "住所", "外字数(住所)", "個人番号", "住民となった日", "住所を定めた日", "届出の年月日",
        "市町村コード(転入前)", "転入前住所", "外字数(転入前住所)", "続柄", "異動事由", "異動年月日", "異動事由詳細",
        "旧住民票コード", "住民票コード使用年月日", "依頼管理番号", "操作者ID", "操作端末ID", "更新順番号", "異常時更新順番号",
        "更新禁止フラグ", "予定者フラグ", "排他フラグ", "外字フラグ", "レコード状況フラグ", "タイムスタンプ", "旧氏 漢字",
        "旧氏 外字数", "旧氏 ふりがな", "旧氏 外字変更連番",
    ),
    PrefectureRecord: (
        "住民票コード", "漢字氏名", "外字数(氏名)", "ふりがな氏名", "生年月日", "性別", "住所", "外字数(住所)", "個人番号",
        "異動事由", "異動年月日", "保存期間フラグ", "清音化かな氏名", "市町村コード", "大字・字コード", "操作者ID",
        "操作端末ID", "タイムスタンプ", "通知を受けた年月日", "外字フラグ", "削除フラグ", "更新順番号", "氏名外字変更連番",
        "住所外字変更連番", "旧氏 漢字", "旧氏 外字数", "旧氏 ふりがな", "旧氏 外字変更連番",
    ),
    FuhyoRecord: (
        "住民票コード", "氏名 漢字", "氏名 外字数", "氏名 ふりがな", "生年月日", "性別", "住所 市町村コード", "住所 漢字",
        "住所 外字数", "最終住所 漢字", "最終住所 外字数", "異動年月日", "旧住民票コード", "附票管理市町村コード",
        "附票本人確認情報状態区分", "外字フラグ", "外字パターン", "通知区分",
    ),
}
"""The official item names of each record set, in field order (documentation, and the tests' check
that each set has exactly the seeds' items)."""


def items_ja(record: CsRecord | PrefectureRecord | FuhyoRecord) -> dict[str, Any]:
    """A record as 項目名 → value (for the operator's view and 開示)."""
    names = ITEMS_JA[type(record)]
    return {ja: getattr(record, f.name) for ja, f in zip(names, fields(record), strict=True)}


# ---------------------------------------------------------------------------------------------------
# Mapping from the register (市町村CS)


def cs_record(
    person: PersonRecord,
    facts: ChangeFacts,
    *,
    previous: CsRecord | None,
    seq: int | None,
    old_juminhyo_code: str = "",
) -> CsRecord:
    """The CS record of ``person`` after the change ``facts`` (NET-1, NET-3).

    Only the items the law lets the CS take are read from the 住民票 (本籍, 筆頭者, 世帯, eligibility
    and the foreign-resident items are not).  ``seq`` is the 更新順番号 given to this change if it is
    notified (None: not notified, the record keeps its last 更新順番号)."""
    prior = person.address_before_move_in
    name_kana = person.name_kana or ""
    code_changed = bool(old_juminhyo_code) and old_juminhyo_code != person.juminhyo_code
    if previous is None or code_changed:
        code_since = facts.change_date
    else:
        code_since = previous.code_since
    former_prev = previous.former_surname if previous else None
    return CsRecord(
        juminhyo_code=person.juminhyo_code,
        name=person.name,
        name_gaiji_count=len(gaiji(person.name)),
        name_kana=name_kana,
        name_kana_plain=kana_key(name_kana),
        birth_date=person.birth_date,
        sex=person.sex.value,
        lg_code=person.address.lg_code,
        town_code=person.address.town_code,
        postcode=person.address.postcode,
        address=person.address.text,
        address_gaiji_count=len(gaiji(person.address.text)),
        individual_number=person.individual_number,
        resident_since=person.resident_since,
        address_since=person.address_since,
        notified_on=person.address_notified_on,
        prior_lg_code=prior.lg_code if prior else "",
        prior_address=prior.text if prior else "",
        prior_address_gaiji_count=len(gaiji(prior.text)) if prior else 0,
        relationship=person.relationship,
        reason=facts.kind,
        change_date=facts.change_date,
        reason_detail=facts.detail,
        old_juminhyo_code=old_juminhyo_code or (previous.old_juminhyo_code if previous else ""),
        code_since=code_since,
        request_ref=facts.request_ref,
        operator=facts.operator,
        terminal=facts.terminal,
        seq=seq if seq is not None else (previous.seq if previous else 0),
        recovery_seq=previous.recovery_seq if previous else 0,
        update_prohibited=False,
        scheduled=person.removal_reason is RemovalReason.MOVE_OUT and not person.move_out_confirmed,
        exclusive=False,
        gaiji_flag=bool(gaiji(person.name) or gaiji(person.address.text) or gaiji(person.former_surname)),
        state=state_of(person),
        recorded_at=facts.recorded_at,
        former_surname=person.former_surname,
        former_surname_gaiji_count=len(gaiji(person.former_surname)),
        former_surname_kana=person.former_surname_kana,
        former_surname_gaiji_serial=_serial(previous.former_surname_gaiji_serial if previous else 0,
                                            former_prev, person.former_surname),
    )


_NOTIFIED_ITEMS = ("juminhyo_code", "name", "name_kana", "birth_date", "sex", "address", "lg_code",
                   "individual_number", "state", "former_surname", "former_surname_kana")


def notifiable(previous: CsRecord | None, record: CsRecord) -> bool:
    """Whether a change of the CS record is notified to the prefecture: a new record (記載), or a change
    of an item of 本人確認情報 or of the record's state (消除, 取消).  A 世帯 change alone, or a 転出確定,
    changes none of them (住基法30条の6)."""
    if record.reason is ChangeKind.INITIAL_LOAD:
        return True
    if previous is None:
        return True
    return any(getattr(previous, n) != getattr(record, n) for n in _NOTIFIED_ITEMS)


def identity_update(record: CsRecord, origin: str, seq: int) -> IdentityUpdate:
    """The 8-item notice for a CS record (NET-2)."""
    return IdentityUpdate(
        origin=origin, seq=seq, juminhyo_code=record.juminhyo_code, name=record.name, name_kana=record.name_kana,
        birth_date=record.birth_date, sex=record.sex, address=record.address, lg_code=record.lg_code,
        town_code=record.town_code, individual_number=record.individual_number, reason=record.reason,
        change_date=record.change_date, state=record.state, operator=record.operator, terminal=record.terminal,
        recorded_at=record.recorded_at, former_surname=record.former_surname,
        former_surname_kana=record.former_surname_kana, old_juminhyo_code=record.old_juminhyo_code
        if record.reason is ChangeKind.JUMINHYO_CODE_CHANGE else "",
        reason_detail=record.reason_detail,
    )


def keeps_fuhyo(person: PersonRecord, municipality: str, prefecture: str) -> bool:
    """Whether this municipality keeps the person's 戸籍の附票 (their 本籍 is here), so that its CS
    notifies 附票本人確認情報 (PRF-8).  ``municipality``/``prefecture`` are names (札幌市, 北海道)."""
    return bool(person.honseki) and person.honseki.startswith(prefecture + municipality)


def fuhyo_update(
    person: PersonRecord,
    *,
    origin: str,
    seq: int,
    change_date: dt.date,
    previous: FuhyoUpdate | None,
    old_juminhyo_code: str = "",
) -> FuhyoUpdate | None:
    """The 附票 notice for ``person`` after a change, or None when nothing of the 附票 changed.

    The 附票 follows the person wherever they live: a 転出 records the destination, a 国外転出 the
    address abroad with the last address in Japan as 最終住所; death removes it (除籍, 消除); a change
    cancelled (取消) that created the person voids it."""
    if person.status is Status.VOID:
        state, notice = RecordState.VOID, FuhyoNotice.REMOVAL
    elif person.removal_reason is RemovalReason.DEATH or person.removal_reason is RemovalReason.EX_OFFICIO:
        state, notice = RecordState.REMOVED, FuhyoNotice.REMOVAL
    else:
        state = RecordState.CURRENT
        notice = FuhyoNotice.ENTRY if previous is None or previous.state is not RecordState.CURRENT else FuhyoNotice.AMENDMENT
    here = person.address
    where = person.moved_out_to if person.status is Status.REMOVED and person.moved_out_to else here
    last_domestic = here.text if where.country else where.text
    update = FuhyoUpdate(
        origin=origin, seq=seq, juminhyo_code=person.juminhyo_code, name=person.name,
        name_kana=person.name_kana or "", birth_date=person.birth_date, sex=person.sex.value,
        address_lg_code=where.lg_code, address=where.text, last_address=last_domestic, change_date=change_date,
        managing_lg_code=origin, state=state, notice=notice,
        old_juminhyo_code=old_juminhyo_code if old_juminhyo_code != person.juminhyo_code else "",
    )
    if previous is not None and replace(previous, origin=origin, seq=seq, change_date=change_date,
                                        notice=notice, old_juminhyo_code=update.old_juminhyo_code) == update:
        return None
    if previous is None and state is not RecordState.CURRENT:
        return None  # never had a 附票 notice: nothing to remove
    return update


# ---------------------------------------------------------------------------------------------------
# What the receiving tiers keep


def prefecture_record(update: IdentityUpdate, *, notified_on: dt.date, previous: PrefectureRecord | None) -> PrefectureRecord:
    """The PRF-1 record (28 items) after an accepted update."""
    return PrefectureRecord(
        juminhyo_code=update.juminhyo_code,
        name=update.name,
        name_gaiji_count=len(gaiji(update.name)),
        name_kana=update.name_kana,
        birth_date=update.birth_date,
        sex=update.sex,
        address=update.address,
        address_gaiji_count=len(gaiji(update.address)),
        individual_number=update.individual_number,
        reason=update.reason,
        change_date=update.change_date,
        retention_flag=update.state is not RecordState.CURRENT,
        name_kana_plain=kana_key(update.name_kana),
        lg_code=update.lg_code,
        town_code=update.town_code,
        operator=update.operator,
        terminal=update.terminal,
        recorded_at=update.recorded_at,
        notified_on=notified_on,
        gaiji_flag=bool(gaiji(update.name) or gaiji(update.address) or gaiji(update.former_surname)),
        removed=update.state is not RecordState.CURRENT,
        seq=update.seq,
        name_gaiji_serial=_serial(previous.name_gaiji_serial if previous else 0,
                                  previous.name if previous else None, update.name),
        address_gaiji_serial=_serial(previous.address_gaiji_serial if previous else 0,
                                     previous.address if previous else None, update.address),
        former_surname=update.former_surname,
        former_surname_gaiji_count=len(gaiji(update.former_surname)),
        former_surname_kana=update.former_surname_kana,
        former_surname_gaiji_serial=_serial(previous.former_surname_gaiji_serial if previous else 0,
                                            previous.former_surname if previous else None, update.former_surname),
    )


def fuhyo_record(update: FuhyoUpdate) -> FuhyoRecord:
    """The PRF-8 record (18 items) after an accepted 附票 notice."""
    pattern = gaiji(update.name) + gaiji(update.address)
    return FuhyoRecord(
        juminhyo_code=update.juminhyo_code, name=update.name, name_gaiji_count=len(gaiji(update.name)),
        name_kana=update.name_kana, birth_date=update.birth_date, sex=update.sex,
        address_lg_code=update.address_lg_code, address=update.address,
        address_gaiji_count=len(gaiji(update.address)), last_address=update.last_address,
        last_address_gaiji_count=len(gaiji(update.last_address)), change_date=update.change_date,
        old_juminhyo_code=update.old_juminhyo_code, managing_lg_code=update.managing_lg_code,
        state=update.state, gaiji_flag=bool(pattern), gaiji_pattern=pattern, notice=update.notice,
    )


# ---------------------------------------------------------------------------------------------------
# Checks


def _p(field: str, rule: str, ja: str, en: str) -> Problem:
    return Problem(field, rule, ja, en)


def _text_problems(value: str, field: str, ja: str, en: str, limit: int, *, required: bool) -> list[Problem]:
    if not isinstance(value, str):
        return [_p(field, "NET-3/format", f"{ja}は文字列です。", f"The {en} must be text.")]
    if required and not value.strip():
        return [_p(field, "NET-3/format", f"{ja}がありません。", f"The {en} is missing.")]
    if len(value) > limit:
        return [_p(field, "NET-3/format", f"{ja}が長すぎます（{limit}文字まで）。", f"The {en} is too long (at most {limit}).")]
    if any(ord(c) < 0x20 for c in value):
        return [_p(field, "NET-3/format", f"{ja}に制御文字があります。", f"The {en} contains control characters.")]
    return []


def _kana_problems(value: str, field: str) -> list[Problem]:
    ok = all(c in " \u3000ー・" or "\u30a1" <= c <= "\u30fa" for c in value)
    return [] if ok else [_p(field, "NET-3/format", "ふりがなはカタカナで記録します。", "The furigana must be katakana.")]


def _common_problems(u: IdentityUpdate | FuhyoUpdate) -> list[Problem]:
    out: list[Problem] = []
    for problem in (lg_code_problem(u.origin, "origin"), juminhyo_code_problem(u.juminhyo_code, "juminhyo_code")):
        if problem:
            out.append(problem)
    if u.old_juminhyo_code:
        p = juminhyo_code_problem(u.old_juminhyo_code, "old_juminhyo_code")
        if p:
            out.append(p)
    if not isinstance(u.seq, int) or isinstance(u.seq, bool) or u.seq < 1:
        out.append(_p("seq", "NET-3/format", "更新順番号は1以上の整数です。", "The update sequence number must be a positive integer."))
    out += _text_problems(u.name, "name", "氏名", "name", NAME_LIMIT, required=True)
    out += _kana_problems(u.name_kana, "name_kana")
    if u.sex not in ("1", "2"):
        out.append(_p("sex", "NET-3/code", "性別コードは 1（男）か 2（女）です。", "The sex code must be 1 or 2."))
    if u.birth_date < EARLIEST_BIRTH_DATE:
        out.append(_p("birth_date", "NET-3/format", "生年月日が古すぎます。", "The birth date is too early."))
    if u.change_date < u.birth_date:
        out.append(_p("change_date", "NET-3/logic", "異動年月日が生年月日より前です。",
                      "The date of the change is before the birth date."))
    return out


def format_problems(u: IdentityUpdate | FuhyoUpdate) -> list[Problem]:
    """項目チェック (NET-3): every item in its format and every code valid, before anything is sent and
    again on receipt."""
    out = _common_problems(u)
    if isinstance(u, IdentityUpdate):
        if u.reason not in NOTIFIED_REASONS:
            out.append(_p("reason", "NET-3/code", f"異動事由「{u.reason.ja}」は本人確認情報の更新になりません。",
                          f"The reason {u.reason.value} does not update 本人確認情報."))
        out += _text_problems(u.address, "address", "住所", "address", ADDRESS_LIMIT, required=True)
        if u.lg_code:
            p = lg_code_problem(u.lg_code, "lg_code")
            if p:
                out.append(p)
        elif u.state is RecordState.CURRENT:
            out.append(_p("lg_code", "NET-3/code", "現存する住民の住所には市町村コードが必要です。",
                          "A current resident's address needs its local government code."))
        if u.individual_number is not None:
            p = individual_number_problem(u.individual_number, "individual_number")
            if p:
                out.append(p)
        if u.reason is ChangeKind.JUMINHYO_CODE_CHANGE and not u.old_juminhyo_code:
            out.append(_p("old_juminhyo_code", "NET-3/format", "住民票コードの変更には旧住民票コードが必要です。",
                          "A change of 住民票コード names the old code."))
        if u.reason in ENTERING and u.state is not RecordState.CURRENT:
            out.append(_p("state", "NET-3/logic", "記載の更新で消除状態になっています。", "An entry leaves the record removed."))
        if u.reason in LEAVING and u.state is not RecordState.REMOVED:
            out.append(_p("state", "NET-3/logic", "消除の更新で現存状態になっています。", "A removal leaves the record current."))
    else:
        out += _text_problems(u.address, "address", "住所", "address", ADDRESS_LIMIT, required=True)
        out += _text_problems(u.last_address, "last_address", "最終住所", "last address", ADDRESS_LIMIT, required=False)
        p = lg_code_problem(u.managing_lg_code, "managing_lg_code")
        if p:
            out.append(p)
        if u.address_lg_code:
            p = lg_code_problem(u.address_lg_code, "address_lg_code")
            if p:
                out.append(p)
        if (u.notice is FuhyoNotice.REMOVAL) == (u.state is RecordState.CURRENT):
            out.append(_p("notice", "NET-3/logic", "通知区分と状態区分が矛盾しています。",
                          "The notice kind contradicts the record state."))
    return out


def logic_problems(u: IdentityUpdate | FuhyoUpdate, current: IdentityUpdate | FuhyoUpdate | None) -> list[Problem]:
    """論理チェック (PRF-2, also run by the CS before sending, NET-3) of an update against the
    receiver's current record of the same 住民票コード (the old code for a 住民票コードの変更)."""
    if isinstance(u, FuhyoUpdate):
        assert current is None or isinstance(current, FuhyoUpdate)
        return _fuhyo_logic(u, current)
    assert current is None or isinstance(current, IdentityUpdate)
    if u.reason is ChangeKind.INITIAL_LOAD or u.reason_detail == RESYNC_DETAIL:
        return []
    here = current is not None and current.origin == u.origin
    live_here = here and current is not None and current.state is RecordState.CURRENT
    if u.reason in ENTERING:
        if live_here:
            return [_p("reason", "PRF-2/move-in-existing",
                       f"住民票コード {u.juminhyo_code} の人は既に {u.origin} の住民として記録されています。転入（記載）はできません。",
                       f"The person with 住民票コード {u.juminhyo_code} is already recorded as a resident of {u.origin}; "
                       "they cannot move in (be entered) again.")]
        return []
    if current is None:
        return [_p("juminhyo_code", "PRF-2/unknown-person",
                   f"住民票コード {u.old_juminhyo_code or u.juminhyo_code} の本人確認情報がありません（{u.reason.ja}）。",
                   f"There is no record for 住民票コード {u.old_juminhyo_code or u.juminhyo_code} ({u.reason.value}).")]
    if not here:
        if u.reason in LEAVING:
            return []  # the person has since moved in elsewhere: the removal is history only (see effect)
        return [_p("origin", "PRF-2/other-municipality",
                   f"住民票コード {u.juminhyo_code} の人は {current.origin} の住民として記録されています（{u.reason.ja}）。",
                   f"The person with 住民票コード {u.juminhyo_code} is recorded in {current.origin}, not {u.origin} ({u.reason.value}).")]
    if u.reason in LEAVING and current.state is not RecordState.CURRENT:
        return [_p("reason", "PRF-2/remove-removed",
                   f"住民票コード {u.juminhyo_code} の人は既に消除されています（{u.reason.ja}）。",
                   f"The person with 住民票コード {u.juminhyo_code} has already been removed ({u.reason.value}).")]
    if u.reason is ChangeKind.MOVE_WITHIN:
        if current.state is not RecordState.CURRENT:
            return [_p("reason", "PRF-2/move-within-removed", "消除された人の転居はできません。",
                       "A removed person cannot move within the municipality.")]
        differing = u.same_person_items(current)
        if differing:
            return [_p("reason", "PRF-2/move-within-more-than-address",
                       "転居で住所以外の項目が変わっています（" + "、".join(differing) + "）。",
                       "A move within the municipality changes more than the address (" + ", ".join(differing) + ").")]
    return []


def _fuhyo_logic(u: FuhyoUpdate, current: FuhyoUpdate | None) -> list[Problem]:
    if u.resync:
        return []
    if u.notice is FuhyoNotice.REMOVAL:
        if current is None:
            return [_p("juminhyo_code", "PRF-2/fuhyo-unknown", f"住民票コード {u.juminhyo_code} の附票本人確認情報がありません。",
                       f"There is no 附票 record for 住民票コード {u.juminhyo_code}.")]
        if current.state is not RecordState.CURRENT:
            return [_p("notice", "PRF-2/fuhyo-remove-removed",
                       f"住民票コード {u.juminhyo_code} の附票本人確認情報は既に消除されています。",
                       f"The 附票 record of 住民票コード {u.juminhyo_code} has already been removed.")]
        return []
    if u.notice is FuhyoNotice.ENTRY:
        if current is not None and current.state is RecordState.CURRENT and current.managing_lg_code == u.managing_lg_code:
            return [_p("notice", "PRF-2/fuhyo-entry-existing",
                       f"住民票コード {u.juminhyo_code} の附票本人確認情報は既に記載されています。",
                       f"The 附票 record of 住民票コード {u.juminhyo_code} already exists.")]
        return []
    if current is None or current.state is not RecordState.CURRENT:
        return [_p("notice", "PRF-2/fuhyo-amend-missing",
                   f"住民票コード {u.juminhyo_code} の現存する附票本人確認情報がありません（修正）。",
                   f"There is no current 附票 record of 住民票コード {u.juminhyo_code} to amend.")]
    return []


def effect(u: IdentityUpdate | FuhyoUpdate, current: IdentityUpdate | FuhyoUpdate | None) -> bool:
    """Whether an accepted update replaces the receiver's current record (True) or is kept in the
    history only (False): a removal from a municipality the person has since left (their 転入 elsewhere
    arrived first) does not undo the newer record."""
    if isinstance(u, IdentityUpdate) and current is not None and current.origin != u.origin and u.reason in LEAVING:
        return False
    return True
