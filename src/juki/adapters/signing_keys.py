"""Ed25519 signing keys kept in PEM files outside the database (audit anchors, certificates).

A key file is created on first use with mode 0600 and refused if readable by group or others, like the
個人番号 key ring (:mod:`juki.adapters.keys`).  Its public half is what verifiers are given.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SigningKeyError(Exception):
    """The key file is missing, unreadable, readable by others, or not an Ed25519 key."""


def load_or_create(path: Path, *, create: bool = True, what: tuple[str, str] = ("署名鍵", "signing key")) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``, created (0600) if absent and ``create``.  ``what`` names the
    key in messages (Japanese, English)."""
    ja, en = what
    p = Path(path)
    if not p.exists():
        if not create:
            raise SigningKeyError(f"{ja}がありません / {en} not found: {p}")
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created concurrently by another process: use theirs
            return load_or_create(p, create=False, what=what)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return key
    mode = p.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"{ja} {p} が他者から読めます (mode {oct(mode & 0o777)}); chmod 600 / "
                              f"{en} file {p} is accessible by group/others")
    loaded = serialization.load_pem_private_key(p.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningKeyError(f"{p} は Ed25519 の鍵ではありません / is not an Ed25519 key")
    return loaded


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise SigningKeyError(f"公開鍵（PEM）として読めません / not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("公開鍵が Ed25519 ではありません / the public key is not Ed25519")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A short, stable name of a key pair: the first 16 hex digits of SHA-256 over the raw public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]
