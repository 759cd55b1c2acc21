"""Mutual TLS between nodes (相互認証, NET-2, SEC-5): the server side, which learns and checks each peer's
certificate, and the client side, which checks that it reached the node it meant to.

**Server.**  uvicorn does its TLS handshake inside asyncio and neither reports a failed handshake to the
application nor puts the client certificate into the ASGI scope.  So a node's server takes the handshake
over: :func:`protocol_class` makes a subclass of uvicorn's h11 protocol that accepts plain TCP and runs
``loop.start_tls`` itself with ``ssl.CERT_REQUIRED`` against the deployment CA.  Then:

* a failed handshake (no certificate, a certificate from another CA, an expired or not yet valid one,
  plain HTTP, a timeout) is classified and handed to :attr:`Gate.on_refused` (the node writes it to its
  audit log and its log) and the connection is closed;
* a verified certificate is checked against the CRL (:class:`~juki.net.pki.RevocationList`) and must
  name a juki node identity; otherwise likewise refused;
* an admitted connection is handed to uvicorn, with an ASGI wrapper that puts the peer into every
  request's scope: ``scope["extensions"]["tls"]`` as the ASGI TLS extension defines it
  (``client_cert_chain``, ``client_cert_name``, ``tls_version``, ``cipher_suite``) and
  ``scope["juki.peer"]`` (a :class:`Peer`).  Route rules (which tiers may call what) are then checked
  per request by the node app (:mod:`juki.net.node`).

**Client.**  :func:`client_context` presents the node's own certificate and verifies the server against
the same CA (host name included).  :func:`peer_client` returns an ``httpx.Client`` whose response hook
reads the server's certificate from the connection and refuses the response unless the certificate
names exactly the peer that was meant (tier and code) and is not revoked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from uvicorn.protocols.http.h11_impl import H11Protocol

from .pki import NodeIdentity, PkiError, RevocationList, identity_of, load_certificate, serial_text

log = logging.getLogger("juki.net.tls")

HANDSHAKE_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 2.0
"""Seconds a closing connection waits for the peer's close_notify (asyncio's default, 30 s, would hold a
server's shutdown while a peer keeps an idle pooled connection open)."""


@dataclass(frozen=True)
class TlsFiles:
    """Where a node's TLS material is (normally its node directory)."""

    cert: Path
    key: Path
    ca: Path
    crl: Path

    @classmethod
    def in_dir(cls, directory: Path | str) -> TlsFiles:
        d = Path(directory)
        return cls(cert=d / "cert.pem", key=d / "key.pem", ca=d / "ca.pem", crl=d / "crl.pem")


@dataclass(frozen=True)
class Peer:
    """The other end of a connection, as its verified certificate says."""

    identity: NodeIdentity
    serial: str
    not_after: dt.datetime
    address: str = ""

    @property
    def label(self) -> str:
        return self.identity.label


@dataclass(frozen=True)
class Refusal:
    """A connection refused before any request was served."""

    reason: str  # no_certificate, unknown_ca, expired, not_yet_valid, revoked, no_identity, not_tls, ...
    address: str
    detail: str
    peer: str = ""  # the certificate's identity, when it got that far
    serial: str = ""

    @property
    def ja(self) -> str:
        return REFUSAL_JA.get(self.reason, "TLSハンドシェイク失敗")


REFUSAL_JA = {
    "no_certificate": "クライアント証明書なし",
    "unknown_ca": "他の認証局の証明書",
    "expired": "有効期限切れの証明書",
    "not_yet_valid": "有効期間開始前の証明書",
    "revoked": "失効した証明書",
    "no_identity": "ノード識別情報のない証明書",
    "not_tls": "TLSでない接続",
    "timeout": "ハンドシェイクのタイムアウト",
    "handshake_failed": "TLSハンドシェイク失敗",
    "peer_alert": "相手方が当ノードの証明書を拒否",
}


