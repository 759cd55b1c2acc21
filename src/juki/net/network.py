"""A whole network of nodes laid out under one directory, each node a separate process: what ``juki demo``
starts on loopback, and what the integration tests and the network benchmark start too.

Layout of ``root``::

    network.json            the nodes (role, code, name, URL, register API port) -- `juki net status --network`
    ca/                     the deployment CA (juki pki)
    operator/               an operator certificate (tier operator) for status reads and record views
    <role>-<code>/          one node directory each (node.json, cert.pem, key.pem, ca.pem, crl.pem,
                            peers.json listing every other node, keys.json, node.db, node.log)

Each node process is ``python -m juki.cli.main serve --role R --node DIR``; nothing is shared between them
but the CA's certificate and CRL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from .node import Node, NodeConfig, PeerDirectory, PeerEntry
from .pki import NATIONAL_CODE, DeploymentCA, NodeIdentity, Tier
from .tls import TlsFiles, TlsMaterial, peer_client

OPERATOR = "operator"


@dataclass(frozen=True)
class NodeSpec:
    """One node of a network."""

    role: str
    code: str
    name: str
    port: int
    api_port: int | None = None
    database_url: str = ""
    key_file: str = ""
    cert_key_file: str = ""  # a municipality's certificate-signing key; default <node dir>/cert-key.pem

    @property
    def tier(self) -> Tier:
        return Tier(self.role)

    @property
    def dirname(self) -> str:
        return f"{self.role}-{self.code}"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


DEMO_NODES: tuple[NodeSpec, ...] = (
    NodeSpec("municipality", "011002", "札幌市", 9001, api_port=8000),
    NodeSpec("municipality", "012025", "函館市", 9002),
    NodeSpec("municipality", "121002", "千葉市", 9003),
    NodeSpec("prefecture", "010006", "北海道", 9101),
    NodeSpec("prefecture", "120006", "千葉県", 9102),
    NodeSpec("national", NATIONAL_CODE, "全国サーバ", 9201),
)
"""The demo: two municipalities in 北海道, one in 千葉県, both prefectures and the national server."""


class NodeFailed(RuntimeError):
    """A node process exited or did not become ready."""


class Network:
    """The nodes of one directory (see the module docstring)."""

    def __init__(self, root: Path | str, specs: Iterable[NodeSpec]) -> None:
        self.root = Path(root)
        self.specs = {s.code: s for s in specs}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @classmethod
    def load(cls, root: Path | str) -> Network:
        data = json.loads((Path(root) / "network.json").read_text(encoding="utf-8"))
        return cls(root, [NodeSpec(**{k: v for k, v in n.items() if k != "url"}) for n in data["nodes"]])

    # -- layout ------------------------------------------------------------------------------------

    def dir(self, code: str) -> Path:
        return self.root / self.specs[code].dirname

    @property
    def ca(self) -> DeploymentCA:
        return DeploymentCA(self.root / "ca")

    def build(self, *, ca_name: str = "juki demo") -> Network:
        """Create what is missing: the CA, each node's directory, configuration, database and
        certificate, the peer directories (every node knows every other) and the operator certificate."""
        self.root.mkdir(parents=True, exist_ok=True)
        ca = self.ca if (self.root / "ca" / "ca.pem").exists() else DeploymentCA.init(self.root / "ca", ca_name)
        for spec in self.specs.values():
            d = self.dir(spec.code)
            config = NodeConfig(dir=d, role=spec.tier, code=spec.code, name=spec.name, port=spec.port,
                                api_port=spec.api_port, database_url=spec.database_url, key_file=spec.key_file,
                                cert_key_file=spec.cert_key_file)
            config.save()
            if not (d / "cert.pem").exists():
                ca.issue(NodeIdentity(spec.tier, spec.code), d, name=spec.name)
            peers = PeerDirectory(d / PeerDirectory.FILE)
            for other in self.specs.values():
                if other.code != spec.code:
                    peers.put(PeerEntry(other.tier, other.code, other.url, other.name))
            Node(config).migrate()
        if not (self.root / OPERATOR / "cert.pem").exists():
            ca.issue(NodeIdentity(Tier.OPERATOR, OPERATOR), self.root / OPERATOR, name="運用者")
        data = {"nodes": [{**asdict(s), "url": s.url} for s in self.specs.values()]}
        (self.root / "network.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return self

    def node(self, code: str, **kwargs: Any) -> Node:
        """The node's objects in this process (for reading its database, as its operator would)."""
        return Node.open(self.dir(code), **kwargs)

    # -- processes ---------------------------------------------------------------------------------

    def start(self, code: str, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        spec = self.specs[code]
        d = self.dir(code)
        log = open(d / "node.log", "ab")
        cmd = [sys.executable, "-m", "juki.cli.main", "serve", "--role", spec.role, "--node", str(d)]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        log.close()
        self.processes[code] = proc
        return proc

    def operator_client(self, code: str, *, timeout: float = 10.0) -> httpx.Client:
        spec = self.specs[code]
        tls = TlsMaterial(TlsFiles.in_dir(self.root / OPERATOR))
        return peer_client(tls, spec.url, NodeIdentity(spec.tier, spec.code), timeout=timeout)

    def status(self, code: str) -> dict[str, Any]:
        with self.operator_client(code) as c:
            r = c.get("/net/v1/status")
            r.raise_for_status()
            result: dict[str, Any] = r.json()
            return result

    def wait_ready(self, code: str, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            proc = self.processes.get(code)
            if proc is not None and proc.poll() is not None:
                raise NodeFailed(f"node {code} exited with {proc.returncode}:\n{self.log_tail(code)}")
            try:
                self.status(code)
                return
            except (httpx.HTTPError, OSError) as e:
                last = e
                time.sleep(0.1)
        raise NodeFailed(f"node {code} not ready after {timeout} s ({last}):\n{self.log_tail(code)}")

    def start_all(self, codes: Iterable[str] | None = None) -> None:
        codes = list(codes or self.specs)
        for code in codes:
            self.start(code)
        for code in codes:
            self.wait_ready(code)

    def stop(self, code: str, *, kill: bool = False, timeout: float = 15.0) -> None:
        """Stop a node: SIGTERM (a clean shutdown) or, with ``kill``, SIGKILL (a crash)."""
        proc = self.processes.pop(code, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def stop_all(self) -> None:
        for code in list(self.processes):
            with contextlib.suppress(Exception):
                self.stop(code)

    def log_tail(self, code: str, lines: int = 40) -> str:
        try:
            text = (self.dir(code) / "node.log").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
