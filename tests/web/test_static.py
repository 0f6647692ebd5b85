"""What pages are made of: templates without inline script or style (CSP default-src 'self'),
static files from the package only, the vendored libraries at their locked versions, and the
small pure pieces (navigation, next-URL check, timeline, stream pattern)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_site import WebSite, log_in, web_app

from andon.core.clock import NS_PER_S
from andon.core.event import Event
from andon.identity import Permission, Principal, Role
from andon.web import Navigation, NavItem, install
from andon.web.errors import safe_next
from andon.web.pages.board import stream_pattern
from andon.web.pages.machines import timeline
from andon.web.render import STATIC, TEMPLATES, duration
from andon.web.vendor import LIBRARIES, VENDOR

ROOT = Path(__file__).resolve().parents[2]
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on* event handler attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"(src|href)=\"(https?:)?//", re.I), "something loaded from another site"),
]


def offences(html: str) -> list[str]:
    return [what for pattern, what in INLINE if pattern.search(html)]


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template: str):
    assert offences((TEMPLATES / template).read_text()) == []


def test_rendered_pages_have_no_inline_script_or_style(client: TestClient, site: WebSite):
    assert offences(client.get("/login").text) == []
    log_in(client, "admin")
    for url in (
        "/",
        f"/machines/{site.machine()}",
        "/admin/users",
        "/admin/tokens",
        "/admin/audit/verify",
        "/no-such-page",
    ):
        assert offences(client.get(url).text) == [], url


def test_static_files_come_from_the_package_only(client: TestClient):
    r = client.get("/static/andon.css")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/css")
    assert r.headers["cache-control"] == "public, max-age=86400"
    again = client.get("/static/andon.css", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    js = client.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert "javascript" in js.headers["content-type"]
    for bad in (
        "/static/../render.py",
        "/static/%2e%2e/render.py",
        "/static/nope.js",
        "/static/vendor/../../render.py",
        "/static/",
    ):
        assert client.get(bad).status_code == 404, bad


def test_the_vendored_libraries_match_the_lock_file():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    written = {}
    for line in (VENDOR / "VERSIONS").read_text().splitlines():
        name, version, _licence = line.split()
        written[name] = version
    for lib in LIBRARIES:
        assert written[lib.package] == lock["packages"][f"node_modules/{lib.package}"]["version"]
        for name in lib.files:
            copied = VENDOR / lib.folder / Path(name).name
            assert copied.is_file() and copied.stat().st_size > 0, copied
            source = ROOT / "node_modules" / lib.package / name
            if source.is_file():  # after `npm ci`: the copies are exactly the built files
                assert copied.read_bytes() == source.read_bytes(), copied


def test_every_static_file_a_template_names_exists():
    named = set()
    for t in TEMPLATES.glob("*.html"):
        named |= set(re.findall(r"static\('([^']+)'\)", t.read_text()))
    assert named and all((STATIC / n).is_file() for n in named)


def test_install_once_per_app(site: WebSite):
    app = web_app(site)
    with pytest.raises(ValueError, match="already installed"):
        install(app)


def test_navigation_registry():
    nav = Navigation([NavItem("Board", "/", Permission.READ, "plant", 10)])
    nav.add(NavItem("Audit", "/admin/audit", Permission.READ_AUDIT, "admin"))
    nav.add(NavItem("OEE", "/oee", Permission.READ, "performance"))
    with pytest.raises(ValueError, match="twice"):
        nav.add(NavItem("Board again", "/", Permission.READ))
    with pytest.raises(ValueError, match="nav group"):
        NavItem("X", "/x", Permission.READ, "games")
    with pytest.raises(ValueError, match="path on this site"):
        NavItem("X", "//evil.example", Permission.READ)
    viewer = Principal("v", frozenset({Role.VIEWER}), "user")
    admin = Principal("a", frozenset({Role.ADMIN}), "user")
    assert [i.label for i in nav.visible_to(viewer)] == ["Board", "OEE"]
    assert [i.label for i in nav.visible_to(admin)] == ["Board", "OEE", "Audit"]
    assert nav.visible_to(None) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/machines/a?from=-1h", "/machines/a?from=-1h"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("machines/a", "/"),
    ],
)
def test_safe_next(value: str | None, expected: str):
    assert safe_next(value) == expected


def test_timeline_segments_cover_the_range():
    s = NS_PER_S
    a = "x/y/z/m"
    before = Event(0, a, "state", {"state": "running"})
    events = [
        Event(100 * s, a, "state", {"state": "down"}),
        Event(150 * s, a, "state", {"state": "micro_stop"}),
    ]
    segments = timeline(events, before, 50 * s, 250 * s)
    assert [(g.state, g.category, g.x, g.width) for g in segments] == [
        ("running", "running", 0.0, 250.0),
        ("down", "down", 250.0, 250.0),
        ("micro_stop", "running", 500.0, 500.0),
    ]
    assert timeline([], None, 0, s) == []


def test_stream_pattern():
    job_shop = ["springfield/machining/cell-1/mill-1", "springfield/machining/cell-1/lathe-1"]
    assert stream_pattern(job_shop) in ("springfield/+/+/+/_event", "springfield/#")
    assert stream_pattern(["a/b/c/d", "a/b/c/d/e"]) == "a/#"
    assert stream_pattern(["a/b/c/d", "z/b/c/d"]) == "#"
    assert stream_pattern([]) == "#"


def test_duration_for_people():
    assert [duration(x) for x in (None, -3, 42, 61, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "—",
        "0 s",
        "42 s",
        "1 min",
        "3 h 05 min",
        "2 d 4 h",
    ]
