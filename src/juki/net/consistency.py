"""整合性確認 (住基法14条, NET-10, PRF-9): the CS checks the prefecture's and the national copies of its
本人確認情報 against its own file, without shipping every record.

The comparison is the hash tree of :mod:`juki.domain.merkle` over each record's
:data:`CHECK_ITEMS` (the 8 items of the 整合性確認用本人確認情報, plus the record's state), restricted to
the **current** records (現存) of one municipality.

**消除者 take part on neither side** (:func:`node_records`, the same rule at the CS and at the answering
tier).  Each tier deletes its 消除者 on its own schedule: the prefecture and 機構 by themselves 150 years
after the 消除 notice (PRF-4, :mod:`juki.net.retention`), the municipality's register only after a
four-eyes approval (REG-R5), which may lag, and the CS file not at all here.  Comparing removed records
would report each purged 消除者 as a difference for as long as the other tier keeps it.  What the check
therefore does not see: differences between two copies of the same 消除者 (a 消除 with another
異動年月日, say).  A record current on one side and removed or gone on the other is still found.  The 附票本人確認情報 file (PRF-8) is compared
the same way over :data:`FUHYO_CHECK_ITEMS` (``file: "fuhyo"`` in ``open``): the 18 items' content,
without the counts and flags derived from it and without the 通知区分 (which says how a record got
there, not what it is).

**The exchange** (the CS drives; the other side answers, JSON over mutual TLS):

1. ``open`` -- the CS names the municipality and the tree depth; the other side builds its tree over
   its records of that municipality and answers its root hash and record count (:class:`TreeSession`,
   kept for a few minutes);
2. ``children`` -- the hashes of the children of the nodes named, ten per node as one base64 string;
3. ``entries`` -- the (住民票コード, digest) pairs under the prefixes named (differing buckets only);
4. ``records`` -- the items of the records that differ, so the report can say which items differ;
5. ``result`` -- the CS sends the outcome back, and the other side records it (PRF-9: 整合性確認結果).

**Repair** goes through the normal update path: for a record missing or different at the other side the
CS re-sends its current record as an update on the stream (the ``resend`` port, which is the relay's);
a record only the other side has cannot be repaired from here and is reported for an operator to
investigate (要調査).  Nothing writes into another node's file directly.

:class:`WireCounter` counts the bytes of every request and answer body, for the report and the
benchmark (``bench/consistency.py``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from juki.api.common import json_body
from juki.domain import merkle as mk
from juki.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from juki.domain.identity import (
    RESYNC_DETAIL,
    FuhyoUpdate,
    IdentityUpdate,
    RecordFile,
    RecordState,
)

from .node import SYSTEM_USER, Node, allow, peer_of
from .notices import notice_to_json, split_number
from .pki import Tier
from .services import call, services
from .store import OUTBOUND
from .tables import net_records

CHECK_ITEMS: tuple[str, ...] = ("juminhyo_code", "name", "birth_date", "sex", "address", "individual_number", "reason",
                                "change_date", "state")
"""The items compared: 整合性確認用本人確認情報 (the 8 items) and the record's state (only current records are
compared, see :func:`node_records`)."""

FUHYO_CHECK_ITEMS: tuple[str, ...] = ("juminhyo_code", "name", "name_kana", "birth_date", "sex", "address_lg_code",
                                       "address", "last_address", "change_date", "managing_lg_code", "state")
"""The items of a 附票本人確認情報 record compared (PRF-8's items that are not derived from others)."""

ITEMS: dict[RecordFile, tuple[str, ...]] = {RecordFile.IDENTITY: CHECK_ITEMS, RecordFile.FUHYO: FUHYO_CHECK_ITEMS}

Records = Callable[[str, RecordFile], Iterable[Mapping[str, Any]]]
"""A side's records of one municipality (by its 地方公共団体コード) in one file, each with the file's
:data:`ITEMS`."""

SESSION_SECONDS = 600
MAX_PREFIXES = 20000
MAX_CODES = 10000


def file_of(value: Any) -> RecordFile:
    """The file named in a request (``identity`` when not named)."""
    try:
        return RecordFile(value or RecordFile.IDENTITY.value)
    except ValueError:
        raise InvalidInput(Problem("file", "NET-10/file", f"ファイル {value!r} は整合性確認の対象ではありません（identity / fuhyo）。",
                                   f"{value!r} is not a file the consistency check compares (identity / fuhyo).")) from None


def check_items(record: Mapping[str, Any], items: tuple[str, ...] = CHECK_ITEMS) -> dict[str, Any]:
    """The compared items of a record, as canonical JSON values (dates as ISO text, None as "")."""
    out = {}
    for k in items:
        v = record.get(k)
        out[k] = v.isoformat() if isinstance(v, dt.date) else ("" if v is None else str(v))
    return out


def build_tree(records: Iterable[Mapping[str, Any]], depth: int, items: tuple[str, ...] = CHECK_ITEMS
               ) -> tuple[mk.HashTree, int]:
    """The hash tree over ``records`` and how many there were."""
    entries = [(str(r["juminhyo_code"]), mk.record_digest(check_items(r, items))) for r in records]
    return mk.HashTree(entries, depth), len(entries)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise InvalidInput(Problem(field, "NET-10/format", "base64として読めません。", "Not valid base64.")) from None


# --- the answering side ------------------------------------------------------------------------


@dataclass
class TreeSession:
    lg_code: str
    file: RecordFile
    depth: int
    tree: mk.HashTree
    count: int
    opened: float
    records: Callable[[list[str]], list[dict[str, Any]]]


class TreeSessions:
    """Open comparisons at the answering node (prefecture or national), each a hash tree kept briefly."""

    def __init__(self, records: Records, *,
                 fetch: Callable[[str, list[str], RecordFile], Iterable[Mapping[str, Any]]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``records(lg_code, file)``: every record of a municipality (for the tree); ``fetch(lg_code, codes, file)``:
        some of them again (for the ``records`` step).  Without ``fetch`` a session keeps its records in
        memory; a node passes one so that a session holds only its tree (~30 bytes per record)."""
        self.records = records
        self.fetch = fetch
        self.clock = clock
        self._sessions: dict[str, TreeSession] = {}
        self._lock = threading.Lock()

    def open(self, lg_code: str, depth: int, file: RecordFile = RecordFile.IDENTITY) -> dict[str, Any]:
        if not isinstance(depth, int) or not 1 <= depth <= mk.MAX_DEPTH:
            raise InvalidInput(Problem("depth", "NET-10/depth", f"深さは1から{mk.MAX_DEPTH}です。",
                                       f"The depth is between 1 and {mk.MAX_DEPTH}."))
        kept: dict[str, dict[str, Any]] = {}
        digests: dict[str, bytes] = {}
        names = ITEMS[file]
        for r in self.records(lg_code, file):
            items = check_items(r, names)
            digests[items["juminhyo_code"]] = mk.record_digest(items)
            if self.fetch is None:
                kept[items["juminhyo_code"]] = items
        tree = mk.HashTree(digests.items(), depth)
        fetch = self.fetch

        def records(codes: list[str]) -> list[dict[str, Any]]:
            if fetch is None:
                return [kept[c] for c in codes if c in kept]
            return [check_items(r, names) for r in fetch(lg_code, codes, file)]

        sid = secrets.token_urlsafe(16)
        with self._lock:
            now = self.clock()
            for k in [k for k, s in self._sessions.items() if now - s.opened > SESSION_SECONDS]:
                del self._sessions[k]
            self._sessions[sid] = TreeSession(lg_code, file, depth, tree, len(digests), now, records)
        return {"session": sid, "root": _b64(tree.root), "count": len(digests)}

    def session(self, sid: str) -> TreeSession:
        with self._lock:
            s = self._sessions.get(sid)
        if s is None or self.clock() - s.opened > SESSION_SECONDS:
            raise NotFound(Problem("session", "NET-10/session", "整合性確認のセッションがありません（期限切れを含む）。",
                                   "There is no such consistency session (it may have expired)."))
        return s

    def children(self, sid: str, prefixes: list[str]) -> dict[str, Any]:
        s = self.session(sid)
        _check_prefixes(prefixes, s.depth, inner=True)
        return {"children": {p: _b64(b"".join(s.tree.children(p))) for p in prefixes}}

    def entries(self, sid: str, prefixes: list[str]) -> dict[str, Any]:
        s = self.session(sid)
        _check_prefixes(prefixes, s.depth, inner=False)
        return {"entries": {p: [f"{c}:{_b64(d)}" for c, d in s.tree.entries(p)] for p in prefixes}}

    def fetch_records(self, sid: str, codes: list[str]) -> dict[str, Any]:
        s = self.session(sid)
        if len(codes) > MAX_CODES:
            raise InvalidInput(Problem("codes", "NET-10/limit", "一度に求める記録が多すぎます。", "Too many records asked at once."))
        return {"records": s.records(codes)}

    def close(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    def answer(self, op: str, body: Mapping[str, Any], *, on_result: Callable[[str, dict[str, Any]], None] | None = None
               ) -> dict[str, Any]:
        """One exchange of the protocol (the node's route calls this with the request body)."""
        if op == "open":
            return self.open(str(body.get("lg_code", "")), body.get("depth"), file_of(body.get("file")))  # type: ignore[arg-type]
        sid = str(body.get("session", ""))
        if op == "children":
            return self.children(sid, body.get("prefixes"))  # type: ignore[arg-type]
        if op == "entries":
            return self.entries(sid, body.get("prefixes"))  # type: ignore[arg-type]
        if op == "records":
            return self.fetch_records(sid, body.get("codes"))  # type: ignore[arg-type]
        if op == "result":
            s = self.session(sid)
            if on_result is not None:
                on_result(s.lg_code, {**dict(body.get("result") or {}), "file": s.file.value})
            self.close(sid)
            return {"recorded": True}
        raise NotFound(Problem("operation", "NET-10/operation", f"操作 {op} はありません。", f"There is no operation {op}."))


def _check_prefixes(prefixes: list[str], depth: int, *, inner: bool) -> None:
    if not isinstance(prefixes, list) or len(prefixes) > MAX_PREFIXES:
        raise InvalidInput(Problem("prefixes", "NET-10/limit", "プレフィックスの一覧が不正か多すぎます。",
                                   "The list of prefixes is malformed or too long."))
    for p in prefixes:
        if not isinstance(p, str) or (p and not p.isdigit()) or len(p) > depth or (inner and len(p) >= depth):
            raise InvalidInput(Problem("prefixes", "NET-10/prefix", f"不正なプレフィックス {p!r} です。",
                                       f"Invalid prefix {p!r}."))


# --- the checking side (the CS) ----------------------------------------------------------------


Call = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``call(operation, body) -> answer``: one exchange with the other side (open, children, entries,
records, result)."""


@dataclass
class WireCounter:
    """Bytes of JSON bodies sent and received (as the HTTP layer sends them: compact UTF-8)."""

    sent: int = 0
    received: int = 0
    calls: int = 0

    def wrap(self, call: Call) -> Call:
        def counted(op: str, body: dict[str, Any]) -> dict[str, Any]:
            self.sent += len(encode(body))
            answer = call(op, body)
            self.received += len(encode(answer))
            self.calls += 1
            return answer
        return counted

    @property
    def total(self) -> int:
        return self.sent + self.received


def encode(body: Any) -> bytes:
    """The wire form of a body (compact JSON, UTF-8)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Finding:
    """One difference, with the items that differ (for :attr:`~juki.domain.merkle.DifferenceKind.DIFFERS`)."""

    juminhyo_code: str
    kind: mk.DifferenceKind
    items: tuple[str, ...] = ()


@dataclass
class ConsistencyReport:
    """整合性確認結果 for one municipality against one other node."""

    lg_code: str
    peer: str
    local_count: int
    remote_count: int
    findings: list[Finding] = field(default_factory=list)
    file: RecordFile = RecordFile.IDENTITY
    rounds: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    resent: list[str] = field(default_factory=list)  # 住民票コード re-sent on the stream (repair)
    to_investigate: list[str] = field(default_factory=list)  # only the other side has them (要調査)

    @property
    def consistent(self) -> bool:
        return not self.findings

    def summary(self) -> dict[str, Any]:
        return {
            "lg_code": self.lg_code, "peer": self.peer, "file": self.file.value, "consistent": self.consistent,
            "local_count": self.local_count, "remote_count": self.remote_count,
            "differences": [{"juminhyo_code": f.juminhyo_code, "kind": f.kind.value, "kind_ja": f.kind.ja,
                             "items": list(f.items)} for f in self.findings],
            "rounds": self.rounds, "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
            "seconds": round(self.seconds, 3), "resent": self.resent, "to_investigate": self.to_investigate,
        }


def compare(lg_code: str, peer: str, local_records: Iterable[Mapping[str, Any]], call: Call, *,
            depth: int | None = None, counter: WireCounter | None = None,
            file: RecordFile = RecordFile.IDENTITY) -> ConsistencyReport:
    """Compare this CS's records of ``lg_code`` in ``file`` with ``peer``'s through ``call`` (see the
    module doc)."""
    started = time.perf_counter()
    counter = counter or WireCounter()
    counted = counter.wrap(call)
    names = ITEMS[file]
    rows = {str(r["juminhyo_code"]): check_items(r, names) for r in local_records}
    depth = depth or mk.depth_for(len(rows))
    tree = mk.HashTree(((c, mk.record_digest(r)) for c, r in rows.items()), depth)
    opened = counted("open", {"lg_code": lg_code, "depth": depth, **({"file": file.value} if file is not RecordFile.IDENTITY else {})})
    sid = str(opened["session"])

    def ask_children(prefixes: list[str]) -> dict[str, list[bytes]]:
        answer = counted("children", {"session": sid, "prefixes": prefixes})["children"]
        out = {}
        for p in prefixes:
            raw = _unb64(answer[p], f"children.{p}")
            out[p] = [raw[i:i + mk.DIGEST_BYTES] for i in range(0, len(raw), mk.DIGEST_BYTES)]
        return out

    def ask_entries(prefixes: list[str]) -> dict[str, list[tuple[str, bytes]]]:
        answer = counted("entries", {"session": sid, "prefixes": prefixes})["entries"]
        return {p: [(e.split(":", 1)[0], _unb64(e.split(":", 1)[1], "entries")) for e in answer[p]] for p in prefixes}

    result = mk.reconcile(tree, _unb64(opened["root"], "root"), ask_children, ask_entries)
    differing = [d.juminhyo_code for d in result.differences if d.kind is mk.DifferenceKind.DIFFERS]
    theirs: dict[str, dict[str, Any]] = {}
    for i in range(0, len(differing), MAX_CODES):
        chunk = differing[i:i + MAX_CODES]
        theirs.update({r["juminhyo_code"]: r for r in counted("records", {"session": sid, "codes": chunk})["records"]})
    findings = []
    for d in result.differences:
        items: tuple[str, ...] = ()
        if d.kind is mk.DifferenceKind.DIFFERS and d.juminhyo_code in theirs:
            mine, other = rows[d.juminhyo_code], theirs[d.juminhyo_code]
            items = tuple(k for k in names if mine.get(k) != other.get(k))
        findings.append(Finding(d.juminhyo_code, d.kind, items))
    report = ConsistencyReport(lg_code, peer, len(rows), int(opened["count"]), findings, file=file,
                               rounds=result.rounds + 2 + (1 if differing else 0))
    counted("result", {"session": sid, "result": {k: v for k, v in report.summary().items()
                                                  if k not in ("bytes_sent", "bytes_received", "seconds")}})
    report.bytes_sent, report.bytes_received = counter.sent, counter.received
    report.seconds = time.perf_counter() - started
    return report


def repair(report: ConsistencyReport, resend: Callable[[list[str]], None]) -> ConsistencyReport:
    """Re-send through the normal update path every record missing or different at the other side
    (``resend`` puts the CS's current record of each 住民票コード on the stream); list what only the
    other side has for investigation."""
    again = [f.juminhyo_code for f in report.findings if f.kind is not mk.DifferenceKind.EXTRA_REMOTE]
    if again:
        resend(again)
    report.resent = again
    report.to_investigate = [f.juminhyo_code for f in report.findings if f.kind is mk.DifferenceKind.EXTRA_REMOTE]
    return report


# --- at a node --------------------------------------------------------------------------------------
# prefecture / national: POST /net/v1/consistency/{op} for the CS of a municipality (its own records only);
# municipality: check() from the CLI (`juki net consistency`), repair by re-sending on the stream.

ROLES = frozenset({Tier.PREFECTURE, Tier.NATIONAL})
RULES = {
    "consistency_at_prefecture": allow(Tier.MUNICIPALITY, own_prefecture=True),
    "consistency_at_national": allow(Tier.MUNICIPALITY),
}
OPERATIONS = ("open", "children", "entries", "records", "result")


def node_records(node: Node, lg_code: str, codes: list[str] | None = None,
                 file: RecordFile = RecordFile.IDENTITY) -> Iterator[dict[str, Any]]:
    """The compared items of every current record of municipality ``lg_code`` in ``node``'s ``file``
    (本人確認情報, or 附票本人確認情報 of the 附票 the municipality keeps).  Only current records (現存) are
    compared, at every tier: a person who moved to another municipality is current there, and removed there
    is history; a 消除者 purged past retention at one tier (PRF-4, REG-R5) and still kept at another is no
    difference; a record current at the other side but not here is a difference
    (:attr:`~juki.domain.merkle.DifferenceKind.EXTRA_REMOTE`)."""
    t = net_records.c
    q = sa.select(t.juminhyo_code, t.state, t.notice, t.number_ciphertext, t.number_key_id).where(
        t.file == file.value, t.state == RecordState.CURRENT.value)
    if node.role is not Tier.MUNICIPALITY:
        q = q.where(t.origin == lg_code)
    if codes is not None:
        q = q.where(t.juminhyo_code.in_(codes))
    keyring = node.keyring
    with node.engine.connect() as conn:
        for r in conn.execution_options(yield_per=5000).execute(q):
            n = dict(r.notice)
            if file is RecordFile.FUHYO:
                yield {**{k: n.get(k) for k in FUHYO_CHECK_ITEMS}, "juminhyo_code": r.juminhyo_code, "state": r.state}
                continue
            number = (keyring.decrypt(r.number_ciphertext, r.number_key_id, f"net_records|identity|{r.juminhyo_code}")
                      if r.number_ciphertext is not None else None)
            yield {"juminhyo_code": r.juminhyo_code, "name": n.get("name"), "birth_date": n.get("birth_date"),
                   "sex": n.get("sex"), "address": n.get("address"), "individual_number": number,
                   "reason": n.get("reason"), "change_date": n.get("change_date"), "state": r.state}


def router(node: Node) -> APIRouter:
    r = APIRouter(prefix="/net/v1/consistency", tags=["整合性確認"])

    def answer(peer: Any, op: str, body: dict[str, Any]) -> dict[str, Any]:
        if op not in OPERATIONS:
            raise NotFound(Problem("operation", "NET-10/operation", f"操作 {op} はありません。", f"There is no operation {op}."))
        if op == "open" and body.get("lg_code") != peer.identity.code:
            raise Forbidden(Problem("lg_code", "NET-10/caller", "自らの市町村の本人確認情報だけを確認できます。",
                                    "A CS checks its own municipality's records only."))
        sessions = services(node).sessions
        if op != "open" and sessions.session(str(body.get("session", ""))).lg_code != peer.identity.code:
            raise Forbidden(Problem("session", "NET-10/caller", "他の市町村のセッションです。", "Another municipality's session."))

        def on_result(lg: str, result: dict[str, Any]) -> None:
            node.audit_peer(peer, "consistency.result", subjects=[d["juminhyo_code"] for d in result.get("differences", [])],
                            detail={"lg_code": lg, "file": result.get("file"), "consistent": bool(result.get("consistent")),
                                    "local_count": result.get("local_count"), "remote_count": result.get("remote_count")})

        if op == "open":
            node.audit_peer(peer, "consistency.open", detail={"lg_code": body.get("lg_code"), "depth": body.get("depth"),
                                                              "file": file_of(body.get("file")).value})
        return sessions.answer(op, body, on_result=on_result)

    async def route(request: Request, op: str) -> dict[str, Any]:
        return await asyncio.to_thread(answer, peer_of(request), op, await json_body(request))

    if node.role is Tier.PREFECTURE:
        r.add_api_route("/{op}", route, methods=["POST"], name="consistency_at_prefecture",
                        summary="整合性確認（都道府県サーバ）")
    if node.role is Tier.NATIONAL:
        r.add_api_route("/{op}", route, methods=["POST"], name="consistency_at_national", summary="整合性確認（全国サーバ）")
    return r


def resend(node: Node, codes: list[str], file: RecordFile = RecordFile.IDENTITY) -> list[str]:
    """Re-send the CS's current notice of each 住民票コード in ``file`` on the stream with a new 更新順番号 (the
    normal update path: the relay delivers it, the prefecture applies it and forwards it to the national
    server), marked as a re-send (異動事由詳細 :data:`~juki.domain.identity.RESYNC_DETAIL`, or
    ``FuhyoUpdate.resync``) so the receivers apply it without the logic checks (PRF-2): it restates the
    master's record.  Returns the codes sent; a code the CS has no record of is left out (要調査)."""
    store = node.store
    sent = []
    with store.engine.begin() as conn:
        for code in codes:
            stored = store.current(conn, file, code, lock=True)
            if stored is None:
                continue
            seq = store.cursor(conn, OUTBOUND, lock=True) + 1
            notice: IdentityUpdate | FuhyoUpdate
            if isinstance(stored.notice, IdentityUpdate):
                notice = dataclasses.replace(stored.notice, seq=seq, reason_detail=RESYNC_DETAIL, recorded_at=store.clock())
            else:
                notice = dataclasses.replace(stored.notice, seq=seq, old_juminhyo_code="", resync=True)
            payload, number = split_number(notice_to_json(notice))
            store.append_outbound(conn, origin=node.code, origin_seq=seq, file=file.value, payload=payload, number=number)
            sent.append(code)
    if sent:
        node.wake("relay")
    return sent


def repair_at(node: Node, report: ConsistencyReport) -> ConsistencyReport:
    """:func:`repair` through this node's stream; what the CS has no record of stays to investigate."""
    codes = [f.juminhyo_code for f in report.findings]
    sent = resend(node, codes, report.file)
    report.resent = sent
    report.to_investigate = [c for c in codes if c not in sent]
    node.audit.record_now(node.engine, user_id=SYSTEM_USER, terminal="CS", action="consistency.repair",
                          subject_ids=sent, detail={"peer": report.peer, "file": report.file.value, "resent": len(sent),
                                                    "to_investigate": report.to_investigate})
    return report


def check(node: Node, peer: str, *, depth: int | None = None, file: RecordFile = RecordFile.IDENTITY) -> ConsistencyReport:
    """The CS's 整合性確認 of ``file`` against ``peer`` (its prefecture or the national server), audited at
    the CS."""
    report = compare(node.code, peer, node_records(node, node.code, file=file),
                     lambda op, body: call(node, peer, f"/net/v1/consistency/{op}", body), depth=depth, file=file)
    node.audit.record_now(node.engine, user_id=SYSTEM_USER, terminal="CS", action="consistency.check",
                          subject_ids=[f.juminhyo_code for f in report.findings],
                          detail={"peer": peer, "file": file.value, "consistent": report.consistent,
                                  "differences": len(report.findings),
                                  "bytes": report.bytes_sent + report.bytes_received})
    return report
