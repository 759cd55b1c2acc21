"""Contract: DV 支援措置 (SEC-8) stored and applied to a real search on both engines: a search made for the
named offender withholds the protected person; for anyone else it does not, but the person is flagged
for manual handling."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from juki.access import policy, support
from juki.access.model import Requester
from juki.adapters.db.store import SearchCriteria
from juki.domain.errors import Forbidden

from .test_store_support import BIRTH, D, make_store, move_in, person

ON = D(2024, 5, 1)
OFFENDER_BIRTH = dt.date(1975, 6, 1)


def test_search_for_the_offender_withholds_the_protected_person(database_url: str, tmp_path: Path) -> None:
    store = make_store(database_url, tmp_path)
    move_in(store, [person(1, 1), person(2, 1)], 1)
    hits = store.search(SearchCriteria(birth_date=BIRTH))
    assert len(hits) >= 2
    victim = hits[0].person_id
    mid = support.register_measure(
        store.engine,
        person_id=victim,
        offender_name="加害 太郎",
        offender_name_kana="カガイ タロウ",
        offender_birth_date=OFFENDER_BIRTH,
        valid_from=D(2024, 4, 1),
        registered_by="dv1",
        approved_by="dv-boss",
    )
    measures = support.load_measures(store.engine, person_ids=[h.person_id for h in hits], on=ON)
    assert [m.measure_id for m in measures] == [mid]
    assert measures[0].valid_to == D(2025, 3, 31)

    offender = Requester(name="加害\u3000太郎", birth_date=OFFENDER_BIRTH)  # full-width space: same name key
    screened = policy.screen(hits, offender, measures, on=ON)
    assert screened.withheld == [victim]
    assert victim not in [h.person_id for h in screened.visible]
    assert len(screened.visible) == len(hits) - 1
    by_kana = Requester(name_kana="かがい たろう", birth_date=OFFENDER_BIRTH)
    assert policy.withheld(hits, by_kana, measures, on=ON) == [victim]
    with pytest.raises(Forbidden) as exc:
        policy.check_request(victim, offender, measures, on=ON)
    assert exc.value.problems[0].rule == "SEC-8/withheld"

    someone_else = Requester(name="加害 太郎", birth_date=dt.date(1990, 1, 1))  # same name, other person
    assert policy.screen(hits, someone_else, measures, on=ON).visible == hits
    assert policy.screen(hits, None, measures, on=ON).visible == hits
    assert policy.requires_manual_handling(victim, measures, on=ON)
    assert not policy.requires_manual_handling(hits[1].person_id, measures, on=ON)
    assert support.is_protected(store.engine, victim, on=ON)

    support.end_measure(store.engine, mid, ended_by="dv1", reason="転出", clock=lambda: dt.datetime(2024, 6, 1, tzinfo=dt.UTC))
    assert support.load_measures(store.engine, person_ids=[victim], on=D(2024, 6, 2)) == []
    assert len(support.load_measures(store.engine, person_ids=[victim])) == 1  # history kept
    assert not support.is_protected(store.engine, victim, on=D(2024, 6, 2))
    store.engine.dispose()


def test_offender_by_person_id_and_four_eyes(database_url: str, tmp_path: Path) -> None:
    store = make_store(database_url, tmp_path)
    with pytest.raises(Forbidden) as exc:
        support.register_measure(
            store.engine, person_id="0000000001", offender_name="x", valid_from=ON, registered_by="a", approved_by="a"
        )
    assert exc.value.problems[0].rule == "SEC-8/four-eyes"
    support.register_measure(
        store.engine,
        person_id="0000000001",
        offender_name="加害 花子",
        offender_person_id="0000000009",
        valid_from=ON,
        registered_by="a",
        approved_by="b",
    )
    measures = support.load_measures(store.engine, on=ON)
    assert policy.withheld(["0000000001", "0000000002"], Requester(person_id="0000000009"), measures, on=ON) == [
        "0000000001"
    ]
    assert policy.withheld(["0000000001"], Requester(person_id="0000000008"), measures, on=ON) == []
    assert support.load_measures(store.engine, on=ON - dt.timedelta(days=1)) == []  # not yet valid
    store.engine.dispose()
