"""``juki demo`` (the README's first command): the seeded register behind its API and a small network on
loopback; a change entered and approved through the register's API is visible at the national server."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pyotp

from juki.clock import JST
from juki.net.network import Network

from .support import free_port, wait_until


def test_the_demo_runs_a_network_a_change_reaches_the_national_server(tmp_path: Path) -> None:
    api_port, base = free_port(), random.randrange(20_000, 40_000, 500)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUKI_")}
    proc = subprocess.Popen([sys.executable, "-m", "juki.cli.main", "demo", "--residents", "120", "--network-residents",
                             "40", "--port", str(api_port), "--net-port", str(base)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_until(lambda: any("全国サーバ:" in line for line in lines) or proc.poll() is not None,
                   timeout=240, what="the demo network")
        assert proc.poll() is None, "".join(lines)
        out = "".join(lines)
        assert f"http://127.0.0.1:{api_port}/" in out and "juki net status --network var/demo-net" in out
        creds = json.loads((tmp_path / "var" / "demo-credentials.json").read_text(encoding="utf-8"))
        terminal, key = next(iter(creds["terminals"].items()))
        secrets = {s["user_id"]: s["totp_secret"] for s in creds["staff"]}
        base_url = f"http://127.0.0.1:{api_port}"

        def login(user: str) -> dict[str, str]:
            r = httpx.post(f"{base_url}/api/v1/auth/login", headers={"X-Juki-Terminal": terminal, "X-Juki-Terminal-Key": key},
                           json={"user_id": user, "password": creds["password"], "totp": pyotp.TOTP(secrets[user]).now()})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}", "X-Juki-Terminal": terminal}

        clerk, chief = login("clerk"), login("chief")
        today = dt.datetime.now(JST).date().isoformat()
        body = {"origin": "notification", "legal_basis": "住民基本台帳法第22条", "effective_date": today, "notified_date": today,
                "change": {"persons": [{"name": "札幌　太郎", "name_kana": "サッポロ　タロウ", "furigana_status": "confirmed",
                                        "birth_date": "1980-05-01", "sex": "1", "relationship": "世帯主"}],
                           "address": {"prefecture": "北海道", "city": "札幌市中央区", "town": "北一条西", "block": "2丁目1番",
                                       "postcode": "0600001", "lg_code": "011011"},
                           "prior_address": {"prefecture": "千葉県", "city": "千葉市中央区", "town": "千葉港", "block": "1番1号",
                                             "postcode": "2600026", "lg_code": "121002"}}}
        r = httpx.post(f"{base_url}/api/v1/changes/move_in", headers=clerk, json=body)
        assert r.status_code == 201, r.text
        r = httpx.post(f"{base_url}/api/v1/requests/{r.json()['request_id']}/approve", headers=chief)
        assert r.status_code == 200, r.text
        person = httpx.get(f"{base_url}/api/v1/persons/{r.json()['person_ids'][0]}", headers=clerk).json()
        net = Network.load(tmp_path / "var" / "demo-net")

        def at_national() -> dict:
            with net.operator_client("000000") as c:
                got = c.get(f"/net/v1/records/identity/{person['juminhyo_code']}")
                return got.json() if got.status_code == 200 else {}

        seen = wait_until(at_national, timeout=60, what="the change at the national server")
        # the 転入 arrives first; as 札幌　太郎 came without a 個人番号, its designation (NET-7) follows at once
        # and may already be the national server's latest notice when we look
        assert seen["origin"] == "011002" and seen["record"]["name"] == "札幌　太郎"
        assert seen["record"]["reason"] in ("move_in", "individual_number_change")
        codes = [n["code"] for n in json.loads((tmp_path / "var" / "demo-net" / "network.json").read_text())["nodes"]]
        assert sorted(codes) == ["000000", "010006", "011002", "012025", "120006", "121002"]
    finally:
        proc.send_signal(signal.SIGTERM)  # as a service manager stops it (Ctrl+C works the same way)
        proc.wait(60)
    reader.join(5)
    assert proc.returncode == 0, "".join(lines)
    assert "停止します" in "".join(lines)
    assert _processes_under(tmp_path) == [], "node processes outlived the demo"


def _processes_under(root: Path) -> list[str]:
    """Command lines of running processes that name ``root`` (the demo's node directories)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in text and "serve" in text:
            found.append(text)
    return found
