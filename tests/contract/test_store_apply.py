"""Contract: Tx.apply writes event + versions + projections + outbox in one transaction, with
optimistic concurrency on households; the request workflow; id allocation."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import sqlalchemy as sa

from juki.adapters.db.store import DuplicateRequest, Store
from juki.adapters.keys import Keyring
from juki.domain.errors import Conflict, NotFound, RuleViolation
from juki.domain.events import ChangeKind, Origin
from juki.domain.model import Sex, Status

from .test_store_support import (  # noqa: F401  (clock, store: fixtures)
    Clock,
    D,
    addr,
    code_for,
    household,
    make_store,
    move_in,
    number_for,
    outcome,
    person,
    pid,
    prov,
    table_counts,
)


def family() -> list:
    head = person(1, 10, number=number_for(1))
    spouse = person(2, 10, name="山田 花子", kana="ヤマダ ハナコ", sex=Sex.FEMALE, relationship="妻")
    child = person(3, 10, name="山田 一郎", kana="ヤマダ イチロウ", birth=D(2010, 5, 5), relationship="子")
    return [head, spouse, child]


def test_apply_writes_event_versions_projections_and_outbox(store: Store) -> None:
    members = family()
    seq = move_in(store, members, 10)
    counts = table_counts(store)
    assert counts["events"] == 1 and counts["outbox"] == 1
    assert counts["person_versions"] == 3 and counts["persons"] == 3
    assert counts["household_versions"] == 1 and counts["households"] == 1

    with store.transaction() as tx:
        hh = tx.households([pid(10), pid(99)])
        assert set(hh) == {pid(10)}
        rec, row_version = hh[pid(10)]
        assert row_version == 1 and rec.member_ids == (pid(1), pid(2), pid(3))
        got = tx.persons([pid(1), pid(2), pid(404)])
        assert set(got) == {pid(1), pid(2)}
        assert got[pid(1)] == members[0]  # whole record round-trips, 個人番号 decrypted
        assert got[pid(2)].individual_number is None
        assert [p.person_id for p in tx.household_members(pid(10))] == [pid(1), pid(2), pid(3)]
        ev = tx.event(seq)
        assert ev is not None
        assert ev.kind is ChangeKind.MOVE_IN and ev.origin is Origin.NOTIFICATION
        assert ev.effective_date == D(2024, 4, 1) and ev.approved_by == "chief1" and ev.entered_by == "clerk1"
        assert ev.terminal == "T01" and ev.case_ref == "C-1" and ev.late is False

    with store.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT name_key, kana_key, address_key, version_no FROM persons WHERE person_id = :p"),
            {"p": pid(1)},
        ).one()
        assert tuple(row) == ("山田太郎", "ヤマタタロウ", "北海道札幌市中央区北一条西1-2-3", 1)
        payload = conn.execute(sa.text("SELECT payload FROM outbox")).scalar_one()
    if isinstance(payload, str):
        import json

        payload = json.loads(payload)
    assert payload["event_seq"] == seq and payload["kind"] == "move_in"
    assert payload["effective_date"] == "2024-04-01"
    first = payload["persons"][0]
    assert first["juminhyo_code"] == code_for(1) and first["name"] == "山田 太郎"
    assert first["birth_date"] == "1980-01-02" and first["sex"] == "1"
    assert first["has_individual_number"] is True
    assert payload["persons"][1]["has_individual_number"] is False
    assert number_for(1) not in str(payload)


def test_second_change_makes_new_versions(store: Store, clock: Clock) -> None:
    members = family()
    move_in(store, members, 10)
    new_addr = addr(block="5-6-7", town="大通西")
    moved = tuple(dataclasses.replace(m, address=new_addr, previous_address=m.address) for m in members)
    clock.advance(days=30)
    with store.transaction() as tx:
        _, v = tx.households([pid(10)])[pid(10)]
        seq = tx.apply(
            outcome(ChangeKind.MOVE_WITHIN, D(2024, 5, 1), moved, (household(10, list(moved)),)),
            prov(D(2024, 5, 1)),
            approved_by="chief1",
            request_id=None,
            expected_versions={pid(10): v},
        )
    with store.transaction() as tx:
        assert tx.households([pid(10)])[pid(10)][1] == 2
        assert tx.persons([pid(1)])[pid(1)].address == new_addr
    hist = store.person_history(pid(1))
    assert [e.kind for e, _ in hist] == [ChangeKind.MOVE_IN, ChangeKind.MOVE_WITHIN]
    assert hist[1][0].seq == seq and hist[1][1].address == new_addr and hist[0][1].address == addr()
    assert hist[1][1].individual_number == number_for(1)
    assert [e.seq for e in store.events_for_person(pid(1))] == [seq - 1, seq]
    assert [r.address for _, r in store.household_history(pid(10))] == [addr(), new_addr]


def test_conflict_midway_writes_nothing(store: Store) -> None:
    move_in(store, family(), 10)
    before = table_counts(store)
    split_off = person(3, 11, name="山田 一郎", kana="ヤマダ イチロウ", birth=D(2010, 5, 5))
    rest = family()[:2]
    # new household 11 is inserted first, then household 10 fails its version check
    bad = outcome(
        ChangeKind.HOUSEHOLD_SPLIT,
        D(2024, 6, 1),
        (split_off,),
        (household(11, [split_off]), household(10, rest)),
    )
    with pytest.raises(Conflict) as err:
        with store.transaction() as tx:
            tx.apply(
                bad, prov(D(2024, 6, 1)), approved_by="c", request_id=None, expected_versions={pid(10): 7}
            )
    p = err.value.problems[0]
    assert p.field == "household_id" and p.rule == "REG-CONCURRENCY"
    assert pid(10) in p.ja and "他の処理で更新されました" in p.ja and p.en
    assert table_counts(store) == before
    with store.transaction() as tx:
        assert tx.households([pid(11)]) == {}
        assert tx.persons([pid(3)])[pid(3)].household_id == pid(10)


class FailingKeyring(Keyring):
    """Raises on the n-th encryption: a failure after the event and households were written."""

    def __init__(self, inner: Keyring, fail_at: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.calls = 0
        self.fail_at = fail_at

    def encrypt(self, number: str, aad: str | bytes) -> tuple[bytes, str]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("disk on fire")
        return super().encrypt(number, aad)


def test_failure_in_the_middle_of_persons_writes_nothing(store: Store) -> None:
    move_in(store, [person(1, 10, number=number_for(1))], 10)
    before = table_counts(store)
    failing = Store(store.engine, FailingKeyring(store.keyring, fail_at=2))
    a = person(5, 20, name="鈴木 一", kana="スズキ ハジメ", number=number_for(5))
    b = person(6, 20, name="鈴木 二", kana="スズキ ジ", number=number_for(6), relationship="子")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with failing.transaction() as tx:
            tx.apply(
                outcome(ChangeKind.MOVE_IN, D(2024, 4, 2), (a, b), (household(20, [a, b]),)),
                prov(D(2024, 4, 2)),
                approved_by="c",
                request_id=None,
                expected_versions={},
            )
    assert table_counts(store) == before
    assert store.person_current(pid(5)) is None


def test_optimistic_concurrency_second_approval_conflicts(store: Store) -> None:
    move_in(store, family(), 10)
    # two clerks enter changes against the same household, both having seen version 1
    with store.transaction() as tx:
        seen_a = tx.households([pid(10)])[pid(10)][1]
    with store.transaction() as tx:
        seen_b = tx.households([pid(10)])[pid(10)][1]
    assert seen_a == seen_b == 1
    members = family()
    renamed = dataclasses.replace(members[2], name="山田 一朗")
    with store.transaction() as tx:
        tx.apply(
            outcome(ChangeKind.NAME_CHANGE, D(2024, 7, 1), (renamed,), (household(10, members),)),
            prov(D(2024, 7, 1)),
            approved_by="c",
            request_id=None,
            expected_versions={pid(10): seen_a},
        )
    before = table_counts(store)
    moved = dataclasses.replace(members[1], address=addr(block="9-9"))
    with pytest.raises(Conflict):
        with store.transaction() as tx:
            tx.apply(
                outcome(ChangeKind.MOVE_WITHIN, D(2024, 7, 2), (moved,), (household(10, members),)),
                prov(D(2024, 7, 2)),
                approved_by="c",
                request_id=None,
                expected_versions={pid(10): seen_b},
            )
    assert table_counts(store) == before
    assert store.person_current(pid(3)).name == "山田 一朗"
    assert store.person_current(pid(2)).address == addr()


def test_interleaved_transactions_conflict_on_postgresql(store: Store) -> None:
    """Two open transactions read version 1; the first commits; the second (relying on the version it
    read, no expected_versions) gets Conflict.  SQLite cannot interleave writers (BEGIN IMMEDIATE
    serialises them; see test_two_writers_serialise_instead_of_failing)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions; interleaving is impossible there")
    move_in(store, family(), 10)
    members = family()
    a_ready, a_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    with store.transaction() as tx2:
        assert tx2.households([pid(10)])[pid(10)][1] == 1

        def writer_a() -> None:
            try:
                with store.transaction() as tx1:
                    assert tx1.households([pid(10)])[pid(10)][1] == 1
                    a_ready.set()
                    tx1.apply(
                        outcome(ChangeKind.HEAD_CHANGE, D(2024, 8, 1), (), (household(10, members[::-1]),)),
                        prov(D(2024, 8, 1)),
                        approved_by="c",
                        request_id=None,
                        expected_versions={},
                    )
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)
            finally:
                a_done.set()

        t = threading.Thread(target=writer_a)
        t.start()
        a_done.wait(30)
        t.join(30)
        assert not errors
        with pytest.raises(Conflict):
            tx2.apply(
                outcome(ChangeKind.HOUSEHOLD_REORGANISE, D(2024, 8, 2), (), (household(10, members),)),
                prov(D(2024, 8, 2)),
                approved_by="c",
                request_id=None,
                expected_versions={},
            )
        tx2.connection.rollback()
    assert store.household_current(pid(10)).head_id == pid(3)


