"""What each certificate prints, and what it refuses to print (REG-CERT, REG-LINK5), without a PDF."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from juki.domain.certificates import (
    PERSONS_PER_SHEET,
    STATUTORY_ITEMS,
    CertificateKind,
    HistoryLine,
    Items,
    Layout,
    address_lines,
    content,
    content_sha256,
    default_layout,
    new_certificate_id,
    subjects_sha256,
)
from juki.domain.errors import InvalidInput, RuleViolation
from juki.domain.model import RemovalReason, Status

from ..certificate_samples import CHIBA, HOME, KITA, doc, foreigner, household, person, removed, with_items

K = CertificateKind


def values(c) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sheet in c.sheets:
        for line in sheet.header:
            out.setdefault(line.key, []).append(line.value)
        for block in sheet.blocks:
            for line in block.lines:
                out.setdefault(line.key, []).append(line.value)
    return out


def refusal(exc, d) -> set[tuple[str, str]]:
    with pytest.raises(exc) as e:
        d.validate()
    assert all(p.ja and p.en for p in e.value.problems)
    return {(p.field, p.rule) for p in e.value.problems}


def test_default_copy_omits_every_optional_item():
    c = content(doc())
    v = values(c)
    for key in ("honseki", "hittosha", "relationship", "juminhyo_code", "individual_number", "head_of_household"):
        assert key not in v, key
    assert v["name"][:2] == ["髙橋　一郎", "髙橋　美﨑"]
    assert v["birth_date"][:3] == ["昭和50年3月14日", "昭和54年8月2日", "昭和64年1月7日"]
    assert c.statement == "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"
    assert c.issued_on == "令和8年11月23日" and c.tail == "以下余白"


def test_optional_items_appear_only_when_asked():
    v = values(content(with_items(doc(), domicile=True, relationship=True, juminhyo_code=True,
                                  individual_number=True, head_of_household=True)))
    assert v["honseki"][0] == "千葉県千葉市中央区千葉港1番" and v["hittosha"][0] == "髙橋　一郎"
    assert v["relationship"] == ["世帯主", "妻", "子", "子"]
    assert v["juminhyo_code"][0] == "24727059600"
    assert v["individual_number"][0] == "123456780008"
    assert v["head_of_household"] == ["髙橋　一郎"]  # once, in the household header


def test_household_layout_holds_four_per_sheet_and_continues():
    persons, h = household(6)
    c = content(doc(persons=persons, household_record=h))
    assert PERSONS_PER_SHEET == 4
    assert [len(s.blocks) for s in c.sheets] == [4, 2] and c.pages == 2
    assert [s.number for s in c.sheets] == [1, 2]
    assert all(s.header[0].value == HOME.text for s in c.sheets)


def test_individual_layout_one_person_per_sheet_with_address_in_block():
    c = content(doc(layout=Layout.INDIVIDUAL))
    assert c.pages == 4 and all(len(s.blocks) == 1 and not s.header for s in c.sheets)
    assert values(c)["address"] == [HOME.text] * 4


def test_part_of_household_says_so():
    persons, h = household(4)
    c = content(doc(persons=persons[:2], household_record=h))
    assert c.statement == "この写しは、住民票の原本と相違ないことを証明する。" and c.mark == "世帯の一部"


def test_address_lines_follow_the_standard_form():
    p = person(0)
    assert address_lines(p) == (CHIBA.text, KITA.text)  # moved in from 千葉, then 転居 within 札幌
    just_moved_in = p.replace(previous_address=CHIBA)
    assert address_lines(just_moved_in) == (CHIBA.text, "")
    born_here = p.replace(previous_address=None, address_before_move_in=None)
    assert address_lines(born_here) == ("", "")
    v = values(content(doc(persons=(born_here,), household_record=None, layout=Layout.INDIVIDUAL)))
    assert v["address_before_move_in"] == [""] and "address_before_change" not in v


def test_history_printed_only_when_asked():
    lines = (HistoryLine(dt.date(2021, 4, 1), "転居", "札幌市北区から", "0000000001"),
             HistoryLine(dt.date(2018, 10, 1), "転入", "千葉市中央区から"))
    with pytest.raises(RuleViolation):
        doc(history=lines).validate()
    c = content(doc(history=lines, items=Items(history=True)))
    assert c.sheets[0].blocks[0].history == ("令和3年4月1日　転居　札幌市北区から",)
    assert c.household_history == ("平成30年10月1日　転入　千葉市中央区から",)
    assert content(doc()).household_history == ()


def test_foreign_resident_items():
    f = foreigner()
    d = doc(persons=(f,), household_record=None, layout=Layout.INDIVIDUAL)
    v = values(content(d))
    assert v["alias"] == ["須美須　譲"] and "nationality" not in v and "residence_status" not in v
    v = values(content(with_items(d, nationality=True, residence_status=True, domicile=True)))
    assert v["nationality"] == ["英国"] and v["residence_status"] == ["技術・人文知識・国際業務"]
    assert v["stay_expiry"] == ["令和11年3月31日"] and "honseki" not in v  # no 本籍 for a foreign resident


def test_statutory_items_of_the_move_out_certificate():
    assert STATUTORY_ITEMS[K.MOVE_OUT].individual_number
    c = content(doc(K.MOVE_OUT))
    v = values(c)
    assert v["destination"] == ["東京都千代田区丸の内1丁目1番1号"] and v["planned_on"] == ["令和8年4月1日"]
    assert v["juminhyo_code"] and v["individual_number"] and v["relationship"] == ["世帯主", "妻"]


def test_removed_copy_prints_the_removal():
    v = values(content(doc(K.REMOVED_COPY)))
    assert v["removal"] == ["令和8年4月1日　転出"] and v["moved_out_to"] == ["東京都千代田区丸の内1丁目1番1号"]
    v = values(content(doc(K.REMOVED_COPY, persons=(removed(RemovalReason.DEATH),))))
    assert v["removal"] == ["令和8年4月1日　死亡"] and "moved_out_to" not in v


def test_seal_certificate_has_fixed_content_and_never_the_number():
    c = content(doc(K.SEAL))
    assert "individual_number" not in values(c) and c.seal_number == "S-000123" and len(c.seal_sha256) == 64
    assert ("items.individual_number", "REG-CERT/items") in refusal(RuleViolation, with_items(doc(K.SEAL), individual_number=True))


@pytest.mark.parametrize(("d", "expected"), [
    (doc(K.SEAL, seal=None), ("seal", "REG-CERT/seal")),
    (doc(seal=doc(K.SEAL).seal), ("seal", "REG-CERT/seal")),
    (doc(K.MOVE_OUT, move_out=None), ("move_out", "REG-CERT/move-out")),
    (doc(K.REMOVED_COPY, persons=(person(0),)), ("persons[0].status", "REG-CERT/status")),
    (doc(K.REMOVED_COPY, layout=Layout.HOUSEHOLD), ("layout", "REG-CERT/layout")),
    (doc(K.CODE_NOTICE, layout=Layout.HOUSEHOLD), ("layout", "REG-CERT/layout")),
    (doc(persons=(removed(),), household_record=None), ("persons[0].status", "REG-CERT/status")),
    (doc(persons=(person(0, status=Status.VOID),), household_record=None), ("persons[0].status", "REG-CERT/status")),
    (doc(K.MOVE_OUT, persons=(removed(RemovalReason.DEATH),)), ("persons[0].status", "REG-CERT/status")),
    (doc(persons=()), ("persons", "REG-CERT/subjects")),
    (doc(persons=(person(0), person(0))), ("persons", "REG-CERT/subjects")),
    (doc(persons=(person(0), foreigner())), ("persons", "REG-CERT/one-household")),
    (doc(K.SEAL, persons=(person(0), person(1))), ("persons", "REG-CERT/seal")),
    (with_items(doc(K.CODE_NOTICE), individual_number=True), ("items.individual_number", "REG-CERT/items")),
])
def test_impossible_combinations_are_refused(d, expected):
    assert expected in refusal(RuleViolation, d)


def test_a_removed_record_past_retention_is_not_certified():
    """REG-R5: a 除票 removed 150 years ago or more is out of normal work; the day after, it still is in."""
    expired = dataclasses.replace(removed(), removal_date=dt.date(1876, 11, 23))  # issued on 2026-11-23
    assert ("persons[0].status", "REG-R5/retention") in refusal(RuleViolation, doc(K.REMOVED_COPY, persons=(expired,)))
    assert ("persons[0].status", "REG-R5/retention") in refusal(
        RuleViolation, doc(K.MOVE_OUT, persons=(dataclasses.replace(expired, moved_out_to=None),)))
    kept = dataclasses.replace(expired, removal_date=dt.date(1876, 11, 24))
    assert values(content(doc(K.REMOVED_COPY, persons=(kept,))))["removal"] == ["明治9年11月24日　転出"]


def test_malformed_fields_are_refused_all_at_once():
    bad = refusal(InvalidInput, doc(municipality=" ", mayor="", lg_code="11002", certificate_id=""))
    assert {f for f, _ in bad} == {"municipality", "mayor", "lg_code", "certificate_id"}
    assert ("persons[0].birth_date", "REG-CERT/wareki") in refusal(
        InvalidInput, doc(persons=(person(0, birth_date=dt.date(1860, 1, 1)),), household_record=None))
    seal = doc(K.SEAL).seal
    assert seal is not None
    assert ("seal.image_png", "REG-CERT/seal") in refusal(
        InvalidInput, doc(K.SEAL, seal=dataclasses.replace(seal, image_png=b"GIF89a")))


def test_items_by_name():
    assert Items.from_names(["relationship", "domicile"]) == Items(relationship=True, domicile=True)
    assert Items(relationship=True, history=True).names() == ("relationship", "history")
    with pytest.raises(InvalidInput) as e:
        Items.from_names(["blood_type"])
    assert e.value.problems[0].field == "items"


def test_default_layouts():
    assert default_layout(K.RESIDENT_COPY) is Layout.HOUSEHOLD
    assert default_layout(K.REMOVED_COPY) is Layout.INDIVIDUAL


def test_content_hash_changes_with_any_printed_character():
    base = content_sha256(content(doc()))
    assert base == content_sha256(content(doc()))
    persons, h = household(4)
    changed = (persons[0].replace(name="高橋　一郎"), *persons[1:])  # 髙 → 高
    assert content_sha256(content(doc(persons=changed, household_record=h))) != base
    assert content_sha256(content(doc(issued_on=dt.date(2026, 11, 24)))) != base


def test_ids():
    cid = new_certificate_id("011002", dt.date(2026, 11, 23), bytes(7))
    assert cid == "011002-20261123-0000000000"
    a, b = new_certificate_id("011002", dt.date(2026, 11, 23)), new_certificate_id("011002", dt.date(2026, 11, 23))
    assert a != b and len(a) == len("011002-20261123-") + 10 and not set(a[16:]) & set("ILOU")
    assert subjects_sha256("x", ["1", "2"]) != subjects_sha256("x", ["2", "1"])
