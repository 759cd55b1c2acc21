"""Browser tests of the counter UI (CTR-1, CTR-3, SEC-1, SEC-2): Debian's chromium, headless, driven by
Playwright against a real uvicorn server on loopback, with a real migrated database and provisioned staff.

Skipped with a message when chromium is absent; ``JUKI_REQUIRE_BROWSER=1`` (CI) makes that a failure.
Every page a test visits is checked with axe-core (no serious or critical violation of WCAG 2.1 A/AA) and
saved as a screenshot in ``artifacts/ui/`` for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import uvicorn
from argon2 import PasswordHasher

from juki.adapters.db.migrate import upgrade
from juki.api.app import create_app
from juki.config import Register, Settings
from juki.services.seeding import seed_city
from juki.services.staffing import Provisioned, provision

from ..clock import Clock

CHROMIUM = os.environ.get("JUKI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
NOW = dt.datetime(2026, 4, 20, 1, 0, tzinfo=dt.UTC)  # 10:00 JST, on a TOTP step boundary
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "ui"
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")


def _chromium_or_skip() -> str:
    if not os.path.exists(CHROMIUM):
        msg = (f"chromium is not installed at {CHROMIUM}: the browser tests need it "
               "(apt-get install chromium; CI installs it and sets JUKI_REQUIRE_BROWSER=1)")
        if os.environ.get("JUKI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"JUKI_REQUIRE_BROWSER=1 but {msg}", pytrace=False)
        pytest.skip(msg)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@dataclass
class Site:
    url: str
    reg: Register
    staff: Provisioned
    clock: Clock

    def totp(self, user: str) -> str:
        return pyotp.TOTP(self.staff.totp_secrets[user]).at(self.clock())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path / 'juki.db'}"
    upgrade(url)
    reg = Register(Settings(database_url=url, key_file=tmp_path / "keys.json", lg_code="011002",
                            cert_key_file=tmp_path / "cert-key.pem"),
                   password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    clock = Clock(NOW)
    reg.clock = clock
    staff = provision(reg, password=PASSWORD)
    seed_city(reg, 40, 1, today=NOW.date())
    server = uvicorn.Server(uvicorn.Config(create_app(reg), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    # localhost, not 127.0.0.1: a secure context for __Host- cookies and WebAuthn alike
    yield Site(f"http://localhost:{port}", reg, staff, clock)
    server.should_exit = True
    thread.join(timeout=10)
    reg.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def check(page: Any, name: str) -> None:
    """axe-core on the page as it is (no serious or critical violation), and a screenshot for people."""
    page.evaluate(AXE)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert bad == [], f"{name}: accessibility violations {bad}"


def enrol_terminal(page: Any, site: Site, terminal: str = "T001") -> None:
    page.goto(site.url + "/ui/terminal")
    check(page, "terminal")
    page.get_by_label("端末ID").fill(terminal)
    page.get_by_label("端末鍵").fill(site.staff.terminal_keys[terminal])
    page.get_by_role("button", name="この端末を登録する").click()
    page.wait_for_url(re.compile(r"/ui/login"))


def login(page: Any, site: Site, user: str, *, shot: str | None = None) -> None:
    page.goto(site.url + "/ui/login")
    page.get_by_label("利用者ID").fill(user)
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    page.get_by_label("ワンタイムパスワード").fill(site.totp(user))
    if shot:
        check(page, shot)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(re.compile(r"/ui/$"))
    site.clock.advance(seconds=30)  # the next login uses a fresh TOTP step


def logout(page: Any) -> None:
    page.get_by_role("button", name="ログアウト").first.click()
    page.wait_for_url(re.compile(r"/ui/login"))
