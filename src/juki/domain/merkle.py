"""整合性確認 without shipping the file: a hash tree over 本人確認情報 ordered by 住民票コード (NET-10, PRF-9).

The municipality's CS is the master; the prefecture's and the national server's files are copies that
must agree with it (住基法14条, 30条の6, 30条の7).  Comparing two copies of a million records by
sending every record costs a hundred megabytes; comparing hashes costs a few hundred kilobytes when the
copies differ in a hundred places.

**The tree.**  住民票コード are 11 digits whose first ten are random, so the decimal prefixes of the
codes split the records evenly.  The tree is 10-ary: the node ``"37"`` covers every code starting
``37``; a node at ``depth`` (the leaf level) is a *bucket* of the records whose codes share that
prefix, in code order.  Both sides build the tree with the same depth (:func:`depth_for` picks one for
about :data:`TARGET_BUCKET` records per bucket).

* a record's digest is SHA-256 over its items in canonical form (:func:`record_digest`), cut to
  :data:`DIGEST_BYTES`;
* a bucket's hash is SHA-256 over its (code, digest) pairs in code order;
* an inner node's hash is SHA-256 over its ten children's hashes; an empty subtree's hash is
  :data:`EMPTY` (all zero), so empty ranges cost nothing to build or compare.

**The exchange** (:func:`reconcile`).  The side that checks asks the other for the children of the
nodes whose hashes differ, level by level from the root (one round trip per level, ten hashes per
differing node), and at the leaves fetches only the differing buckets' (code, digest) pairs.  A subtree
that one side has and the other lacks entirely is settled without descending into it.  The result is
every :class:`Difference`: a record only here, only there, or with different items.

Pure: the two callbacks that reach the other side are the caller's (HTTP between nodes in
:mod:`juki.net.consistency`, plain functions in the tests and the benchmark).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

DIGEST_BYTES = 16
"""Bytes kept of each SHA-256 (128 bits: an accidental collision among 10⁸ records is ~10⁻²³)."""

EMPTY = bytes(DIGEST_BYTES)
"""The hash of an empty subtree."""

FANOUT = 10
TARGET_BUCKET = 16
MAX_DEPTH = 10  # the first ten digits of a 住民票コード are its random part


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:DIGEST_BYTES]


def record_digest(items: Mapping[str, object]) -> bytes:
    """The digest of one record: its items in key order, each ``key␞value``, joined by ␟ (the ASCII unit
    and record separators, which no item of 本人確認情報 contains); a value that is not text is written
    as canonical JSON first.  Key order makes it independent of how the mapping was built."""
    parts = []
    for key in sorted(items):
        value = items[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                                separators=(",", ":"), default=str)
        parts.append(f"{key}\x1e{text}")
    return _h("\x1f".join(parts).encode("utf-8"))


def depth_for(records: int) -> int:
    """The leaf depth giving about :data:`TARGET_BUCKET` records per bucket (at least 1)."""
    if records <= TARGET_BUCKET:
        return 1
    return max(1, min(MAX_DEPTH, math.ceil(math.log10(records / TARGET_BUCKET))))


def _check_depth(depth: int) -> None:
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")


def _bucket_hash(entries: Sequence[tuple[str, bytes]]) -> bytes:
    if not entries:
        return EMPTY
    h = hashlib.sha256()
    for code, digest in entries:
        h.update(code.encode("ascii"))
        h.update(digest)
    return h.digest()[:DIGEST_BYTES]


def _node_hash(children: Sequence[bytes]) -> bytes:
    if all(c == EMPTY for c in children):
        return EMPTY
    return _h(b"".join(children))


class HashTree:
    """The hash tree of one side's records (code → digest) at a given leaf depth."""

    def __init__(self, entries: Iterable[tuple[str, bytes]], depth: int) -> None:
        _check_depth(depth)
        self.depth = depth
        buckets: dict[str, list[tuple[str, bytes]]] = {}
        for code, digest in entries:
            buckets.setdefault(code[:depth], []).append((code, digest))
        for b in buckets.values():
            b.sort()
        self._buckets = buckets
        self.count = sum(len(b) for b in buckets.values())
        hashes: dict[str, bytes] = {p: _bucket_hash(b) for p, b in buckets.items()}
        level = set(buckets)
        for d in range(depth - 1, -1, -1):
            parents = {p[:d] for p in level}
            for parent in parents:
                hashes[parent] = _node_hash([hashes.get(parent + str(i), EMPTY) for i in range(FANOUT)])
            level = parents
        self._hashes = hashes

    @property
    def root(self) -> bytes:
        return self._hashes.get("", EMPTY)

    def hash(self, prefix: str) -> bytes:
        return self._hashes.get(prefix, EMPTY)

    def children(self, prefix: str) -> list[bytes]:
        """The ten child hashes of an inner node."""
        if len(prefix) >= self.depth:
            raise ValueError(f"{prefix!r} is a bucket, it has no children")
        return [self._hashes.get(prefix + str(i), EMPTY) for i in range(FANOUT)]

    def entries(self, prefix: str) -> list[tuple[str, bytes]]:
        """Every (code, digest) under ``prefix`` (a bucket or any inner node), in code order."""
        if len(prefix) >= self.depth:
            return list(self._buckets.get(prefix[: self.depth], []))
        return [e for p in sorted(b for b in self._buckets if b.startswith(prefix)) for e in self._buckets[p]]


