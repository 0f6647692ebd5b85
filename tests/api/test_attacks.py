"""Bad input and attacks: each a clear 4xx, nothing written, nothing leaked."""

from __future__ import annotations

import pytest
from api_site import TAG, Site

USERS = "/api/v1/users"
NEW = {"name": "mallory", "role": "admin"}
LEAKS = ("Traceback", "SELECT", "sqlalchemy", "sqlite3", 'File "')


def names(site: Site) -> list[str]:
    return [u.name for u in site.identity.users()]


def api_entries(site: Site):
    return site.audit.entries(category="api", limit=1000)


def assert_clean(r) -> None:
    assert 400 <= r.status_code < 500, r.text
    assert "detail" in r.json()
    for leak in LEAKS:
        assert leak not in r.text


def test_no_token(site: Site):
    r = site.client.get("/api/v1/tags")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert api_entries(site) == []  # an anonymous read is refused, not logged
    r = site.client.post(USERS, json=NEW)
    assert_clean(r)
    assert r.status_code == 401
    assert names(site) == ["root"]
    (entry,) = api_entries(site)
    assert (entry.actor, entry.action, entry.result) == ("anonymous", "users.create", "denied")
    assert entry.source == "testclient"


@pytest.mark.parametrize(
    "header",
    ["Bearer andon_1_forged", "Bearer ", "Basic cm9vdDpyb290", "Bearer " + "x" * 5000],
)
def test_bad_authorization_headers(site: Site, header: str):
    r = site.client.post(USERS, json=NEW, headers={"Authorization": header})
    assert_clean(r)
    assert r.status_code == 401
    assert names(site) == ["root"]
    assert [e.result for e in api_entries(site)] == ["denied"]


def test_forged_cookie(site: Site):
    cookie = {"__Host-andon_session": "forged-session-value"}
    r = site.client.get("/api/v1/tags", cookies=cookie)
    assert_clean(r)
    assert r.status_code == 401
    r = site.client.post(USERS, json=NEW, cookies=cookie, headers={"X-CSRF-Token": "x"})
    assert r.status_code == 401
    assert names(site) == ["root"]
    assert [e.result for e in api_entries(site)] == ["denied", "denied"]


def test_missing_csrf(site: Site):
    r = site.client.post(
        "/api/v1/auth/login", json={"name": "root", "password": "correct horse battery staple"}
    )
    assert r.status_code == 200
    before = len(site.audit.entries(limit=1000))
    r = site.client.post(USERS, json=NEW)
    assert_clean(r)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert names(site) == ["root"]
    entries = site.audit.entries(limit=1000)
    assert len(entries) == before + 1 and entries[-1].result == "denied"


def test_over_long_body_is_refused_before_parsing(site: Site):
    big = b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'", "role": "admin"}'
    headers = {**site.headers("admin"), "Content-Type": "application/json"}
    r = site.client.post(USERS, content=big, headers=headers)
    assert r.status_code == 413
    assert names(site) == ["root"]

    def chunks():
        for _ in range(3):
            yield b"a" * (512 * 1024)

    r = site.client.post(USERS, content=chunks(), headers=headers)
    assert r.status_code == 413
    assert names(site) == ["root"]


def test_unknown_tag(site: Site):
    r = site.client.get("/api/v1/tags/acme/a/b/c/nope/history", headers=site.headers("viewer"))
    assert_clean(r)
    assert r.status_code == 404 and "unknown tag" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tags/%2e%2e/%2e%2e/etc/passwd/x/history",
        "/api/v1/tags/UPPER/a/b/c/d/history",
        "/api/v1/tags/a/b/history",
        "/api/v1/tags/" + "a/" * 300 + "history",
    ],
)
def test_malformed_tag_paths(site: Site, path: str):
    r = site.client.get(path, headers=site.headers("viewer"))
    assert_clean(r)


@pytest.mark.parametrize("every", [None, "1m"])
def test_backwards_range(site: Site, every: str | None):
    params = {"from": "now", "to": "-1h"} | ({"every": every} if every else {})
    r = site.client.get(
        f"/api/v1/tags/{TAG}/history", params=params, headers=site.headers("viewer")
    )
    assert_clean(r)
    assert r.status_code == 400 and "earlier time first" in r.json()["detail"]
    r = site.client.get("/api/v1/events", params=params, headers=site.headers("viewer"))
    assert r.status_code == 400


