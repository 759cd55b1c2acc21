"""A 住基ネット node: its configuration, peers, database, background workers and HTTPS app.

One package, three roles (``juki serve --role municipality|prefecture|national --node DIR``):

* **municipality** (市町村CS): the register's own database; the CS takes every committed change from
  the register's outbox into its 本人確認情報 file and sends the 8-item notices to its prefecture;
* **prefecture** (都道府県サーバ + 附票都道府県サーバ): receives the notices of the municipalities in the
  prefecture, checks and applies them, forwards them to the national server;
* **national** (全国サーバ, 機構): receives every prefecture's notices.

A node lives in a directory (``node.json``, its certificate ``cert.pem``/``key.pem``, the deployment's
``ca.pem``/``crl.pem``, ``peers.json``, the 個人番号 key file ``keys.json`` and, by default, its SQLite
database ``node.db``).  Nodes talk only over HTTPS with mutual TLS (:mod:`juki.net.tls`); no node reads
another's database.

**Features.**  The node's routes come from the modules named in :data:`FEATURES` (``juki.net.<name>``).
Each module exposes:

* ``ROLES`` -- the node roles that mount it (a frozenset of :class:`~juki.net.pki.Tier`);
* ``RULES`` -- route name → :class:`Allow` (which peer tiers may call the route; an app with a route
  that has no rule refuses to build, as the register's API does);
* ``router(node) -> APIRouter``;
* optionally ``workers(node) -> list[Worker]``: background loops started and stopped with the server.

Every request is made by a peer whose certificate the TLS layer verified (``scope["juki.peer"]``); a peer
of a tier the route does not allow gets 403 and the refusal is written to the node's audit log, like a
refused TLS handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from juki import __version__
from juki.adapters.db.engine import make_engine
from juki.adapters.keys import Keyring
from juki.api.common import error_response, refusal_response
from juki.api.security import api_routes
from juki.clock import Clock, utcnow
from juki.domain.errors import (
    Forbidden,
    JukiError,
    NotFound,
    Problem,
)
from juki.domain.identifiers import with_lg_check_digit

from .pki import NATIONAL_CODE, NodeIdentity, Tier
from .tls import Gate, Peer, Refusal, TlsFiles, TlsMaterial, peer_client

if TYPE_CHECKING:
    from juki.audit.log import AuditLog
    from juki.config import Register

    from .apply import Applier
    from .cs import CsIntake
    from .relay import Relay
    from .store import NetStore

log = logging.getLogger("juki.net")

FEATURES: tuple[str, ...] = ("status", "updates", "numbers", "transfer", "cards", "sending", "search", "consistency",
                             "schedule", "housekeeping", "wide_area")
"""Modules under ``juki.net`` that add routes (and workers) to a node; net-svc adds its own here."""

NODE_ROLES = (Tier.MUNICIPALITY, Tier.PREFECTURE, Tier.NATIONAL)
SYSTEM_USER = "system:jukinet"
"""Who the audit log names for what a node does by itself (its workers, timers, reloads)."""


def prefecture_of(code: str) -> str:
    """The 地方公共団体コード of the prefecture a municipality (or a ward) belongs to: 011002 → 010006."""
    return with_lg_check_digit(code[:2] + "000")


# ---------------------------------------------------------------------------------------------------
# Configuration


@dataclass
class NodeConfig:
    """``node.json`` in the node directory (paths in it are absolute or relative to the working directory)."""

    dir: Path
    role: Tier
    code: str
    name: str = ""
    host: str = "127.0.0.1"
    port: int = 9000
    database_url: str = ""  # default: sqlite:///<dir>/node.db
    api_host: str = "127.0.0.1"
    api_port: int | None = None  # municipality: also serve the register's API (plain HTTP, staff sessions)
    poll_seconds: float = 0.1  # how often idle workers look for work (the register's outbox, the inbox)
    key_file: str = ""  # the 個人番号 key file; default <dir>/keys.json (a municipality shares its register's)
    consistency_days: float = 365.0  # municipality: the 整合性確認 timer's period in days (0: off; NET-10)
    consistency_repair: bool = False  # municipality: the timer also re-sends what differs
    housekeeping_at: str = "02:00"  # every role: daily retention etc. at HH:MM JST ("": off; PRF-4)
    transport_keep_days: int = 30  # PRF-4: days a decided/acknowledged notice stays whole in the inbox/outbound
    cert_key_file: str = ""  # municipality: the certificate-signing key (Ed25519); default <dir>/cert-key.pem
    mayor: str = ""  # municipality: the issuer line on its certificates ("函館市長　…"); default $JUKI_MAYOR or "<name>長"

    FILE = "node.json"

    def __post_init__(self) -> None:
        self.dir = Path(self.dir)
        self.role = Tier(self.role)
        if self.role not in NODE_ROLES:
            raise ValueError(f"a node's role is municipality, prefecture or national, not {self.role}")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.dir / 'node.db').resolve()}"
        from .housekeeping import time_of_day

        time_of_day(self.housekeeping_at)  # refuses anything but HH:MM or ""
        from juki.domain.transport_retention import keep_period

        keep_period(self.transport_keep_days)  # refuses anything but 1..365 days

    @property
    def identity(self) -> NodeIdentity:
        return NodeIdentity(self.role, self.code)

    @property
    def keys(self) -> Path:
        return Path(self.key_file) if self.key_file else self.dir / "keys.json"

    @property
    def cert_key(self) -> Path:
        """The key that signs this municipality's certificates (広域交付 included): its own, in the node
        directory unless node.json names another file (``juki cert public-key --node DIR`` prints its
        public half)."""
        return Path(self.cert_key_file) if self.cert_key_file else self.dir / "cert-key.pem"

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @classmethod
    def load(cls, directory: Path | str) -> NodeConfig:
        d = Path(directory)
        path = d / cls.FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"no {cls.FILE} in {d} (create the node with `juki net init`)") from None
        return cls(dir=d, **data)

    def save(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k != "dir"}
        data["role"] = self.role.value
        if self.database_url == f"sqlite:///{(self.dir / 'node.db').resolve()}":
            data["database_url"] = ""
        path = self.dir / self.FILE
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path


@dataclass(frozen=True)
class PeerEntry:
    """A node this node may call: its identity and where it listens."""

    tier: Tier
    code: str
    url: str
    name: str = ""

    @property
    def identity(self) -> NodeIdentity:
        return NodeIdentity(Tier(self.tier), self.code)


class PeerDirectory:
    """``peers.json`` in the node directory: ``{"peers": [{"tier", "code", "url", "name"}, ...]}``.
    Re-read when the file changes, so a peer can be added without a restart."""

    FILE = "peers.json"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._peers: dict[str, PeerEntry] = {}

    def _load(self) -> dict[str, PeerEntry]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._mtime:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._peers = {p["code"]: PeerEntry(Tier(p["tier"]), p["code"], p["url"], p.get("name", ""))
                           for p in data.get("peers", [])}
            self._mtime = mtime
        return self._peers

    def get(self, code: str) -> PeerEntry:
        try:
            return self._load()[code]
        except KeyError:
            raise NotFound(Problem("peer", "NET-2/peer", f"通信先 {code} はノード一覧（{self.path}）にありません。",
                                   f"Peer {code} is not in the peer directory ({self.path}).")) from None

    def put(self, entry: PeerEntry) -> None:
        peers = {**self._load(), entry.code: entry}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"peers": [{"tier": p.tier.value, "code": p.code, "url": p.url, "name": p.name}
                          for p in sorted(peers.values(), key=lambda p: (p.tier.value, p.code))]}
        self.path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        self._mtime = None


# ---------------------------------------------------------------------------------------------------
# Rules per route


@dataclass(frozen=True)
class Allow:
    """Which peers may call a route: their tiers, and for municipalities optionally only those of the
    node's own prefecture (PRF-2: a prefecture takes notices only from its own municipalities)."""

    tiers: frozenset[Tier]
    own_prefecture: bool = False

    def admits(self, peer: NodeIdentity, node: Node) -> bool:
        if peer.tier not in self.tiers:
            return False
        if self.own_prefecture and peer.tier is Tier.MUNICIPALITY:
            return prefecture_of(peer.code) == node.code
        return True

    def describe(self) -> str:
        tiers = "/".join(sorted(t.value for t in self.tiers))
        return f"{tiers} (own prefecture)" if self.own_prefecture else tiers


