"""The security review's findings on the API: each test failed before its fix.

1. a live stream ends when its credential does (logout, disable, revocation);
2. anonymous requests are collapsed in the audit trail, with counts;
4. background requests do not refresh a session's idle timer;
5. X-Forwarded-For is believed only from the listed proxies;
6. live streams are capped per principal and in all;
8. raw history is refused (400) above ``max_raw_points`` before anything is fetched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
import sqlalchemy as sa
from api_site import TAG, Site, make_site

from andon.api import ApiServer, ApiSettings
from andon.api.trail import STATE_KEY, Collapser
from andon.cli.serve import parse_proxies
from andon.core.errors import InputError
from andon.identity import Role
from andon.identity.schema import web_sessions
from andon.pipeline import LiveFeed

PASSWORD = "correct horse battery staple"
COOKIE = "__Host-andon_session"
QUICK = {"heartbeat_s": 0.2, "stream_stop_poll_s": 0.05, "stream_recheck_s": 0.2}


def live_site(tmp_path, **settings: object) -> tuple[Site, LiveFeed]:
    feed = LiveFeed()
    site = make_site(str(tmp_path / "a.db"), live=feed)
    site.context.settings = dataclasses.replace(site.context.settings, **{**QUICK, **settings})
    return site, feed


def session_headers(url: str, name: str = "root", password: str = PASSWORD) -> dict[str, str]:
    """Log in over http (a Secure cookie is sent by hand: httpx keeps it for https only)."""
    r = httpx.post(f"{url}/api/v1/auth/login", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return {"Cookie": f"{COOKIE}={r.cookies[COOKIE]}", "X-CSRF-Token": r.json()["csrf_token"]}


async def stream_ends_after(
    site: Site, headers: dict[str, str], act: Callable[[str], Awaitable[None]]
) -> float:
    """Open a stream with ``headers``, run ``act(url)``, return how long the stream lasted."""
    async with (
        ApiServer(site.context, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as c,
        c.stream("GET", "/api/v1/stream", headers=headers) as r,
    ):
        assert r.status_code == 200
        lines = r.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        await act(server.url)
        begun = time.monotonic()

        async def drain() -> None:
            async for _ in lines:
                pass

        await asyncio.wait_for(drain(), 5)  # the server closes the stream
        return time.monotonic() - begun


def test_a_stream_ends_at_logout(tmp_path):
    site, _ = live_site(tmp_path)

    async def scenario() -> float:
        async with ApiServer(site.context, "127.0.0.1", 0) as probe:
            headers = await asyncio.to_thread(session_headers, probe.url)

        async def logout(url: str) -> None:
            async with httpx.AsyncClient(base_url=url) as c:
                assert (await c.post("/api/v1/auth/logout", headers=headers)).status_code == 204

        return await stream_ends_after(site, headers, logout)

    assert asyncio.run(scenario()) < 3
    site.historian.close()


def test_a_stream_ends_when_its_user_is_disabled(tmp_path):
    site, _ = live_site(tmp_path)
    site.identity.create_user("ann", Role.VIEWER, PASSWORD, actor="cli:test")

    async def scenario() -> float:
        async with ApiServer(site.context, "127.0.0.1", 0) as probe:
            headers = await asyncio.to_thread(session_headers, probe.url, "ann")

        async def disable(url: str) -> None:
            await asyncio.to_thread(site.identity.disable_user, "ann", actor="cli:test")

        return await stream_ends_after(site, headers, disable)

    assert asyncio.run(scenario()) < 3
    site.historian.close()


def test_a_stream_ends_when_its_token_is_revoked(tmp_path):
    site, _ = live_site(tmp_path)
    token_id = next(t.id for t in site.identity.tokens() if t.name == "viewer-token")

    async def revoke(url: str) -> None:
        await asyncio.to_thread(site.identity.revoke_token, token_id, actor="cli:test")

    assert asyncio.run(stream_ends_after(site, site.headers("viewer"), revoke)) < 3
    site.historian.close()


def test_a_stream_ends_when_its_session_expires(tmp_path):
    site, _ = live_site(tmp_path)
    now = [time.time_ns()]
    site.identity._clock = lambda: now[0]
    site.identity._sessions._clock = lambda: now[0]

    async def scenario() -> float:
        async with ApiServer(site.context, "127.0.0.1", 0) as probe:
            headers = await asyncio.to_thread(session_headers, probe.url)

        async def later(url: str) -> None:
            now[0] += 31 * 60 * 10**9  # past the idle timeout: the stream did not touch it

        return await stream_ends_after(site, headers, later)

    assert asyncio.run(scenario()) < 3
    site.historian.close()


# -- 2: anonymous flooding ----------------------------------------------------------------


def entries_of(site: Site, action: str) -> list:
    return [e for e in site.audit.entries(limit=10_000) if e.action == action]


def flush(site: Site) -> None:
    collapser = getattr(site.app.state, STATE_KEY)
    assert isinstance(collapser, Collapser)
    asyncio.run(collapser.flush())


def test_anonymous_writes_are_collapsed_with_counts(site: Site):
    for _ in range(200):
        r = site.client.post("/api/v1/users", json={"name": "x", "role": "viewer"})
        assert r.status_code == 401
    found = entries_of(site, "users.create")
    assert 1 <= len(found) <= 2
    flush(site)
    found = entries_of(site, "users.create")
    assert len(found) <= 3
    assert all(e.result == "denied" and e.actor == "anonymous" for e in found)
    assert sum(e.details["count"] for e in found) == 200


def test_a_closed_window_is_flushed_with_the_next_entry(site: Site):
    collapser = getattr(site.app.state, STATE_KEY)
    now = [1000.0]
    collapser.clock = lambda: now[0]
    collapser._swept = now[0]  # the sweep's clock too, whatever the machine's uptime
    for _ in range(5):
        site.client.post("/api/v1/users", json={"name": "x", "role": "viewer"})
    now[0] += 59  # a sweep runs, the window is still open
    site.client.post("/api/v1/users", json={"name": "x", "role": "viewer"})
    now[0] += 2  # the window closed since the last sweep: its count rides with the next entry
    site.client.post("/api/v1/users", json={"name": "x", "role": "viewer"})
    counts = [e.details["count"] for e in entries_of(site, "users.create")]
    assert counts == [1, 6]  # the first at once; the 5 after it ride with the next window's


def test_a_sweep_writes_a_closed_window(site: Site):
    collapser = getattr(site.app.state, STATE_KEY)
    now = [1000.0]
    collapser.clock = lambda: now[0]
    collapser._swept = now[0]
    for _ in range(5):
        site.client.post("/api/v1/users", json={"name": "x", "role": "viewer"})
    now[0] += 61
    site.client.post("/api/v1/users", json={"name": "x", "role": "viewer"})
    counts = [e.details["count"] for e in entries_of(site, "users.create")]
    assert counts == [1, 4, 1]  # the sweep writes the closed window's 4, then a new window


def test_writes_by_a_principal_and_refused_credentials_are_each_recorded(site: Site):
    for _ in range(3):
        r = site.client.post(
            "/api/v1/users", json={"name": "x", "role": "viewer"}, headers=site.headers("viewer")
        )
        assert r.status_code == 403
        bad = {"Authorization": "Bearer andon_1_nope"}
        assert site.client.get("/api/v1/tags", headers=bad).status_code == 401
    assert len(entries_of(site, "users.create")) == 3
    assert len(entries_of(site, "tags.list")) == 3
    assert all("count" not in e.details for e in entries_of(site, "users.create"))


# -- 4: background requests do not touch the session ---------------------------------------


def test_background_requests_do_not_refresh_the_idle_timer(site: Site):
    now = [time.time_ns()]
    site.identity._clock = lambda: now[0]
    site.identity._sessions._clock = lambda: now[0]
    r = site.client.post("/api/v1/auth/login", json={"name": "root", "password": PASSWORD})
    assert r.status_code == 200

    def last_seen() -> int:
        with site.historian._engine.connect() as conn:
            return int(conn.execute(sa.select(web_sessions.c.last_seen_ns)).scalar_one())

    login_seen = last_seen()
    for _ in range(3):
        now[0] += 9 * 60 * 10**9
        r = site.client.get("/api/v1/auth/me", headers={"X-Andon-Background": "1"})
        assert r.status_code == 200
        assert last_seen() == login_seen
    now[0] += 4 * 60 * 10**9  # 31 min after login, with background polling all along
    assert site.client.get("/api/v1/auth/me").status_code == 401


def test_navigation_still_refreshes_the_idle_timer(site: Site):
    now = [time.time_ns()]
    site.identity._clock = lambda: now[0]
    site.identity._sessions._clock = lambda: now[0]
    site.client.post("/api/v1/auth/login", json={"name": "root", "password": PASSWORD})
    for _ in range(4):
        now[0] += 10 * 60 * 10**9
        assert site.client.get("/api/v1/auth/me").status_code == 200


# -- 5: X-Forwarded-For ---------------------------------------------------------------------


def forwarded_source(site: Site, **server: object) -> str:
    async def scenario() -> None:
        async with (
            ApiServer(site.context, "127.0.0.1", 0, **server) as s,  # type: ignore[arg-type]
            httpx.AsyncClient(base_url=s.url) as c,
        ):
            r = await c.post(
                "/api/v1/users",
                json={"name": "x", "role": "viewer"},
                headers={"X-Forwarded-For": "203.0.113.9"},
            )
            assert r.status_code == 401

    asyncio.run(scenario())
    (entry,) = entries_of(site, "users.create")
    return str(entry.source)


def test_x_forwarded_for_is_ignored_by_default(site: Site):
    assert forwarded_source(site) == "127.0.0.1"


def test_x_forwarded_for_is_believed_from_an_allowed_proxy(site: Site):
    assert forwarded_source(site, forwarded_allow_ips=["127.0.0.1"]) == "203.0.113.9"


def test_x_forwarded_for_from_a_proxy_in_the_settings(site: Site):
    site.context.settings = dataclasses.replace(
        site.context.settings, forwarded_allow_ips=("127.0.0.0/8",)
    )
    assert forwarded_source(site) == "203.0.113.9"


def test_x_forwarded_for_from_another_address_is_ignored(site: Site):
    assert forwarded_source(site, forwarded_allow_ips=["192.0.2.1"]) == "127.0.0.1"


def test_serve_parses_forwarded_allow_ips():
    assert parse_proxies("") == ()
    assert parse_proxies(" 10.0.0.5, 10.1.0.0/16 ,::1") == ("10.0.0.5", "10.1.0.0/16", "::1")
    for bad in ("*", "proxy.local", "10.0.0.1/8"):
        with pytest.raises(InputError):
            parse_proxies(bad)


def test_api_server_limits_concurrency_and_ignores_proxies_by_default(site: Site):
    server = ApiServer(site.context, "127.0.0.1", 0)
    config = server._server.config
    assert config.limit_concurrency == ApiSettings().max_connections
    assert config.proxy_headers is False
    assert server.forwarded_allow_ips == ()


# -- 6: stream caps -----------------------------------------------------------------------


def test_streams_are_capped_per_principal_and_in_all(tmp_path):
    site, _ = live_site(tmp_path, max_streams_per_principal=2, max_streams=3)

    async def scenario() -> None:
        async with (
            ApiServer(site.context, "127.0.0.1", 0) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as c,
        ):
            viewer, operator = site.headers("viewer"), site.headers("operator")
            a = await c.send(c.build_request("GET", "/api/v1/stream", headers=viewer), stream=True)
            b = await c.send(c.build_request("GET", "/api/v1/stream", headers=viewer), stream=True)
            assert (a.status_code, b.status_code) == (200, 200)
            over = await c.get("/api/v1/stream", headers=viewer)
            assert over.status_code == 429
            assert "per user or token" in over.json()["detail"]
            d = await c.send(
                c.build_request("GET", "/api/v1/stream", headers=operator), stream=True
            )
            assert d.status_code == 200
            full = await c.get("/api/v1/stream", headers=operator)
            assert full.status_code == 429
            await a.aclose()
            for _ in range(200):  # the slot comes back once the server sees the client go
                again = await c.send(
                    c.build_request("GET", "/api/v1/stream", headers=viewer), stream=True
                )
                if again.status_code == 200:
                    await again.aclose()
                    break
                await again.aclose()
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the closed stream's slot was never released")
            await b.aclose()
            await d.aclose()

    asyncio.run(scenario())
    site.historian.close()


# -- 8: raw history bound -----------------------------------------------------------------


def test_raw_history_above_the_bound_is_refused_before_fetching(site: Site, monkeypatch):
    site.context.settings = dataclasses.replace(site.context.settings, max_raw_points=1000)

    def no_fetch(*args: object, **kwargs: object) -> None:
        raise AssertionError("fetched before refusing")

    monkeypatch.setattr(site.historian, "range", no_fetch)
    r = site.client.get(
        f"/api/v1/tags/{TAG}/history", params={"from": "-2h"}, headers=site.headers("viewer")
    )
    assert r.status_code == 400
    assert "every" in r.json()["detail"]


def test_raw_history_within_the_bound_is_served(site: Site):
    site.context.settings = dataclasses.replace(site.context.settings, max_raw_points=1000)
    r = site.client.get(
        f"/api/v1/tags/{TAG}/history", params={"from": "-10min"}, headers=site.headers("viewer")
    )
    assert r.status_code == 200
    assert 0 < len(r.json()["value"]) <= 1000
