"""整合性確認's exchange (NET-10, PRF-9) between a CS and another node's tree sessions, in process: every
difference found with the items that differ, far fewer bytes than the records, repair through the
re-send port, malformed requests refused."""

import datetime as dt
import random

import pytest

from juki.domain import identifiers as ids
from juki.domain import merkle as mk
from juki.domain.errors import InvalidInput, NotFound
from juki.domain.identity import RecordFile
from juki.net import consistency as cs


def records(n, seed=5):
    rng = random.Random(seed)
    out = {}
    while len(out) < n:
        code = ids.new_juminhyo_code(rng)
        out[code] = {"juminhyo_code": code, "name": f"氏名{len(out)}", "birth_date": dt.date(1980, 1, 1), "sex": "1",
                     "address": "札幌市中央区北一条西2丁目", "individual_number": None, "reason": "move_in",
                     "change_date": dt.date(2020, 4, 1), "state": "current", "lg_code": "011002"}
    return out


def test_compare_finds_every_difference_and_repairs_through_resend():
    master = records(3000)
    codes = sorted(master)
    copy = {c: dict(r) for c, r in master.items()}
    copy[codes[5]]["address"] = "千葉市中央区千葉港1番1号"
    copy[codes[6]]["state"] = "removed"
    del copy[codes[7]]
    extra = records(1, seed=77)
    copy.update(extra)
    results = []
    sessions = cs.TreeSessions(lambda lg, file: [r for r in copy.values() if r["lg_code"] == lg])
    call = lambda op, body: sessions.answer(op, body, on_result=lambda lg, r: results.append((lg, r)))  # noqa: E731
    report = cs.compare("011002", "prefecture", master.values(), call)
    found = {(f.juminhyo_code, f.kind, f.items) for f in report.findings}
    assert found == {(codes[5], mk.DifferenceKind.DIFFERS, ("address",)),
                     (codes[6], mk.DifferenceKind.DIFFERS, ("state",)),
                     (codes[7], mk.DifferenceKind.MISSING_REMOTE, ()),
                     (next(iter(extra)), mk.DifferenceKind.EXTRA_REMOTE, ())}
    full = len(cs.encode([cs.check_items(r) for r in copy.values()]))
    assert report.bytes_sent + report.bytes_received < full / 10
    assert results and results[0][0] == "011002" and results[0][1]["consistent"] is False
    resent = []
    cs.repair(report, resent.extend)
    assert sorted(resent) == sorted([codes[5], codes[6], codes[7]])
    assert report.to_investigate == [next(iter(extra))]
    with pytest.raises(NotFound):  # the session closed with the result
        sessions.children("nope", [""])


def test_identical_files_cost_a_handful_of_bytes():
    master = records(2000)
    sessions = cs.TreeSessions(lambda lg, file: master.values())
    report = cs.compare("011002", "national", master.values(), sessions.answer)
    assert report.consistent and report.remote_count == 2000
    assert report.bytes_sent + report.bytes_received < 600


def test_malformed_requests_are_refused():
    sessions = cs.TreeSessions(lambda lg, file: records(50).values())
    with pytest.raises(InvalidInput):
        sessions.open("011002", 0)
    sid = sessions.open("011002", 2)["session"]
    for bad in (["1a"], ["123"], "12", ["12"]):
        with pytest.raises(InvalidInput):
            sessions.children(sid, bad)
    with pytest.raises(NotFound):
        sessions.answer("drop", {"session": sid})


def test_sessions_that_fetch_again_keep_only_their_tree():
    master = records(1000, seed=9)
    copy = {c: dict(r) for c, r in master.items()}
    code = sorted(copy)[3]
    copy[code]["name"] = "別名"
    fetched = []

    def fetch(lg, codes, file):
        fetched.append(list(codes))
        return [copy[c] for c in codes if c in copy]

    sessions = cs.TreeSessions(lambda lg, file: copy.values(), fetch=fetch)
    report = cs.compare("011002", "national", master.values(), sessions.answer)
    assert [(f.juminhyo_code, f.items) for f in report.findings] == [(code, ("name",))]
    assert fetched == [[code]]


def fuhyo_records(n: int, seed: int = 5) -> dict[str, dict]:
    rng = random.Random(seed)
    out = {}
    while len(out) < n:
        code = ids.new_juminhyo_code(rng)
        out[code] = {"juminhyo_code": code, "name": f"附票{len(out)}", "name_kana": "フヒョウ", "birth_date": dt.date(1970, 1, 1),
                     "sex": "2", "address_lg_code": "", "address": "アメリカ合衆国シアトル", "last_address": "北海道札幌市中央区北一条西2丁目",
                     "change_date": dt.date(2021, 6, 1), "managing_lg_code": "011002", "state": "current",
                     "notice": "entry"}
    return out


def test_the_fuhyo_file_is_compared_over_its_own_items():
    """PRF-8, NET-10: the 附票 file has its own items (最終住所, 附票管理市町村コード, …) and its own tree; the
    answering side serves the file the CS names; the 通知区分 is not compared."""
    master = fuhyo_records(400)
    codes = sorted(master)
    copy = {c: dict(r) for c, r in master.items()}
    copy[codes[1]]["last_address"] = "北海道函館市"
    copy[codes[2]]["notice"] = "amendment"  # how the record got there, not what it is
    del copy[codes[3]]
    asked = []

    def serve(lg, file):
        asked.append(file)
        return copy.values() if file is RecordFile.FUHYO else records(10).values()

    sessions = cs.TreeSessions(serve)
    report = cs.compare("011002", "prefecture", master.values(), sessions.answer, file=RecordFile.FUHYO)
    assert asked == [RecordFile.FUHYO] and report.file is RecordFile.FUHYO
    assert {(f.juminhyo_code, f.kind, f.items) for f in report.findings} == {
        (codes[1], mk.DifferenceKind.DIFFERS, ("last_address",)), (codes[3], mk.DifferenceKind.MISSING_REMOTE, ())}
    assert report.summary()["file"] == "fuhyo"
    with pytest.raises(InvalidInput) as e:
        sessions.answer("open", {"lg_code": "011002", "depth": 2, "file": "koseki"})
    assert e.value.problems[0].field == "file"