def allow(*tiers: Tier, own_prefecture: bool = False) -> Allow:
    return Allow(frozenset(tiers), own_prefecture)


# ---------------------------------------------------------------------------------------------------
# Background work


class Worker:
    """A background loop of a node: ``step()`` does one round of work and returns how long to sleep
    before the next (0 to go on at once).  ``wake()`` cuts the sleep short (e.g. the CS intake wakes
    the relay when it wrote new notices).  An exception is logged and the loop goes on after a pause."""

    def __init__(self, name: str, step: Callable[[], float], *, pause_on_error: float = 2.0) -> None:
        self.name = name
        self.step = step
        self.pause_on_error = pause_on_error
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"juki-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.step()
            except Exception:
                log.exception("worker %s failed; retrying", self.name)
                delay = self.pause_on_error
            if self._stop.is_set():
                break
            if delay > 0:
                self._wake.wait(delay)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


# ---------------------------------------------------------------------------------------------------
# The node


class Node:
    """One node: configuration, database, keys, TLS material, peers, audit log, workers."""

    def __init__(self, config: NodeConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or utcnow
        self.workers: dict[str, Worker] = {}
        self._started = False

    def now(self) -> Any:
        return self.clock()

    @classmethod
    def open(cls, directory: Path | str, **kwargs: Any) -> Node:
        return cls(NodeConfig.load(directory), **kwargs)

    @property
    def role(self) -> Tier:
        return self.config.role

    @property
    def code(self) -> str:
        return self.config.code

    @property
    def name(self) -> str:
        return self.config.name or self.config.code

    @property
    def identity(self) -> NodeIdentity:
        return self.config.identity

    @property
    def dir(self) -> Path:
        return self.config.dir

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.config.database_url)

    @cached_property
    def keyring(self) -> Keyring:
        """The 個人番号 keys of this node (``keys.json``): every tier keeps the number encrypted at rest."""
        return Keyring.load_or_create(self.config.keys)

    @cached_property
    def tls(self) -> TlsMaterial:
        material = TlsMaterial(TlsFiles.in_dir(self.dir))
        if material.identity != self.identity:
            raise ValueError(f"{self.dir}/cert.pem names {material.identity.label}, but the node is {self.identity.label}")
        material.on_reload = self.audit_reload
        return material

    @cached_property
    def peers(self) -> PeerDirectory:
        return PeerDirectory(self.dir / PeerDirectory.FILE)

    @cached_property
    def audit(self) -> AuditLog:
        from juki.audit.log import AuditLog, AuditPolicy

        return AuditLog(AuditPolicy.from_env(), clock=self.clock)

    @cached_property
    def register(self) -> Register:
        """The municipality's register (same database and key file as its CS); at a prefecture the staff
        side of it (operators, sessions, rights, audit) for the prefecture's own API (provision, PRF-5..7)."""
        if self.role not in (Tier.MUNICIPALITY, Tier.PREFECTURE):
            raise RuntimeError("only a municipality or prefecture node has a register")
        from juki.config import Register, Settings

        mayor: dict[str, Any] = {"mayor": self.config.mayor.strip()} if self.config.mayor.strip() else {}  # else JUKI_MAYOR
        reg = Register(Settings(database_url=self.config.database_url, key_file=self.config.keys, lg_code=self.code,
                                cert_key_file=self.config.cert_key, **mayor))
        reg.clock = self.clock
        return reg

    @cached_property
    def store(self) -> NetStore:
        from .store import NetStore

        return NetStore(self.engine, self.keyring, self.clock)

    @cached_property
    def intake(self) -> CsIntake:
        """The CS intake of the register's outbox (municipality only)."""
        from .cs import CsIntake

        j = self.register.jurisdiction
        return CsIntake(self.store, origin=self.code, municipality=j.name, prefecture=j.prefecture,
                        on_notices=lambda: self.wake("relay"))

    @cached_property
    def applier(self) -> Applier:
        """Applies received notices (prefecture and national); a prefecture forwards what it applied."""
        from .apply import Applier

        return Applier(self.store, forward=self.role is Tier.PREFECTURE, node_code=self.code,
                       on_forwarded=lambda: self.wake("relay"))

    @cached_property
    def relay(self) -> Relay:
        """Sends the outgoing stream to :attr:`upstream`."""
        from .relay import Relay

        upstream = self.upstream
        if upstream is None:
            raise RuntimeError("the national server has no upstream")
        return Relay(self.store, source=self.code, destination=upstream, client=lambda: self.client(upstream),
                     generation=lambda: self.tls.generation)

    @property
    def upstream(self) -> str | None:
        """Where this node's notices go: a municipality's prefecture; a prefecture's national server."""
        if self.role is Tier.MUNICIPALITY:
            return prefecture_of(self.code)
        if self.role is Tier.PREFECTURE:
            return NATIONAL_CODE
        return None

    def migrate(self) -> None:
        """Create or migrate the node's database (every role runs the same migrations)."""
        from juki.adapters.db.migrate import upgrade

        self.dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.config.database_url)

    def client(self, peer_code: str, *, timeout: float = 10.0) -> httpx.Client:
        """An HTTPS client to a peer from the directory, presenting this node's certificate and accepting
        only a server whose certificate names that peer (tier and code) and is not revoked."""
        peer = self.peers.get(peer_code)
        return peer_client(self.tls, peer.url, peer.identity, timeout=timeout)

    # -- audit -------------------------------------------------------------------------------------

    def audit_refusal(self, refusal: Refusal) -> None:
        """A connection refused at the TLS layer, in the node's audit log (NET-2, SEC-3)."""
        self.audit.record_now(
            self.engine, user_id=refusal.peer or "(未認証)", terminal=refusal.address[:64], action="net.refused",
            outcome="denied", detail={"reason": refusal.reason, "reason_ja": refusal.ja,
                                      "detail": refusal.detail[:500], "serial": refusal.serial},
        )

    def audit_reload(self, old: Any, new: Any) -> None:
        """A renewed certificate taken into use without a restart (NET-2, SEC-5), in the node's audit log."""
        from .pki import serial_text

        self.audit.record_now(self.engine, user_id=SYSTEM_USER, terminal=self.code, action="net.certificate.reload",
                              detail={"old_serial": serial_text(old.serial_number), "new_serial": serial_text(new.serial_number),
                                      "not_after": new.not_valid_after_utc.isoformat()})

    def audit_peer(self, peer: Peer, action: str, *, outcome: str = "allowed", subjects: Iterable[str] = (),
                   detail: dict[str, Any] | None = None) -> None:
        self.audit.record_now(self.engine, user_id=peer.label, terminal=peer.address[:64], action=action,
                              outcome=outcome, subject_ids=list(subjects), detail=detail or {})

    # -- workers -----------------------------------------------------------------------------------

    def add_worker(self, worker: Worker) -> None:
        self.workers[worker.name] = worker
        if self._started:
            worker.start()

    def wake(self, name: str) -> None:
        w = self.workers.get(name)
        if w is not None:
            w.wake()

    def start(self) -> None:
        """Start the background workers of every feature mounted for this role."""
        if self._started:
            return
        self._started = True
        for module in features_for(self.role):
            make = getattr(module, "workers", None)
            if make is not None:
                for w in make(self):
                    self.workers.setdefault(w.name, w)
        for w in self.workers.values():
            w.start()

    def stop(self) -> None:
        for w in self.workers.values():
            w.stop()
        self._started = False
        if "relay" in self.__dict__:
            self.relay.close()

    def close(self) -> None:
        self.stop()
        if "register" in self.__dict__:
            self.register.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