def test_interleaved_person_updates_conflict_on_postgresql(store: Store) -> None:
    """The same race for a person alone (no household in either change): both transactions read the
    person at version 1; the first renames them and commits; the second, computed from its stale read,
    must get Conflict rather than overwrite the new name (a lost update on READ COMMITTED)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises write transactions; interleaving is impossible there")
    move_in(store, family(), 10)
    errors: list[BaseException] = []
    with store.transaction() as tx2:
        stale = tx2.persons([pid(2)])[pid(2)]

        def writer_a() -> None:
            try:
                with store.transaction() as tx1:
                    renamed = dataclasses.replace(tx1.persons([pid(2)])[pid(2)], name="山田 花代")
                    tx1.apply(outcome(ChangeKind.NAME_CHANGE, D(2024, 8, 1), (renamed,), ()),
                              prov(D(2024, 8, 1)), approved_by="c", request_id=None, expected_versions={})
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        t = threading.Thread(target=writer_a)
        t.start()
        t.join(30)
        assert not errors
        moved = dataclasses.replace(stale, address=addr(block="9-9"))
        with pytest.raises(Conflict):
            tx2.apply(outcome(ChangeKind.MOVE_WITHIN, D(2024, 8, 2), (moved,), ()),
                      prov(D(2024, 8, 2)), approved_by="c", request_id=None, expected_versions={})
        tx2.connection.rollback()
    assert store.person_current(pid(2)).name == "山田 花代"


def test_two_changes_in_one_transaction_build_on_each_other(store: Store) -> None:
    """A transaction that applies two changes to one person and 世帯 bases the second on its own first
    write, not on the version it read before it (which would be a false conflict)."""
    move_in(store, family(), 10)
    members = family()
    with store.transaction() as tx:
        current = tx.persons([pid(2)])[pid(2)]
        assert tx.households([pid(10)])[pid(10)][1] == 1
        renamed = dataclasses.replace(current, name="山田 花代")
        tx.apply(outcome(ChangeKind.NAME_CHANGE, D(2024, 8, 1), (renamed,), (household(10, members),)),
                 prov(D(2024, 8, 1)), approved_by="c", request_id=None, expected_versions={})
        moved = dataclasses.replace(renamed, address=addr(block="9-9"))
        tx.apply(outcome(ChangeKind.MOVE_WITHIN, D(2024, 8, 2), (moved,), (household(10, members),)),
                 prov(D(2024, 8, 2)), approved_by="c", request_id=None, expected_versions={})
    now = store.person_current(pid(2))
    assert now.name == "山田 花代" and now.address == addr(block="9-9")
    assert store.household_current(pid(10)) is not None


def test_new_household_that_already_exists_conflicts(store: Store) -> None:
    move_in(store, [person(1, 10)], 10)
    with pytest.raises(Conflict):
        move_in(store, [person(2, 10, name="別人", kana="ベツジン")], 10)


def test_juminhyo_code_held_by_another_resident_is_refused(store: Store) -> None:
    move_in(store, [person(1, 10)], 10)
    other = dataclasses.replace(person(2, 20, name="別人", kana="ベツジン"), juminhyo_code=code_for(1))
    with pytest.raises(RuleViolation) as err:
        move_in(store, [other], 20)
    assert err.value.problems[0].rule == "REG-R1-JUMINHYO-CODE"


def test_lookup_by_individual_number_and_juminhyo_code(store: Store) -> None:
    move_in(store, family(), 10)
    with store.transaction() as tx:
        assert tx.person_id_by_individual_number(number_for(1)) == pid(1)
        assert tx.person_id_by_individual_number(number_for(2)) is None
        assert tx.person_id_by_juminhyo_code(code_for(2)) == pid(2)
        assert tx.person_id_by_juminhyo_code("00000000000") is None
    # a 除票 and a later new 住民票 of the same person (moved back): the resident one wins
    old = dataclasses.replace(family()[0], status=Status.REMOVED)
    with store.transaction() as tx:
        tx.apply(
            outcome(ChangeKind.MOVE_OUT, D(2024, 9, 1), (old,), (household(10, family()[1:]),)),
            prov(D(2024, 9, 1)),
            approved_by="c",
            request_id=None,
            expected_versions={pid(10): 1},
        )
        assert tx.person_id_by_individual_number(number_for(1)) == pid(1)
    back = person(50, 50, number=number_for(1))
    back = dataclasses.replace(back, juminhyo_code=code_for(1))
    move_in(store, [back], 50, D(2025, 1, 1))
    with store.transaction() as tx:
        assert tx.person_id_by_juminhyo_code(code_for(1)) == pid(50)
        assert tx.person_id_by_individual_number(number_for(1)) == pid(50)


def test_allocate_ids(store: Store) -> None:
    assert store.next_id("person") == 1
    with pytest.raises(NotFound):
        store.next_id("nonsense")
    with store.transaction() as tx:
        assert tx.allocate_ids("person", 3) == ["0000000001", "0000000002", "0000000003"]
        assert tx.allocate_ids("household", 1) == ["0000000001"]
        assert tx.allocate_ids("person", 0) == []
    assert store.next_id("person") == 4 and store.next_id("household") == 2
    with store.transaction() as tx:
        assert tx.allocate_ids("person", 1) == ["0000000004"]
        with pytest.raises(NotFound):
            tx.allocate_ids("nonsense", 1)
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            assert tx.allocate_ids("person", 1) == ["0000000005"]
            raise RuntimeError("rolled back")
    with store.transaction() as tx:
        assert tx.allocate_ids("person", 1) == ["0000000005"]


def test_request_workflow(store: Store, clock: Clock) -> None:
    p = prov(D(2024, 4, 1))
    with store.transaction() as tx:
        r1 = tx.add_request(
            kind=ChangeKind.MOVE_IN,
            payload={"persons": [{"name": "山田 太郎", "birth_date": "1980-01-02"}]},
            provenance=p,
            household_ids=[pid(10)],
            expected_versions={pid(10): 3},
            summary="転入 山田太郎",
            idempotency_key="form-123",
        )
        r2 = tx.add_request(
            kind="death",
            payload={},
            provenance=p,
            household_ids=[],
            expected_versions={},
            summary="死亡",
            idempotency_key=None,
        )
    assert r2 > r1
    req = store.request(r1)
    assert req is not None and req.status == "pending" and req.decision is None
    assert req.kind == ChangeKind.MOVE_IN and req.provenance == p
    assert req.payload["persons"][0]["name"] == "山田 太郎"
    assert req.household_ids == [pid(10)] and req.expected_versions == {pid(10): 3}
    assert req.entered_at == clock.now and req.idempotency_key == "form-123"
    assert [r.request_id for r in store.pending_requests()] == [r1, r2]

    # the same form submitted twice is detected
    with pytest.raises(DuplicateRequest) as dup:
        with store.transaction() as tx:
            tx.add_request(
                kind=ChangeKind.MOVE_IN,
                payload={},
                provenance=p,
                household_ids=[],
                expected_versions={},
                summary="again",
                idempotency_key="form-123",
            )
    assert dup.value.request_id == r1 and isinstance(dup.value, Conflict)
    with store.transaction() as tx:
        assert tx.request_by_idempotency_key("form-123").request_id == r1
        assert tx.request_by_idempotency_key("nope") is None

    seq = move_in(store, [person(1, 10)], 10)
    with store.transaction() as tx:
        tx.add_decision(
            request_id=r1, decision="approved", decided_by="chief", terminal="T9", reason="", event_seq=seq
        )
        tx.add_decision(
            request_id=r2, decision="returned", decided_by="chief", terminal="T9", reason="記載漏れ"
        )
    req = store.request(r1)
    assert req.status == "approved" and req.decision.event_seq == seq and req.decision.decided_by == "chief"
    assert store.request(r2).decision.reason == "記載漏れ"
    assert store.pending_requests() == []
    with pytest.raises(Conflict) as err:
        with store.transaction() as tx:
            tx.add_decision(request_id=r2, decision="approved", decided_by="x", terminal="T", reason="")
    assert err.value.problems[0].rule == "REG-R3-DECIDED"
    with pytest.raises(NotFound):
        with store.transaction() as tx:
            tx.add_decision(request_id=9999, decision="approved", decided_by="x", terminal="T", reason="")
    assert store.request(9999) is None


def test_idempotency_key_is_unique_in_the_database(store: Store) -> None:
    with store.engine.connect() as conn:
        insert = sa.text(
            "INSERT INTO change_requests (kind, payload, origin, legal_basis, effective_date, notified_date, "
            "entered_by, terminal, case_ref, agent, entered_at, household_ids, expected_versions, summary, "
            "idempotency_key) VALUES ('birth', '{}', 'notice', 'x', '2024-01-01', '2024-01-01', 'u', 't', "
            "'', '', '2024-01-01 00:00:00', '[]', '{}', '', 'dup')"
        )
        conn.execute(insert)
        conn.commit()
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(insert)
