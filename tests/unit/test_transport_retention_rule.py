"""Unit: the transport copies' rule (PRF-4, juki.domain.transport_retention): what a redacted row keeps,
which inbox rows may be redacted, how far the outgoing stream may be."""

from __future__ import annotations

import datetime as dt

import pytest

from juki.domain.transport_retention import (
    MAX_TRANSPORT_KEEP_DAYS,
    inbox_redactable,
    is_redacted,
    keep_period,
    outbound_through,
    redacted_payload,
)

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
BEFORE = NOW - dt.timedelta(days=30)
OLD, NEW = "24727059608", "30000000009"


def test_the_keeping_period_is_one_day_to_a_year() -> None:
    assert keep_period(30) == dt.timedelta(days=30) and keep_period(MAX_TRANSPORT_KEEP_DAYS).days == 365
    for bad in (0, -1, 366, 1.5, True, "30"):
        with pytest.raises(ValueError, match="transport_keep_days"):
            keep_period(bad)  # type: ignore[arg-type]


def test_a_redacted_payload_keeps_nothing_but_the_run_and_a_code_changes_two_codes() -> None:
    notice = {"juminhyo_code": NEW, "name": "古川　一", "address": "北海道…", "birth_date": "1868-02-01",
              "old_juminhyo_code": "", "reason": "move_in"}
    day = dt.date(2026, 5, 1)
    assert redacted_payload(notice, run_id=7, on=day) == {"redacted": {"run_id": 7, "on": "2026-05-01"}}
    change = {**notice, "old_juminhyo_code": OLD, "reason": "juminhyo_code_change"}
    assert redacted_payload(change, run_id=7, on=day) == {
        "redacted": {"run_id": 7, "on": "2026-05-01"}, "juminhyo_code": NEW, "old_juminhyo_code": OLD}
    same = {**notice, "old_juminhyo_code": NEW}  # not a change of code
    assert set(redacted_payload(same, run_id=1, on=day)) == {"redacted"}
    marker = {"skipped": {"node": "010006", "reason": "誤登録"}}  # an operator's skip marker goes too
    assert set(redacted_payload(marker, run_id=1, on=day)) == {"redacted"}
    assert is_redacted(redacted_payload(notice, run_id=1, on=day)) and not is_redacted(notice)


@pytest.mark.parametrize(("status", "decided", "refusal_open", "expected"), [
    ("applied", BEFORE - dt.timedelta(seconds=1), False, True),
    ("forced", BEFORE - dt.timedelta(days=9), False, True),
    ("skipped", BEFORE - dt.timedelta(days=9), False, True),
    ("duplicate", BEFORE - dt.timedelta(days=9), False, True),
    ("applied", BEFORE, False, False),  # decided exactly keep days ago: not yet
    ("applied", NOW, False, False),
    ("applied", None, False, False),
    ("pending", BEFORE - dt.timedelta(days=9), False, False),  # never while pending
    ("refused", BEFORE - dt.timedelta(days=9), True, False),  # never while its alert is open
    ("refused", BEFORE - dt.timedelta(days=9), False, True),
])
def test_which_inbox_rows_may_be_redacted(status: str, decided: dt.datetime | None, refusal_open: bool,
                                          expected: bool) -> None:
    assert inbox_redactable(status, decided, before=BEFORE, refusal_open=refusal_open) is expected


def test_the_outgoing_stream_is_redacted_only_as_far_as_every_destination_acknowledged_a_period_ago() -> None:
    assert outbound_through(created_through=90, acked_now=[80], acked_then=[50]) == 50
    assert outbound_through(created_through=40, acked_now=[80], acked_then=[50]) == 40  # created too recently
    assert outbound_through(created_through=90, acked_now=[30], acked_then=[50]) == 30  # the receiver went back
    assert outbound_through(created_through=90, acked_now=[80, 20], acked_then=[50, 60]) == 20
    assert outbound_through(created_through=90, acked_now=[80], acked_then=None) == 0  # no run a period ago
    assert outbound_through(created_through=90, acked_now=[], acked_then=[50]) == 0  # no destination