def features_for(role: Tier) -> list[ModuleType]:
    modules = [importlib.import_module(f"juki.net.{name}") for name in FEATURES]
    return [m for m in modules if role in m.ROLES]


def peer_of(request: Request) -> Peer:
    """The verified peer of a request (set by the TLS layer; the guard refuses requests without one)."""
    peer = request.scope.get("juki.peer")
    assert isinstance(peer, Peer)
    return peer


def create_node_app(node: Node) -> FastAPI:
    """The node's HTTPS app: the routes of every feature mounted for its role, behind the peer guard."""
    features = features_for(node.role)
    rules: dict[str, Allow] = {}
    for feature in features:
        rules.update(feature.RULES)

    def guard(request: Request) -> None:
        peer = request.scope.get("juki.peer")
        if not isinstance(peer, Peer):  # served without the mutual-TLS protocol: refuse everything
            raise Forbidden(Problem("peer", "NET-2/mutual-tls", "相互認証されていない接続です。",
                                    "The connection is not mutually authenticated."))
        rule = rules[request.scope["route"].name]
        if not rule.admits(peer.identity, node):
            raise Forbidden(Problem(
                "peer", "NET-2/tier",
                f"{peer.identity.tier.ja} {peer.identity.code} はこの機能を利用できません（許可: {rule.describe()}）。",
                f"{peer.label} may not call this (allowed: {rule.describe()})."))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        node.start()
        try:
            yield
        finally:
            await asyncio.to_thread(node.stop)

    app = FastAPI(title=f"juki 住基ネット {node.role.ja} {node.name}", version=__version__,
                  description="相互認証（TLSクライアント証明書）されたノード間の API。 Node-to-node API over mutual TLS.",
                  dependencies=[Depends(guard)], lifespan=lifespan)
    app.state.node = node
    app.state.rules = rules

    @app.exception_handler(JukiError)
    async def _jukierror(request: Request, exc: JukiError) -> JSONResponse:
        if isinstance(exc, Forbidden):
            peer = request.scope.get("juki.peer")
            user = peer.label if isinstance(peer, Peer) else "(未認証)"
            address = peer.address if isinstance(peer, Peer) else str(request.client.host if request.client else "")
            await asyncio.to_thread(
                node.audit.record_now, node.engine, user_id=user, terminal=address[:64], action="net.denied",
                outcome="denied", detail={"method": request.method, "path": request.url.path,
                                          "rules": [p.rule for p in exc.problems]})
            log.warning("refused %s %s to %s: %s", request.method, request.url.path, user, exc.problems[0].en)
        return refusal_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(".".join(str(x) for x in e["loc"][1:]) or "body", "NET-3/format",
                            "入力内容が正しくありません: " + e["msg"], e["msg"]) for e in exc.errors()]
        return error_response(422, problems, "invalid_input")

    for feature in features:
        app.include_router(feature.router(node))
    missing = sorted({r.name for r in api_routes(app.routes)} - set(rules))
    if missing:
        raise RuntimeError(f"node routes without a peer rule (add them to the feature module's RULES): {missing}")
    return app


