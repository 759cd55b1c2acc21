"""転入通知 after an ordinary 転入 (住基法9条1項, REG-E1, REG-E3, NET-6) between real nodes: 札幌市 (011002)
and 函館市 (012025), each its own process, database and certificate, over mutual TLS.

A household moves out of 札幌市 and in at 函館市 with the 住民票コード of its paper 転出証明書; 函館市's CS sends
the 転入通知 and 札幌市 records 転出確定 on the 除票.  A notice 札幌市 refuses halts 函館市's later notices to
札幌市 behind a blocking alert until an operator retries or skips it; nothing is sent twice or out of order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from juki.clock import jst_date, utcnow
from juki.domain.identifiers import new_individual_number
from juki.domain.model import Address
from juki.net.deliveries import halt_scope
from juki.net.movein import KIND, MANUAL_KIND
from juki.net.network import Network
from juki.net.node import Node
from juki.net.operations import resolve
from juki.net.services import services

from ..unit.registry import address, chiba_address, person
from .changes import change
from .support import audit_rows, specs, wait_until

SAPPORO, HAKODATE = "011002", "012025"
TODAY = jst_date(utcnow())
RNG = random.Random(9)

pytestmark = pytest.mark.slow


def hakodate_address(block: str) -> dict[str, Any]:
    return {"prefecture": "北海道", "city": "函館市", "town": "五稜郭町", "block": block, "postcode": "0400001",
            "lg_code": HAKODATE}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    network = Network(tmp_path / "net", specs(("municipality", SAPPORO, "札幌市"), ("municipality", HAKODATE, "函館市"),
                                              ("prefecture", "010006", "北海道"))).build()
    network.start_all()
    opened: dict[str, Node] = {}
    network.opened = opened  # type: ignore[attr-defined]
    try:
        yield network
    finally:
        network.stop_all()
        for n in opened.values():
            services(n).close()
            n.close()


def node(net: Network, code: str) -> Node:
    opened: dict[str, Node] = net.opened  # type: ignore[attr-defined]
    if code not in opened:
        opened[code] = net.node(code)
    return opened[code]


def resident(net: Network, name: str, kana: str, block: str) -> Any:
    """Someone living in 札幌市 (with a 個人番号, so no 生成要求 is needed)."""
    out = change(node(net, SAPPORO).register, "move_in", {
        "persons": [person(name, kana, "1970-01-01", "1", individual_number=new_individual_number(RNG))],
        "address": address(block=block), "prior_address": chiba_address()}, TODAY)
    return out.outcome.persons[0]


def move_out(net: Network, p: Any, block: str) -> None:
    change(node(net, SAPPORO).register, "move_out", {"household_id": p.household_id, "person_ids": [p.person_id],
                                                     "destination": hakodate_address(block)}, TODAY)


def move_in_hakodate(net: Network, p: Any, block: str, *, carried: bool = True, **prior: str) -> Any:
    """The 転入 at 函館市 with the paper 転出証明書 (its 住民票コード carried over unless ``carried`` is False;
    ``prior`` overrides fields of the 従前の住所 as entered)."""
    reg = node(net, SAPPORO).register
    now = reg.store.person_current(p.person_id)
    entering = person(now.name, now.name_kana, now.birth_date.isoformat(), "1")
    if carried:
        entering |= {"juminhyo_code": now.juminhyo_code, "individual_number": now.individual_number}
    return change(node(net, HAKODATE).register, "move_in", {
        "persons": [entering], "address": hakodate_address(block),
        "prior_address": address(block=now.address.block) | prior}, TODAY)


def confirmed(net: Network, p: Any) -> bool:
    return node(net, SAPPORO).register.store.person_current(p.person_id).move_out_confirmed


def halt(net: Network) -> Any:
    alerts = node(net, HAKODATE).store.alerts()
    return next((a for a in alerts if a.scope == halt_scope(KIND, SAPPORO) and a.blocking), None)


def test_an_ordinary_move_in_confirms_the_move_out_and_a_refusal_halts_the_notices(net: Network) -> None:
    # 1. A 転入 at 函館市 from 札幌市 closes the 札幌 side: 転出確定 with the address in 函館市.
    a = resident(net, "函館　一郎", "ハコダテ　イチロウ", "31番")
    move_out(net, a, "1番1号")
    assert not confirmed(net, a)
    move_in_hakodate(net, a, "5番5号")
    wait_until(lambda: confirmed(net, a), what="転出確定 at 札幌市")
    sapporo = node(net, SAPPORO).register.store
    assert sapporo.person_current(a.person_id).moved_out_to == Address(**hakodate_address("5番5号"))
    event, _ = sapporo.person_history(a.person_id)[-1]
    assert event.kind.value == "move_out_confirmed" and event.legal_basis == "住民基本台帳法第9条第1項"
    (sent,) = services(node(net, HAKODATE)).deliveries.list(kind=KIND)
    assert sent.status == "delivered" and sent.payload["seq"] == 1 and "individual_number" not in str(sent.payload)
    received = audit_rows(node(net, SAPPORO), "move_in_notice.receive")
    assert [r["outcome"] for r in received] == ["allowed"] and received[0]["subjects"] == [a.person_id]

    # 2. 札幌市 refuses a notice for someone who has not moved out (still a resident there): 函館市 halts
    #    its notices to 札幌市 with a blocking alert; the next 転入's notice waits behind it.
    b = resident(net, "函館　二郎", "ハコダテ　ジロウ", "32番")
    move_in_hakodate(net, b, "6番6号")  # 札幌市 has no 転出 of b yet
    alert = wait_until(lambda: halt(net), what="the halt at 函館市")
    assert alert.rule == "NET-6/not-moved-out" and alert.kind == "delivery_refused"
    c = resident(net, "函館　三郎", "ハコダテ　サブロウ", "33番")
    move_out(net, c, "7番7号")
    move_in_hakodate(net, c, "7番7号")
    hakodate = services(node(net, HAKODATE)).deliveries
    wait_until(lambda: len(hakodate.list(kind=KIND)) == 3, what="the third notice recorded")
    assert [d.status for d in hakodate.list(kind=KIND)] == ["pending", "failed", "delivered"]  # newest first
    assert not confirmed(net, c)
    denied = [r for r in audit_rows(node(net, SAPPORO), "move_in_notice.receive") if r["outcome"] == "denied"]
    assert denied and denied[0]["detail"]["rule"] == "NET-6/not-moved-out"

    # 3. 札幌市 records the 転出 it had missed; 函館市's operator retries: b, then c, in order.
    move_out(net, b, "6番6号")
    resolve(node(net, HAKODATE), alert.alert_id, action="retry", actor="hakodate-op", reason="札幌市が転出を記録した")
    wait_until(lambda: confirmed(net, b) and confirmed(net, c), what="b and c confirmed")
    assert [d.payload["seq"] for d in reversed(hakodate.list(kind=KIND))] == [1, 2, 3]

    # 4. Refused again, then skipped by the operator: a skip marker takes its place, 札幌市 records the
    #    skip (audited) and the next notice goes through.
    d = resident(net, "函館　四郎", "ハコダテ　シロウ", "34番")
    move_in_hakodate(net, d, "8番8号")
    alert = wait_until(lambda: halt(net), what="the second halt")
    with pytest.raises(Exception) as forced:
        resolve(node(net, HAKODATE), alert.alert_id, action="force", actor="hakodate-op", reason="試行")
    assert forced.value.problems[0].rule == "NET-ALERT/action"  # type: ignore[attr-defined]
    resolve(node(net, HAKODATE), alert.alert_id, action="skip", actor="hakodate-op", reason="札幌市へ電話で通知した")
    e = resident(net, "函館　五郎", "ハコダテ　ゴロウ", "35番")
    move_out(net, e, "9番9号")
    move_in_hakodate(net, e, "9番9号")
    wait_until(lambda: confirmed(net, e), what="e confirmed after the skip")
    assert not confirmed(net, d)
    skipped = audit_rows(node(net, SAPPORO), "move_in_notice.skipped")
    assert [(r["detail"]["seq"], r["detail"]["by"]) for r in skipped] == [(4, "hakodate-op")]

    # 5. A 転入 without the 転出証明書's 住民票コード names no one 札幌市 knows: not sent, an operator alert.
    f = resident(net, "函館　六郎", "ハコダテ　ロクロウ", "36番")
    move_out(net, f, "10番")
    move_in_hakodate(net, f, "10番", carried=False)
    wait_until(lambda: any(a.kind == MANUAL_KIND for a in node(net, HAKODATE).store.alerts()), what="the manual alert")
    assert len(hakodate.list(kind=KIND)) == 5 and not confirmed(net, f)

    # 6. The clerk left the 従前の住所's 地方公共団体コード blank: 札幌市 is found from 北海道 札幌市中央区, and
    #    then from the 郵便番号 alone when the city is mistyped; both notices go through.
    g = resident(net, "函館　七郎", "ハコダテ　シチロウ", "37番")
    move_out(net, g, "11番")
    move_in_hakodate(net, g, "11番", lg_code="")
    h = resident(net, "函館　八郎", "ハコダテ　ハチロウ", "38番")
    move_out(net, h, "12番")
    move_in_hakodate(net, h, "12番", lg_code="", city="札晃市中央区")
    wait_until(lambda: confirmed(net, g) and confirmed(net, h), what="g and h confirmed")

    # 7. Nothing tells the former municipality (no code, an unknown city, no 郵便番号): an operator alert, not silence.
    i = resident(net, "函館　九郎", "ハコダテ　クロウ", "39番")
    move_out(net, i, "13番")
    move_in_hakodate(net, i, "13番", lg_code="", city="札晃市中央区", postcode="")
    unknown = wait_until(lambda: [a for a in node(net, HAKODATE).store.alerts() if a.rule == "REG-E1/move-in-notice-to"],
                         what="the alert for an unknown former municipality")
    assert unknown[0].kind == MANUAL_KIND and not unknown[0].blocking and "札晃市中央区" in unknown[0].message_ja
    assert len(hakodate.list(kind=KIND)) == 7 and not confirmed(net, i)
