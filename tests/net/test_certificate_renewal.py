"""A renewed node certificate is taken into use without a restart (NET-2, SEC-5): 北海道's node serves on,
both it and 札幌市 get new certificates and the old ones are revoked; the next connection presents the new
certificates on both sides (the revoked ones would be refused), and the reload is audited."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from juki.net.network import Network
from juki.net.pki import NATIONAL_CODE, NodeIdentity, Tier, serial_text
from juki.net.tls import client_context

from .support import Served, audit_rows, specs, wait_until

SAPPORO, HOKKAIDO = "011002", "010006"


def status_and_server_serial(client: httpx.Client) -> tuple[int, str]:
    """GET the status, and the serial of the certificate the server presented (read while connected)."""
    seen: list[str] = []

    def capture(response: httpx.Response) -> None:
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        seen.append(serial_text(x509.load_der_x509_certificate(ssl_object.getpeercert(True)).serial_number))

    client.event_hooks["response"].append(capture)
    with client:
        status = client.get("/net/v1/status").status_code
    return status, seen[0]


def test_a_renewed_certificate_is_used_without_a_restart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = Network(tmp_path / "net", specs(("municipality", SAPPORO, "札幌市"), ("prefecture", HOKKAIDO, "北海道"))).build()
    ca = net.ca
    sapporo = net.node(SAPPORO)
    try:
        with Served(net.node(HOKKAIDO)) as served:
            status, old_server = status_and_server_serial(sapporo.client(HOKKAIDO))
            assert status == 200
            old_client = serial_text(sapporo.tls.cert.serial_number)

            new_server = ca.issue(NodeIdentity(Tier.PREFECTURE, HOKKAIDO), net.dir(HOKKAIDO), name="北海道").serial
            new_client = ca.issue(NodeIdentity(Tier.MUNICIPALITY, SAPPORO), net.dir(SAPPORO), name="札幌市").serial
            for serial in (old_server, old_client):  # from now on the old ones would be refused on both sides
                ca.revoke(serial, "superseded", publish_to=[net.dir(HOKKAIDO), net.dir(SAPPORO)])

            assert status_and_server_serial(sapporo.client(HOKKAIDO)) == (200, new_server)
            assert serial_text(sapporo.tls.cert.serial_number) == new_client and sapporo.tls.generation == 1
            assert not audit_rows(served.node, "net.refused")  # 札幌市 presented its new certificate
            (reload,) = audit_rows(served.node, "net.certificate.reload")
            assert reload["detail"]["old_serial"] == old_server and reload["detail"]["new_serial"] == new_server
            (mine,) = audit_rows(sapporo, "net.certificate.reload")
            assert mine["detail"]["new_serial"] == new_client

            # a certificate that names another node is not taken: the node keeps its own
            ca.issue(NodeIdentity(Tier.PREFECTURE, "120006"), net.dir(HOKKAIDO), name="千葉県")
            assert status_and_server_serial(sapporo.client(HOKKAIDO)) == (200, new_server)
    finally:
        sapporo.close()

    from juki.cli.main import main

    assert main(["net", "reload", "--node", str(net.dir(SAPPORO))]) == 0
    assert f"municipality:{SAPPORO}" in capsys.readouterr().out
    assert main(["net", "reload", "--node", str(net.dir(HOKKAIDO))]) == 1  # cert.pem now names 千葉県


def test_sighup_makes_a_running_node_take_its_renewed_certificate(tmp_path: Path) -> None:
    """``juki net reload --pid`` (SIGHUP) reloads a node served by ``juki serve`` in its own process, with no
    connection to notice the renewal: the national server, alone and idle, logs and audits the reload only
    after the signal."""
    net = Network(tmp_path / "net", specs(("national", NATIONAL_CODE, "機構"))).build()
    node_dir = net.dir(NATIONAL_CODE)
    observer = net.node(NATIONAL_CODE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    proc = subprocess.Popen([sys.executable, "-m", "juki.cli.main", "serve", "--role", "national", "--node", str(node_dir)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        context = client_context(observer.tls.files)
        context.check_hostname = False

        def listening() -> bool:
            """A whole TLS handshake, not just a TCP connect: the server has then taken its certificate for
            this connection, so it cannot notice the renewal below by a probe it had not yet handled. (The
            SIGHUP handler is installed before the node listens.)"""
            assert proc.poll() is None, "".join(lines)
            try:
                with socket.create_connection(("127.0.0.1", observer.config.port), timeout=5) as raw, \
                        context.wrap_socket(raw) as tls:
                    return tls.version() is not None
            except OSError:
                return False

        wait_until(listening, what="the national node")
        new = net.ca.issue(NodeIdentity(Tier.NATIONAL, NATIONAL_CODE), node_dir, name="機構")
        time.sleep(1.0)  # an idle node has no handshake to notice the new files by
        assert not audit_rows(observer, "net.certificate.reload")
        from juki.cli.main import main

        assert main(["net", "reload", "--node", str(node_dir), "--pid", str(proc.pid)]) == 0
        (reload,) = wait_until(lambda: audit_rows(observer, "net.certificate.reload"), what="the reload")
        assert reload["detail"]["new_serial"] == new.serial
        wait_until(lambda: any("certificate reloaded" in line for line in lines), what="the log line")
        assert proc.poll() is None  # SIGHUP did not end it
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        observer.close()