# ---------------------------------------------------------------------------------------------------
# Serving


@dataclass
class Serving:
    """The servers of one node process (its mutual-TLS listener and, for a municipality, the register's
    API), started and stopped together; ``sockets`` are pre-bound listeners (tests bind port 0)."""

    servers: list[Any] = field(default_factory=list)
    sockets: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for s in self.servers:
            s.should_exit = True

    @property
    def started(self) -> bool:
        return bool(self.servers) and all(s.started for s in self.servers)

    async def serve(self) -> None:
        await asyncio.gather(*(s.serve(sockets=[sock] if sock is not None else None)
                               for s, sock in zip(self.servers, self.sockets, strict=True)))


def node_servers(node: Node, *, node_socket: Any = None, api_socket: Any = None) -> Serving:
    """uvicorn servers for ``node`` (not started): the node app on its mutual-TLS listener and, for a
    municipality or a prefecture with ``api_port`` (or ``api_socket``), the register's API on plain HTTP
    (at a prefecture: its operators' sessions and the provision routes)."""
    import uvicorn

    from .tls import protocol_class

    serving = Serving()

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:  # one signal stops every server of the node
            for s in serving.servers:
                uvicorn.Server.handle_exit(s, sig, frame)

    gate = Gate(node.tls, on_refused=node.audit_refusal)
    cfg = uvicorn.Config(create_node_app(node), host=node.config.host, port=node.config.port,
                         http=protocol_class(gate), log_level="warning", lifespan="on")
    serving.servers.append(_Server(cfg))
    serving.sockets.append(node_socket)
    if node.role in (Tier.MUNICIPALITY, Tier.PREFECTURE) and (node.config.api_port or api_socket is not None):
        from juki.api.app import create_app

        if node.role is Tier.PREFECTURE:  # the operators' API reaches the prefecture's services (api/provision.py)
            from .services import services

            node.register.net = services(node)

        api = uvicorn.Config(create_app(node.register), host=node.config.api_host, port=node.config.api_port or 0,
                             log_level="warning")
        serving.servers.append(_Server(api))
        serving.sockets.append(api_socket)
    return serving


def run(node: Node) -> None:
    """Serve ``node`` until interrupted (``juki serve --role …``).  SIGHUP reloads the node's certificate
    and key (a renewed certificate is also picked up by itself on the next connection)."""
    import signal

    node.migrate()

    async def serve() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, node.tls.reload)
        await node_servers(node).serve()

    asyncio.run(serve())
