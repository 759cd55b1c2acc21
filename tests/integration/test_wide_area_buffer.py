"""NET-12: 広域交付 while the 住所地's register is offline, on both engines.

札幌市 (011002, the test's database) keeps the 中間サーバ's buffer in a database of its own (a second SQLite
file, or a second PostgreSQL database); 千葉市 (121002) issues as the 交付地.  "Offline" is real: 札幌市's
service is built on a register whose URL names a database that does not exist (a missing directory for
SQLite, an unknown database on the PostgreSQL server), so every query fails with the driver's own
OperationalError.  Messages cross as JSON both ways, as over the wire."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from juki.access.support import register_measure
from juki.adapters.pdf.verify import verify_pdf
from juki.config import Register, Settings
from juki.domain.errors import Conflict, JukiError, RuleViolation, Unavailable
from juki.domain.events import ChangeKind
from juki.domain.wide_area import WideAreaAnswer, WideAreaRequest
from juki.issuance.proof import normalise, pdf_text
from juki.net.wide_area import WideAreaService
from juki.net.wide_area_buffer import WideAreaBuffer, buffer_households, buffer_persons, buffer_state
from juki.net.wide_area_tables import wide_area_buffer_intake, wide_area_sends

from ..conftest import _create_pg_database
from ..issuance_support import CHEAP_HASH, CLERK, NUMBER
from ..unit.registry import address

ADDRESS = "北海道札幌市中央区北一条西1丁目1番1号"
TARO = {"name": "札幌　太郎", "birth_date": "1980-05-01", "address": ADDRESS}
HONSEKI = "北海道札幌市中央区北一条西二丁目"


@pytest.fixture
def buffer_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The buffer's own database, on the same engine as the register's."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'wide-area-buffer.db'}"
    else:
        yield from _create_pg_database(request)


@pytest.fixture
def buffer(world, buffer_url):
    b = WideAreaBuffer(buffer_url, world.reg.keyring, clock=world.clock)
    yield b
    b.close()


@pytest.fixture
def offline(world, database_url, tmp_path):
    """札幌市's register as the node sees it when its database is unreachable (same key file)."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'stopped' / 'juki.db'}"
    else:
        url = sa.engine.make_url(database_url).set(database=f"juki_gone_{uuid.uuid4().hex[:8]}").render_as_string(
            hide_password=False)
    reg = Register(Settings(database_url=url, key_file=world.reg.settings.key_file, lg_code="011002"),
                   password_hasher=CHEAP_HASH)
    reg.clock = world.clock
    yield reg
    reg.engine.dispose()


def service(world: Any, reg: Register, buffer: WideAreaBuffer | None) -> WideAreaService:
    return WideAreaService(reg.store, reg.reads, reg.jurisdiction, clock=world.clock, audit=reg.audit, buffer=buffer)


def asking(svc: WideAreaService) -> Any:
    def ask(request: WideAreaRequest) -> WideAreaAnswer:
        received = WideAreaRequest.from_json(json.loads(json.dumps(request.to_json())))
        answer = svc.answer(received, caller_lg_code="121002", user=f"{received.operator}@municipality:121002")
        return WideAreaAnswer.from_json(json.loads(json.dumps(answer.to_json())))
    return ask


def wide(**fields: Any) -> WideAreaRequest:
    return WideAreaRequest.from_json({"residence_lg_code": "011002", "requester": TARO,
                                      "identity": [{"kind": "individual_number_card"}], **fields})


def sent(request: WideAreaRequest, request_id: str) -> WideAreaRequest:
    return request.sent(request_id=request_id.ljust(20, "0"), issuing_lg_code="121002", operator="clerk")


def sends(world: Any) -> list[Any]:
    with world.reg.engine.connect() as c:
        return c.execute(sa.select(wide_area_sends).order_by(wide_area_sends.c.sent_at)).all()


def printed(answer: WideAreaAnswer) -> list[Any]:
    """What an answer prints, without the send's own references."""
    return [dataclasses.replace(p, ref="") for p in answer.persons] + [
        dataclasses.replace(line, person_id="") for line in answer.history]


