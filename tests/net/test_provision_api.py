"""The prefecture's provision through its API (PRF-5..PRF-7, SEC-1..3): 北海道's node serves its operators'
API next to its mutual-TLS listener; 札幌市's node (its own process) feeds the prefecture's file.  The
officer provides for a configured use only, a large batch needs someone else's prior approval, every
provision and refusal is in the 7-year log, 開示 comes as a PDF, and each route is open only to the
rights that hold its permission."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher

from juki.domain import provision as pv
from juki.domain.identity import RecordFile
from juki.net.network import Network
from juki.net.services import services
from juki.services.staffing import provision as provision_staff

from ..unit.registry import address, chiba_address, person
from .changes import change
from .support import Served, audit_rows, specs, wait_until

SAPPORO, HOKKAIDO = "011002", "010006"
PASSWORD = "correct horse battery staple"
USE = {"code": "別表第6-1", "channel": "provision", "recipient": "kyoiku", "recipient_name": "教育委員会",
       "affair": "特別支援学校への就学奨励", "legal_basis": "住基法第30条の15第2項・別表第6",
       "items": ["juminhyo_code", "name", "birth_date", "sex", "address"], "valid_from": "2015-06-01"}

pytestmark = pytest.mark.slow


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Network]:
    network = Network(tmp_path / "net", specs(("municipality", SAPPORO, "札幌市"), ("prefecture", HOKKAIDO, "北海道"))).build()
    network.start_all([SAPPORO])
    try:
        yield network
    finally:
        network.stop_all()


def test_the_prefecture_provides_through_its_api(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUKI_PROVISION_MEDIA_TERMINALS", "T001")
    pref = net.node(HOKKAIDO)
    with Served(pref, api=True) as served:
        api = served.api_url
        reg = pref.register
        reg.password_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        staff = provision_staff(reg, password=PASSWORD)

        def login(user: str, terminal: str = "T001") -> dict[str, str]:
            r = httpx.post(f"{api}/api/v1/auth/login", json={"user_id": user, "password": PASSWORD,
                                                              "totp": pyotp.TOTP(staff.totp_secrets[user]).now()},
                           headers={"X-Juki-Terminal": terminal, "X-Juki-Terminal-Key": staff.terminal_keys[terminal]})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}", "X-Juki-Terminal": terminal}

        sapporo = net.node(SAPPORO)
        try:
            out = change(sapporo.register, "move_in", {"persons": [person("旭川　四郎", "アサヒカワ　シロウ", "1955-05-05", "1",
                                                                         individual_number="200000000000")],
                                                       "address": address(block="44番"), "prior_address": chiba_address()},
                         dt.date(2026, 4, 5))
        finally:
            sapporo.close()
        code = out.outcome.persons[0].juminhyo_code
        wait_until(lambda: pref.store.record_of(RecordFile.IDENTITY, code), what="北海道 has the record")

        officer, chief, clerk = login("teikyo"), login("chief", "T002"), login("clerk")
        base = f"{api}/api/v1/provision"
        assert httpx.post(f"{base}/uses", headers=clerk, json={"uses": [USE]}).status_code == 403
        r = httpx.post(f"{base}/uses", headers=officer, json={"uses": [USE]})
        assert r.status_code == 200 and r.json()["uses"] == ["別表第6-1"], r.text

        query = {"name": "旭川　四郎", "birth_date": "1955-05-05"}
        r = httpx.post(f"{base}/provide", headers=officer, json={"recipient": "kyoiku", "use_code": "別表第6-1", "query": query})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "provided" and [x["juminhyo_code"] for x in r.json()["records"]] == [code]
        assert "individual_number" not in r.json()["records"][0]
        refused = httpx.post(f"{base}/provide", headers=officer,
                             json={"recipient": "keisatsu", "use_code": "別表第6-1", "query": {"juminhyo_code": code}})
        assert refused.status_code == 403 and refused.json()["problems"][0]["rule"].startswith("PRF-5")
        short = httpx.post(f"{base}/provide", headers=officer, json={"recipient": "kyoiku", "use_code": "別表第6-1",
                                                                     "query": {"name": "旭川　四郎"}})
        assert short.status_code == 422  # NET-4's minimum: 氏名 alone is not enough
        assert httpx.post(f"{base}/provide", headers=chief, json={"recipient": "kyoiku", "use_code": "別表第6-1",
                                                                  "query": query}).status_code == 403

        # a batch larger than the limit needs a prior approval by someone else (the approver)
        monkeypatch.setattr(pv, "LARGE_OUTPUT_ROWS", 0)
        conditions = f"line,juminhyo_code,individual_number,name,address,birth_date,sex\n1,{code},,,,,\n"
        batch = {"recipient": "kyoiku", "use_code": "別表第6-1", "conditions": conditions}
        r = httpx.post(f"{base}/batches", headers=officer, json=batch)
        assert r.status_code == 403 and r.json()["problems"][0]["rule"] == "PRF-5/large-output", r.text
        r = httpx.post(f"{base}/approvals", headers=officer,
                       json={"recipient": "kyoiku", "use_code": "別表第6-1", "max_rows": 5, "reason": "年次の一括照会"})
        approval = r.json()["approval_id"]
        assert httpx.post(f"{base}/approvals/{approval}/approve", headers=officer).status_code == 403  # no such right
        assert httpx.post(f"{base}/approvals/{approval}/approve", headers=chief).status_code == 200
        r = httpx.post(f"{base}/batches", headers=officer, json={**batch, "approval_id": approval})
        assert r.status_code == 200 and r.json()["rows"] == 1 and code in r.json()["text"], r.text

        # the log: every provision and refusal, read by the approver (audited)
        log = httpx.get(f"{base}/log", headers=chief, params={"juminhyo_code": code})
        assert log.status_code == 200
        assert {e["outcome"] for e in log.json()["entries"]} >= {"provided"}
        everything = httpx.get(f"{base}/log", headers=chief).json()["entries"]
        refused_rules = [e["rule"] for e in everything if e["outcome"] == "refused"]
        assert refused_rules == [refused.json()["problems"][0]["rule"], "NET-4/minimum", "PRF-5/large-output"]
        assert any(code in e["subjects"] for e in audit_rows(pref, "provision.log.read"))
        assert httpx.get(f"{base}/log", headers=clerk).status_code == 403

        # 開示 as a PDF, then a 訂正等の申出 recorded and closed
        pdf = httpx.post(f"{base}/disclosures", headers=officer, json={"juminhyo_code": code, "identity_check": "個人番号カード"},
                         timeout=60)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:300]
        r = httpx.post(f"{base}/corrections", headers=officer, json={"juminhyo_code": code, "content": "住所の方書の誤り"})
        assert r.status_code == 200, r.text
        done = httpx.post(f"{base}/corrections/{r.json()['correction_id']}/close", headers=officer,
                          json={"corrected": False, "result": "誤りなし"})
        assert done.status_code == 200, done.text
        assert [e["outcome"] for e in audit_rows(pref, "access.denied")].count("denied") >= 5
        services(pref).close()