def classify(exc: BaseException) -> str:
    """The refusal reason for a failed server-side handshake."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = exc.verify_code
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return "expired"
        if code == 9:  # X509_V_ERR_CERT_NOT_YET_VALID
            return "not_yet_valid"
        if code in (2, 18, 19, 20, 21):  # issuer unknown, self-signed, untrusted chain
            return "unknown_ca"
        return "handshake_failed"
    reason = str(getattr(exc, "reason", "") or "").upper()
    text = str(exc).upper()
    if "ALERT" in reason:  # the peer refused *our* certificate (e.g. SSLV3_ALERT_CERTIFICATE_EXPIRED)
        return "peer_alert"
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in (reason + text) or "CERTIFICATE REQUIRED" in text:
        return "no_certificate"
    if reason in ("HTTP_REQUEST", "WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL") or "HTTP_REQUEST" in text:
        return "not_tls"
    if "UNKNOWN CA" in text or "UNKNOWN_CA" in reason or "CERTIFICATE VERIFY FAILED" in text:
        return "unknown_ca"
    if "EXPIRED" in text:
        return "expired"
    return "handshake_failed"


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2+ server context that requires a client certificate from the deployment CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(files.ca))
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2+ client context: presents the node's certificate, verifies the server (host name too)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=str(files.ca))
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


def _stamp(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int], ...]:
    """What tells that a file was replaced: (inode, size, mtime in ns) of each."""
    out = []
    for p in paths:
        st = p.stat()
        out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class TlsMaterial:
    """A node's certificate, key, CA and CRL; contexts built from them.

    **Renewal without a restart.**  :meth:`refresh` (called before each handshake the node serves and each
    client it makes) notices when ``cert.pem``, ``key.pem`` or ``ca.pem`` were replaced (``juki pki issue``
    into the node directory writes a new key and certificate) and loads them: the new certificate must
    still name this node (tier and code), its key must match, and it must verify against the CA; until
    a complete, valid pair is there the node goes on with the old one.  :attr:`generation` counts the
    loads, so long-lived clients (the relay's) know to reconnect; :attr:`on_reload` is told of each one
    (the node audits it).  :meth:`reload` forces it (``juki net reload`` / SIGHUP)."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        for p in (files.cert, files.key, files.ca, files.crl):
            if not p.exists():
                raise PkiError(f"missing {p} (issue the node's certificate with `juki pki issue`)")
        self.ca_cert = load_certificate(files.ca)
        self.cert = load_certificate(files.cert)
        self.identity = identity_of(self.cert)
        self.revocations = RevocationList(files.crl, self.ca_cert)
        self._client_ctx: ssl.SSLContext | None = None
        self._server_ctx: ssl.SSLContext | None = None
        self._stamp = _stamp((files.cert, files.key, files.ca))
        self._refused: tuple[tuple[int, int, int], ...] | None = None
        self.generation = 0
        self.on_reload: Callable[[x509.Certificate, x509.Certificate], None] = lambda old, new: None

    def refresh(self) -> bool:
        """Load the files again if they changed; True when a new certificate is now in use."""
        try:
            stamp = _stamp((self.files.cert, self.files.key, self.files.ca))
        except FileNotFoundError:  # being replaced right now: keep the old material
            return False
        if stamp in (self._stamp, self._refused):  # unchanged, or already found unusable (logged once)
            return False
        return self.reload(stamp)

    def reload(self, stamp: tuple[tuple[int, int, int], ...] | None = None) -> bool:
        """Load the certificate, key and CA (see the class docstring); False (the old ones stay in use) when
        they are incomplete or do not name this node."""
        try:
            stamp = stamp or _stamp((self.files.cert, self.files.key, self.files.ca))
            ca_cert = load_certificate(self.files.ca)
            cert = load_certificate(self.files.cert)
            identity = identity_of(cert)
            if identity != self.identity:
                raise PkiError(f"{self.files.cert} names {identity.label}, not {self.identity.label}")
            cert.verify_directly_issued_by(ca_cert)
            server, client = server_context(self.files), client_context(self.files)  # the key must match
        except (OSError, ValueError, TypeError, PkiError, ssl.SSLError) as e:
            log.warning("証明書を読み込めません（従来の証明書を使います）/ cannot load the renewed certificate, "
                        "keeping the old one: %s", e)
            self._refused = stamp
            return False
        old = self.cert
        self.ca_cert, self.cert, self._stamp = ca_cert, cert, stamp
        self._server_ctx, self._client_ctx = server, client
        self.revocations = RevocationList(self.files.crl, ca_cert)
        self.generation += 1
        log.warning("証明書を更新しました / certificate reloaded: serial %s (until %s), was %s",
                    serial_text(cert.serial_number), cert.not_valid_after_utc.isoformat(), serial_text(old.serial_number))
        try:
            self.on_reload(old, cert)
        except Exception:
            log.exception("could not record the certificate reload")
        return True

    def server_context(self) -> ssl.SSLContext:
        self.refresh()
        if self._server_ctx is None:
            self._server_ctx = server_context(self.files)
        return self._server_ctx

    def client_context(self) -> ssl.SSLContext:
        self.refresh()
        if self._client_ctx is None:
            self._client_ctx = client_context(self.files)
        return self._client_ctx

    def peer_of(self, der: bytes | None, address: str = "") -> Peer | Refusal:
        """Admit or refuse the certificate a peer presented (already verified against the CA)."""
        if not der:
            return Refusal("no_certificate", address, "no certificate presented")
        cert = x509.load_der_x509_certificate(der)
        serial = serial_text(cert.serial_number)
        try:
            identity = identity_of(cert)
        except PkiError as e:
            return Refusal("no_identity", address, str(e), serial=serial)
        try:
            revoked = self.revocations.is_revoked(cert.serial_number)
        except PkiError as e:  # a broken CRL refuses everyone rather than admitting a revoked peer
            return Refusal("revoked", address, f"CRL unusable: {e}", peer=identity.label, serial=serial)
        if revoked:
            return Refusal("revoked", address, "certificate is on the CRL", peer=identity.label, serial=serial)
        return Peer(identity, serial, cert.not_valid_after_utc, address)


# ---------------------------------------------------------------------------------------------------
# Server side


@dataclass
class Gate:
    """What the server protocol needs: the TLS material and where refusals go."""

    tls: TlsMaterial
    on_refused: Callable[[Refusal], None] = field(default=lambda r: None)
    handshake_timeout: float = HANDSHAKE_TIMEOUT

    @property
    def context(self) -> ssl.SSLContext:
        """The server context of the node's current certificate (a renewed one is picked up here)."""
        return self.tls.server_context()

    def refuse(self, refusal: Refusal) -> None:
        log.warning("相互認証に失敗し接続を拒否しました / refused a peer: %s from %s (%s) %s",
                    refusal.reason, refusal.address or "?", refusal.detail, refusal.peer)
        try:
            self.on_refused(refusal)
        except Exception:  # the refusal stands even if recording it failed; say so loudly
            log.exception("could not record the refusal of %s", refusal.address)


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "")