def test_the_register_offline_a_copy_is_issued_from_the_buffer_and_recorded_when_it_is_back(world, buffer, offline,
                                                                                             chiba):
    ids = [world.ids[n] for n in ("札幌　太郎", "札幌　花子", "札幌　一郎", "札幌　次郎")]
    world.change(ChangeKind.MOVE_WITHIN, {"household_id": world.households["sapporo"], "person_ids": ids,
                                          "address": address(block="5丁目5番5号", town="南一条西")}, effective="2026-04-18")
    live = service(world, world.reg, buffer)
    report = live.sync_buffer()
    assert report is not None and report.left == 0 and report.synced_at == world.clock.now
    taro = world.reg.store.person_current(ids[0])
    moved = "北海道札幌市中央区南一条西5丁目5番5号"
    request = wide(requester={**TARO, "address": moved, "juminhyo_code": taro.juminhyo_code}, whole_household=True,
                   items={"relationship": True, "history": True}, purpose="年金の手続")

    # the buffer holds nothing a 広域交付 answer may not carry, and no personal item in clear
    with buffer.engine.connect() as c:
        stored = [bytes(r.ciphertext) for r in c.execute(sa.select(buffer_persons))]
        stored += [bytes(r.ciphertext) for r in c.execute(sa.select(buffer_households))]
        clear = json.dumps([list(map(str, r)) for t in (buffer_persons, buffer_state)
                            for r in c.execute(sa.select(t))], ensure_ascii=False)
    assert len(stored) == 6 + 3  # the 6 residents, their 3 世帯
    for secret in ("札幌", "太郎", taro.juminhyo_code, "1980-05-01", NUMBER):
        assert secret not in clear
    with buffer.engine.connect() as c:
        row = c.execute(sa.select(buffer_persons).where(buffer_persons.c.person_id == ids[0])).one()
    plain = world.reg.keyring.decrypt(row.ciphertext, row.key_id, f"wide-area-buffer:person:{ids[0]}")
    assert "札幌　太郎" in plain and HONSEKI not in plain and taro.juminhyo_code not in plain and NUMBER not in plain

    # the register goes offline: 千葉市 still issues a correct copy, answered from the buffer
    down = service(world, offline, buffer)
    with pytest.raises(sa.exc.OperationalError), offline.engine.connect():
        pass
    world.clock.advance(minutes=30)
    issued = chiba.issuance.issue_wide_area(CLERK, request, asking(down))
    text = normalise(pdf_text(issued.pdf))
    assert "千葉市長千葉花子" in text and "世帯全員" in text and "札幌太郎" in text and "札幌次郎" in text
    assert "南一条西5丁目5番5号" in text and "転居" in text
    for never in (HONSEKI, taro.juminhyo_code, NUMBER):
        assert never not in text
    assert verify_pdf(issued.pdf, chiba.certificate_signer.public_key).ok
    with chiba.engine.connect() as c:
        detail = json.loads(c.execute(sa.text("SELECT request_detail FROM certificate_issuances")).scalar_one())
    assert detail["source"] == "buffer" and detail["synced_at"] == report.synced_at.isoformat()

    # nothing was recorded in the register while it was down; the buffer journaled the sends
    from_buffer = asking(down)(sent(request, "again-offline"))
    assert sends(world) == [] and world.audit("wide_area.provide") == []
    with buffer.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM buffer_journal")).scalar_one() == 2

    # the same content the register itself answers (another request id, once it is back)
    from_register = asking(live)(sent(request, "again-online"))
    assert from_buffer.source == "buffer" and from_register.source == "register" and from_register.synced_at is None
    assert printed(from_buffer) == printed(from_register) and from_buffer.whole_household
    assert from_buffer.household_address == from_register.household_address

    # the journal went to the send record and the audit log when the register was back (source buffer):
    assert live.reconcile() == 0  # done already, before the live answer
    rows = {r.answer_ref: r for r in sends(world)}
    assert set(rows) == {detail["answer_ref"], from_buffer.answer_ref, from_register.answer_ref}
    row = rows[detail["answer_ref"]]
    assert (row.source, row.person_ids, row.operator) == ("buffer", ids, "clerk")
    assert row.sent_at == report.synced_at + dt.timedelta(minutes=30) and row.requester["relations"][0] == "self"
    kept = WideAreaAnswer.from_json(json.loads(world.reg.keyring.decrypt(
        row.answer_ciphertext, row.key_id, f"wide-area:121002:{row.request_id}")))
    assert kept.digest() == row.answer_sha256 and [p.ref for p in kept.persons] == list(issued.subject_ids)
    assert rows[from_register.answer_ref].source == "register"
    provided = {e["detail"]["answer_ref"]: e for e in world.audit("wide_area.provide")}
    assert provided[row.answer_ref]["detail"]["source"] == "buffer"
    assert provided[row.answer_ref]["user_id"] == "clerk@municipality:121002"
    assert sorted(provided[row.answer_ref]["subject_ids"]) == sorted(ids)
    assert provided[from_register.answer_ref]["detail"]["source"] == "register"


