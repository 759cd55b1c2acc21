"""Unit: the canonical form and hash of an audit entry, and the 個人番号 guard (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from juki.audit.chain import canonical_json, entry_hash, format_at, no_individual_number
from juki.domain.errors import InvalidInput
from juki.domain.identifiers import individual_number_check_digit

FIELDS = dict(seq=1, at=dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC), user_id="u", terminal="T",
              session_id=None, action="search", outcome="allowed", subject_ids='["0000000001"]',
              detail='{"q":"ヤマダ"}')


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "山"}) == '{"a":"山","b":1}'


def test_format_at_is_utc_with_microseconds() -> None:
    jst = dt.timezone(dt.timedelta(hours=9))
    assert format_at(dt.datetime(2024, 1, 1, 18, 0, tzinfo=jst)) == "2024-01-01T09:00:00.000000Z"


def test_hash_covers_every_field_and_the_previous_hash() -> None:
    base = entry_hash("0" * 64, **FIELDS)
    assert len(base) == 64 and base == entry_hash("0" * 64, **FIELDS)
    assert entry_hash("1" * 64, **FIELDS) != base
    changes = dict(seq=2, at=FIELDS["at"] + dt.timedelta(microseconds=1), user_id="v", terminal="U",
                   session_id="s", action="person.read", outcome="denied", subject_ids='["0000000002"]',
                   detail='{"q":"ヤマダ "}')
    for k, v in changes.items():
        assert entry_hash("0" * 64, **{**FIELDS, k: v}) != base, k
    # whitespace in the stored JSON text is not a semantic change
    assert entry_hash("0" * 64, **{**FIELDS, "detail": '{ "q": "ヤマダ" }'}) == base


def test_individual_number_guard() -> None:
    first = "98765432109"
    number = first + individual_number_check_digit(first)
    wrong = first + str((int(individual_number_check_digit(first)) + 1) % 10)
    for bad in ({"n": number}, {"a": [{"b": number}]}, {"my_number": "x"}, {"x": f"no.{number}."}, [number]):
        with pytest.raises(InvalidInput):
            no_individual_number(bad)
    for ok in ({"n": wrong}, {"code": "12345678901"}, {"pid": "0000000001"}, {"n": number + "1"}, {"t": True}):
        no_individual_number(ok)
