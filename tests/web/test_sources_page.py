"""The Sources page: every running connector with its status, the health fragment the page
refreshes, and the newest dead letters (escaped: a dead letter is whatever a stranger sent).

The connectors are andon's Modbus connector: one polling a pymodbus server of the test's own
on a free loopback port, one pointed at a port where nothing listens. As in ``andon serve``,
the app and the connectors share one event loop (httpx's ASGI transport in ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from web_site import PASSWORD, WebSite, web_app

from andon.connect.deadletter import DeadLetter
from andon.connect.modbus import ModbusSource
from andon.core.clock import NS_PER_S, now_ns
from andon.core.stream import Item
from andon.plant.sources import ModbusRegister
from andon.plant.sources import ModbusSource as ModbusConfig

DEV = "acme/press/line-1/press-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def config(name: str, port: int) -> ModbusConfig:
    return ModbusConfig(
        type="modbus",
        name=name,
        url=f"modbus://127.0.0.1:{port}",
        poll=0.05,
        timeout=0.5,
        registers=[ModbusRegister(tag=f"{DEV}/{name}_setpoint", address=0, type="uint16")],
    )


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def log_in(http: httpx.AsyncClient, name: str) -> None:
    page = (await http.get("/login")).text
    token = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert token
    r = await http.post(
        "/login",
        data={"csrf_token": token.group(1), "name": name, "password": PASSWORD, "next": "/"},
    )
    assert r.status_code == 303, r.text[:300]


Scenario = Callable[[httpx.AsyncClient], Coroutine[Any, Any, None]]


def with_sources(site: WebSite, scenario: Scenario, *, running: bool = True) -> None:
    """``scenario`` with a viewer logged in and (if ``running``) two connectors in the
    context: ``press`` polling a real device, ``far`` failing to reach its own."""

    async def main() -> None:
        server = ModbusTcpServer(
            SimDevice(id=1, simdata=[SimData(0, values=[7] * 4, datatype=DataType.REGISTERS)]),
            address=("127.0.0.1", 0),
        )
        await server.serve_forever(background=True)
        sockets: Any = getattr(server.transport, "sockets", None)
        press = ModbusSource(config("press", int(sockets[0].getsockname()[1])))
        far = ModbusSource(config("far", free_port()), backoff=(0.2, 0.2))
        connectors = [press, far] if running else []

        async def emit(item: Item) -> None:
            pass

        tasks = [asyncio.create_task(c.run(emit)) for c in connectors]
        site.context.sources = connectors
        try:
            if running:
                await until(lambda: press.polls >= 2 and bool(far.health.last_error))
            transport = httpx.ASGITransport(app=web_app(site))
            async with httpx.AsyncClient(
                transport=transport, base_url="https://testserver"
            ) as http:
                await log_in(http, "viewer")
                await scenario(http)
        finally:
            for c in connectors:
                await c.close()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            await server.shutdown()  # type: ignore[no-untyped-call]

    asyncio.run(main())


def rows(html: str) -> dict[str, tuple[str, str, str]]:
    """source name -> (row class, status cell, last problem cell) of the health table."""
    out = {}
    for m in re.finditer(r'<tr class="source (\w+)" data-source="([^"]+)">(.*?)</tr>', html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", m.group(3), re.S)
        out[m.group(2)] = (m.group(1), cells[3], cells[-1])
    return out


def test_the_page_lists_every_source_with_its_status(site: WebSite) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        r = await http.get("/sources")
        assert r.status_code == 200
        found = rows(r.text)
        assert set(found) == {"press", "far"}
        assert found["press"][:2] == ("up", "connected")
        assert found["far"][:2] == ("down", "unavailable")
        assert "cannot connect to 127.0.0.1:" in found["far"][2]
        assert "<h1>Sources</h1>" in r.text and 'id="dead-letters"' in r.text

        fragment = await http.get("/sources/health")
        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<table id="source-health"')
        assert 'hx-get="/sources/health"' in fragment.text
        assert 'hx-trigger="every 5s"' in fragment.text
        assert "<html" not in fragment.text and "<nav" not in fragment.text
        assert rows(fragment.text).keys() == {"press", "far"}

        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web_app(site)), base_url="https://testserver"
        )
        async with anonymous:
            r = await anonymous.get("/sources/health")
            assert r.status_code == 303 and r.headers["location"].startswith("/login")

    with_sources(site, scenario)


def test_dead_letters_are_shown_newest_first_and_escaped(site: WebSite) -> None:
    now = now_ns()
    site.historian.write_events(
        [
            DeadLetter.of(
                "broker", "acme/<b>x</b>", b"<script>alert(1)</script>", "not JSON", now
            ).event(),
            DeadLetter.of("broker", "acme/older", b"{", "not JSON", now - 60 * NS_PER_S).event(),
            DeadLetter.of(
                "broker", "acme/2-days-ago", b"{", "x", now - 2 * 86400 * NS_PER_S
            ).event(),
        ]
    )

    async def scenario(http: httpx.AsyncClient) -> None:
        page = (await http.get("/sources")).text
        table = page.split('id="dead-letters"', 1)[1]
        assert "<script>alert(1)" not in page and "<b>x</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
        assert "acme/&lt;b&gt;x&lt;/b&gt;" in table
        assert table.index("&lt;b&gt;x") < table.index("acme/older")  # newest first
        assert "acme/2-days-ago" not in table  # the last day only
        assert rows(page)["press"][:2] == ("up", "connected")

    with_sources(site, scenario)


def test_without_sources_the_page_says_where_they_come_from(site: WebSite) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        page = (await http.get("/sources")).text
        assert rows(page) == {}
        assert "No sources run in this process" in page
        assert "No dead letters." in page

    with_sources(site, scenario, running=False)