def test_a_protected_person_is_refused_from_the_buffer_as_by_the_register(world, buffer, offline):
    live, down = service(world, world.reg, buffer), service(world, offline, buffer)
    live.sync_buffer()
    sakura = {"name": "ヒガイ　サクラ", "birth_date": "1990-09-09", "address": "北海道札幌市中央区北三条西3丁目3番3号"}
    household = wide(whole_household=True)
    for n, svc in enumerate((live, down)):
        with pytest.raises(RuleViolation) as e:
            asking(svc)(sent(wide(requester=sakura), f"sakura{n}"))
        assert [p.rule for p in e.value.problems] == ["SEC-8/wide-area"] and "札幌市" in e.value.problems[0].ja
        assert asking(svc)(sent(household, f"family{n}")).persons  # not protected yet

    # a 支援措置 registered at the register reaches the buffer with the next round
    register_measure(world.reg.engine, person_id=world.ids["札幌　花子"], offender_name="加害　次郎",
                     offender_birth_date=dt.date(1970, 1, 1), registered_by="support1", approved_by="support2",
                     valid_from=dt.date(2026, 4, 1), clock=world.clock)
    live.sync_buffer()
    for n, svc in enumerate((live, down)):
        with pytest.raises(RuleViolation) as e:
            asking(svc)(sent(household, f"family-later{n}"))
        assert [p.rule for p in e.value.problems] == ["SEC-8/wide-area"]
    # the offline refusals are audited once the register is back (each round, or before a live answer)
    assert live.reconcile() == 1
    denied = [e for e in world.audit("wide_area.provide") if e["outcome"] == "denied"]
    assert [e["detail"].get("answered_from") for e in denied] == [None, "buffer", None, "buffer"]
    assert all(e["detail"]["rules"] == ["SEC-8/wide-area"] for e in denied)


def test_a_change_committed_to_the_register_reaches_the_buffer(world, buffer, offline):
    live, down = service(world, world.reg, buffer), service(world, offline, buffer)
    live.sync_buffer()
    hanako = {"name": "札幌　花子", "birth_date": "1982-07-07", "address": ADDRESS}
    before = asking(down)(sent(wide(requester=hanako, items={"history": True}), "before"))
    assert before.persons[0].address.text.startswith(ADDRESS) and [x.kind_ja for x in before.history] == ["転入"]

    # 札幌　花子 moves within the city; the next round takes the change (and it is marked taken, once)
    world.clock.advance(hours=1)
    world.change(ChangeKind.MOVE_WITHIN, {"household_id": world.households["sapporo"],
                                          "person_ids": [world.ids[n] for n in ("札幌　太郎", "札幌　花子", "札幌　一郎", "札幌　次郎")],
                                          "address": address(block="7丁目7番7号", town="南一条西")}, effective="2026-04-19")
    moved = {**hanako, "address": "北海道札幌市中央区南一条西7丁目7番7号"}
    with pytest.raises(JukiError):  # not taken yet: the buffer still has her at the old address
        asking(down)(sent(wide(requester=moved), "not-yet"))
    report = live.sync_buffer()
    assert report is not None and report.taken == 1 and report.left == 0
    after = asking(down)(sent(wide(requester=moved, items={"history": True}), "after"))
    assert after.persons[0].address.text == "北海道札幌市中央区南一条西7丁目7番7号"
    assert [line.kind_ja for line in after.history] == ["転入", "転居"] and after.synced_at == world.clock.now
    with world.reg.engine.connect() as c:
        marks = c.execute(sa.select(sa.func.count()).select_from(wide_area_buffer_intake)
                          .where(wide_area_buffer_intake.c.buffer_id == buffer.buffer_id)).scalar_one()
        events_n = c.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
    assert marks == events_n and live.sync_buffer().taken == 0  # type: ignore[union-attr]

    # a person who leaves the register leaves the buffer
    world.change(ChangeKind.DEATH, {"person_id": world.ids["函館　三郎"], "household_id": world.households["hakodate"]},
                 effective="2026-04-19")
    live.sync_buffer()
    with buffer.engine.connect() as c:
        assert c.execute(sa.select(buffer_persons.c.person_id)
                         .where(buffer_persons.c.person_id == world.ids["函館　三郎"])).first() is None


