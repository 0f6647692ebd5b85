"""Login, sessions, CSRF and logout through the API."""

from __future__ import annotations

from api_site import Site

PASSWORD = "correct horse battery staple"
COOKIE = "__Host-andon_session"


def login(site: Site, name: str = "root", password: str = PASSWORD):
    return site.client.post("/api/v1/auth/login", json={"name": name, "password": password})


def test_login_sets_a_hardened_cookie_and_returns_the_csrf_token(site: Site):
    r = login(site)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "root" and body["roles"] == ["admin"] and len(body["csrf_token"]) >= 32
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=strict"):
        assert attribute in cookie
    assert "Domain" not in cookie  # __Host- cookies must not name a domain
    assert PASSWORD not in r.text
    me = site.client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["kind"] == "user"


def test_each_login_gets_a_new_session_and_ends_the_old(site: Site):
    login(site)
    first = site.client.cookies[COOKIE]
    login(site)
    second = site.client.cookies[COOKIE]
    assert first != second
    site.client.cookies.clear()
    r = site.client.get("/api/v1/auth/me", cookies={COOKIE: first})
    assert r.status_code == 401


def test_logout_ends_the_session_server_side(site: Site):
    csrf = login(site).json()["csrf_token"]
    secret = site.client.cookies[COOKIE]
    r = site.client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    site.client.cookies.clear()
    assert site.client.get("/api/v1/auth/me", cookies={COOKIE: secret}).status_code == 401


def test_logout_accepts_the_csrf_token_as_a_form_field(site: Site):
    csrf = login(site).json()["csrf_token"]
    r = site.client.post("/api/v1/auth/logout", data={"csrf_token": csrf})
    assert r.status_code == 204
    assert site.client.get("/api/v1/auth/me").status_code == 401


def test_cookie_writes_need_the_csrf_token(site: Site):
    csrf = login(site).json()["csrf_token"]
    new_user = {"name": "ann", "role": "operator"}
    assert site.client.post("/api/v1/users", json=new_user).status_code == 403
    wrong = {"X-CSRF-Token": "0" * 64}
    assert site.client.post("/api/v1/users", json=new_user, headers=wrong).status_code == 403
    assert [u.name for u in site.identity.users()] == ["root"]
    r = site.client.post("/api/v1/users", json=new_user, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert len(r.json()["password"]) >= 12
    assert [u.name for u in site.identity.users()] == ["ann", "root"]
    # reads need no CSRF token
    assert site.client.get("/api/v1/users").status_code == 200


def test_wrong_password_is_401_and_does_not_say_which_part_was_wrong(site: Site):
    wrong = login(site, password="nope")
    unknown = login(site, name="nobody", password="nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert COOKIE not in wrong.headers.get("set-cookie", "")


def test_repeated_failures_are_throttled_with_retry_after(site: Site):
    codes = [login(site, password=f"guess-{i}").status_code for i in range(8)]
    assert codes[:5] == [401] * 5
    assert 429 in codes
    r = login(site)  # even the right password waits now
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert "try again" in r.json()["detail"]


def test_login_outcomes_are_audited_by_identity_once_each(site: Site):
    login(site, password="nope")
    login(site)
    logins = [e for e in site.audit.entries(category="auth") if e.action == "login"]
    assert [e.result for e in logins] == ["failed", "ok"]
    assert all(e.source == "testclient" for e in logins)
    assert not [e for e in site.audit.entries(category="api") if e.action == "auth.login"]
    assert PASSWORD not in str([e.details for e in site.audit.entries(limit=1000)])


def test_a_disabled_user_loses_the_session_at_once(site: Site):
    site.identity.create_user("bob", "operator", "bob's long password", actor="cli:test")
    r = login(site, "bob", "bob's long password")
    assert r.status_code == 200
    admin = site.headers("admin")
    assert site.client.post("/api/v1/users/bob/disable", headers=admin).status_code == 204
    assert site.client.get("/api/v1/auth/me").status_code == 401