class DifferenceKind(StrEnum):
    """What 整合性確認 found for one 住民票コード."""

    MISSING_REMOTE = "missing_remote"  # the master (CS) has it, the copy does not (記録漏れ)
    EXTRA_REMOTE = "extra_remote"  # the copy has it, the master does not (不要な記録)
    DIFFERS = "differs"  # both have it with different items (不一致)

    @property
    def ja(self) -> str:
        return {"missing_remote": "相手方に記録なし", "extra_remote": "相手方のみに記録あり",
                "differs": "内容不一致"}[self.value]


@dataclass(frozen=True)
class Difference:
    juminhyo_code: str
    kind: DifferenceKind


def compare_entries(local: Sequence[tuple[str, bytes]], remote: Sequence[tuple[str, bytes]]) -> list[Difference]:
    """Every difference between two lists of (code, digest)."""
    mine, theirs = dict(local), dict(remote)
    out = []
    for code in sorted(set(mine) | set(theirs)):
        a, b = mine.get(code), theirs.get(code)
        if a == b:
            continue
        kind = (DifferenceKind.MISSING_REMOTE if b is None else DifferenceKind.EXTRA_REMOTE if a is None
                else DifferenceKind.DIFFERS)
        out.append(Difference(code, kind))
    return out


AskChildren = Callable[[list[str]], Mapping[str, Sequence[bytes]]]
"""The other side: the ten child hashes of each inner node named."""
AskEntries = Callable[[list[str]], Mapping[str, Sequence[tuple[str, bytes]]]]
"""The other side: every (code, digest) under each prefix named."""


@dataclass
class Reconciliation:
    """The outcome of one :func:`reconcile`: the differences, and what the exchange cost."""

    differences: list[Difference]
    rounds: int = 0
    nodes_asked: int = 0
    buckets_fetched: int = 0


def reconcile(local: HashTree, remote_root: bytes, ask_children: AskChildren, ask_entries: AskEntries) -> Reconciliation:
    """Find every difference between ``local`` and the other side, whose root hash is ``remote_root``.

    Descends only where hashes differ.  A child empty on the other side is all :attr:`MISSING_REMOTE`
    without asking; a child empty here has its entries fetched whole; differing buckets are fetched and
    compared entry by entry."""
    result = Reconciliation([])
    if remote_root == local.root:
        return result
    frontier = [""]
    while frontier:
        inner = [p for p in frontier if len(p) < local.depth]
        leaves = [p for p in frontier if len(p) >= local.depth]
        fetch: list[str] = list(leaves)
        frontier = []
        if inner:
            answer = ask_children(inner)
            result.rounds += 1
            result.nodes_asked += len(inner)
            for prefix in inner:
                theirs = list(answer[prefix])
                if len(theirs) != FANOUT:
                    raise ValueError(f"the other side sent {len(theirs)} children for {prefix!r}")
                for i, (mine, other) in enumerate(zip(local.children(prefix), theirs, strict=True)):
                    child = prefix + str(i)
                    if mine == other:
                        continue
                    if other == EMPTY:
                        result.differences.extend(Difference(c, DifferenceKind.MISSING_REMOTE)
                                                  for c, _ in local.entries(child))
                    elif mine == EMPTY:
                        fetch.append(child)
                    else:
                        frontier.append(child)
        if fetch:
            answer_entries = ask_entries(fetch)
            result.rounds += 1
            result.buckets_fetched += len(fetch)
            for prefix in fetch:
                result.differences.extend(compare_entries(local.entries(prefix), list(answer_entries[prefix])))
    result.differences.sort(key=lambda d: d.juminhyo_code)
    return result
