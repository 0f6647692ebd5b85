"""Forms: the login form's own CSRF guard, the session's token on every other form, the
messages a person sees, and the admin pages doing what they say (secrets shown once)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from web_site import PASSWORD, WebSite, form_token, log_in

from andon.identity import Role

SESSION = "__Host-andon_session"
LOGIN = "__Host-andon_login"


def login_post(client: TestClient, **fields: str):
    return client.post("/login", data=fields, follow_redirects=False)


def test_login_sets_a_strict_session_cookie_and_goes_to_next(client: TestClient):
    token = form_token(client.get("/login").text)
    r = login_post(
        client, csrf_token=token, name="viewer", password=PASSWORD, next="/machines/a?b=1"
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/machines/a?b=1"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{SESSION}="))
    assert "HttpOnly" in session and "Secure" in session and "SameSite=strict" in session
    assert any(c.startswith(f'{LOGIN}=""') for c in cookies)  # the form token is spent


def test_login_never_redirects_off_site(client: TestClient):
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:1"):
        token = form_token(client.get("/login").text)
        r = login_post(client, csrf_token=token, name="viewer", password=PASSWORD, next=target)
        assert r.status_code == 303
        assert r.headers["location"] == "/", target


def test_login_without_the_form_token_is_refused(client: TestClient, site: WebSite):
    client.get("/login")
    for token in ("", "not-the-cookie-value"):
        r = login_post(client, csrf_token=token, name="viewer", password=PASSWORD)
        assert r.status_code == 403
        assert "expired" in r.text
        assert SESSION not in r.headers.get("set-cookie", "")
    fresh = TestClient(client.app, base_url="https://testserver")  # no token cookie at all
    token = form_token(client.get("/login").text)
    r = fresh.post("/login", data={"csrf_token": token, "name": "viewer", "password": PASSWORD})
    assert r.status_code == 403


def test_wrong_password_then_throttled_are_said_plainly(client: TestClient):
    token = form_token(client.get("/login").text)
    r = login_post(client, csrf_token=token, name="viewer", password="wrong password here")
    assert r.status_code == 401
    assert "Wrong name or password." in r.text
    assert 'value="viewer"' in r.text  # the name is kept, the password is not
    statuses = []
    for _ in range(8):
        token = form_token(client.get("/login").text)
        r = login_post(client, csrf_token=token, name="viewer", password="wrong password here")
        statuses.append(r.status_code)
    assert statuses[-1] == 429
    assert int(r.headers["retry-after"]) >= 1
    assert re.search(r"Too many failed logins\. Try again in \d+ seconds\.", r.text)


def test_logout_needs_the_csrf_token_and_ends_the_session(client: TestClient):
    token = log_in(client, "viewer")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "x" * 64}).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_every_form_carries_the_session_token(client: TestClient, site: WebSite):
    token = log_in(client, "admin")
    client.post("/admin/tokens", data={"csrf_token": token, "name": "scada", "roles": "viewer"})
    pages = [
        "/",
        f"/machines/{site.machine()}",
        f"/stops?asset={site.machine()}",
        "/data?from=-15m",
        "/admin/users",
        "/admin/tokens",
        "/admin/audit",
    ]
    posts = 0
    for url in pages:
        html = client.get(url).text
        for form in re.findall(r"<form[^>]*>.*?</form>", html, flags=re.S):
            if 'method="post"' not in form:
                continue
            assert f'name="csrf_token" value="{token}"' in form, (url, form[:200])
            posts += 1
    assert posts >= 8


def test_every_write_is_refused_without_the_csrf_token(client: TestClient, site: WebSite):
    log_in(client, "admin")
    writes = {
        "/admin/users": {"name": "mallory", "role": "admin"},
        "/admin/users/viewer/role": {"role": "admin"},
        "/admin/users/viewer/disable": {},
        "/admin/tokens": {"name": "evil", "roles": "admin"},
        "/admin/tokens/1/revoke": {},
        "/stops/reason": {"asset": site.machine(), "at": "now", "reason": "jam"},
        "/stops/correction": {
            "asset": site.machine(),
            "from": "-2m",
            "to": "-1m",
            "state": "down",
        },
        "/stops/parts": {
            "asset": site.machine(),
            "at": "now",
            "product": "bracket",
            "result": "good",
        },
        "/logout": {},
    }
    before = site.identity.users(), [t.revoked_ns for t in site.identity.tokens()]
    for url, fields in writes.items():
        for token in (None, "0" * 64):
            data = dict(fields) if token is None else {**fields, "csrf_token": token}
            r = client.post(url, data=data, follow_redirects=False)
            assert r.status_code == 403, url
            assert "CSRF" in r.text, url
    assert (site.identity.users(), [t.revoked_ns for t in site.identity.tokens()]) == before


def test_admin_creates_a_user_whose_password_is_shown_once(client: TestClient, site: WebSite):
    token = log_in(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": token, "name": "ann", "role": "operator"})
    assert r.status_code == 201
    password = re.search(r'id="new-password">([^<]+)<', r.text).group(1)
    assert password not in client.get("/admin/users").text
    assert {u.name: u.role for u in site.identity.users()}["ann"] == Role.OPERATOR
    fresh = TestClient(client.app, base_url="https://testserver")
    log_in(fresh, "ann", password)
    again = client.post("/admin/users", data={"csrf_token": token, "name": "ann", "role": "viewer"})
    assert again.status_code == 400
    assert "already exists" in again.text


def test_admin_changes_a_role_and_disables_and_enables(client: TestClient, site: WebSite):
    token = log_in(client, "admin")
    r = client.post(
        "/admin/users/viewer/role",
        data={"csrf_token": token, "role": "maintenance"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?changed=viewer"
    client.post("/admin/users/viewer/disable", data={"csrf_token": token})
    users = {u.name: u for u in site.identity.users()}
    assert users["viewer"].role == Role.MAINTENANCE and users["viewer"].disabled
    client.post("/admin/users/viewer/enable", data={"csrf_token": token})
    assert not {u.name: u for u in site.identity.users()}["viewer"].disabled
    r = client.post("/admin/users/admin/role", data={"csrf_token": token, "role": "viewer"})
    assert r.status_code == 400  # the last admin keeps the role
    assert {u.name: u.role for u in site.identity.users()}["admin"] == Role.ADMIN


def test_admin_creates_and_revokes_a_token(client: TestClient, site: WebSite):
    token = log_in(client, "admin")
    r = client.post(
        "/admin/tokens",
        data={"csrf_token": token, "name": "scada", "roles": ["viewer", "operator"], "days": "7"},
    )
    assert r.status_code == 201
    secret = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    assert secret not in client.get("/admin/tokens").text
    api = client.get("/api/v1/machines", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    (info,) = site.identity.tokens()
    assert info.roles == frozenset({Role.VIEWER, Role.OPERATOR})
    r = client.post(f"/admin/tokens/{info.id}/revoke", data={"csrf_token": token})
    assert r.status_code == 200 and f"Token #{info.id} revoked" in r.text
    api = client.get("/api/v1/machines", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401
    bad = client.post("/admin/tokens", data={"csrf_token": token, "name": "x", "days": "9999"})
    assert bad.status_code == 400


def test_the_audit_page_pages_and_verifies(client: TestClient, site: WebSite):
    for i in range(60):
        site.audit.record(actor="cli:test", source="test", category="test", action=f"a{i}")
    log_in(client, "admin")
    head = site.audit.entries(limit=1, newest_first=True)[0].id
    first = client.get("/admin/audit").text
    ids = [int(i) for i in re.findall(r'data-entry="(\d+)"', first)]
    assert ids == list(range(head, head - 50, -1))
    older = re.search(r'href="/admin/audit\?before=(\d+)" rel="next"', first).group(1)
    second = client.get(f"/admin/audit?before={older}").text
    ids2 = [int(i) for i in re.findall(r'data-entry="(\d+)"', second)]
    assert ids2 == list(range(head - 50, max(0, head - 100), -1))
    verdict = client.get("/admin/audit/verify").text
    assert "Verified:" in verdict and "untouched" in verdict