def test_billion_point_raw_range_gets_the_historians_message(site: Site):
    site.historian.max_raw_points = 1000  # the tag holds 3,600: "too many" without 1M rows
    params = {"from": "1990-01-01T00:00:00Z", "to": "2200-01-01T00:00:00Z"}
    r = site.client.get(
        f"/api/v1/tags/{TAG}/history", params=params, headers=site.headers("viewer")
    )
    assert_clean(r)
    assert r.status_code == 400
    assert "more than 1000 samples" in r.json()["detail"] and "downsample" in r.json()["detail"]


@pytest.mark.parametrize("every", ["1s", "1ms", "0s", "-5m", "1e400", "soon", "1000000000w"])
def test_downsampling_is_bounded(site: Site, every: str):
    params = {"from": "1990-01-01T00:00:00Z", "to": "2200-01-01T00:00:00Z", "every": every}
    r = site.client.get(
        f"/api/v1/tags/{TAG}/history", params=params, headers=site.headers("viewer")
    )
    assert_clean(r)
    assert r.status_code in (400, 422)


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"from": "2026-01-01T00:00:00"},  # no offset
        {"from": "99999-01-01T00:00:00Z"},
        {"to": "-100000000000000000000d"},
        {"agg": "median", "every": "1m"},
    ],
)
def test_bad_query_values(site: Site, params: dict[str, str]):
    r = site.client.get(
        f"/api/v1/tags/{TAG}/history", params=params, headers=site.headers("viewer")
    )
    assert_clean(r)


def test_event_limit_is_bounded(site: Site):
    r = site.client.get("/api/v1/events", params={"limit": 10**9}, headers=site.headers("viewer"))
    assert_clean(r)
    r = site.client.get("/api/v1/events", params={"limit": 0}, headers=site.headers("viewer"))
    assert r.status_code == 422


def test_validation_errors_do_not_echo_the_input(site: Site):
    secret = "hunter2-" * 200
    r = site.client.post("/api/v1/auth/login", json={"name": "root", "password": secret})
    assert r.status_code == 422
    assert "hunter2" not in r.text
    r = site.client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422)


def test_bad_stream_pattern(site: Site):
    for pattern in ["#/a", "a/#/b", "A", "a//b", "../x"]:
        r = site.client.get(
            "/api/v1/stream", params={"pattern": pattern}, headers=site.headers("viewer")
        )
        assert_clean(r)
        assert r.status_code == 400


def test_admin_mistakes_are_400_and_write_nothing(site: Site):
    admin = site.headers("admin")
    r = site.client.post(USERS, json={"name": "root", "role": "viewer"}, headers=admin)
    assert_clean(r)
    assert "already exists" in r.json()["detail"]
    r = site.client.post(USERS, json={"name": "Bad Name", "role": "viewer"}, headers=admin)
    assert r.status_code == 400
    r = site.client.post("/api/v1/users/root/disable", headers=admin)
    assert r.status_code == 400 and "last enabled admin" in r.json()["detail"]
    r = site.client.delete("/api/v1/tokens/999999", headers=admin)
    assert r.status_code == 400
    assert names(site) == ["root"]
    assert [e.result for e in api_entries(site)] == ["failed"] * 4


def test_security_headers_on_every_answer(site: Site):
    for r in (
        site.client.get("/api/v1/health"),
        site.client.get("/api/v1/tags"),
        site.client.get("/nowhere"),
    ):
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    assert site.client.get("/api/v1/health").headers["Cache-Control"] == "no-store"


def test_writes_are_audited_with_actor_source_and_target(site: Site):
    admin = site.headers("admin")
    r = site.client.post(
        "/api/v1/tokens", json={"name": "scada", "roles": ["viewer"]}, headers=admin
    )
    assert r.status_code == 201
    secret = r.json()["secret"]
    (entry,) = api_entries(site)
    assert (entry.actor, entry.action, entry.target, entry.result) == (
        "token:admin-token#5",
        "tokens.create",
        "scada",
        "ok",
    )
    everything = str([(e.details, e.target) for e in site.audit.entries(limit=1000)])
    assert secret not in everything and secret.split("_")[-1] not in everything
    assert site.audit.verify().ok
