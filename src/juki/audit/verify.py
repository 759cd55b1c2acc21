"""``verify``: walk the chain and prove it intact, or name the first bad entry (SEC-3).

Checks, in seq order and streaming in batches (millions of entries in constant memory):

1. contiguity: the entries continue from the purge checkpoint (or from 1) without a gap -- a gap is a
   deletion;
2. linkage: each ``prev_hash`` equals the previous entry's ``hash`` -- catches reordering and deletion;
3. content: each ``hash`` recomputes from the stored fields -- catches any edit (and a reorder, since
   seq is hashed);
4. the head: ``audit_head`` names the last entry and its hash -- catches truncation of the tail (and
   entries slipped in behind the writer);
5. anchors: every signed head exported earlier (files in ``anchors``, plus the rows of
   ``audit_anchors``) matches the entry at its seq -- catches an attacker who rewrote the tail *and*
   recomputed every hash and the head;
6. the purge checkpoint is backed by an ``audit.purge`` entry in the remaining chain.

Reads in one snapshot (REPEATABLE READ on PostgreSQL, one deferred transaction on SQLite), so appends
made while it runs do not confuse it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection, Engine

from juki.adapters.db.engine import read_only

from .anchors import Anchor, AnchorError, default_key_file, load_private_key, load_public_key, read_anchors
from .chain import entry_hash
from .schema import GENESIS_HASH, audit_anchors, audit_entries, audit_head, audit_purges

BATCH = 2000


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str  # Japanese / English
    last_seq: int = 0
    anchors_checked: int = 0

    def __bool__(self) -> bool:
        return self.ok


def _bad(checked: int, seq: int | None, ja: str, en: str, *, anchors: int = 0) -> VerifyResult:
    return VerifyResult(False, checked, seq, f"{ja} / {en}", anchors_checked=anchors)


def checkpoint(conn: Connection) -> tuple[int, str, int | None]:
    """(last purged seq, its hash, purge request id) from the latest executed purge, else (0, genesis, None)."""
    row = conn.execute(
        sa.select(audit_purges.c.upto_seq, audit_purges.c.upto_hash, audit_purges.c.request_id)
        .where(audit_purges.c.step == "execute")
        .order_by(audit_purges.c.upto_seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, GENESIS_HASH, None
    return int(row.upto_seq), str(row.upto_hash), int(row.request_id)


def _trusted_key(public_key: str | bytes | Ed25519PublicKey | None) -> Ed25519PublicKey | None:
    if isinstance(public_key, Ed25519PublicKey):
        return public_key
    if public_key is not None:
        return load_public_key(public_key)
    path = default_key_file()
    if path.exists():
        return load_private_key(path, create=False).public_key()
    return None


def verify(
    engine: Engine,
    anchors: str | os.PathLike[str] | Iterable[Anchor] | None = None,
    *,
    public_key: str | bytes | Ed25519PublicKey | None = None,
    batch_size: int = BATCH,
) -> VerifyResult:
    """Verify the whole log.  ``anchors``: a directory of exported anchor files (or Anchor objects);
    their signatures are checked against ``public_key`` (PEM or key), by default the public half of
    the signing key file.  Anchors recorded in the database are checked too (hash only)."""
    external: list[Anchor] = []
    if anchors is not None:
        try:
            external = read_anchors(anchors) if isinstance(anchors, str | os.PathLike) else list(anchors)
        except AnchorError as exc:
            return _bad(0, None, f"アンカーを読み取れません: {exc}", f"cannot read anchors: {exc}")
        if external:
            try:
                trusted = _trusted_key(public_key)
            except (AnchorError, ValueError) as exc:
                return _bad(0, None, f"公開鍵を読み取れません: {exc}", f"cannot load the public key: {exc}")
            if trusted is None:
                return _bad(0, None, "アンカーの署名を確かめる公開鍵がありません",
                            "no trusted public key to check the anchors' signatures")
            for a in external:
                if not a.signature_ok(trusted):
                    return _bad(0, a.seq, f"アンカー {a.source or a.seq} の署名が正しくありません",
                                f"anchor {a.source or a.seq} has an invalid signature")

    conn = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        else:
            conn = read_only(conn)
        with conn.begin():
            return _walk(conn, external, batch_size)
    finally:
        conn.close()


def _walk(conn: Connection, external: list[Anchor], batch_size: int) -> VerifyResult:
    head_row = conn.execute(sa.select(audit_head.c.last_seq, audit_head.c.last_hash)).one_or_none()
    if head_row is None:
        return _bad(0, None, "先頭記録 (audit_head) がありません", "the audit head row is missing")
    head_seq, head_hash = int(head_row.last_seq), str(head_row.last_hash)
    start_seq, prev, purge_request = checkpoint(conn)

    expected: dict[int, list[tuple[str, str]]] = {}
    for a in external:
        expected.setdefault(a.seq, []).append((a.hash, f"アンカー {a.source or a.seq} / anchor {a.source or a.seq}"))
    for r in conn.execute(sa.select(audit_anchors.c.seq, audit_anchors.c.hash, audit_anchors.c.file_name)):
        expected.setdefault(int(r.seq), []).append((str(r.hash), f"記録済みアンカー {r.file_name} / recorded anchor"))
    n_anchors = sum(len(v) for v in expected.values())
    # Anchors at the checkpoint compare with the checkpoint hash; earlier ones were purged with their entries.
    for want, label in expected.get(start_seq, []) if start_seq else []:
        if want != prev:
            return _bad(0, start_seq, f"{label.split(' / ')[0]} と消去時点のハッシュが一致しません",
                        f"{label.split(' / ')[1]} disagrees with the purge checkpoint hash", anchors=n_anchors)

    checked = 0
    last = start_seq
    purge_entries: set[int] = set()
    while True:
        rows = conn.execute(
            sa.select(audit_entries).where(audit_entries.c.seq > last).order_by(audit_entries.c.seq).limit(batch_size)
        ).all()
        if not rows:
            break
        for r in rows:
            seq = int(r.seq)
            if seq != last + 1:
                return _bad(checked, last + 1, f"第 {last + 1} 番の記録がありません（削除されています）",
                            f"entry {last + 1} is missing (deleted)", anchors=n_anchors)
            if r.prev_hash != prev:
                return _bad(checked, seq, f"第 {seq} 番の前ハッシュが直前の記録と一致しません（削除・並べ替え）",
                            f"entry {seq}: prev_hash does not match the previous entry (deletion or reordering)",
                            anchors=n_anchors)
            try:
                digest = entry_hash(prev, seq=seq, at=r.at, user_id=r.user_id, terminal=r.terminal,
                                    session_id=r.session_id, action=r.action, outcome=r.outcome,
                                    subject_ids=r.subject_ids, detail=r.detail)
            except (ValueError, TypeError) as exc:
                return _bad(checked, seq, f"第 {seq} 番の記録を読み取れません ({exc})",
                            f"entry {seq} is unreadable ({exc})", anchors=n_anchors)
            if digest != r.hash:
                return _bad(checked, seq, f"第 {seq} 番の記録が改ざんされています（ハッシュ不一致）",
                            f"entry {seq} was altered (hash mismatch)", anchors=n_anchors)
            for want, label in expected.get(seq, ()):
                if want != r.hash:
                    ja, en = label.split(" / ")
                    return _bad(checked, seq, f"第 {seq} 番が{ja}と一致しません（記録の書き換え）",
                                f"entry {seq} disagrees with {en} (the log was rewritten)", anchors=n_anchors)
            if r.action == "audit.purge":
                try:
                    purge_entries.add(int(json.loads(r.detail).get("request_id")))
                except (TypeError, ValueError, AttributeError):
                    pass
            prev = r.hash
            last = seq
            checked += 1

    if head_seq > last:
        return _bad(checked, last + 1,
                    f"第 {last + 1} 番以降の記録がありません（先頭記録は第 {head_seq} 番: 末尾の切り捨て）",
                    f"entries from {last + 1} are missing (the head says {head_seq}: tail truncated)",
                    anchors=n_anchors)
    if head_seq < last:
        return _bad(checked, head_seq + 1,
                    f"先頭記録 (第 {head_seq} 番) より後に記録があります（書き手を経ない追加）",
                    f"entries exist after the head ({head_seq}): added behind the writer's back",
                    anchors=n_anchors)
    if head_hash != prev:
        return _bad(checked, last or None, f"先頭記録のハッシュが第 {last} 番と一致しません",
                    f"the head hash does not match entry {last}", anchors=n_anchors)
    beyond = sorted(s for s in expected if s > last)
    if beyond:
        return _bad(checked, last + 1,
                    f"第 {beyond[0]} 番までのアンカーがあるのに記録は第 {last} 番までしかありません（切り捨て）",
                    f"an anchor proves entry {beyond[0]} existed but the log ends at {last} (truncated)",
                    anchors=n_anchors)
    if purge_request is not None and purge_request not in purge_entries:
        return _bad(checked, start_seq + 1,
                    f"消去の記録 (申請 {purge_request}) に対応する audit.purge の記録がありません",
                    f"the purge checkpoint (request {purge_request}) has no audit.purge entry in the chain",
                    anchors=n_anchors)
    return VerifyResult(True, checked, None, f"監査ログは完全です（{checked} 件） / the audit log is intact ({checked} entries)",
                        last_seq=last, anchors_checked=n_anchors)
