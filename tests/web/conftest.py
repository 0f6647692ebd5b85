"""Fixtures of the web tests: a site per test for HTTP tests; a live server and Debian's
Chromium (driven by Playwright, never a downloaded browser) for the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_site import LiveSite, WebSite, make_site, web_app

CHROMIUM = os.environ.get("ANDON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _service_missing(reason: str) -> None:
    if os.environ.get("ANDON_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ANDON_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[WebSite]:
    s = make_site(str(tmp_path / "andon.db"))
    yield s
    s.historian.close()


@pytest.fixture
def client(site: WebSite) -> Iterator[TestClient]:
    """A browser-like client over https (the session cookie is Secure)."""
    with TestClient(web_app(site), base_url="https://testserver") as c:
        yield c


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's Chromium under Playwright; skipped (or failed in CI) when it is missing."""
    if not Path(CHROMIUM).is_file():
        _service_missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _service_missing("the playwright Python package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    server = LiveSite(str(tmp_path_factory.mktemp("live") / "andon.db")).start()
    try:
        yield server
    finally:
        server.stop()
