"""Signed chain heads exported outside the database (the "outside copy that proves the past").

The signing key is an Ed25519 private key in a PEM file outside the database: ``$JUKI_AUDIT_KEY_FILE``,
default ``./var/juki-audit-key.pem``, created on first use with mode 0600 (refused if readable by group
or others).  Publish :func:`public_key_pem` to whoever keeps the anchors (e.g. the 情報政策課 or an
external auditor), so that verification does not trust a key that an attacker could swap in the file.

An anchor file ``audit-anchor-<seq>.json``::

    {"format": "juki-audit-anchor/1", "seq": 1234, "hash": "<hex>", "at": "<UTC ISO>",
     "municipality": "011002", "signature": "<base64 Ed25519 over the canonical JSON of the five fields
     above>", "public_key": "<PEM>"}

Run ``juki audit export-anchor --out DIR`` daily (cron / systemd timer) and copy DIR off the server
(WORM storage, another department, a printed hash).  An attacker with full database rights who rewrites
the tail of the log and its head is caught by any anchor exported before the rewrite.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import Engine

from juki.adapters import signing_keys
from juki.clock import utcnow

from .chain import canonical_json, format_at
from .schema import audit_anchors, audit_head

KEY_FILE_ENV = "JUKI_AUDIT_KEY_FILE"
FORMAT = "juki-audit-anchor/1"


class AnchorError(Exception):
    """The key file or an anchor file is unusable."""


def default_key_file() -> Path:
    env = os.environ.get(KEY_FILE_ENV, "").strip()
    return Path(env) if env else Path.cwd() / "var" / "juki-audit-key.pem"


def load_private_key(path: Path | None = None, *, create: bool = True) -> Ed25519PrivateKey:
    """The signing key at ``path`` (default :func:`default_key_file`), created (0600) if absent and
    ``create``."""
    try:
        return signing_keys.load_or_create(Path(path) if path is not None else default_key_file(), create=create,
                                           what=("監査署名鍵", "audit signing key"))
    except signing_keys.SigningKeyError as exc:
        raise AnchorError(str(exc)) from None


public_key_pem = signing_keys.public_key_pem


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    try:
        return signing_keys.load_public_key(pem)
    except signing_keys.SigningKeyError as exc:
        raise AnchorError(str(exc)) from None


def _signed_part(seq: int, digest: str, at: str, municipality: str | None) -> bytes:
    return canonical_json(
        {"format": FORMAT, "seq": seq, "hash": digest, "at": at, "municipality": municipality}
    ).encode()


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str
    municipality: str | None
    signature: str
    public_key: str
    source: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "seq": self.seq, "hash": self.hash, "at": self.at,
                "municipality": self.municipality, "signature": self.signature, "public_key": self.public_key}

    def signature_ok(self, trusted: Ed25519PublicKey) -> bool:
        try:
            trusted.verify(base64.b64decode(self.signature),
                           _signed_part(self.seq, self.hash, self.at, self.municipality))
            return True
        except (InvalidSignature, ValueError):
            return False


def export_anchor(
    engine: Engine,
    directory: str | os.PathLike[str],
    *,
    key_file: Path | None = None,
    municipality: str | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Sign the current chain head, write ``audit-anchor-<seq>.json`` in ``directory`` and record it in
    ``audit_anchors``.  Returns the file's path."""
    key = load_private_key(key_file)
    at = format_at(now or utcnow())
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        row = conn.execute(sa.select(audit_head.c.last_seq, audit_head.c.last_hash)).one()
        seq, digest = int(row.last_seq), str(row.last_hash)
        sig = base64.b64encode(key.sign(_signed_part(seq, digest, at, municipality))).decode()
        anchor = Anchor(seq, digest, at, municipality, sig, public_key_pem(key))
        path = out / f"audit-anchor-{seq:012d}.json"
        conn.execute(audit_anchors.insert().values(
            seq=seq, hash=digest, at=dt.datetime.fromisoformat(at.replace("Z", "+00:00")),
            signature=sig, public_key=anchor.public_key, file_name=path.name))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(anchor.as_json(), ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)
    return path


def read_anchor(path: Path) -> Anchor:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise AnchorError(f"{path.name}: 形式が違います / unknown format {data.get('format')!r}")
        return Anchor(int(data["seq"]), str(data["hash"]), str(data["at"]), data.get("municipality"),
                      str(data["signature"]), str(data["public_key"]), source=path.name)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"{path.name}: 読み取れません / unreadable anchor: {exc}") from exc


def read_anchors(directory: str | os.PathLike[str]) -> list[Anchor]:
    """Every ``audit-anchor-*.json`` in ``directory``, by seq."""
    return sorted((read_anchor(p) for p in Path(directory).glob("audit-anchor-*.json")), key=lambda a: a.seq)
