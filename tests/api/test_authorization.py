"""Every route × every role, anonymous, expired and revoked tokens — generated from the app's
routes, so a route added without an access rule fails here."""

from __future__ import annotations

import re

import pytest
from api_site import ROLES, TAG, Site, fast_hasher
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from andon.api import Public, Require, declared_access, public, require, routes_of
from andon.core.clock import NS_PER_S, now_ns
from andon.identity import PERMISSIONS, Identity, Permission, Role

PARAMS = {"path": TAG, "name": "nobody", "token_id": "999999"}


def endpoints(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    out = []
    for path, route in routes_of(app):
        assert isinstance(route, APIRoute), f"{route!r} is not an APIRoute with an access rule"
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, path, route))
    return out


def url_of(path: str) -> str:
    def fill(m: re.Match[str]) -> str:
        return PARAMS[m.group(1).split(":")[0]]

    return re.sub(r"\{([^}]+)\}", fill, path)


def undeclared(app: FastAPI) -> list[str]:
    """Routes that declare no access rule, or more than one."""
    return [path for path, route in routes_of(app) if len(declared_access(route)) != 1]


def test_every_route_declares_exactly_one_access_rule(site: Site):
    assert undeclared(site.app) == []
    assert len(routes_of(site.app)) >= 20


def test_a_route_without_a_rule_is_caught(site: Site):
    app = site.app

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    @app.get("/api/v1/twice", dependencies=[Depends(public()), Depends(require(Permission.READ))])
    def twice() -> dict[str, str]:
        return {}

    assert undeclared(app) == ["/api/v1/forgotten", "/api/v1/twice"]


def test_the_write_routes_are_guarded_beyond_read(site: Site):
    for method, path, route in endpoints(site.app):
        (rule,) = declared_access(route)
        if method != "GET" and path not in ("/api/v1/auth/login", "/api/v1/auth/logout"):
            assert isinstance(rule, Require), path
            assert rule.permission is not None and rule.permission.value != "read", path


@pytest.fixture
def callers(site: Site) -> dict[str, dict[str, str]]:
    headers = {role: site.headers(role) for role in ROLES}
    headers["anonymous"] = {}
    past = now_ns() - 7200 * NS_PER_S
    old = Identity(site.identity._engine, clock=lambda: past, password_hasher=fast_hasher())
    _, expired = old.create_token("old", [Role.ADMIN], expires_in_s=60, actor="cli:test")
    headers["expired"] = {"Authorization": f"Bearer {expired}"}
    token_id, revoked = site.identity.create_token(
        "gone", [Role.ADMIN], expires_in_s=3600, actor="cli:test"
    )
    site.identity.revoke_token(token_id, actor="cli:test")
    headers["revoked"] = {"Authorization": f"Bearer {revoked}"}
    headers["garbage"] = {"Authorization": "Bearer not-a-token"}
    return headers


def test_matrix(site: Site, callers: dict[str, dict[str, str]]):
    checked = 0
    for method, path, route in endpoints(site.app):
        (rule,) = declared_access(route)
        url = url_of(path)
        for caller, headers in callers.items():
            body = {} if method in ("POST", "PUT") else None
            r = site.client.request(method, url, headers=headers, json=body)
            if isinstance(rule, Public):
                allowed = True
            elif caller in ROLES:
                assert rule.permission is not None
                allowed = rule.permission in PERMISSIONS[Role(caller)]
            else:
                allowed = False
            where = f"{method} {url} as {caller}: {r.status_code} {r.text[:120]}"
            if allowed:
                assert r.status_code not in (401, 403), where
            elif caller in ROLES:
                assert r.status_code == 403, where
            else:
                assert r.status_code == 401, where
            assert r.status_code < 500, where
            checked += 1
    assert checked >= 20 * len(callers)


def test_viewer_cannot_change_anything(site: Site):
    def state():
        tokens = [(t.id, t.name, t.roles, t.revoked_ns) for t in site.identity.tokens()]
        return site.identity.users(), tokens

    before = state()
    h = site.headers("viewer")
    assert (
        site.client.post(
            "/api/v1/users", headers=h, json={"name": "x", "role": "admin"}
        ).status_code
        == 403
    )
    assert (
        site.client.post(
            "/api/v1/tokens", headers=h, json={"name": "x", "roles": ["admin"]}
        ).status_code
        == 403
    )
    assert site.client.delete("/api/v1/tokens/1", headers=h).status_code == 403
    assert (
        site.client.put("/api/v1/users/root/role", headers=h, json={"role": "viewer"}).status_code
        == 403
    )
    assert site.client.post("/api/v1/users/root/disable", headers=h).status_code == 403
    assert state() == before
    denied = site.audit.entries(category="api", limit=100)
    assert [e.result for e in denied] == ["denied"] * 5
    assert {e.actor for e in denied} == {f"token:viewer-token#{1}"}
