"""Sources in the API: the health of a running connector, dead letters, and audited write-back.

The connector is andon's real Modbus connector polling a pymodbus server of the test's own on
a free loopback port. As in ``andon serve``, the app and the connector share one event loop:
the requests go through httpx's ASGI transport inside ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_site import Site, make_site
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from andon.api.schemas import DeadLetterOut, SourceHealthOut
from andon.audit import AuditEntry
from andon.connect.deadletter import DeadLetter
from andon.connect.modbus import ModbusSource
from andon.core.clock import NS_PER_S, iso, now_ns
from andon.core.stream import Item
from andon.plant.sources import ModbusRegister
from andon.plant.sources import ModbusSource as ModbusConfig

DEV = "acme/press/line-1/press-1"
SETPOINT, SPEED, RUNNING, COUNTER, GHOST = (
    f"{DEV}/{t}" for t in ("setpoint", "speed", "running", "counter", "ghost")
)
HOLDING, COILS = 3, 1


class Press:
    """A pymodbus TCP server: 10 holding registers, 4 coils, 2 input registers (unit 1)."""

    def __init__(self) -> None:
        self.server: ModbusTcpServer | None = None
        self.port = 0

    async def start(self) -> None:
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, count=4, values=False, datatype=DataType.BITS)],
                [SimData(0, count=4, values=False, datatype=DataType.BITS)],
                [SimData(0, values=[7] * 10, datatype=DataType.REGISTERS)],
                [SimData(0, values=[42, 43], datatype=DataType.REGISTERS)],
            ),
        )
        self.server = ModbusTcpServer(device, address=("127.0.0.1", 0))
        await self.server.serve_forever(background=True)
        sockets: Any = getattr(self.server.transport, "sockets", None)
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]

    async def values(self, function: int, address: int, count: int) -> list[Any]:
        assert self.server is not None
        return list(await self.server.async_getValues(1, function, address, count))

    def config(self) -> ModbusConfig:
        return ModbusConfig(
            type="modbus",
            name="press",
            url=f"modbus://127.0.0.1:{self.port}",
            poll=0.05,
            timeout=1.0,
            registers=[
                ModbusRegister(tag=SETPOINT, address=0, type="uint16"),
                ModbusRegister(tag=SPEED, address=2, type="float32"),
                ModbusRegister(tag=RUNNING, address=0, function="coil", type="bool"),
                ModbusRegister(tag=COUNTER, address=0, function="input", type="uint16"),
                ModbusRegister(tag=GHOST, address=60, type="uint16"),  # the device has none
            ],
        )


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


Scenario = Callable[[httpx.AsyncClient, Press, ModbusSource], Coroutine[Any, Any, None]]


def with_press(site: Site, scenario: Scenario) -> None:
    """Run ``scenario`` with the press served, its connector running in ``site``'s context,
    and an HTTP client on the app — all on one event loop."""

    async def main() -> None:
        press = Press()
        await press.start()
        connector = ModbusSource(press.config())
        items: list[Item] = []

        async def emit(item: Item) -> None:
            items.append(item)

        running = asyncio.create_task(connector.run(emit))
        site.context.sources = [connector]
        try:
            await until(lambda: connector.health.connected and connector.polls >= 2)
            transport = httpx.ASGITransport(app=site.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://testserver"
            ) as http:
                await scenario(http, press, connector)
        finally:
            await connector.close()
            await asyncio.wait_for(running, 10)
            await press.stop()

    asyncio.run(main())


@pytest.fixture
def site(tmp_path: Path) -> Any:
    s = make_site(str(tmp_path / "andon.db"))
    yield s
    s.historian.close()


def writes(site: Site) -> list[AuditEntry]:
    return [
        e for e in site.audit.entries(category="api", limit=1000) if e.action == "sources.write"
    ]


def test_the_running_connector_shows_connected_with_its_counts(site: Site) -> None:
    async def scenario(http: httpx.AsyncClient, press: Press, c: ModbusSource) -> None:
        r = await http.get("/api/v1/sources", headers=site.headers("viewer"))
        assert r.status_code == 200, r.text
        (health,) = r.json()
        SourceHealthOut.model_validate(health)
        assert health["name"] == "press" and health["kind"] == "modbus"
        assert health["url"] == f"modbus://127.0.0.1:{press.port}"
        assert health["connected"] is True and health["since"] is not None
        assert health["messages"] >= 2 * 2  # two good reads per poll (holding 0-3, coil)
        assert health["samples"] >= 2 * 4  # setpoint, speed, running, counter
        assert health["last_message"] is not None and health["rate"] > 0
        # the ghost register's read fails every poll: errors count, one dead letter
        assert health["errors"] >= 2 and health["dead_letters"] == 1
        assert "illegal data address" in health["last_error"]
        # dead letters stored in the historian are counted from there
        site.historian.write_events(
            [DeadLetter.of("press", f"unit 1 holding {i}", b"\x83", "x").event() for i in range(3)]
        )
        r = await http.get("/api/v1/sources", headers=site.headers("viewer"))
        assert r.json()[0]["dead_letters"] == 3

    with_press(site, scenario)


def test_dead_letters_are_listed_filtered_and_capped(site: Site) -> None:
    now = now_ns()
    site.historian.write_events(
        [
            DeadLetter.of(
                "broker", f"acme/bad/{i}", b"{oops", "not JSON", now - i * NS_PER_S
            ).event()
            for i in range(5)
        ]
        + [DeadLetter.of("press", "unit 1 holding 60", b"\x83\x02", "exception 2", now).event()]
    )
    h = site.headers("viewer")
    with site.client:
        r = site.client.get("/api/v1/sources/dead-letters", headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body) == 6
        for d in body:
            DeadLetterOut.model_validate(d)
        assert body[0] == {
            "ts": iso(now - 4 * NS_PER_S),
            "source": "broker",
            "topic": "acme/bad/4",
            "head": "{oops",
            "size": 5,
            "reason": "not JSON",
        }
        r = site.client.get("/api/v1/sources/dead-letters", params={"source": "press"}, headers=h)
        assert [d["topic"] for d in r.json()] == ["unit 1 holding 60"]
        r = site.client.get(
            "/api/v1/sources/dead-letters", params={"source": "broker", "limit": 2}, headers=h
        )
        assert [d["topic"] for d in r.json()] == ["acme/bad/1", "acme/bad/0"]  # the newest two
        r = site.client.get(
            "/api/v1/sources/dead-letters", params={"from": "-2h", "to": "-1h"}, headers=h
        )
        assert r.json() == []
        r = site.client.get("/api/v1/sources/dead-letters", params={"limit": 10_001}, headers=h)
        assert r.status_code == 400
        assert r.json()["detail"] == "limit: at most 10000, got 10001"
        r = site.client.get("/api/v1/sources/dead-letters", params={"limit": 0}, headers=h)
        assert r.status_code == 422
        assert site.client.get("/api/v1/sources/dead-letters").status_code == 401


def test_an_engineer_writes_to_the_machine_and_it_is_audited(site: Site) -> None:
    async def scenario(http: httpx.AsyncClient, press: Press, c: ModbusSource) -> None:
        h = site.headers("engineer")
        r = await http.post(
            "/api/v1/sources/write", json={"tag": SETPOINT, "value": 1234}, headers=h
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["source"], body["tag"], body["ok"]) == ("press", SETPOINT, True)
        assert "holding register 0" in body["detail"]
        assert await press.values(HOLDING, 0, 1) == [1234]
        r = await http.post(
            "/api/v1/sources/write",
            json={"tag": RUNNING, "value": True, "source": "press"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert (await press.values(COILS, 0, 1))[0] is True
        first, second = writes(site)
        assert (first.target, first.result, first.actor) == (
            SETPOINT,
            "ok",
            "token:engineer-token#4",
        )
        assert first.details["value"] == 1234 and first.details["source"] == "press"
        assert first.details["ok"] is True and first.details["status"] == 200
        assert (second.target, second.details["value"]) == (RUNNING, True)

    with_press(site, scenario)


def test_viewers_and_operators_cannot_write(site: Site) -> None:
    async def scenario(http: httpx.AsyncClient, press: Press, c: ModbusSource) -> None:
        for role in ("viewer", "operator", "maintenance"):
            r = await http.post(
                "/api/v1/sources/write",
                json={"tag": SETPOINT, "value": 1},
                headers=site.headers(role),
            )
            assert r.status_code == 403, (role, r.text)
        r = await http.post("/api/v1/sources/write", json={"tag": SETPOINT, "value": 1})
        assert r.status_code == 401
        assert await press.values(HOLDING, 0, 1) == [7]
        audited = writes(site)
        assert [e.result for e in audited] == ["denied"] * 4
        assert [e.actor for e in audited][-1] == "anonymous"

    with_press(site, scenario)


def test_a_write_that_cannot_be_made_is_400_with_the_reason(site: Site) -> None:
    async def scenario(http: httpx.AsyncClient, press: Press, c: ModbusSource) -> None:
        h = site.headers("engineer")

        async def refused(body: dict[str, Any]) -> str:
            r = await http.post("/api/v1/sources/write", json=body, headers=h)
            assert r.status_code == 400, r.text
            return str(r.json()["detail"])

        nowhere = f"{DEV}/nothing"
        assert await refused({"tag": nowhere, "value": 1}) == (
            f"tag {nowhere!r}: no source writes it here; name the source"
        )
        assert await refused({"tag": nowhere, "value": 1, "source": "press"}) == (
            f"source press: no Modbus register is mapped to tag {nowhere}"
        )
        assert "input registers are read-only" in await refused({"tag": COUNTER, "value": 1})
        assert await refused({"tag": SETPOINT, "value": 1, "source": "elsewhere"}) == (
            "source: no source named 'elsewhere'"
        )
        assert "does not fit uint16" in await refused({"tag": SETPOINT, "value": 70_000})
        r = await http.post(
            "/api/v1/sources/write", json={"tag": SETPOINT, "value": [1]}, headers=h
        )
        assert r.status_code == 422
        assert await press.values(HOLDING, 0, 1) == [7]
        audited = writes(site)
        assert [e.result for e in audited] == ["failed"] * 6
        assert audited[0].target == nowhere and audited[0].details["value"] == 1

    with_press(site, scenario)


def test_a_write_the_machine_refuses_is_502_and_audited_failed(site: Site) -> None:
    async def scenario(http: httpx.AsyncClient, press: Press, c: ModbusSource) -> None:
        r = await http.post(
            "/api/v1/sources/write",
            json={"tag": GHOST, "value": 5},
            headers=site.headers("engineer"),
        )
        assert r.status_code == 502, r.text
        detail = r.json()["detail"]
        assert detail.startswith(f"{GHOST}: the device refused the write to holding register 60")
        assert "illegal data address" in detail
        (entry,) = writes(site)
        assert (entry.target, entry.result, entry.details["status"]) == (GHOST, "failed", 502)
        assert entry.details["ok"] is False and "illegal data address" in entry.details["answer"]

    with_press(site, scenario)
