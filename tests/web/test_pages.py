"""Every page × every role over HTTP: allowed, denied (403), or sent to log in (303).

Generated from the app's routes like the API's authorization test, so a page added without
an access rule, or with the wrong one, fails here.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from web_site import ROLES, WebSite, form_token, log_in, web_app

from andon.api import Public, declared_access, routes_of
from andon.identity import PERMISSIONS, Role


def page_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out = []
    for path, route in routes_of(app):
        assert isinstance(route, APIRoute), f"{route!r} is not an APIRoute with an access rule"
        if route.name.startswith("web."):
            for method in sorted(route.methods - {"HEAD"}):
                out.append((method, path, route))
    return out


def url_of(site: WebSite, method: str, path: str) -> str:
    machine = site.machine()
    params = {"path": machine, "name": "nobody", "token_id": "999999"}
    if path.startswith("/static/"):
        params["name"] = "andon.css"
    url = re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: params[m.group(1)], path)
    if path.startswith("/machine/"):
        url += f"?asset={machine}"
    return url


class Callers:
    """A logged-in client per role (logged in again after a logout), and an anonymous one."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.clients: dict[str, TestClient] = {}
        self.tokens: dict[str, str] = {}

    def get(self, who: str) -> tuple[TestClient, str]:
        if who not in self.clients:
            client = TestClient(self.app, base_url="https://testserver")
            self.clients[who] = client
            self.tokens[who] = "" if who == "anonymous" else log_in(client, who)
        return self.clients[who], self.tokens[who]

    def forget(self, who: str) -> None:
        self.clients.pop(who, None)


def test_every_page_declares_exactly_one_access_rule(site: WebSite):
    app = web_app(site)
    routes = page_routes(app)
    assert len(routes) >= 15
    assert [p for _, p, r in routes if len(declared_access(r)) != 1] == []
    for method, path, route in routes:
        (rule,) = declared_access(route)
        if method == "POST" and path not in ("/login", "/logout"):
            assert not isinstance(rule, Public), path
            assert rule.permission is not None and rule.permission.value != "read", path


def test_matrix(site: WebSite):
    app = web_app(site)
    callers = Callers(app)
    checked = 0
    routes = sorted(page_routes(app), key=lambda r: r[1] == "/logout")  # logout last
    for method, path, route in routes:
        (rule,) = declared_access(route)
        url = url_of(site, method, path)
        for who in [*ROLES, "anonymous"]:
            client, token = callers.get(who)
            data = {"csrf_token": token} if method == "POST" else None
            r = client.request(method, url, data=data, follow_redirects=False)
            where = f"{method} {url} as {who}: {r.status_code} {r.text[:200]}"
            if (method, path) == ("POST", "/login"):
                assert r.status_code == 403, where  # no login form token: refused
            elif isinstance(rule, Public):
                assert r.status_code not in (401, 403), where
            elif who == "anonymous":
                assert r.status_code == 303, where
                assert r.headers["location"].startswith("/login"), where
            elif rule.permission in PERMISSIONS[Role(who)]:
                assert r.status_code not in (401, 403), where
            else:
                assert r.status_code == 403, where
                assert "Not allowed" in r.text, where
            assert r.status_code < 500, where
            if path == "/logout":
                callers.forget(who)
            checked += 1
    assert checked >= 15 * 6


@pytest.mark.parametrize(
    ("asked", "back"),
    [
        ("/machines/a/b?from=-1h", "/machines/a/b?from=-1h"),
        ("/admin/users", "/admin/users"),
    ],
)
def test_anonymous_pages_redirect_to_login_and_back(client: TestClient, asked: str, back: str):
    r = client.get(asked, follow_redirects=False)
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [back]
    page = client.get(r.headers["location"])
    assert f'name="next" value="{back}"' in page.text.replace("&amp;", "&")


def test_a_forged_or_ended_session_is_sent_to_login(client: TestClient):
    client.cookies.set("__Host-andon_session", "forged-cookie-value")
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


def test_htmx_fragments_ask_for_a_whole_page_redirect(client: TestClient):
    r = client.get(
        "/board/tiles",
        headers={"HX-Request": "true", "HX-Current-URL": "https://testserver/machines/x"},
        follow_redirects=False,
    )
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == "/login?next=/machines/x"


def test_the_api_keeps_answering_json(client: TestClient):
    r = client.get("/api/v1/machines")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json"
    r = client.get("/api/v1/no-such-route")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_pages_carry_the_security_headers_and_are_not_cached(client: TestClient):
    log_in(client, "viewer")
    r = client.get("/")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"


def test_unknown_pages_and_machines_are_404_pages(client: TestClient):
    log_in(client, "viewer")
    for url in ("/machines/nowhere/at/all/x", "/machine/events?asset=nowhere/x"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Not found" in r.text
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")


def test_a_viewer_sees_the_board_and_machines_but_no_write_forms(client: TestClient, site):
    log_in(client, "viewer")
    for url in ("/", f"/machines/{site.machine()}"):
        page = client.get(url).text
        actions = re.findall(r'<form method="post" action="([^"]+)"', page)
        assert actions == ["/logout"], url
        assert "/admin/" not in page, url


def test_the_navigation_shows_what_the_role_may_open(client: TestClient):
    log_in(client, "viewer")
    nav = re.findall(r'<a href="([^"]+)" data-group', client.get("/").text)
    assert nav == ["/", "/oee", "/data", "/sources"]
    client.post("/logout", data={"csrf_token": form_token(client.get("/").text)})
    log_in(client, "admin")
    nav = re.findall(r'<a href="([^"]+)" data-group', client.get("/").text)
    assert nav == [
        "/",
        "/oee",
        "/data",
        "/sources",
        "/admin/users",
        "/admin/tokens",
        "/admin/audit",
    ]


def test_the_board_shows_every_machine_with_its_state(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    page = client.get("/").text
    tiles = re.findall(r'class="tile cat-(\w+) state-(\w+)" href="/machines/([^"]+)"', page)
    assert [t[2] for t in tiles] == [m.path for m in site.plant.machines()]
    assert all(cat != "unknown" for cat, _, _ in tiles)
    assert 'data-stream="springfield/' in page
