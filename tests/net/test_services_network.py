"""The 住基ネット services between real nodes (NET-4, NET-6, NET-7, NET-8, NET-9, NET-10, PRF-5..PRF-9):
five node processes on loopback, each with its own database and certificate, talking mutual TLS only.

札幌市 (011002) and 千葉市 (121002) are municipalities in two prefectures (北海道 010006, 千葉県 120006);
000000 is the national server.  The test process acts for a node where a clerk or an operator would
(opening the node's own directory: its database, key ring and certificate), and the node processes do
the rest with their workers.  Waiting is by polling with a generous limit (never a timed assertion).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from juki.domain import transfer as tr
from juki.domain.cards import CardEvent, CardNotice
from juki.domain.errors import InvalidInput, RuleViolation
from juki.domain.identity import RecordFile
from juki.domain.identity_search import IdentityQuery, Scope
from juki.domain.model import Address
from juki.net import consistency as cs
from juki.net.cards import report_card_event
from juki.net.network import Network, NodeSpec
from juki.net.pki import NATIONAL_CODE
from juki.net.provision import disclosure_pdf
from juki.net.services import call, services
from juki.net.svc_tables import number_notice_receipts
from juki.net.tables import net_records
from juki.net.transfer import card_check_of, former_of
from juki.services.changes import Actor

from ..unit.registry import address, chiba_address, person
from .changes import change
from .support import audit_rows, free_port, wait_until

SAPPORO, CHIBA, HOKKAIDO, CHIBA_PREF = "011002", "121002", "010006", "120006"
CLERK, CHIEF = Actor("clerk1", "T001"), Actor("chief1", "T002")
SERIAL = "SP0000000001"

# The tests share one network (module fixture) and build on each other's state (a designated number, a
# provision log entry), so they must run on one worker, in file order: scripts/test runs xdist with
# --dist loadscope (one module per worker).
pytestmark = pytest.mark.slow


def wait(what: str, check: Callable[[], Any]) -> Any:
    return wait_until(check, what=what)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("svcnet")
    network = Network(root, [
        NodeSpec("municipality", SAPPORO, "札幌市", free_port()),
        NodeSpec("municipality", CHIBA, "千葉市", free_port(), api_port=free_port()),
        NodeSpec("prefecture", HOKKAIDO, "北海道", free_port()),
        NodeSpec("prefecture", CHIBA_PREF, "千葉県", free_port()),
        NodeSpec("national", NATIONAL_CODE, "全国サーバ", free_port()),
    ]).build()
    network.start_all()
    nodes = {code: network.node(code) for code in network.specs}
    network.opened = nodes  # type: ignore[attr-defined]
    try:
        yield network
    finally:
        network.stop_all()
        for n in nodes.values():
            services(n).close()
            n.close()


def node(net: Network, code: str) -> Any:
    return net.opened[code]  # type: ignore[attr-defined]


def record(net: Network, code: str, juminhyo_code: str) -> Any:
    return node(net, code).store.record_of(RecordFile.IDENTITY, juminhyo_code)


def issue_card_and_move_out(net: Network, mover: Any, serial: str) -> dt.date:
    """At 札幌市: the card is issued (NET-9 交付, delivered to 機構 by the node's worker), then the 転出."""
    reg = node(net, SAPPORO).register
    with reg.engine.begin() as conn:
        report_card_event(conn, CardNotice(CardEvent.ISSUE, serial, mover.juminhyo_code, SAPPORO, mover.address_since,
                                           dt.date(2036, 3, 3)), now=reg.now(), dedupe_key=f"issue:{serial}")
    wait("the card at 機構", lambda: services(node(net, NATIONAL_CODE)).cards.card(serial))
    today = reg.changes.today()
    change(reg, "move_out", {"household_id": mover.household_id, "person_ids": [mover.person_id],
                             "destination": chiba_address()}, today)
    return today


def test_number_generation_and_designation_between_nodes(net: Network) -> None:
    """NET-7, NET-8: a newborn's 生成要求 goes to 機構, the answer is designated, the designation reaches
    the prefecture and the national server like any change, and 送付先情報 reaches the card system."""
    reg = node(net, SAPPORO).register
    family = change(reg, "move_in", {"persons": [person(individual_number="123456789018"),
                                                 person("札幌　花子", "サッポロ　ハナコ", "1982-07-07", "2", "妻")],
                                     "address": address(block="7番"), "prior_address": chiba_address()}, dt.date(2026, 4, 1))
    hid = family.outcome.households[0].household_id
    born = change(reg, "birth", {"household_id": hid, "child": person("札幌　一郎", "サッポロ　イチロウ", "2026-04-10", "1", "子")},
                  dt.date(2026, 4, 10))
    child = next(p for p in born.outcome.persons if p.relationship == "子")
    number = wait("the child's number designated",
                  lambda: reg.store.person_current(child.person_id).individual_number)
    national = services(node(net, NATIONAL_CODE)).numbering
    assert national.current_number(child.juminhyo_code) == number
    for tier in (HOKKAIDO, NATIONAL_CODE):
        wait(f"the number at {tier}", lambda t=tier: (r := record(net, t, child.juminhyo_code)) is not None
             and r.individual_number == number)
    def received() -> list[str]:  # a new connection per look: no snapshot held between looks
        with node(net, NATIONAL_CODE).engine.connect() as conn:
            return list(conn.execute(sa.select(number_notice_receipts.c.juminhyo_code)).scalars())

    wait("the child's 送付先情報 received", lambda: child.juminhyo_code in received())  # the mother's may come first
    views = services(node(net, SAPPORO)).designation.requests()
    assert {v.juminhyo_code for v in views if v.status == "designated"} >= {child.juminhyo_code}


def test_special_move_in_between_two_prefectures(net: Network) -> None:
    """NET-6, NET-9: card check, 転出証明書情報 over the network, the 転入 with four eyes, 転入通知 back, the
    prefectural and national updates, 継続利用 of the card."""
    sapporo, chiba = node(net, SAPPORO), node(net, CHIBA)
    old = sapporo.register
    out = change(old, "move_in", {"persons": [person("函館　二郎", "ハコダテ　ジロウ", "1975-03-03", "1", "世帯主",
                                                     individual_number="621498320257")],
                                  "address": address(block="8番"), "prior_address": chiba_address()}, dt.date(2026, 4, 2))
    mover = out.outcome.persons[0]
    today = issue_card_and_move_out(net, mover, SERIAL)

    new = services(chiba)
    received = new.transfer.fetch_certificate(juminhyo_code=mover.juminhyo_code, from_lg_code="011011",
                                              card_serial=SERIAL, actor=CLERK, card_check=card_check_of(chiba),
                                              former=former_of(chiba), case_ref="千葉-1")
    assert received.from_lg_code == SAPPORO and received.certificate["persons"][0]["individual_number"] == "************"
    sub = new.transfer.submit_move_in(received.id, tr.Arrival(address=Address(**{**chiba_address(), "block": "3番3号"})),
                                      actor=CLERK, effective_date=today, notified_date=today)
    approved = chiba.register.changes.approve(sub.request_id, actor=CHIEF)
    entered = approved.outcome.persons[0]
    assert entered.juminhyo_code == mover.juminhyo_code
    assert chiba.register.store.person_current(entered.person_id).individual_number == "621498320257"

    wait("転出確定 at 札幌市", lambda: old.store.person_current(mover.person_id).move_out_confirmed)
    assert old.store.person_current(mover.person_id).moved_out_to.block == "3番3号"
    wait("継続利用 at 機構", lambda: services(node(net, NATIONAL_CODE)).cards.card(SERIAL).lg_code == CHIBA)
    wait("千葉県 has the person", lambda: (r := record(net, CHIBA_PREF, mover.juminhyo_code)) is not None
         and r.origin == CHIBA and r.state == "current")
    wait("機構 has the person at 千葉市", lambda: (r := record(net, NATIONAL_CODE, mover.juminhyo_code)) is not None
         and r.origin == CHIBA and r.state == "current")
    # a second fetch for a confirmed move-out is refused by the former municipality, and nothing is kept
    with pytest.raises(RuleViolation) as e:
        new.transfer.fetch_certificate(juminhyo_code=mover.juminhyo_code, from_lg_code=SAPPORO, card_serial=SERIAL,
                                       actor=CLERK, card_check=card_check_of(chiba), former=former_of(chiba))
    assert e.value.problems[0].rule in ("NET-6/confirmed", "NET-6/no-move-out")


def test_search_goes_local_then_prefecture_then_national(net: Network) -> None:
    """NET-4: a 千葉市 clerk finds a 札幌市 resident through 千葉県 and the national server; too little is
    refused; every node on the way audits the search."""
    reg = node(net, SAPPORO).register
    out = change(reg, "move_in", {"persons": [person("小樽　三郎", "オタル　サブロウ", "1966-06-06", "1")],
                                  "address": address(block="9番"), "prior_address": chiba_address()}, dt.date(2026, 4, 3))
    code = out.outcome.persons[0].juminhyo_code
    wait("機構 has 小樽", lambda: record(net, NATIONAL_CODE, code) is not None)
    search = services(node(net, CHIBA)).search
    result = search.search(IdentityQuery(name="小樽　三郎", birth_date=dt.date(1966, 6, 6)), scope=Scope.NATIONAL,
                           operator="clerk1", number=False)
    assert [r["juminhyo_code"] for r in result["results"]] == [code]
    assert result["asked"] == [CHIBA, CHIBA_PREF, NATIONAL_CODE]
    assert result["results"][0]["found_at"] == NATIONAL_CODE
    local = search.search(IdentityQuery(name="小樽　三郎", birth_date=dt.date(1966, 6, 6)), scope=Scope.LOCAL,
                          operator="clerk1", number=False)
    assert local["results"] == []
    with pytest.raises(InvalidInput):
        search.search(IdentityQuery(name="小樽　三郎", sex="1"), scope=Scope.NATIONAL, operator="clerk1", number=False)
    for tier in (CHIBA_PREF, NATIONAL_CODE):
        with node(net, tier).engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT user_id, subject_ids FROM audit_entries WHERE action = 'search'")).all()
        assert any("clerk1@" in r.user_id and code in r.subject_ids for r in rows), tier


def test_consistency_check_finds_and_repairs_differences(net: Network) -> None:
    """NET-10, PRF-9: the CS compares its file with 北海道's and 機構's by hash tree, finds what was
    damaged there, and repairs it by re-sending on the stream."""
    sapporo = node(net, SAPPORO)
    reg = sapporo.register
    names = [("整合　一郎", "セイゴウ　イチロウ"), ("整合　二郎", "セイゴウ　ジロウ"), ("整合　三郎", "セイゴウ　サブロウ")]
    people = [change(reg, "move_in", {"persons": [person(kanji, kana, f"1990-01-0{n}", "1")],
                                      "address": address(block=f"2{n}番"), "prior_address": chiba_address()},
                     dt.date(2026, 4, 4)).outcome.persons[0] for n, (kanji, kana) in enumerate(names, start=1)]
    for tier in (HOKKAIDO, NATIONAL_CODE):  # with their designated numbers (NET-7), before anything is damaged
        wait(f"{tier} has them", lambda t=tier: all((r := record(net, t, p.juminhyo_code)) is not None
                                                   and r.individual_number for p in people))
    before = cs.check(sapporo, HOKKAIDO)
    assert before.consistent, before.summary()
    # damage the prefecture's copy (as a fault would): one record's address, one record gone
    pref = node(net, HOKKAIDO)
    t = net_records.c
    with pref.engine.begin() as conn:
        notice = dict(conn.execute(sa.select(t.notice).where(t.file == "identity",
                                                             t.juminhyo_code == people[0].juminhyo_code)).scalar_one())
        notice["address"] = "北海道札幌市中央区改ざん1番"
        conn.execute(net_records.update().where(t.file == "identity", t.juminhyo_code == people[0].juminhyo_code)
                     .values(notice=notice))
        conn.execute(net_records.delete().where(t.file == "identity", t.juminhyo_code == people[1].juminhyo_code))
    report = cs.check(sapporo, HOKKAIDO)
    found = {(f.juminhyo_code, f.kind.value, f.items) for f in report.findings}
    assert found == {(people[0].juminhyo_code, "differs", ("address",)), (people[1].juminhyo_code, "missing_remote", ())}
    assert report.bytes_sent + report.bytes_received < 20_000
    cs.repair_at(sapporo, report)
    assert sorted(report.resent) == sorted([people[0].juminhyo_code, people[1].juminhyo_code])
    wait("the prefecture repaired", lambda: cs.check(sapporo, HOKKAIDO).consistent)
    assert cs.check(sapporo, NATIONAL_CODE).consistent
    with pref.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT detail FROM audit_entries WHERE action = 'consistency.result'")).all()
    assert rows


def test_prefecture_provides_logs_and_discloses(net: Network) -> None:
    """PRF-5..PRF-7: configured uses only, every provision and refusal logged, 開示 with the provision record."""
    reg = node(net, SAPPORO).register
    out = change(reg, "move_in", {"persons": [person("旭川　四郎", "アサヒカワ　シロウ", "1955-05-05", "1",
                                                     individual_number="200000000000")],
                                  "address": address(block="44番"), "prior_address": chiba_address()}, dt.date(2026, 4, 5))
    code = out.outcome.persons[0].juminhyo_code
    wait("北海道 has 旭川", lambda: record(net, HOKKAIDO, code) is not None)
    prov = services(node(net, HOKKAIDO)).provision
    operator = Actor("pref-op", "PT01")
    prov.load_uses([{"code": "別表第6-1", "channel": "provision", "recipient": "kyoiku", "recipient_name": "教育委員会",
                     "affair": "特別支援学校への就学奨励", "legal_basis": "住基法第30条の15第2項・別表第6",
                     "items": ["juminhyo_code", "name", "birth_date", "sex", "address"], "valid_from": "2015-06-01"}],
                   actor=operator)
    got = prov.provide(recipient="kyoiku", use_code="別表第6-1",
                       query=IdentityQuery(name="旭川　四郎", birth_date=dt.date(1955, 5, 5)), actor=operator)
    assert [r["juminhyo_code"] for r in got.records] == [code] and "individual_number" not in got.records[0]
    from juki.domain.errors import Forbidden

    with pytest.raises(Forbidden):
        prov.provide(recipient="keisatsu", use_code="別表第6-1", query=IdentityQuery(juminhyo_code=code), actor=operator)
    doc = prov.disclose(code, actor=operator, identity_check="個人番号カード")
    assert [p["recipient"] for p in doc["provided"]] == ["kyoiku"]
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(disclosure_pdf(doc, prefecture="北海道"))
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "旭川" in text and "kyoiku" in text and "本人確認情報開示書" in text
    outcomes = [e["outcome"] for e in prov.log_entries()]
    assert outcomes.count("refused") == 1 and outcomes.count("provided") >= 2


def test_fuhyo_number_for_a_person_abroad_and_batch_provision(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    """PRF-8: a 国外転出者's 附票本人確認情報 carries the 個人番号 only for a 番号法 use, taken from the
    本人確認情報 file into the temporary area and deleted after its period.  PRF-5: a batch file from a
    designated terminal only, a large output only with a prior approval by someone else."""
    from juki.domain import provision as pv
    from juki.domain.errors import Forbidden
    from juki.net.provision import NodeFiles, ProvisionService
    from juki.net.svc_tables import fuhyo_number_temp

    from ..clock import Clock
    from .changes import HONSEKI_SAPPORO

    reg = node(net, SAPPORO).register
    out = change(reg, "move_in", {"persons": [person("釧路　五郎", "クシロ　ゴロウ", "1970-07-07", "1", honseki=HONSEKI_SAPPORO,
                                                     hittosha="釧路　五郎", individual_number="345678901234")],
                                  "address": address(block="55番"), "prior_address": chiba_address()}, dt.date(2026, 4, 6))
    p = out.outcome.persons[0]
    change(reg, "move_abroad", {"household_id": p.household_id, "person_ids": [p.person_id],
                                "destination": {"country": "アメリカ合衆国", "city": "シアトル"}}, reg.changes.today())
    pref = node(net, HOKKAIDO)
    wait("the 附票 abroad at 北海道", lambda: (r := pref.store.record_of(RecordFile.FUHYO, p.juminhyo_code)) is not None
         and not r.notice.address_lg_code)
    wait("the 本人確認情報 removed at 北海道", lambda: (r := record(net, HOKKAIDO, p.juminhyo_code)) is not None
         and r.state == "removed")
    clock = Clock(dt.datetime.now(dt.UTC))
    prov = ProvisionService(pref.engine, NodeFiles(pref), pref.keyring, clock=clock, audit=pref.audit,
                            media_terminals=["MEDIA01"])
    operator, chief = Actor("pref-op", "MEDIA01"), Actor("pref-chief", "PT02")
    tax = {"code": "別表第5-1", "channel": "transfer", "recipient": "zeimu", "recipient_name": "税務課",
           "affair": "自動車税の賦課徴収", "legal_basis": "住基法第30条の15第1項・別表第5・番号法第9条",
           "items": list(pv.ITEMS), "valid_from": "2016-01-01", "number_use": True, "fuhyo": True}
    prov.load_uses([tax], actor=operator)
    got = prov.provide(recipient="zeimu", use_code="別表第5-1", query=IdentityQuery(juminhyo_code=p.juminhyo_code),
                       actor=operator, fuhyo=True, want_number=True)
    (rec,) = got.records
    assert rec["individual_number"] == "345678901234" and rec["address"].startswith("アメリカ合衆国")
    assert rec["last_address"].startswith("北海道札幌市")
    with pref.engine.connect() as conn:
        temp = conn.execute(sa.select(fuhyo_number_temp)).all()
    assert [t.juminhyo_code for t in temp] == [p.juminhyo_code] and b"345678901234" not in temp[0].number_ciphertext
    clock.advance(days=pv.FUHYO_NUMBER_KEEP_DAYS - 1)
    assert prov.purge_temporary_numbers() == 0
    clock.advance(days=2)
    assert prov.purge_temporary_numbers() == 1

    conditions = ("line,juminhyo_code,individual_number,name,address,birth_date,sex\n"
                  f"1,{p.juminhyo_code},,,,,\n2,,,旭川　四郎,,1955-05-05,1\n3,,,旭川　四郎,,,\n")
    with pytest.raises(Forbidden) as e:
        prov.provide_batch(recipient="zeimu", use_code="別表第5-1", conditions=conditions, actor=Actor("pref-op", "PT01"))
    assert e.value.problems[0].rule == "PRF-5/media-terminal"
    monkeypatch.setattr(pv, "LARGE_OUTPUT_ROWS", 1)
    with pytest.raises(Forbidden) as e:
        prov.provide_batch(recipient="zeimu", use_code="別表第5-1", conditions=conditions, actor=operator)
    assert e.value.problems[0].rule == "PRF-5/large-output"
    approval = prov.request_approval(recipient="zeimu", use_code="別表第5-1", max_rows=10, reason="年次の一括照会", actor=operator)
    with pytest.raises(Forbidden):
        prov.approve(approval, actor=operator)  # not by who asked
    prov.approve(approval, actor=chief)
    result = prov.provide_batch(recipient="zeimu", use_code="別表第5-1", conditions=conditions, actor=operator,
                                approval_id=approval)
    lines = result.text.splitlines()
    assert lines[0].startswith("line,status,juminhyo_code") and result.rows == 2
    assert any(line.startswith("3,エラー") for line in lines)
    batch_log = [e for e in prov.log_entries() if e["batch_ref"] == result.batch_ref]
    assert [e["line"] for e in batch_log] == ["1", "2", "3"]
    refused = [e for e in prov.log_entries() if e["outcome"] == "refused"]
    assert {e["rule"] for e in refused} >= {"PRF-5/media-terminal", "PRF-5/large-output"}
    with pytest.raises(RuleViolation) as e:  # the log is kept 7 years
        prov.purge_log(actor=operator, before=clock() - dt.timedelta(days=365))
    assert e.value.problems[0].rule == "PRF-6/retention"


def test_consistency_check_of_the_fuhyo_file(net: Network) -> None:
    """PRF-8, NET-10, PRF-9: the 附票本人確認情報 file is compared by the same hash-tree protocol; what was
    damaged at 北海道 is found item by item and repaired by re-sending on the stream, and 機構, whose copy
    was right, takes the re-sent 記載 without refusing it."""
    from .changes import HONSEKI_SAPPORO

    sapporo = node(net, SAPPORO)
    reg = sapporo.register
    people = [change(reg, "move_in", {"persons": [person(kanji, kana, "1966-06-06", "2", honseki=HONSEKI_SAPPORO,
                                                         hittosha=kanji, individual_number=number)],
                                      "address": address(block=f"7{n}番"), "prior_address": chiba_address()},
                     dt.date(2026, 4, 8)).outcome.persons[0]
              for n, (kanji, kana, number) in enumerate([("附票　一子", "フヒョウ　イチコ", "400000000009"),
                                                         ("附票　二子", "フヒョウ　ニコ", "500000000003")])]
    pref = node(net, HOKKAIDO)
    for tier in (HOKKAIDO, NATIONAL_CODE):
        wait(f"the 附票 at {tier}", lambda t=tier: all(node(net, t).store.record_of(RecordFile.FUHYO, p.juminhyo_code)
                                                       for p in people))
    assert cs.check(sapporo, HOKKAIDO, file=RecordFile.FUHYO).consistent
    t = net_records.c
    with pref.engine.begin() as conn:
        row = dict(conn.execute(sa.select(t.notice).where(t.file == "fuhyo", t.juminhyo_code == people[0].juminhyo_code))
                   .scalar_one())
        conn.execute(net_records.update().where(t.file == "fuhyo", t.juminhyo_code == people[0].juminhyo_code)
                     .values(notice={**row, "last_address": "北海道函館市改ざん1番"}))
        conn.execute(net_records.delete().where(t.file == "fuhyo", t.juminhyo_code == people[1].juminhyo_code))
    assert cs.check(sapporo, HOKKAIDO).consistent  # the 本人確認情報 file is untouched
    report = cs.check(sapporo, HOKKAIDO, file=RecordFile.FUHYO)
    assert {(f.juminhyo_code, f.kind.value, f.items) for f in report.findings} == {
        (people[0].juminhyo_code, "differs", ("last_address",)), (people[1].juminhyo_code, "missing_remote", ())}
    cs.repair_at(sapporo, report)
    wait("the 附票 repaired at 北海道", lambda: cs.check(sapporo, HOKKAIDO, file=RecordFile.FUHYO).consistent)
    wait("機構 applied the re-sent 附票", lambda: net.status(NATIONAL_CODE)["applied"].get(SAPPORO)
         == net.status(SAPPORO)["outbound"])
    assert cs.check(sapporo, NATIONAL_CODE, file=RecordFile.FUHYO).consistent
    assert not [a for a in node(net, NATIONAL_CODE).store.alerts() if a.blocking]
    results = [r for r in audit_rows(pref, "consistency.result") if r["detail"].get("file") == "fuhyo"]
    flags = [r["detail"]["consistent"] for r in results]  # the result each check sent back, recorded at 北海道
    assert flags[0] is True and False in flags and flags[-1] is True


def test_operator_commands(net: Network, capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    """The operator's CLI on a node directory: consistency, number requests, provision log."""
    from juki.cli.main import main

    assert main(["net", "consistency", "--node", str(net.dir(SAPPORO)), "--peer", "all", "--json"]) == 0
    reports = [json.loads(part) for part in _json_documents(capsys.readouterr().out)]
    assert [(r["peer"], r["file"]) for r in reports] == [(HOKKAIDO, "identity"), (HOKKAIDO, "fuhyo"),
                                                         (NATIONAL_CODE, "identity"), (NATIONAL_CODE, "fuhyo")]
    assert all(r["consistent"] for r in reports)
    assert main(["net", "numbers", "--node", str(net.dir(SAPPORO)), "--status", "designated"]) == 0
    assert "designated" in capsys.readouterr().out
    assert main(["net", "provision", "log", "--node", str(net.dir(HOKKAIDO))]) == 0
    assert "zeimu" in capsys.readouterr().out
    pdf = tmp_path / "kaiji.pdf"
    code = next(iter(services(node(net, HOKKAIDO)).provision.log_entries()))["subjects"][0]
    assert main(["net", "provision", "disclose", code, "--node", str(net.dir(HOKKAIDO)), "--actor", "pref-op",
                 "--identity-check", "運転免許証", "--out", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    assert main(["net", "provision", "purge-log", "--node", str(net.dir(HOKKAIDO)), "--actor", "pref-op",
                 "--before", "2099-01-01T00:00:00+00:00"]) != 0
    assert "PRF-6/retention" in capsys.readouterr().err


def _json_documents(text: str) -> list[str]:
    """Split concatenated pretty-printed JSON documents."""
    docs, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            start = i if depth == 1 else start
        elif ch == "}":
            depth -= 1
            if depth == 0 and start is not None:
                docs.append(text[start:i + 1])
    return docs


def chiba_api(net: Network) -> tuple[str, Callable[[str], dict[str, str]]]:
    """千葉市's register API (served by its node process) and a login for its demo staff (provisioned once
    per module network: the staff, their approved rights and the terminals live in 千葉市's database;
    each user logs in once and keeps the session)."""
    import httpx
    import pyotp
    from argon2 import PasswordHasher

    from juki.services.staffing import provision

    chiba = node(net, CHIBA)
    staff = getattr(net, "chiba_staff", None)
    if staff is None:
        chiba.register.password_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        staff = net.chiba_staff = provision(chiba.register, password="correct horse battery staple")  # type: ignore[attr-defined]
    api = f"http://127.0.0.1:{net.specs[CHIBA].api_port}"
    sessions: dict[str, dict[str, str]] = net.__dict__.setdefault("chiba_sessions", {})

    def login(user: str) -> dict[str, str]:  # once per user: a TOTP code is accepted once (SEC-1)
        if user in sessions:
            return sessions[user]
        r = httpx.post(f"{api}/api/v1/auth/login", json={"user_id": user, "password": "correct horse battery staple",
                                                          "totp": pyotp.TOTP(staff.totp_secrets[user]).now()},
                       headers={"X-Juki-Terminal": "T001", "X-Juki-Terminal-Key": staff.terminal_keys["T001"]})
        assert r.status_code == 200, r.text
        sessions[user] = {"Authorization": f"Bearer {r.json()['token']}", "X-Juki-Terminal": "T001"}
        return sessions[user]

    return api, login


def test_clerks_use_the_network_through_the_register_api(net: Network) -> None:
    """The register API of 千葉市 (served by its node process): a clerk searches 本人確認情報 across the
    network and enters a 特例転入; an approver approves it; the former municipality records 転出確定."""
    import httpx

    chiba = node(net, CHIBA)
    api, login = chiba_api(net)
    clerk, chief, admin = login("clerk"), login("chief"), login("admin")
    sapporo = node(net, SAPPORO).register
    out = change(sapporo, "move_in", {"persons": [person("帯広　六子", "オビヒロ　ムツコ", "1988-08-08", "2", "世帯主")],
                                      "address": address(block="66番"), "prior_address": chiba_address()}, dt.date(2026, 4, 7))
    mover = out.outcome.persons[0]
    wait("機構 has 帯広", lambda: record(net, NATIONAL_CODE, mover.juminhyo_code) is not None)

    found = httpx.get(f"{api}/api/v1/jukinet/search", headers=clerk,
                      params={"name": "オビヒロ　ムツコ", "birth_date": "1988-08-08"})
    assert found.status_code == 200, found.text
    assert [r["juminhyo_code"] for r in found.json()["results"]] == [mover.juminhyo_code]
    searches = audit_rows(chiba, "search")  # the clerk's search is in 千葉市's own log too (NET-4, SEC-3)
    assert any(e["user_id"] == "clerk" and mover.juminhyo_code in e["subjects"] for e in searches)
    assert httpx.get(f"{api}/api/v1/jukinet/search", headers=clerk, params={"name": "オビヒロ　ムツコ"}).status_code == 422
    assert httpx.get(f"{api}/api/v1/jukinet/search", headers=admin,
                     params={"name": "オビヒロ　ムツコ", "birth_date": "1988-08-08"}).status_code == 403

    serial = "OB0000000006"
    today = issue_card_and_move_out(net, mover, serial)
    got = httpx.post(f"{api}/api/v1/jukinet/special-move-in/certificates", headers=clerk,
                     json={"juminhyo_code": mover.juminhyo_code, "from_lg_code": SAPPORO, "card_serial": serial}, timeout=30)
    assert got.status_code == 200, got.text
    cert_id = got.json()["id"]
    assert got.json()["certificate"]["persons"][0]["name"] == "帯広　六子"
    submitted = httpx.post(f"{api}/api/v1/jukinet/special-move-in/certificates/{cert_id}/move-in", headers=clerk,
                           json={"address": {**chiba_address(), "block": "6番6号"}, "effective_date": today.isoformat(),
                                 "notified_date": today.isoformat()})
    assert submitted.status_code == 200, submitted.text
    approved = httpx.post(f"{api}/api/v1/requests/{submitted.json()['request_id']}/approve", headers=chief)
    assert approved.status_code == 200, approved.text
    wait("転出確定 at 札幌市", lambda: sapporo.store.person_current(mover.person_id).move_out_confirmed)


# --- 広域交付 (住基法12条の4): 千葉市 is the 交付地, 札幌市 the 住所地 ----------------------------------------

KOIKI_NUMBERS = ("712345678905", "812345678900")  # valid 個人番号 (check digits) of the 広域 household
KOIKI_ADDRESS = "北海道札幌市中央区北一条西81番"


def koiki_family(net: Network) -> list[Any]:
    """A household at 札幌市 (built once per module network): 広域　一郎 (世帯主, 本籍 in 札幌, a 個人番号),
    広域　花子 (妻, a 個人番号) and 広域　次郎 (子), and 他人　三郎 living alone in the same building."""
    if hasattr(net, "koiki"):
        return net.koiki  # type: ignore[attr-defined, no-any-return]
    from .changes import HONSEKI_SAPPORO

    reg = node(net, SAPPORO).register
    family = change(reg, "move_in", {"persons": [
        person("広域　一郎", "コウイキ　イチロウ", "1970-10-10", "1", "世帯主", honseki=HONSEKI_SAPPORO, hittosha="広域　一郎",
               individual_number=KOIKI_NUMBERS[0]),
        person("広域　花子", "コウイキ　ハナコ", "1972-02-02", "2", "妻", honseki=HONSEKI_SAPPORO, hittosha="広域　一郎",
               individual_number=KOIKI_NUMBERS[1]),
        person("広域　次郎", "コウイキ　ジロウ", "2005-05-05", "1", "子", honseki=HONSEKI_SAPPORO, hittosha="広域　一郎")],
        "address": address(block="81番"), "prior_address": chiba_address()}, dt.date(2026, 4, 9))
    other = change(reg, "move_in", {"persons": [person("他人　三郎", "タニン　サブロウ", "1960-06-06", "1", "世帯主")],
                                    "address": address(block="81番", katagaki="2号室"), "prior_address": chiba_address()},
                   dt.date(2026, 4, 9))
    net.koiki = [*family.outcome.persons, other.outcome.persons[0]]  # type: ignore[attr-defined]
    return net.koiki  # type: ignore[attr-defined, no-any-return]


def koiki_request(**fields: Any) -> Any:
    from juki.domain.wide_area import WideAreaRequest

    data: dict[str, Any] = {"residence_lg_code": SAPPORO, "identity": [{"kind": "drivers_license", "note": "第123号"}],
                            "requester": {"name": "広域　一郎", "birth_date": "1970-10-10", "address": KOIKI_ADDRESS}}
    data.update(fields)
    return WideAreaRequest.from_json(data)


def chiba_clerk() -> Any:
    from juki.access.model import Principal

    return Principal.build(user_id="clerk1", terminal_id="T001", session_id="s-clerk1", section="市民課",
                           grants={("counter_clerk", "市民課")})


def issuance_rows(n: Any) -> list[dict[str, Any]]:
    with n.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM certificate_issuances ORDER BY issued_at")).mappings()]


def signing_key(net: Network, code: str) -> Any:
    from juki.adapters.pdf.signing import CertificateSigner
    from juki.net.node import NodeConfig

    return CertificateSigner.load_or_create(NodeConfig.load(net.dir(code)).cert_key).public_key


def test_wide_area_copy_is_issued_and_signed_by_the_issuing_municipality(net: Network, tmp_path: Any) -> None:
    """12条の4: the 交付地 (千葉市) asks the 住所地 (札幌市) over mutual TLS; its own mayor issues the copy,
    signed with its key and logged in its issuance log; 札幌市 records what it sent and audits the read."""
    from juki.adapters.pdf.verify import verify_pdf
    from juki.cli.main import main
    from juki.issuance.proof import normalise, pdf_text
    from juki.net.wide_area import residence_of

    ichiro, hanako, jiro, _ = koiki_family(net)
    chiba, sapporo = node(net, CHIBA), node(net, SAPPORO)
    sends_before = len(services(sapporo).wide_area.sends())
    request = koiki_request(whole_household=True, items={"relationship": True, "head_of_household": True},
                            purpose="年金の手続")
    issued = chiba.register.issuance.issue_wide_area(chiba_clerk(), request, residence_of(chiba))

    # the copy: 千葉市's mayor and code, 札幌市's persons and address, never 本籍・筆頭者 / コード / 番号
    text = normalise(pdf_text(issued.pdf))
    assert "千葉市長" in text and "札幌市長" not in text and issued.certificate_id.startswith(f"{CHIBA}-")
    for name in ("広域一郎", "広域花子", "広域次郎", "世帯全員", "北一条西81番", "年金の手続", "世帯主", "妻"):
        assert name in text, name
    for secret in ("北一条西二丁目1番地", "本籍", "筆頭者", ichiro.juminhyo_code, hanako.juminhyo_code, *KOIKI_NUMBERS):
        assert secret not in text, secret
    # verified with the 交付地's public key (and not with the 住所地's), by `juki verify` too
    assert verify_pdf(issued.pdf, signing_key(net, CHIBA)).ok
    assert not verify_pdf(issued.pdf, signing_key(net, SAPPORO)).ok
    pdf, pem = tmp_path / "koiki.pdf", tmp_path / "chiba.pem"
    pdf.write_bytes(issued.pdf)
    assert main(["cert", "public-key", "--node", str(net.dir(CHIBA)), "--out", str(pem)]) == 0
    assert main(["verify", str(pdf), "--public-key", str(pem)]) == 0

    # 千葉市's issuance log: path wide_area, the 住所地 and the answer's reference; the subjects are the
    # answer's references, never 札幌市's 宛名番号
    row = next(r for r in issuance_rows(chiba) if r["certificate_id"] == issued.certificate_id)
    detail = json.loads(row["request_detail"])
    assert (row["path"], row["kind"], row["requester_relation"]) == ("wide_area", "resident_copy", "household")
    assert detail["residence_lg_code"] == SAPPORO and detail["wide_area_from"] == CHIBA
    ref = detail["answer_ref"]
    assert json.loads(row["subject_ids"]) == [f"{ref}-1", f"{ref}-2", f"{ref}-3"] == list(issued.subject_ids)
    issue_audit = [e for e in audit_rows(chiba, "certificate.issue") if e["detail"]["certificate_id"] == issued.certificate_id]
    assert issue_audit[0]["detail"]["answer_ref"] == ref and issue_audit[0]["user_id"] == "clerk1"

    # 札幌市: one send record naming the persons, and the audited read with them as subjects
    sends = services(sapporo).wide_area.sends()
    assert len(sends) == sends_before + 1
    sent = next(s for s in sends if s["answer_ref"] == ref)
    assert sent["issuing_lg_code"] == CHIBA and sent["person_ids"] == [ichiro.person_id, hanako.person_id, jiro.person_id]
    assert sent["requester"]["person_id"] == ichiro.person_id and sent["requester"]["identity"] == ["drivers_license"]
    provided = [e for e in audit_rows(sapporo, "wide_area.provide") if e["detail"].get("answer_ref") == ref]
    assert [(e["outcome"], e["user_id"], e["subjects"]) for e in provided] == [
        ("allowed", f"clerk1@municipality:{CHIBA}", sorted([ichiro.person_id, hanako.person_id, jiro.person_id]))]


def test_a_retried_wide_area_request_gets_the_same_answer_recorded_once(net: Network) -> None:
    """The 交付地's request id is the key: the same request again gets the same answer (one send record);
    another request under the same id is refused."""
    from juki.domain.errors import Conflict
    from juki.net.wide_area import residence_of

    _, hanako, _, _ = koiki_family(net)
    chiba, sapporo = node(net, CHIBA), node(net, SAPPORO)
    ask = residence_of(chiba)
    sent = koiki_request(subjects=[{"name": "広域　花子", "birth_date": "1972-02-02"}]).sent(
        request_id="retry-" + "0" * 20, issuing_lg_code=CHIBA, operator="clerk1")
    before = len(services(sapporo).wide_area.sends())
    first, again = ask(sent), ask(sent)
    assert first == again and [p.name for p in first.persons] == ["広域　花子"] and not first.whole_household
    assert len(services(sapporo).wide_area.sends()) == before + 1
    reads = [e for e in audit_rows(sapporo, "wide_area.provide") if e["detail"].get("answer_ref") == first.answer_ref]
    assert [e["detail"].get("repeat", False) for e in reads] == [False, True]
    assert all(e["subjects"] == [hanako.person_id] for e in reads)
    with pytest.raises(Conflict) as e:
        ask(dataclasses.replace(sent, purpose="別の用途"))
    assert e.value.problems[0].rule == "NET-3/request-id"


def test_wide_area_refusals(net: Network) -> None:
    """Refused, with nothing in 千葉市's issuance log (the refusal audited there as certificate.refuse, and at
    札幌市 as a denied wide_area.provide): a requester outside the household, a person under a DV 支援措置
    (refer to the 住所地), an unknown person, a 住所地 unknown or down, and a caller that is not the 交付地
    it names or not a municipality at all."""
    from juki.access.support import register_measure
    from juki.domain.errors import Forbidden, NotFound, Unavailable
    from juki.net.node import PeerEntry
    from juki.net.pki import NodeIdentity, Tier
    from juki.net.wide_area import PATH, residence_of

    from .support import client_for

    ichiro, hanako, _, other = koiki_family(net)
    chiba, sapporo = node(net, CHIBA), node(net, SAPPORO)
    issuance = chiba.register.issuance
    logged = len(issuance_rows(chiba))

    def refused(request: Any, kind: type, rule: str) -> Any:
        with pytest.raises(kind) as e:
            issuance.issue_wide_area(chiba_clerk(), request, residence_of(chiba))
        assert rule in {p.rule for p in e.value.problems}, e.value
        assert len(issuance_rows(chiba)) == logged
        entry = audit_rows(chiba, "certificate.refuse")[-1]
        assert entry["outcome"] == "denied" and rule in entry["detail"]["rules"]
        assert entry["detail"]["residence_lg_code"] == request.residence_lg_code
        return e.value

    # 他人　三郎 lives in the same building but not in the 世帯: no copy of 広域　一郎
    stranger = {"name": "他人　三郎", "birth_date": "1960-06-06", "address": KOIKI_ADDRESS}
    refused(koiki_request(requester=stranger, subjects=[{"name": "広域　一郎", "birth_date": "1970-10-10"}]),
            RuleViolation, "REG-CERT/relation")
    denied = [e for e in audit_rows(sapporo, "wide_area.provide") if e["outcome"] == "denied"]
    assert denied[-1]["detail"]["rules"] == ["REG-CERT/relation"]
    assert set(denied[-1]["subjects"]) == {other.person_id, ichiro.person_id}

    # 広域　花子 is under a 支援措置: even her own request is referred to 札幌市's counter, with no data
    today = sapporo.register.changes.today()
    register_measure(sapporo.register.engine, person_id=hanako.person_id, offender_name="加害　次郎",
                     valid_from=today, registered_by="clerk", approved_by="chief")
    e = refused(koiki_request(requester={"name": "広域　花子", "birth_date": "1972-02-02", "address": KOIKI_ADDRESS}),
                RuleViolation, "SEC-8/wide-area")
    assert "札幌市" in e.problems[0].ja and not any(w in e.problems[0].ja for w in ("花子", "支援", "DV"))
    refused(koiki_request(whole_household=True), RuleViolation, "SEC-8/wide-area")  # she is in the 世帯

    # nobody of that name, birth date and address lives in 札幌市
    refused(koiki_request(requester={"name": "不明　五郎", "birth_date": "1950-01-01", "address": KOIKI_ADDRESS}),
            NotFound, "REG-CERT/wide-area-person")

    # 藤沢市 is not in 千葉市's peers.json (北海道 is, but as a prefecture); 函館市 is, but nothing answers there
    refused(koiki_request(residence_lg_code="142051"), NotFound, "NET-2/peer")
    refused(koiki_request(residence_lg_code=HOKKAIDO), NotFound, "NET-2/peer")  # a prefecture keeps no 住民票
    chiba.peers.put(PeerEntry(Tier.MUNICIPALITY, "012025", f"https://127.0.0.1:{free_port()}", "函館市"))
    e = refused(koiki_request(residence_lg_code="012025"), Unavailable, "NET-2/unavailable")
    assert "函館市" in e.problems[0].ja and "交付していません" in e.problems[0].ja

    # the node route: the 交付地 named must be the caller; a prefecture may not call it at all
    sent = koiki_request().sent(request_id="caller-" + "0" * 20, issuing_lg_code="012025", operator="clerk1")
    with pytest.raises(Forbidden) as forbidden:
        call(chiba, SAPPORO, PATH, sent.to_json())
    assert forbidden.value.problems[0].rule == "NET-2/caller"
    with client_for(net.dir(HOKKAIDO), net.specs[SAPPORO].url, NodeIdentity(Tier.MUNICIPALITY, SAPPORO)) as client:
        r = client.post(PATH, json=dataclasses.replace(sent, issuing_lg_code=HOKKAIDO).to_json())
    assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "NET-2/tier"
    refusals = [x for x in audit_rows(sapporo, "net.denied") if x["detail"]["path"] == PATH]
    assert [x["user_id"] for x in refusals][-2:] == [f"municipality:{CHIBA}", f"prefecture:{HOKKAIDO}"]


def test_wide_area_through_the_register_api_and_the_cli(net: Network, tmp_path: Any) -> None:
    """The 交付地's clerk at 千葉市's register API (its node process asks 札幌市), and the same from the
    command line on 千葉市's node directory; the supervisor sees both in 千葉市's issuance log."""
    import httpx

    from juki.adapters.pdf.verify import verify_pdf
    from juki.cli.main import main

    koiki_family(net)
    api, login = chiba_api(net)
    body = {"residence_lg_code": SAPPORO, "identity": [{"kind": "passport"}],
            "requester": {"name": "コウイキ　ジロウ", "birth_date": "2005-05-05", "address": KOIKI_ADDRESS}}
    r = httpx.post(f"{api}/api/v1/certificates/wide-area", headers=login("clerk"), json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["X-Juki-Certificate-Id"].startswith(CHIBA)
    assert verify_pdf(r.content, signing_key(net, CHIBA)).ok
    bad = httpx.post(f"{api}/api/v1/certificates/wide-area", headers=login("clerk"),
                     json={**body, "items": {"individual_number": True}}, timeout=60)
    assert bad.status_code == 422 and bad.json()["problems"][0]["rule"] == "REG-CERT/wide-area"
    assert httpx.post(f"{api}/api/v1/certificates/wide-area", headers=login("clerk"),
                      json={**body, "request_id": "x" * 20}, timeout=60).status_code == 422

    request = tmp_path / "koiki.json"
    request.write_text(json.dumps({**body, "requester": {"name": "広域　一郎", "birth_date": "1970-10-10",
                                                         "address": KOIKI_ADDRESS}}, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "cli.pdf"
    assert main(["cert", "issue", str(request), "--wide-area", "--node", str(net.dir(CHIBA)), "--out", str(out),
                 "--actor", "clerk"]) == 0
    assert verify_pdf(out.read_bytes(), signing_key(net, CHIBA)).ok

    log = httpx.get(f"{api}/api/v1/certificates/log", headers=login("chief"), timeout=60)
    assert log.status_code == 200, log.text
    wide = [e for e in log.json() if e["path"] == "wide_area"]
    assert r.headers["X-Juki-Certificate-Id"] in {e["certificate_id"] for e in wide}
    assert all(e["request"]["residence_lg_code"] == SAPPORO and e["requester_person_id"] is None for e in wide)