def test_what_the_buffer_guarantees_when_it_is_behind(world, buffer, offline):
    """The buffer answers as of its last complete round (``synced_at``): a change committed after it is not
    in the answer.  It does not answer at all when it never completed a round, or when it was seen to
    reach the register more than ``max_lag`` after its last complete round (it fell behind)."""
    live, down = service(world, world.reg, buffer), service(world, offline, buffer)
    with pytest.raises(Unavailable) as e:  # never synced
        asking(down)(sent(wide(), "never"))
    assert e.value.problems[0].rule == "NET-12/buffer-behind"

    live.sync_buffer()
    synced = world.clock.now
    world.clock.advance(minutes=1)
    world.change(ChangeKind.NAME_CHANGE, {"person_id": world.ids["札幌　太郎"], "name": "札幌　大郎",
                                          "name_kana": "サッポロ　ダイロウ", "cause": "other"}, effective="2026-04-19")
    answer = asking(down)(sent(wide(), "stale-but-stated"))
    assert answer.persons[0].name == "札幌　太郎" and answer.synced_at == synced and answer.source == "buffer"

    # the worker reached the register but did not finish (a backlog): within max_lag it still answers ...
    world.change(ChangeKind.MOVE_WITHIN, {"household_id": world.households["hakodate"],
                                          "person_ids": [world.ids["函館　三郎"]],
                                          "address": address(block="9丁目9番9号", town="南二条東")}, effective="2026-04-19")
    world.clock.advance(minutes=4)
    report = buffer.sync(world.reg.store, limit=1)
    assert (report.taken, report.left, report.synced_at) == (1, 1, None)
    hanako = {"name": "札幌　花子", "birth_date": "1982-07-07", "address": ADDRESS}
    asking(down)(sent(wide(requester=hanako), "within-lag"))
    # ... beyond it, it refuses: nothing is issued from a buffer that no longer mirrors the register
    world.clock.advance(minutes=2)
    buffer.sync(world.reg.store, limit=0)
    with pytest.raises(Unavailable) as e:
        asking(down)(sent(wide(requester=hanako), "too-far-behind"))
    assert e.value.problems[0].rule == "NET-12/buffer-behind"
    assert live.sync_buffer().left == 0  # type: ignore[union-attr]
    family = asking(down)(sent(wide(requester=hanako, whole_household=True), "caught-up"))
    assert family.persons[0].name == "札幌　大郎"


def test_a_repeated_request_id_gets_the_same_answer_offline(world, buffer, offline):
    live, down = service(world, world.reg, buffer), service(world, offline, buffer)
    live.sync_buffer()
    first = asking(live)(sent(wide(), "preview-live"))  # answered by the register, mirrored in the buffer
    assert asking(down)(sent(wide(), "preview-live")) == first
    offline_first = asking(down)(sent(wide(), "preview-down"))
    assert asking(down)(sent(wide(), "preview-down")) == offline_first
    with pytest.raises(Conflict) as e:
        asking(down)(sent(wide(whole_household=True), "preview-down"))
    assert e.value.problems[0].rule == "NET-3/request-id"
    # back online: recorded once, the repeats audited as repeats
    assert asking(live)(sent(wide(), "preview-down")) == offline_first
    rows = [r for r in sends(world) if r.request_id.startswith("preview")]
    assert sorted((r.request_id[:12], r.source) for r in rows) == [("preview-down", "buffer"), ("preview-live", "register")]
    repeats = [e["detail"] for e in world.audit("wide_area.provide") if e["detail"].get("repeat")]
    assert [(d["answer_ref"], d.get("answered_from")) for d in repeats] == [
        (first.answer_ref, "buffer"), (offline_first.answer_ref, "buffer"), (offline_first.answer_ref, None)]


def test_a_refusal_is_never_answered_from_the_buffer(world, buffer):
    """Only an unreachable database sends the answer to the buffer: a refusal by the register stands."""
    live = service(world, world.reg, buffer)
    live.sync_buffer()
    with pytest.raises(RuleViolation) as e:
        asking(live)(sent(wide(residence_lg_code="012025"), "elsewhere"))
    assert e.value.problems[0].rule == "REG-CERT/wide-area-residence"
    with buffer.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM buffer_journal")).scalar_one() == 0
