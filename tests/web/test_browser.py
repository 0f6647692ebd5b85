"""The dashboard in a real headless Chromium against a live server: log in, watch the board
change, open a machine, zoom a trend, be denied as a viewer, log out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web_site import PASSWORD, LiveSite

pytestmark = pytest.mark.slow


@pytest.fixture
def page_for(chromium: Any, live_site: LiveSite) -> Iterator[Any]:
    """``page_for(role)``: a fresh browser context (no cookies) logged in as that role."""
    contexts = []

    def open_as(role: str) -> Any:
        context = chromium.new_context(base_url=live_site.url)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors
        page.goto("/")
        assert "/login" in page.url
        page.fill("input[name=name]", role)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".tile")
        return page

    yield open_as
    for context in contexts:
        context.close()


def tile_states(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        ".tile",
        "ts => ts.map(t => t.className + '|' + t.querySelector('.good').textContent"
        " + '|' + t.querySelector('.scrap').textContent)",
    )


def test_login_and_the_board_updates_live(page_for: Any, live_site: LiveSite):
    page = page_for("operator")
    assert page.url.rstrip("/") == live_site.url
    tiles = page.locator(".tile")
    assert tiles.count() == len(live_site.site.plant.machines())
    page.wait_for_selector("#live[data-live=on]", timeout=10_000)
    page.evaluate("window.__same_document = true")
    before = tile_states(page)
    page.wait_for_function(
        "before => { const now = Array.from(document.querySelectorAll('.tile')).map("
        "t => t.className.replace(' flash', '') + '|' + t.querySelector('.good').textContent"
        " + '|' + t.querySelector('.scrap').textContent);"
        " return now.some((s, i) => s !== before[i].replace(' flash', '')); }",
        arg=before,
        timeout=20_000,
    )
    assert page.evaluate("window.__same_document") is True  # changed without a reload
    assert page.errors == []


def test_open_a_machine_and_zoom_a_trend(page_for: Any, live_site: LiveSite):
    page = page_for("viewer")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/history?" in r.url else None)
    page.locator(".tile").first.click()
    page.wait_for_url("**/machines/**")
    page.wait_for_selector("#machine[data-loaded]")
    page.wait_for_selector(".trend .uplot canvas")
    assert page.locator("svg.timeline rect").count() > 0
    assert page.locator("table.events tbody tr").count() > 0
    first = page.evaluate("window.andonTrends.view()")
    span = first["to"] - first["from"]
    assert 7.9 * 3600 < span < 8.1 * 3600
    assert first["every"] == 15  # 8 h / 15 s = 1920 points
    loaded = page.get_attribute("#machine", "data-loaded")
    requests.clear()
    over = page.locator(".trend .u-over").first
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.80, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.90, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.97, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "old => document.getElementById('machine').dataset.loaded !== old", arg=loaded
    )
    zoomed = page.evaluate("window.andonTrends.view()")
    assert zoomed["to"] - zoomed["from"] < span / 4
    assert zoomed["every"] < first["every"]
    assert requests, "zooming fetched no history"
    assert all(f"every={zoomed['every']}s" in url for url in requests)
    assert page.errors == []


def test_a_viewer_is_denied_admin_pages_and_sees_no_write_forms(page_for: Any):
    page = page_for("viewer")
    forms = page.eval_on_selector_all("form", "fs => fs.map(f => f.getAttribute('action'))")
    assert forms == ["/logout"]
    assert page.locator("nav a", has_text="Users").count() == 0
    for url in ("/admin/users", "/admin/tokens", "/admin/audit"):
        response = page.goto(url)
        assert response.status == 403
        assert "Not allowed" in page.content()


def test_an_admin_creates_a_user_and_logs_out(page_for: Any):
    page = page_for("admin")
    page.click("nav a:text('Users')")
    page.fill("form.create input[name=name]", "newcomer")
    page.click("form.create button[type=submit]")
    password = page.text_content("#new-password")
    assert password and len(password) >= 12
    page.click("form.logout button")
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url  # the session is gone server-side
