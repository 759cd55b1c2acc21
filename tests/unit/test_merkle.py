"""整合性確認 by hash tree (NET-10, PRF-9): every difference is found, and only differing parts travel."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from juki.domain import identifiers as ids
from juki.domain import merkle as mk


def _records(n, seed=1):
    rng = random.Random(seed)
    out = {}
    while len(out) < n:
        code = ids.new_juminhyo_code(rng)
        out[code] = {"juminhyo_code": code, "name": f"氏名{len(out)}", "birth_date": "1980-01-01", "sex": "1",
                     "address": "札幌市中央区北一条西2丁目", "kind": "move_in", "effective_date": "2020-04-01"}
    return out


def _tree(records, depth):
    return mk.HashTree(((c, mk.record_digest(r)) for c, r in records.items()), depth)


def _run(local, remote):
    asked = {"children": 0, "entries": 0}

    def children(prefixes):
        asked["children"] += len(prefixes)
        return {p: remote.children(p) for p in prefixes}

    def entries(prefixes):
        asked["entries"] += len(prefixes)
        return {p: remote.entries(p) for p in prefixes}

    return mk.reconcile(local, remote.root, children, entries), asked


def test_identical_copies_cost_one_hash():
    recs = _records(500)
    result, asked = _run(_tree(recs, 2), _tree(dict(reversed(list(recs.items()))), 2))
    assert result.differences == [] and asked == {"children": 0, "entries": 0}


def test_every_kind_of_difference_is_found_and_little_is_fetched():
    master = _records(5000, seed=2)
    copy = {c: dict(r) for c, r in master.items()}
    codes = sorted(master)
    changed, dropped = codes[10:13], codes[100:102]
    for c in changed:
        copy[c]["address"] = "千葉市中央区千葉港1番1号"
    for c in dropped:
        del copy[c]
    extra = _records(2, seed=99)
    copy.update(extra)
    depth = mk.depth_for(len(master))
    result, asked = _run(_tree(master, depth), _tree(copy, depth))
    found = {(d.juminhyo_code, d.kind) for d in result.differences}
    assert found == ({(c, mk.DifferenceKind.DIFFERS) for c in changed}
                     | {(c, mk.DifferenceKind.MISSING_REMOTE) for c in dropped}
                     | {(c, mk.DifferenceKind.EXTRA_REMOTE) for c in extra})
    # at most one bucket per difference is fetched, and far fewer nodes than records are asked for
    assert result.buckets_fetched <= len(found)
    assert asked["children"] <= 1 + depth * len(found)


def test_a_copy_missing_everything_is_settled_without_descending():
    master = _records(300, seed=3)
    result, asked = _run(_tree(master, 3), _tree({}, 3))
    assert {d.juminhyo_code for d in result.differences} == set(master)
    assert all(d.kind is mk.DifferenceKind.MISSING_REMOTE for d in result.differences)
    assert asked == {"children": 1, "entries": 0}


def test_an_empty_master_fetches_the_copy_whole_once():
    copy = _records(300, seed=4)
    result, asked = _run(_tree({}, 3), _tree(copy, 3))
    assert {d.juminhyo_code for d in result.differences} == set(copy)
    assert asked["entries"] <= 10


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_reconcile_equals_the_full_comparison(data):
    n = data.draw(st.integers(min_value=0, max_value=400))
    master = _records(n, seed=data.draw(st.integers(0, 10**6)))
    codes = sorted(master)
    copy = {c: dict(r) for c, r in master.items()}
    for c in data.draw(st.lists(st.sampled_from(codes), max_size=10)) if codes else []:
        op = data.draw(st.sampled_from(["drop", "change"]))
        if op == "drop":
            copy.pop(c, None)
        elif c in copy:
            copy[c]["name"] += "X"
    copy.update(_records(data.draw(st.integers(0, 3)), seed=data.draw(st.integers(0, 10**6))))
    depth = data.draw(st.integers(1, 4))
    result, _ = _run(_tree(master, depth), _tree(copy, depth))
    expected = mk.compare_entries(sorted((c, mk.record_digest(r)) for c, r in master.items()),
                                  sorted((c, mk.record_digest(r)) for c, r in copy.items()))
    assert result.differences == expected


def test_digest_is_canonical_and_sensitive():
    a = {"name": "札幌　太郎", "sex": "1"}
    assert mk.record_digest(a) == mk.record_digest({"sex": "1", "name": "札幌　太郎"})
    assert mk.record_digest(a) != mk.record_digest({**a, "name": "札幌　太朗"})
    assert len(mk.record_digest(a)) == mk.DIGEST_BYTES


def test_depth_choice_and_limits():
    assert mk.depth_for(0) == 1 and mk.depth_for(16) == 1
    assert mk.depth_for(1_000_000) == 5
    with pytest.raises(ValueError):
        mk.HashTree([], 0)
    with pytest.raises(ValueError):
        _tree(_records(5), 1).children("1")
