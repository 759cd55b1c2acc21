"""The key ring for the 個人番号 at rest (SEC-2): AES-256-GCM encryption and an HMAC blind index.

The keys live outside the database, in a JSON file readable by the service account only (mode 0600)::

    {"active": "k1", "keys": {"k1": "<base64 32 bytes>"}, "index_key": "<base64 32 bytes>"}

* :meth:`Keyring.encrypt` returns ``(nonce || ciphertext+tag, key_id)``; the associated data (AAD) binds a
  ciphertext to its row -- the store uses the person_id -- so a ciphertext copied onto another person's
  row does not decrypt.
* :meth:`Keyring.blind_index` is HMAC-SHA256 (hex) under a separate ``index_key``: equality search on
  the 個人番号 without decrypting.  The index key is never rotated by :meth:`rotate` (rotating it would
  require rebuilding every index; insert-only history rows could not be rebuilt).
* :meth:`Keyring.rotate` adds a new key and makes it active; old keys stay for decryption (history rows
  are insert-only and keep their original key id forever).

Where the file is: ``$JUKI_KEY_FILE``, else next to the SQLite database (``<db folder>/juki-keys.json``),
else ``./var/juki-keys.json`` (:func:`default_key_file`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_ENV = "JUKI_KEY_FILE"
NONCE_BYTES = 12
KEY_BYTES = 32


class KeyringError(Exception):
    """The key file is missing a key, malformed, or readable by others."""


def default_key_file(database_url: str | None = None) -> Path:
    """``$JUKI_KEY_FILE``; else ``juki-keys.json`` beside a SQLite database file; else ``./var/juki-keys.json``."""
    env = os.environ.get(KEY_FILE_ENV, "").strip()
    if env:
        return Path(env)
    if database_url:
        from sqlalchemy.engine import make_url

        u = make_url(database_url)
        if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
            return Path(u.database).resolve().parent / "juki-keys.json"
    return Path.cwd() / "var" / "juki-keys.json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise KeyringError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"{what} must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def _aad(aad: str | bytes) -> bytes:
    return aad.encode("utf-8") if isinstance(aad, str) else aad


class Keyring:
    """Encryption keys (by id) with one active key, and the blind-index key."""

    def __init__(
        self, keys: dict[str, bytes], active: str, index_key: bytes, path: Path | None = None
    ) -> None:
        if active not in keys:
            raise KeyringError(f"active key {active!r} is not in the key ring")
        for kid, key in keys.items():
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} must be {KEY_BYTES} bytes")
        if len(index_key) != KEY_BYTES:
            raise KeyringError(f"index key must be {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._aead = {kid: AESGCM(k) for kid, k in self._keys.items()}
        self._active = active
        self._index_key = index_key
        self.path = path

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def generate(cls, path: Path | None = None) -> Keyring:
        """A fresh key ring (key ``k1``), in memory; written to ``path`` only via :meth:`save`."""
        return cls({"k1": secrets.token_bytes(KEY_BYTES)}, "k1", secrets.token_bytes(KEY_BYTES), path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        p = Path(path)
        mode = p.stat().st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"key file {p} is accessible by group/others (mode {oct(mode & 0o777)}); chmod 600 it"
            )
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            keys = {kid: _unb64(v, f"key {kid!r}") for kid, v in data["keys"].items()}
            return cls(keys, data["active"], _unb64(data["index_key"], "index_key"), p)
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise KeyringError(f"key file {p} is malformed: {exc}") from exc

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str] | None = None) -> Keyring:
        """Load the key file at ``path`` (default :func:`default_key_file`), creating it (0600) if absent."""
        p = Path(path) if path is not None else default_key_file()
        if p.exists():
            return cls.load(p)
        ring = cls.generate(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created concurrently by another process: use theirs
            return cls.load(p)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(ring._to_json())
        return ring

    def _to_json(self) -> str:
        return json.dumps(
            {
                "active": self._active,
                "keys": {kid: _b64(k) for kid, k in self._keys.items()},
                "index_key": _b64(self._index_key),
            },
            indent=2,
        )

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the key ring atomically with mode 0600 (to ``path`` or where it was loaded from)."""
        p = Path(path) if path is not None else self.path
        if p is None:
            raise KeyringError("this key ring has no file; pass a path")
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".juki-keys.", dir=p.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self._to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.path = p

    # -- use ----------------------------------------------------------------------------------------

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def encrypt(self, number: str, aad: str | bytes) -> tuple[bytes, str]:
        """``(nonce || AES-GCM ciphertext+tag, key_id)`` of ``number`` under the active key."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = self._aead[self._active].encrypt(nonce, number.encode("utf-8"), _aad(aad))
        return nonce + ct, self._active

    def decrypt(self, ciphertext: bytes, key_id: str, aad: str | bytes) -> str:
        """The plaintext; raises ``cryptography.exceptions.InvalidTag`` if the AAD or data do not match."""
        try:
            aead = self._aead[key_id]
        except KeyError:
            raise KeyringError(
                f"unknown key id {key_id!r}: the key file lacks a key the database uses"
            ) from None
        data = bytes(ciphertext)
        return aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(aad)).decode("utf-8")

    def blind_index(self, number: str) -> str:
        """HMAC-SHA256 (hex) of ``number`` under the index key: stable, for equality search."""
        return hmac.new(self._index_key, number.encode("utf-8"), hashlib.sha256).hexdigest()

    def rotate(self) -> str:
        """Add a new key, make it active, save the file (if any); return the new key id."""
        n = len(self._keys) + 1
        while f"k{n}" in self._keys:
            n += 1
        kid = f"k{n}"
        key = secrets.token_bytes(KEY_BYTES)
        self._keys[kid] = key
        self._aead[kid] = AESGCM(key)
        previous = self._active
        self._active = kid
        if self.path is not None:
            try:
                self.save()
            except BaseException:
                self._active = previous
                del self._keys[kid], self._aead[kid]
                raise
        return kid
