"""Mutual TLS between real nodes on loopback (NET-2, SEC-5): a peer without a valid certificate of the
deployment is refused at the handshake, a peer of the wrong tier at the route, and every refusal is in
the node's audit log; the server knows the peer's certificate on every request; the client accepts only
the server it meant."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from fastapi import FastAPI, Request

from juki.net.network import Network
from juki.net.node import Node, PeerEntry
from juki.net.pki import DeploymentCA, NodeIdentity, Tier
from juki.net.tls import Gate, PeerMismatch, Refusal, TlsFiles, TlsMaterial, protocol_class

from .support import Served, audit_rows, client_for, specs, wait_until

PREF = NodeIdentity(Tier.PREFECTURE, "010006")


@pytest.fixture
def layout(tmp_path: Path) -> Network:
    return Network(tmp_path / "net", specs(("municipality", "011002", "札幌市"), ("municipality", "121002", "千葉市"),
                                           ("prefecture", "010006", "北海道"), ("national", "000000", "全国サーバ"))).build()


@pytest.fixture
def prefecture(layout: Network):  # type: ignore[no-untyped-def]
    with Served(layout.node("010006")) as served:
        yield served


def node_dir(layout: Network, code: str) -> Path:
    return layout.dir(code)


def test_peers_are_known_by_their_certificate_and_held_to_their_tier(layout: Network, prefecture: Served) -> None:
    url = prefecture.url
    with client_for(node_dir(layout, "011002"), url, PREF) as c:
        r = c.get("/net/v1/status")
        assert r.status_code == 200 and r.json()["node"] == {"role": "prefecture", "role_ja": "都道府県サーバ",
                                                             "code": "010006", "name": "北海道"}
        # 011002 may send only its own notices
        r = c.post("/net/v1/updates", json={"source": "012025", "entries": []})
        assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "NET-2/source"
        # reading a person's record is for operators only
        r = c.get("/net/v1/records/identity/24727059608")
        assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "NET-2/tier"
    for code in ("121002", "000000"):  # a CS of another prefecture; the national server
        with client_for(node_dir(layout, code), url, PREF) as c:
            r = c.post("/net/v1/updates", json={"source": code, "entries": []})
            assert r.status_code == 403, r.text
            assert r.json()["problems"][0]["rule"] == "NET-2/tier"
            assert "may not call this" in r.json()["problems"][0]["message_en"]
    with client_for(layout.root / "operator", url, PREF) as c:
        assert c.post("/net/v1/updates", json={"source": "operator", "entries": []}).status_code == 403
        r = c.get("/net/v1/records/identity/24727059608")
        assert r.status_code == 404 and r.json()["problems"][0]["rule"] == "NET-4"
    node = prefecture.node
    denied = audit_rows(node, "net.denied")
    assert [d["user_id"] for d in denied] == ["municipality:011002", "municipality:011002", "municipality:121002",
                                              "national:000000", "operator:operator"]
    assert all(d["outcome"] == "denied" and d["terminal"].startswith("127.0.0.1:") for d in denied)
    (read,) = audit_rows(node, "net.read")
    assert read["user_id"] == "operator:operator" and read["subjects"] == ["24727059608"]


def test_connections_without_a_valid_certificate_are_refused_and_audited(layout: Network, prefecture: Served,
                                                                         tmp_path: Path) -> None:
    url = prefecture.url
    ca = layout.ca
    now = dt.datetime.now(dt.UTC)
    ca.issue(NodeIdentity(Tier.MUNICIPALITY, "011002"), tmp_path / "expired",
             not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    revoked = ca.issue(NodeIdentity(Tier.MUNICIPALITY, "011002"), tmp_path / "revoked")
    ca.revoke(revoked.serial, "key_compromise", publish_to=[layout.dir("010006")])
    DeploymentCA.init(tmp_path / "rogue-ca", "他の認証局").issue(NodeIdentity(Tier.MUNICIPALITY, "011002"), tmp_path / "rogue")
    attempts = {
        "expired": lambda: client_for(tmp_path / "expired", url, PREF),
        "revoked": lambda: client_for(tmp_path / "revoked", url, PREF),
        "unknown_ca": lambda: client_for(tmp_path / "rogue", url, PREF, ca_dir=layout.root / "ca"),
        "no_certificate": lambda: httpx.Client(verify=ssl.create_default_context(cafile=str(layout.root / "ca" / "ca.pem"))),
        "not_tls": lambda: httpx.Client(),
    }
    for n, (reason, make) in enumerate(attempts.items(), start=1):
        with make() as c, pytest.raises(httpx.HTTPError):
            c.get((url if reason != "not_tls" else url.replace("https", "http")) + "/net/v1/status")
        # the refusal is audited off the event loop: wait for it before the next attempt (keeps the order)
        wait_until(lambda n=n: len(audit_rows(prefecture.node, "net.refused")) == n, what=f"refusal {reason} audited")
    refused = audit_rows(prefecture.node, "net.refused")
    assert [r["detail"]["reason"] for r in refused] == list(attempts)
    assert all(r["outcome"] == "denied" for r in refused)
    assert refused[1]["user_id"] == "municipality:011002" and refused[1]["detail"]["serial"] == revoked.serial
    assert refused[0]["detail"]["reason_ja"] == "有効期限切れの証明書"


def test_the_client_accepts_only_the_server_it_meant(layout: Network, prefecture: Served) -> None:
    with client_for(node_dir(layout, "011002"), prefecture.url, NodeIdentity(Tier.NATIONAL, "000000")) as c, \
            pytest.raises(PeerMismatch, match="is prefecture:010006, not national:000000"):
        c.get("/net/v1/status")
    # a node's own client follows its peer directory and checks the peer's identity the same way
    m = Node.open(layout.dir("011002"))
    try:
        with m.client("010006") as c:
            assert c.get("/net/v1/status").status_code == 200
        m.peers.put(PeerEntry(Tier.NATIONAL, "000000", prefecture.url))  # a wrong address for the national server
        with m.client("000000") as c, pytest.raises(PeerMismatch):
            c.get("/net/v1/status")
    finally:
        m.close()


def test_every_request_scope_carries_the_verified_peer_certificate(layout: Network) -> None:
    app = FastAPI()

    @app.get("/who")
    def who(request: Request) -> dict[str, object]:
        tls = request.scope["extensions"]["tls"]
        peer = request.scope["juki.peer"]
        cert = x509.load_pem_x509_certificate(tls["client_cert_chain"][0].encode())
        return {"label": peer.label, "serial": cert.serial_number, "name": tls["client_cert_name"],
                "tls_version": tls["tls_version"], "scheme": request.url.scheme}

    refusals: list[Refusal] = []
    gate = Gate(TlsMaterial(TlsFiles.in_dir(layout.dir("010006"))), on_refused=refusals.append)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=protocol_class(gate), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="server start")
        url = f"https://127.0.0.1:{sock.getsockname()[1]}"
        mine = x509.load_pem_x509_certificate((layout.dir("121002") / "cert.pem").read_bytes())
        with client_for(layout.dir("121002"), url, PREF) as c:
            for _ in range(3):  # every request of a kept-alive connection
                body = c.get("/who").json()
                assert body == {"label": "municipality:121002", "serial": mine.serial_number,
                                "name": "municipality:121002", "tls_version": 0x0304, "scheme": "https"}
        assert refusals == []
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_node_route_without_a_peer_rule_refuses_to_build(layout: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from fastapi import APIRouter

    from juki.net import node as node_module
    from juki.net.node import create_node_app

    feature = types.ModuleType("juki.net.unruled")
    feature.ROLES = frozenset({Tier.PREFECTURE})  # type: ignore[attr-defined]
    feature.RULES = {}  # type: ignore[attr-defined]

    def router(_node: Node) -> APIRouter:
        r = APIRouter(prefix="/net/v1")
        r.add_api_route("/open", lambda: {}, name="open_door")
        return r

    feature.router = router  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "juki.net.unruled", feature)
    monkeypatch.setattr(node_module, "FEATURES", (*node_module.FEATURES, "unruled"))
    node = layout.node("010006")
    try:
        with pytest.raises(RuntimeError, match="open_door"):
            create_node_app(node)
    finally:
        node.close()
