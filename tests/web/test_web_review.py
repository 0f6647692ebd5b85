"""The security review's findings on the pages: each test failed before its fix.

3. a page action refused to an anonymous user is audited ``denied``, not ``ok``;
4. the dashboard's polling marks itself background (no refresh of the idle timer);
7. the machine page's event queries are bounded (no day or month of events loaded).
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from web_site import WebSite, form_token, log_in

from andon.core.clock import NS_PER_H, NS_PER_S, now_ns
from andon.core.event import Event
from andon.web.pages import machines


def test_an_anonymous_page_action_is_audited_as_denied(site: WebSite, client: TestClient):
    token = form_token(client.get("/login").text)
    r = client.post(
        "/admin/users/viewer/disable", data={"csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    found = [e for e in site.audit.entries(limit=1000) if e.action == "web.users_disable"]
    assert found and all(e.result == "denied" for e in found)
    assert not site.identity.users()[0].disabled


def test_a_forbidden_page_action_is_audited_as_denied(site: WebSite, client: TestClient):
    csrf = log_in(client, "viewer")
    r = client.post("/admin/users/operator/disable", data={"csrf_token": csrf})
    assert r.status_code == 403
    found = [e for e in site.audit.entries(limit=1000) if e.action == "web.users_disable"]
    assert [e.result for e in found] == ["denied"]


def test_polling_fragments_are_marked_background(site: WebSite, client: TestClient):
    log_in(client, "viewer")
    board = client.get("/").text
    assert 'id="tiles"' in board and "X-Andon-Background" in board
    page = client.get(f"/machines/{site.machine()}").text
    assert "X-Andon-Background" in page.split('id="events"', 1)[1].split(">", 1)[0]
    script = client.get("/static/machine.js").text
    assert script.count("X-Andon-Background") >= 2


def test_machine_page_event_queries_are_bounded(site: WebSite, client: TestClient, monkeypatch):
    asset = site.machine()
    now = now_ns()
    # a busy machine: a state change every second for the last 3 hours
    site.historian.write_events(
        [
            Event(now - 3 * NS_PER_H + i * NS_PER_S, asset, "state", {"state": "idle"})
            for i in range(3 * 3600)
        ]
    )
    limits: list[int | None] = []
    real = site.historian.events

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        limits.append(kwargs.get("limit", args[4] if len(args) > 4 else 1000))
        return real(*args, **kwargs)

    monkeypatch.setattr(site.historian, "events", spy)
    log_in(client, "viewer")
    assert client.get(f"/machines/{asset}").status_code == 200
    assert limits and None not in limits
    events = machines.recent_events(site.context, asset)
    assert len(events) == machines.RECENT
    assert events == sorted(events, key=lambda e: -e.ts)
    newest = real(asset, None, now - NS_PER_H, None, limit=None)
    assert events[0] == newest[-1]


def test_state_before_finds_an_old_state_and_a_recent_one(site: WebSite):
    asset = "acme/nowhere/quiet-1"
    now = now_ns()
    site.historian.write_events(
        [
            Event(now - 20 * 24 * NS_PER_H, asset, "state", {"state": "down"}),
            Event(now - 2 * NS_PER_H, asset, "state", {"state": "running"}),
        ]
    )
    found = machines.state_before(site.context, asset, now - NS_PER_H)
    assert found is not None and found.payload["state"] == "running"
    found = machines.state_before(site.context, asset, now - 3 * NS_PER_H)
    assert found is not None and found.payload["state"] == "down"
    assert machines.state_before(site.context, asset, now - 30 * 24 * NS_PER_H) is None
