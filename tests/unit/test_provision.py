"""The prefecture's provision rules (PRF-5..PRF-8): configured uses only, the items a use may receive,
refusals naming why, 7-year log retention, batch condition and result files."""

import datetime as dt

import pytest

from juki.domain import provision as pv
from juki.domain.errors import Forbidden, InvalidInput

USES = [
    {"code": "別表第6-1", "channel": "provision", "recipient": "kyoiku", "recipient_name": "教育委員会",
     "affair": "特別支援学校への就学のため必要な経費の支弁に関する事務", "legal_basis": "住基法第30条の15第2項・別表第6",
     "items": ["juminhyo_code", "name", "birth_date", "sex", "address"], "valid_from": "2015-06-01"},
    {"code": "別表第5-1", "channel": "transfer", "recipient": "zeimu", "recipient_name": "税務課",
     "affair": "自動車税の賦課徴収に関する事務", "legal_basis": "住基法第30条の15第1項・別表第5・番号法別表",
     "items": list(pv.ITEMS), "valid_from": "2016-01-01", "valid_to": "2030-03-31", "number_use": True, "fuhyo": True},
]
RECORD = {"juminhyo_code": "24727059608", "name": "横浜　花子", "birth_date": "1990-01-01", "sex": "2",
          "address": "神奈川県横浜市中区日本大通1", "individual_number": "123456789018", "reason": "move_in",
          "change_date": "2024-04-01"}


def test_uses_load_and_authorize():
    uses = {u.code: u for u in pv.uses_from_json(USES)}
    on = dt.date(2026, 4, 1)
    use = pv.authorize(uses["別表第6-1"], use_code="別表第6-1", recipient="kyoiku", on=on)
    assert pv.shape(RECORD, use) == {k: RECORD[k] for k in ("juminhyo_code", "name", "birth_date", "sex", "address")}
    tax = pv.authorize(uses["別表第5-1"], use_code="別表第5-1", recipient="zeimu", on=on, want_number=True, fuhyo=True)
    assert pv.shape(RECORD, tax)["individual_number"] == "123456789018"


@pytest.mark.parametrize("code,recipient,on,kw,rule", [
    ("別表第9-9", "kyoiku", dt.date(2026, 4, 1), {}, "PRF-5/unknown-use"),
    ("別表第6-1", "zeimu", dt.date(2026, 4, 1), {}, "PRF-5/recipient"),
    ("別表第5-1", "zeimu", dt.date(2030, 4, 1), {}, "PRF-5/not-in-force"),
    ("別表第6-1", "kyoiku", dt.date(2026, 4, 1), {"want_number": True}, "PRF-5/number"),
    ("別表第6-1", "kyoiku", dt.date(2026, 4, 1), {"fuhyo": True}, "PRF-8/use"),
])
def test_refusals_name_why(code, recipient, on, kw, rule):
    uses = {u.code: u for u in pv.uses_from_json(USES)}
    with pytest.raises(Forbidden) as e:
        pv.authorize(uses.get(code), use_code=code, recipient=recipient, on=on, **kw)
    assert e.value.problems[0].rule == rule


def test_bad_configuration_is_refused_whole():
    bad = [dict(USES[0], items=["individual_number"]), dict(USES[0], affair="", items=["shoe_size"])]
    with pytest.raises(InvalidInput) as e:
        pv.uses_from_json(bad)
    rules = {(p.field, p.rule) for p in e.value.problems}
    assert ("uses[0].items", "PRF-5/number") in rules and ("uses[1].items", "PRF-5/items") in rules
    assert ("uses[1].affair", "PRF-5/use") in rules and any(p.rule == "PRF-5/use" and p.field == "uses" for p in e.value.problems)


def test_retention_is_seven_years():
    now = dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC)
    assert pv.retention_cutoff(now) == dt.datetime(2019, 4, 1, 9, tzinfo=dt.UTC)
    assert pv.retention_cutoff(dt.datetime(2028, 2, 29, tzinfo=dt.UTC)) == dt.datetime(2021, 2, 28, tzinfo=dt.UTC)


def test_conditions_file_keeps_bad_lines_with_their_reasons():
    text = ("line,juminhyo_code,individual_number,name,address,birth_date,sex\n"
            "1,24727059608,,,,,\n"
            "2,,,横浜　花子,,1990-01-01,2\n"
            "3,,,横浜　花子,,,2\n"
            "4,,,横浜　花子,,1990-02-30,\n")
    lines = pv.parse_conditions(text)
    assert [bool(c.query) for c in lines] == [True, True, False, False]
    assert lines[2].problems[0].rule == "NET-4/minimum" and lines[2].problems[0].field.startswith("line 3")
    with pytest.raises(InvalidInput):
        pv.parse_conditions("a,b\n1,2\n")
    out = pv.render_results([pv.ResultLine("1", "found", (RECORD,)), pv.ResultLine("3", "error", message="条件不足")],
                            ["juminhyo_code", "name"])
    assert out.splitlines() == ["line,status,juminhyo_code,name,message", "1,該当,24727059608,横浜　花子,",
                                "3,エラー,,,条件不足"]
