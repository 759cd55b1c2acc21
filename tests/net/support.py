"""Serving real nodes in the test process (a uvicorn server per node in its own thread, real TLS on a
loopback port chosen by the OS), and small helpers shared by the network tests."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from juki.net.network import Network, NodeSpec
from juki.net.node import Node, Serving, node_servers
from juki.net.pki import NodeIdentity
from juki.net.tls import TlsFiles, TlsMaterial, peer_client

WAIT = 60.0


def wait_until(predicate: Callable[[], Any], *, timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy (a wait for asynchronous work, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def specs(*codes: tuple[str, str, str]) -> list[NodeSpec]:
    """Node specs on free loopback ports: (role, code, name) each."""
    return [NodeSpec(role, code, name, free_port()) for role, code, name in codes]


class Served:
    """A node served in a thread of the test process, on a socket bound before the server starts."""

    def __init__(self, node: Node, *, api: bool = False) -> None:
        self.node = node
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", node.config.port))
        api_sock = None
        if api:
            api_sock = socket.socket()
            api_sock.bind(("127.0.0.1", 0))
            self.api_url = f"http://127.0.0.1:{api_sock.getsockname()[1]}"
        self.serving: Serving = node_servers(node, node_socket=self.sock, api_socket=api_sock)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.serving.serve()), daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.node.config.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        wait_until(lambda: self.serving.started or not self.thread.is_alive(), what="server start")
        assert self.thread.is_alive(), "the node server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.serving.stop()
        self.thread.join(20)
        self.node.close()


def client_for(directory: Path, url: str, expected: NodeIdentity, *, ca_dir: Path | None = None) -> httpx.Client:
    """An mTLS client with the certificate in ``directory`` (its own CA and CRL unless ``ca_dir``)."""
    files = TlsFiles.in_dir(directory)
    if ca_dir is not None:
        files = TlsFiles(files.cert, files.key, ca_dir / "ca.pem", ca_dir / "crl.pem")
    return peer_client(TlsMaterial(files), url, expected, timeout=10)


def audit_rows(node: Node, action: str) -> list[dict[str, Any]]:
    with node.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT user_id, terminal, outcome, subject_ids, detail FROM audit_entries "
                                    "WHERE action = :a ORDER BY seq"), {"a": action}).all()
    return [{"user_id": r.user_id, "terminal": r.terminal, "outcome": r.outcome,
             "subjects": json.loads(r.subject_ids), "detail": json.loads(r.detail)} for r in rows]


def agree(net: Network, codes: list[str]) -> bool:
    """Whether the files of ``codes`` hold the same records (住民票コード, state, origin, 8-item digest)."""
    from juki.domain.identity import RecordFile

    prints = []
    for code in codes:
        node = net.node(code)
        try:
            with node.engine.connect() as conn:
                prints.append((node.store.fingerprint(conn, RecordFile.IDENTITY),
                               node.store.fingerprint(conn, RecordFile.FUHYO)))
        finally:
            node.close()
    return all(p == prints[0] for p in prints[1:])


def files(net: Network, code: str) -> dict[tuple[str, str], tuple[str, str, str]]:
    """A node's file: (file, 住民票コード) → (state, origin, 8-item digest)."""
    from juki.domain.identity import RecordFile

    node = net.node(code)
    try:
        with node.engine.connect() as conn:
            return {(f.value, c): (state, origin, digest) for f in RecordFile
                    for c, state, origin, digest in node.store.fingerprint(conn, f)}
    finally:
        node.close()


def assert_consistent(net: Network, municipalities: list[str], receivers: list[str]) -> None:
    """Every record at a prefecture or the national server is exactly the record in the CS file of the
    municipality it came from, and every CS record reached its prefecture and the national server."""
    from juki.net.node import prefecture_of

    cs = {m: files(net, m) for m in municipalities}
    held = {r: files(net, r) for r in receivers}
    for r, records in held.items():
        for key, (state, origin, digest) in records.items():
            assert cs[origin].get(key) == (state, origin, digest), (r, key)
    for m, records in cs.items():
        for key in records:
            for r in receivers:
                if r == prefecture_of(m) or r == "000000":
                    assert key in held[r], (m, r, key)


def applied_everywhere(net: Network, municipalities: list[str], receivers: list[str]) -> bool:
    """Whether every receiver (of those that get a municipality's notices) applied everything its CS sent."""
    from juki.net.node import prefecture_of

    heads = {}
    for m in municipalities:
        s = net.status(m)
        if s["intake"]["pending"]:
            return False
        heads[m] = s["outbound"]
    for r in receivers:
        applied = net.status(r)["applied"]
        for m in municipalities:
            if (r == prefecture_of(m) or r == "000000") and applied.get(m, 0) != heads[m]:
                return False
    return True
