"""転入通知 after every 転入 (住基法9条1項, REG-E1, REG-E3, NET-6): the new municipality tells the former one.

Whenever a 転入 whose 従前の住所 is in another municipality is recorded, the new municipality owes the
former one a 転入通知; on it the former municipality completes its side of the 転出 (転出確定 on each 除票,
:meth:`juki.net.transfer.TransferService.receive_notice`).  Ordinary 転入 (with a paper 転出証明書) and
特例転入 (with the card, NET-6) are notified the same way:

* **when it becomes due** -- an ordinary 転入 in the **CS intake**, in the same transaction that takes the
  change into the CS file (:class:`juki.net.cs.CsIntake`): every approved change is taken in exactly once,
  in commit order, so every 転入 gets its notice once; a 特例転入 when the new municipality completes it
  (:meth:`~juki.net.transfer.TransferService.complete`, which also reports the card's 継続利用);
* **what it names** -- the persons by the 住民票コード carried over from the 転出証明書 (住基法30条の3; the former
  municipality knows them by it), the new address, the date of the 転入, the 従前の住所 and the event it
  reports; never the 個人番号 (001 別添1-6 ⑤: 特定個人情報を含まない).  A 転入 entered without any carried
  住民票コード (a new code was issued) names no one the former municipality could find: it is not sent
  but raises an operator alert (:data:`MANUAL_KIND`), so the notice is made by hand and nothing is
  silently dropped.  The former municipality is the 従前の住所's 地方公共団体コード; when the clerk left it
  blank it is found from the 都道府県 and 市区町村 (or the 郵便番号), and when nothing tells, an operator
  alert says so (:func:`former_municipality`): a 転入 is never left without its notice unnoticed;
* **order** -- each notice gets the next 通知番号 (``seq``) of its (sender, addressee) pair, in the
  transaction that records it (:func:`next_seq`, a locked counter in ``net_cursors``).  The sender
  delivers each addressee's notices one at a time in that order (:mod:`juki.net.deliveries`,
  :data:`~juki.net.deliveries.ORDERED`); the addressee takes number ``n`` only after ``n - 1``
  (:func:`take_in_order`), answers a repeated number as before (exactly once) and refuses a gap;
* **refusals** -- a notice the former municipality refuses (no 転出 除票 under a code, a notice out of
  order) is not retried: it halts that addressee's notices at the sender with a blocking operator
  alert (``juki net alerts``); the operator resolves it with ``juki net resume`` (``retry`` once the
  data is put right, or ``skip``: a skip marker takes the notice's place, so the addressee records the
  skip and goes on).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from juki.adapters import postcodes
from juki.adapters.db.schema import change_requests
from juki.domain import transfer as tr
from juki.domain.errors import Conflict, Problem
from juki.domain.model import Address, PersonRecord, to_json
from juki.domain.municipalities import register_code

from .deliveries import enqueue
from .svc_tables import peer_deliveries
from .tables import net_cursors

KIND = "move_in_notice"
MANUAL_KIND = "move_in_notice_manual"


def former_municipality(prior: Address) -> str | None:
    """The 地方公共団体コード of the 従前の住所's municipality: as entered from the 転出証明書, else found from its
    都道府県 and 市区町村 names, else from its 郵便番号 (Japan Post's data, :mod:`juki.adapters.postcodes`);
    None when none of them tells."""
    if prior.lg_code:
        return prior.lg_code
    by_name = postcodes.municipality_code(prior.prefecture, prior.city)
    if by_name:
        return by_name
    by_post = {a.lg_code for a in postcodes.lookup(prior.postcode)} if prior.postcode else set()
    return by_post.pop() if len(by_post) == 1 else None


def sent_cursor(peer: str) -> str:
    """The counter of 転入通知 numbers given to notices for ``peer``."""
    return f"move_in_notice_to:{peer}"


def received_cursor(sender: str) -> str:
    """The last 転入通知 number taken from ``sender``."""
    return f"move_in_notice_from:{sender}"


def dedupe_key(lg_code: str, event_seq: int) -> str:
    return f"{KIND}:{lg_code}:{event_seq}"


def _cursor(conn: Connection, name: str, now: dt.datetime) -> int:
    q = sa.select(net_cursors.c.value).where(net_cursors.c.name == name).with_for_update()
    value = conn.execute(q).scalar()
    if value is None:
        try:
            with conn.begin_nested():
                conn.execute(net_cursors.insert().values(name=name, value=0, updated_at=now))
        except sa.exc.IntegrityError:
            pass
        value = conn.execute(q).scalar()
    return int(value or 0)


def _set_cursor(conn: Connection, name: str, value: int, now: dt.datetime) -> None:
    conn.execute(net_cursors.update().where(net_cursors.c.name == name).values(value=value, updated_at=now))


def next_seq(conn: Connection, peer: str, now: dt.datetime) -> int:
    """The next 通知番号 for ``peer`` (consumed: call it only for a notice recorded in ``conn``)."""
    seq = _cursor(conn, sent_cursor(peer), now) + 1
    _set_cursor(conn, sent_cursor(peer), seq, now)
    return seq


def enqueue_notice(conn: Connection, *, sender: str, peer: str, event_seq: int, persons: Iterable[PersonRecord],
                   now: dt.datetime) -> tr.MoveInNotice | None:
    """Record the 転入通知 for ``persons`` (entered by the 転入 ``event_seq``) for delivery to ``peer`` in the
    caller's transaction, numbered next; once per event (None when it was already recorded)."""
    key = dedupe_key(sender, event_seq)
    if conn.execute(sa.select(peer_deliveries.c.id).where(peer_deliveries.c.dedupe_key == key)).first() is not None:
        return None
    people = list(persons)
    first = people[0]
    notice = tr.MoveInNotice(sender, peer, tuple(p.juminhyo_code for p in people), first.address, first.address_since,
                             f"{sender}:{event_seq}", next_seq(conn, peer, now),
                             first.address_before_move_in).check()
    enqueue(conn, kind=KIND, peer=peer, dedupe_key=key, payload=to_json(notice), now=now)
    return notice


def notice_for_intake(conn: Connection, *, sender: str, event: Any, people: list[PersonRecord], now: dt.datetime,
                      alert: Any) -> tr.MoveInNotice | None:
    """The CS intake's part (in its transaction): the 転入通知 of an ordinary 転入 ``event``.  A 特例転入 is
    notified when it is completed (:meth:`juki.net.transfer.TransferService.complete`).  ``alert(conn,
    **kw)`` raises an operator alert (:meth:`juki.net.store.NetStore.raise_alert`)."""
    details = dict(event.details or {})
    if details.get("special"):
        return None
    ids = list(details.get("person_ids") or [])
    entered = [p for i in ids for p in people if p.person_id == i]
    prior = entered[0].address_before_move_in if entered else None
    if prior is None or prior.country:  # no 従前の住所, or 国外からの転入: nobody to notify
        return None
    lg_code = former_municipality(prior)
    if lg_code is None:
        alert(conn, scope=f"{KIND}:unknown", ref=str(event.seq), kind=MANUAL_KIND, blocking=False,
              rule="REG-E1/move-in-notice-to",
              ja=f"異動 {event.seq}（転入）の従前の住所（{prior.prefecture}{prior.city}）から転出地の市町村を特定できないため、"
                 "転入通知を自動で送れません。従前の住所を確認し、転出地へ手作業で通知してください。",
              en=f"Change {event.seq} (move-in): the former municipality cannot be told from the previous address "
                 f"({prior.prefecture}{prior.city}), so the move-in notice cannot be sent automatically: check the "
                 "address and notify the former municipality by hand.",
              detail={"event_seq": int(event.seq), "persons": len(entered)})
        return None
    peer = register_code(lg_code)  # a 政令指定都市's ward → the city's node
    if peer == sender:
        return None
    carried = carried_codes(conn, event.request_id, special=False, persons=entered)
    named = [p for p in entered if p.juminhyo_code in carried]
    if not named:
        alert(conn, scope=f"{KIND}:{peer}", ref=str(event.seq), kind=MANUAL_KIND, blocking=False,
              rule="REG-E1/move-in-notice",
              ja=f"異動 {event.seq}（転入）は転出証明書の住民票コードの記載がないため、{peer} への転入通知を自動で送れません。"
                 "転出地へ手作業で通知してください。",
              en=f"Change {event.seq} (move-in) carries no resident record code from the move-out certificate, so "
                 f"the move-in notice to {peer} cannot be sent automatically: notify the former municipality by hand.",
              detail={"event_seq": int(event.seq), "to": peer, "persons": len(entered)})
        return None
    return enqueue_notice(conn, sender=sender, peer=peer, event_seq=int(event.seq), persons=named, now=now)


def carried_codes(conn: Connection, request_id: int | None, *, special: bool, persons: list[PersonRecord]) -> set[str]:
    """The 住民票コード the 転入 carried over from the 転出証明書 (those the former municipality knows); a
    特例転入 carries every person's."""
    if special:
        return {p.juminhyo_code for p in persons}
    if request_id is None:
        return set()
    payload = conn.execute(sa.select(change_requests.c.payload)
                           .where(change_requests.c.request_id == request_id)).scalar()
    entered = (payload or {}).get("persons") or []
    return {str(p["juminhyo_code"]) for p in entered if isinstance(p, dict) and p.get("juminhyo_code")}


def take_in_order(conn: Connection, sender: str, seq: int, now: dt.datetime) -> bool:
    """At the addressee: whether notice ``seq`` of ``sender`` is the next one (True: take it, then
    :func:`mark_taken`), False when it was taken before.  A gap is refused (the sender resends in
    order, so a gap means a lost or skipped notice an operator must look at)."""
    last = _cursor(conn, received_cursor(sender), now)
    if seq <= last:
        return False
    if seq != last + 1:
        raise Conflict(Problem("seq", "NET-6/order",
                               f"転入通知の通知番号 {seq} の前の {last + 1} 番をまだ受けていません。",
                               f"Move-in notice {seq} arrived before notice {last + 1}."))
    return True


def mark_taken(conn: Connection, sender: str, seq: int, now: dt.datetime) -> None:
    _set_cursor(conn, received_cursor(sender), seq, now)


def skip_marker(payload: dict[str, Any], *, by: str, reason: str, alert_id: int) -> dict[str, Any]:
    """What replaces a refused notice the sender's operator skipped (same number, no persons)."""
    return {"skip": to_json(tr.MoveInNoticeSkip(str(payload["from_lg_code"]), str(payload["to_lg_code"]),
                                                int(payload.get("seq", 0)), str(payload.get("event_ref", "")), by,
                                                f"{reason} (警告 {alert_id})"))}
