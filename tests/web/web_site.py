"""The web tests' plant: a SQLite historian in tmp_path filled by the virtual plant, identity
with one user per role, and the API app with the dashboard installed.

``LiveSite`` also serves it on a free loopback port from a thread of its own, with the virtual
plant carrying on through a LiveFeed (paced fast), so a browser sees the board change.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from andon.api import ApiContext, ApiServer, ApiSettings, create_app
from andon.audit import AuditLog
from andon.core.clock import NS_PER_S, now_ns
from andon.historian import Historian, open_historian
from andon.identity import Identity, Role
from andon.pipeline import HistorianSink, LiveFeed, Pipeline
from andon.plant import Plant, example_plant, load_plant
from andon.sim import VirtualPlant, VirtualPlantSource
from andon.web import install

PASSWORD = "correct horse battery staple"
ROLES = [r.value for r in Role]
"""One user per role, named after it (``viewer`` is a viewer)."""


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class WebSite:
    historian: Historian
    identity: Identity
    audit: AuditLog
    plant: Plant
    virtual: VirtualPlant
    context: ApiContext

    def machine(self, i: int = 0) -> str:
        return self.plant.machines()[i].path


def around_the_clock(model: Plant) -> Plant:
    """The plant without its shifts: it produces at any hour, so what the tests see does not
    depend on the time of day they run at (a lunch break would freeze every tile)."""
    return model.model_copy(update={"calendar": model.calendar.model_copy(update={"shifts": []})})


def make_site(
    db: str,
    *,
    plant: str = "job_shop",
    minutes: float = 15,
    lag_minutes: float = 0,
    live: LiveFeed | None = None,
) -> WebSite:
    """``minutes`` of simulated history ending ``lag_minutes`` before now."""
    historian = open_historian(f"sqlite:///{db}")
    model = around_the_clock(load_plant(example_plant(plant)))
    end = now_ns() - round(lag_minutes * 60 * NS_PER_S)
    start = end - round(minutes * 60 * NS_PER_S)
    virtual = VirtualPlant(model, seed=1, start_ns=start)
    batch, events = virtual.advance(end)
    historian.write(batch)
    historian.write_events(events)
    identity = Identity(historian.engine, password_hasher=fast_hasher())
    for role in ROLES:
        identity.create_user(role, Role(role), PASSWORD, actor="cli:test")
    audit = AuditLog(historian.engine)
    context = ApiContext(
        historian=historian,
        identity=identity,
        audit=audit,
        plant=model,
        live=live,
        settings=ApiSettings(heartbeat_s=1.0, stream_stop_poll_s=0.1),
    )
    return WebSite(historian, identity, audit, model, virtual, context)


def web_app(site: WebSite) -> FastAPI:
    app = create_app(site.context)
    install(app)
    return app


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the login form; returns the session's CSRF token."""
    token = form_token(client.get("/login").text)
    r = client.post(
        "/login",
        data={"csrf_token": token, "name": name, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    return form_token(client.get("/").text)


class LiveSite:
    """The site served on 127.0.0.1 from a thread, the virtual plant running live into it."""

    def __init__(self, db: str, *, plant: str = "job_shop", speed: float = 40.0) -> None:
        self.feed = LiveFeed()
        self.speed = speed
        self.site = make_site(db, plant=plant, minutes=60, lag_minutes=30, live=self.feed)
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="web-test-server", daemon=True)

    def start(self) -> LiveSite:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the test server did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        self.site.historian.close()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = ApiServer(self.site.context, "127.0.0.1", 0)
        install(server.app)
        await server.start()
        self.url = server.url
        source = VirtualPlantSource(self.site.virtual, now_ns(), speed=self.speed, chunk_s=5)
        pipeline = Pipeline([source], [HistorianSink(self.site.historian), self.feed])
        running = asyncio.create_task(pipeline.run())
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await self.feed.close()
            await server.stop()