_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class _WithPeer:
    """ASGI wrapper for one connection: every request's scope carries the peer."""

    def __init__(self, app: Callable[..., Awaitable[None]], peer: Peer, tls_info: dict[str, Any]) -> None:
        self.app = app
        self.peer = peer
        self.tls_info = tls_info

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope = dict(scope)
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = self.tls_info
            scope["extensions"] = extensions
            scope["juki.peer"] = self.peer
        await self.app(scope, receive, send)


def protocol_class(gate: Gate) -> type[H11Protocol]:
    """A uvicorn HTTP protocol that does the mutual-TLS handshake itself (see the module docstring).

    Run uvicorn with ``http=protocol_class(gate)`` and **no** ``ssl_*`` options: the listening socket
    is plain TCP and TLS starts on each accepted connection."""

    class MutualTLSProtocol(H11Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._juki_ready = False
            self._juki_pending: list[bytes] = []
            self._juki_eof = False
            assert isinstance(transport, asyncio.Transport)
            transport.pause_reading()
            task = self.loop.create_task(self._juki_handshake(transport))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        async def _juki_handshake(self, raw: asyncio.Transport) -> None:
            address = _address(raw)
            try:
                tls = await self.loop.start_tls(raw, self, gate.context, server_side=True,
                                                ssl_handshake_timeout=gate.handshake_timeout,
                                                ssl_shutdown_timeout=SHUTDOWN_TIMEOUT)
            except (TimeoutError, OSError, ConnectionError) as e:
                raw.close()
                refusal = Refusal(classify(e), address, f"{type(e).__name__}: {e}")
                await asyncio.to_thread(gate.refuse, refusal)
                return
            if tls is None:  # the peer went away during the handshake
                raw.close()
                return
            ssl_object = tls.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(True) if ssl_object is not None else None
            verdict = gate.tls.peer_of(der, address)
            if isinstance(verdict, Refusal):
                tls.abort()
                await asyncio.to_thread(gate.refuse, verdict)
                return
            pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode() if der else ""
            cipher = ssl_object.cipher() if ssl_object is not None else None
            info = {
                "server_cert": None,
                "client_cert_chain": [pem],
                "client_cert_name": verdict.identity.label,
                "client_cert_error": None,
                "tls_version": _TLS_VERSIONS.get(ssl_object.version() if ssl_object else "", None),
                "cipher_suite": None,
                "juki_cipher": cipher[0] if cipher else None,
            }
            self.app = _WithPeer(self.app, verdict, info)
            self._juki_ready = True
            super().connection_made(tls)
            pending, self._juki_pending = self._juki_pending, []
            for chunk in pending:
                super().data_received(chunk)
            if self._juki_eof:
                super().eof_received()

        def data_received(self, data: bytes) -> None:
            if not self._juki_ready:
                self._juki_pending.append(data)  # bytes that came with the end of the handshake
                return
            super().data_received(data)

        def eof_received(self) -> None:
            if not self._juki_ready:
                self._juki_eof = True
                return
            super().eof_received()

        def connection_lost(self, exc: Exception | None) -> None:
            if not getattr(self, "_juki_ready", False):
                return
            super().connection_lost(exc)

    return MutualTLSProtocol


# ---------------------------------------------------------------------------------------------------
# Client side


class PeerMismatch(httpx.TransportError):
    """The server's certificate does not name the node that was meant, or it is revoked."""


def peer_client(tls: TlsMaterial, base_url: str, expected: NodeIdentity, *, timeout: float = 10.0) -> httpx.Client:
    """An HTTPS client to ``base_url`` that presents the node's certificate and accepts only a server
    whose certificate names ``expected`` and is not on the CRL."""

    def check(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        verdict = tls.peer_of(der, base_url)
        if isinstance(verdict, Refusal):
            raise PeerMismatch(f"{base_url}: {verdict.reason}: {verdict.detail}")
        if verdict.identity != expected:
            raise PeerMismatch(f"{base_url} is {verdict.identity.label}, not {expected.label}")

    return httpx.Client(base_url=base_url, verify=tls.client_context(), timeout=timeout,
                        event_hooks={"response": [check]}, headers={"user-agent": f"juki-node/{tls.identity.label}"})
