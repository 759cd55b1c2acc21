"""本人確認情報 record sets, the mapping from the register and the checks of every tier (NET-1..3, PRF-1, PRF-2,
PRF-8), on the domain alone."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from juki.domain.events import ChangeKind
from juki.domain.identity import (
    ITEMS_JA,
    ChangeFacts,
    CsRecord,
    FuhyoNotice,
    FuhyoRecord,
    FuhyoUpdate,
    IdentityUpdate,
    PrefectureRecord,
    RecordState,
    cs_record,
    effect,
    format_problems,
    fuhyo_record,
    fuhyo_update,
    gaiji,
    identity_update,
    items_ja,
    keeps_fuhyo,
    logic_problems,
    notifiable,
    prefecture_record,
)
from juki.domain.model import Address, FuriganaStatus, PersonRecord, RemovalReason, Sex, Status

SAPPORO = "011002"
HAKODATE = "012025"
CHUO = "011011"
AT = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)


def person(**kw: object) -> PersonRecord:
    base = dict(
        person_id="0000000001", household_id="9000000001", status=Status.RESIDENT, name="札幌　太郎",
        name_kana="サッポロ　タロウ", furigana_status=FuriganaStatus.CONFIRMED, birth_date=dt.date(1980, 5, 1),
        sex=Sex.MALE, relationship="世帯主", head_name="札幌　太郎",
        address=Address("北海道", "札幌市中央区", "北一条西", "2丁目1番", "", "0600001", CHUO, "011011001"),
        address_since=dt.date(2026, 4, 1), resident_since=dt.date(2026, 4, 1), address_notified_on=dt.date(2026, 4, 3),
        previous_address=None,
        address_before_move_in=Address("千葉県", "千葉市中央区", "千葉港", "1番1号", "", "2600026", "121002"),
        juminhyo_code="24727059608", individual_number="123456789018", honseki="北海道札幌市中央区北一条西二丁目1番地",
    )
    base.update(kw)
    return PersonRecord(**base)  # type: ignore[arg-type]


def facts(kind: ChangeKind = ChangeKind.MOVE_IN, date: dt.date = dt.date(2026, 4, 1)) -> ChangeFacts:
    return ChangeFacts(kind=kind, change_date=date, operator="clerk", terminal="T001", recorded_at=AT, request_ref="7")


def update(p: PersonRecord | None = None, kind: ChangeKind = ChangeKind.MOVE_IN, seq: int = 1,
           origin: str = SAPPORO, previous: CsRecord | None = None) -> IdentityUpdate:
    record = cs_record(p or person(), facts(kind), previous=previous, seq=seq)
    return identity_update(record, origin, seq)


def test_each_record_set_has_the_items_of_the_seeds() -> None:
    # NET-1: 40 items at the CS, PRF-1: 28 at the prefecture, PRF-8: 18 in the 附票
    for cls, n in ((CsRecord, 40), (PrefectureRecord, 28), (FuhyoRecord, 18)):
        assert len(dataclasses.fields(cls)) == n == len(ITEMS_JA[cls]) == len(set(ITEMS_JA[cls]))
    assert ITEMS_JA[CsRecord][28] == "更新順番号" and ITEMS_JA[PrefectureRecord][21] == "更新順番号"
    assert "個人番号" not in ITEMS_JA[FuhyoRecord] and not any("本籍" in i for i in ITEMS_JA[FuhyoRecord])
    # the 8 items of 30条の6 are all in the notice
    names = {f.name for f in dataclasses.fields(IdentityUpdate)}
    assert {"juminhyo_code", "name", "birth_date", "sex", "address", "individual_number", "reason", "change_date"} <= names


def test_the_cs_record_takes_only_what_the_law_allows_from_the_register() -> None:
    p = person(honseki="北海道札幌市中央区北一条西二丁目1番地", hittosha="札幌　一郎", remarks="内部の備考")
    r = cs_record(p, facts(), previous=None, seq=5)
    values = items_ja(r)
    assert values["住民票コード"] == "24727059608" and values["個人番号"] == "123456789018"
    assert values["清音化かな氏名"] == "サツホロタロウ" and values["市町村コード"] == CHUO
    assert values["転入前住所"] == "千葉県千葉市中央区千葉港1番1号" and values["市町村コード(転入前)"] == "121002"
    assert values["更新順番号"] == 5 and values["レコード状況フラグ"] is RecordState.CURRENT
    assert values["操作者ID"] == "clerk" and values["依頼管理番号"] == "7"
    text = repr(r)
    assert "本籍" not in text and "札幌　一郎" not in text and "内部の備考" not in text  # NET-3


def test_gaiji_are_counted_listed_and_their_changes_numbered() -> None:
    assert gaiji("髙橋　𠮷") == ("U+9AD9", "U+20BB7")
    assert gaiji("葛\U000E0100飾") == ("U+845B U+E0100",)  # an IVS sequence counts as one 外字
    assert gaiji("さっぽろ　サッポロ　ＡＢＣ") == ()
    first = cs_record(person(former_surname="髙橋"), facts(), previous=None, seq=1)
    assert first.former_surname_gaiji_count == 1 and first.former_surname_gaiji_serial == 1 and first.gaiji_flag
    same = cs_record(person(former_surname="髙橋"), facts(ChangeKind.MOVE_WITHIN), previous=first, seq=2)
    assert same.former_surname_gaiji_serial == 1
    changed = cs_record(person(former_surname="𠮷田"), facts(ChangeKind.NAME_CHANGE), previous=same, seq=3)
    assert changed.former_surname_gaiji_serial == 2
    pr = prefecture_record(update(person(name="髙橋　太郎")), notified_on=dt.date(2026, 4, 2), previous=None)
    assert pr.name_gaiji_count == 1 and pr.name_gaiji_serial == 1 and pr.address_gaiji_serial == 0


def test_only_changes_of_8_items_or_state_are_notified() -> None:
    first = cs_record(person(), facts(), previous=None, seq=1)
    assert notifiable(None, first)
    # a 世帯 change (続柄) updates the CS file only (住基法30条の6)
    regrouped = cs_record(person(relationship="子"), facts(ChangeKind.HOUSEHOLD_REORGANISE), previous=first, seq=None)
    assert not notifiable(first, regrouped) and regrouped.seq == 1 and regrouped.relationship == "子"
    moved = cs_record(person(address=dataclasses.replace(person().address, block="3丁目")),
                      facts(ChangeKind.MOVE_WITHIN), previous=first, seq=None)
    assert notifiable(first, moved)
    removed = cs_record(person(status=Status.REMOVED, removal_reason=RemovalReason.MOVE_OUT),
                        facts(ChangeKind.MOVE_OUT), previous=first, seq=None)
    assert notifiable(first, removed) and removed.scheduled  # 予定者フラグ until the 転入通知
    confirmed = cs_record(person(status=Status.REMOVED, removal_reason=RemovalReason.MOVE_OUT, move_out_confirmed=True),
                          facts(ChangeKind.MOVE_OUT_CONFIRMED), previous=removed, seq=None)
    assert not notifiable(removed, confirmed) and not confirmed.scheduled


def test_format_checks_name_the_item() -> None:
    assert format_problems(update()) == []
    bad = dataclasses.replace(update(), juminhyo_code="24727059609", individual_number="123456789010", sex="3",
                              name_kana="さっぽろ", lg_code="011010", seq=0)
    rules = {(p.field, p.rule) for p in format_problems(bad)}
    assert rules == {("juminhyo_code", "ID-JUMINHYO-CODE/check-digit"),
                     ("individual_number", "ID-INDIVIDUAL-NUMBER/check-digit"), ("sex", "NET-3/code"),
                     ("name_kana", "NET-3/format"), ("lg_code", "ID-LG-CODE/check-digit"), ("seq", "NET-3/format")}
    before_birth = dataclasses.replace(update(), change_date=dt.date(1970, 1, 1))
    assert [p.rule for p in format_problems(before_birth)] == ["NET-3/logic"]
    removal_left_current = dataclasses.replace(update(kind=ChangeKind.DEATH), state=RecordState.CURRENT)
    assert [p.field for p in format_problems(removal_left_current)] == ["state"]


def test_prf2_logic_checks_against_the_current_record() -> None:
    current = update()
    # a 転入 for someone already living in that municipality
    again = update(seq=2)
    assert [p.rule for p in logic_problems(again, current)] == ["PRF-2/move-in-existing"]
    # ... but a 転入 elsewhere is fine (the old municipality's 転出 may still be on its way)
    elsewhere = update(person(address=Address("北海道", "函館市", "五稜郭町", "1番", "", "0400001", HAKODATE)),
                       origin=HAKODATE, seq=1)
    assert logic_problems(elsewhere, current) == []
    # a 転居 that changes more than the address
    moved = update(person(address=dataclasses.replace(person().address, block="3丁目")), ChangeKind.MOVE_WITHIN, 2)
    assert logic_problems(moved, current) == []
    renamed = dataclasses.replace(moved, name="札幌　次郎")
    (p,) = logic_problems(renamed, current)
    assert p.rule == "PRF-2/move-within-more-than-address" and "name" in p.en
    # a removal of someone already removed, and anything for someone unknown
    gone = update(person(status=Status.REMOVED, removal_reason=RemovalReason.DEATH), ChangeKind.DEATH, 2)
    assert logic_problems(gone, current) == []
    assert [p.rule for p in logic_problems(dataclasses.replace(gone, seq=3), gone)] == ["PRF-2/remove-removed"]
    assert [p.rule for p in logic_problems(moved, None)] == ["PRF-2/unknown-person"]
    # a removal from a municipality the person has since left is kept as history only
    moved_away = update(person(status=Status.REMOVED, removal_reason=RemovalReason.MOVE_OUT), ChangeKind.MOVE_OUT, 9)
    assert logic_problems(moved_away, elsewhere) == [] and not effect(moved_away, elsewhere)
    assert effect(gone, current)
    # the initial load (移行) is not checked against what is there
    assert logic_problems(update(kind=ChangeKind.INITIAL_LOAD, seq=3), current) == []


def test_fuhyo_follows_the_person_and_refuses_a_second_removal() -> None:
    here = person()
    assert keeps_fuhyo(here, "札幌市", "北海道") and not keeps_fuhyo(here, "函館市", "北海道")
    entry = fuhyo_update(here, origin=SAPPORO, seq=2, change_date=dt.date(2026, 4, 1), previous=None)
    assert entry is not None and entry.notice is FuhyoNotice.ENTRY and format_problems(entry) == []
    assert fuhyo_update(here, origin=SAPPORO, seq=3, change_date=dt.date(2026, 4, 2), previous=entry) is None
    abroad = here.replace(status=Status.REMOVED, removal_reason=RemovalReason.MOVE_ABROAD,
                          moved_out_to=Address(country="アメリカ合衆国", city="シアトル"))
    out = fuhyo_update(abroad, origin=SAPPORO, seq=4, change_date=dt.date(2026, 5, 1), previous=entry)
    assert out is not None and out.notice is FuhyoNotice.AMENDMENT and out.state is RecordState.CURRENT
    assert out.address == "アメリカ合衆国 シアトル" and out.last_address == here.address.text  # 最終住所
    record = fuhyo_record(out)
    assert items_ja(record)["最終住所 漢字"] == here.address.text and len(items_ja(record)) == 18
    dead = here.replace(status=Status.REMOVED, removal_reason=RemovalReason.DEATH)
    removal = fuhyo_update(dead, origin=SAPPORO, seq=5, change_date=dt.date(2026, 6, 1), previous=out)
    assert removal is not None and removal.notice is FuhyoNotice.REMOVAL and logic_problems(removal, out) == []
    # PRF-2: a 附票 消除 for someone already removed
    twice = dataclasses.replace(removal, seq=6)
    assert [p.rule for p in logic_problems(twice, removal)] == ["PRF-2/fuhyo-remove-removed"]
    assert [p.rule for p in logic_problems(entry, entry)] == ["PRF-2/fuhyo-entry-existing"]


@pytest.mark.parametrize("kind", sorted(ChangeKind))
def test_every_kind_of_change_maps_to_a_checkable_notice(kind: ChangeKind) -> None:
    p = person()
    if kind in (ChangeKind.MOVE_OUT, ChangeKind.MOVE_ABROAD, ChangeKind.DEATH, ChangeKind.EX_OFFICIO_REMOVAL):
        p = p.replace(status=Status.REMOVED, removal_reason=RemovalReason.DEATH)
    u = update(p, kind)
    assert isinstance(u.reason, ChangeKind) and u.reason is kind
    assert all(pr.rule != "NET-3/code" for pr in format_problems(u)) == (kind not in (
        ChangeKind.HOUSEHOLD_SPLIT, ChangeKind.HOUSEHOLD_MERGE, ChangeKind.HEAD_CHANGE, ChangeKind.HOUSEHOLD_REORGANISE))


def test_a_notice_for_a_fuhyo_needs_consistent_notice_and_state() -> None:
    u = FuhyoUpdate(origin=SAPPORO, seq=1, juminhyo_code="24727059608", name="札幌　太郎", name_kana="", birth_date=dt.date(1980, 5, 1),
                    sex="1", address_lg_code=CHUO, address="北海道札幌市", last_address="北海道札幌市", change_date=dt.date(2026, 1, 1),
                    managing_lg_code=SAPPORO, state=RecordState.CURRENT, notice=FuhyoNotice.REMOVAL)
    assert [p.field for p in format_problems(u)] == ["notice"]
