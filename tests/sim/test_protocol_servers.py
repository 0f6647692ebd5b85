"""The virtual plant behind real protocols: what it publishes, andon's connectors store."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from andon.connect import Connector
from andon.connect.mqtt_json import MqttJsonSource
from andon.connect.sparkplug_source import SparkplugSource
from andon.core.clock import NS_PER_S, parse_time
from andon.historian import Historian, open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant
from andon.sim.serve.mqtt_json import UnsPublisher
from andon.sim.serve.plant_server import Output, PlantServer
from andon.sim.serve.sparkplug import SparkplugPublisher

START = parse_time("2026-03-02T07:00:00+01:00")
SPAN = 20 * 60 * NS_PER_S


async def _serve_and_ingest(
    historian: Historian,
    server: PlantServer,
    connectors: Sequence[Connector],
    expected: int | None = None,
    deadline_s: float = 30.0,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the plant server and andon's connectors until every served sample is stored."""
    pipeline = Pipeline([server, *connectors], [HistorianSink(historian)])
    task = asyncio.create_task(pipeline.run())
    try:
        for c in connectors:
            assert await c.wait_subscribed(10)  # type: ignore[attr-defined]
        if ready is not None:
            await asyncio.wait_for(ready.wait(), 10)
        assert server.gate is not None
        server.gate.set()
        await server.finished.wait()
        want = server.counts.samples if expected is None else expected
        stop = time.monotonic() + deadline_s
        while time.monotonic() < stop:
            have = await asyncio.to_thread(historian.count_samples, None, START, START + SPAN)
            if have >= want:
                break
            await asyncio.sleep(0.2)
    finally:
        for c in connectors:
            await c.close()
        await asyncio.wait_for(task, 30)


@pytest.fixture
def historian(tmp_path: Path):
    with open_historian(f"sqlite:///{tmp_path}/andon.db") as h:
        yield h


def _url(broker: tuple[str, int]) -> str:
    return f"mqtt://{broker[0]}:{broker[1]}"


def test_json_over_the_broker_stores_every_sample(mqtt_broker, historian):
    plant = load_plant(example_plant("job_shop"))

    async def main() -> PlantServer:
        virtual = VirtualPlant(plant, seed=1, start_ns=START)
        publisher = UnsPublisher(_url(mqtt_broker), f"andon-test/{uuid.uuid4().hex[:8]}")
        outputs: list[Output] = [publisher]
        server = PlantServer(virtual, outputs, START + SPAN, speed=0, gate=asyncio.Event())
        async with server:
            andon = MqttJsonSource(publisher.source())
            await _serve_and_ingest(historian, server, [andon])
        return server

    server = asyncio.run(main())
    assert server.counts.samples > 1000
    assert historian.count_samples(None, START, START + SPAN) == server.counts.samples
    assert historian.count_events(None, "state", "state")  # events went straight in


def test_sparkplug_over_the_broker_stores_every_sample(private_broker, historian):
    """On a broker of the test's own with no queue limit: Mosquitto's default drops QoS 1
    messages beyond 1000 queued for a subscriber, and DDATA comes one per machine per
    timestamp (the shared broker's configuration is not this test's to change)."""
    plant = load_plant(example_plant("job_shop"))

    async def main() -> PlantServer:
        virtual = VirtualPlant(plant, seed=1, start_ns=START)
        publisher = SparkplugPublisher(plant, private_broker.url)
        server = PlantServer(virtual, [publisher], START + SPAN, speed=0, gate=asyncio.Event())
        # every test gets groups of its own: the area id is the group id
        andon = SparkplugSource(publisher.source())
        async with server:
            await _serve_and_ingest(historian, server, [andon], ready=publisher.host_online)
        assert publisher.withheld == 0
        return server

    server = asyncio.run(main())
    stored = historian.count_samples(None, START, START + SPAN)
    found = historian.events(None, "sparkplug", None, None, 100)
    kinds = {e.kind for e in found}
    assert "sparkplug.rebirth_request" not in kinds, kinds
    assert stored == server.counts.samples
    tags = {t.path for t in historian.tags()}
    assert f"{plant.site}/spb/machining/cell-1/mill-1/spindle_speed" in tags or any(
        "/spb/" in t for t in tags
    )


def test_a_command_written_by_andon_stops_the_virtual_machine(mqtt_broker, historian):
    plant = load_plant(example_plant("job_shop"))
    mill = plant.machines()[0]

    async def main() -> list[str]:
        virtual = VirtualPlant(plant, seed=1, start_ns=START)
        server_ref: list[PlantServer] = []

        async def on_command(machine: str, command: str) -> None:
            server_ref[0].command(machine, command)

        publisher = UnsPublisher(
            _url(mqtt_broker), f"andon-test/{uuid.uuid4().hex[:8]}", on_command=on_command
        )
        server = PlantServer(virtual, [publisher], START + SPAN, speed=60)
        server_ref.append(server)
        andon = MqttJsonSource(publisher.source())
        async with server:
            pipeline = Pipeline([server, andon], [HistorianSink(historian)])
            task = asyncio.create_task(pipeline.run())
            assert await andon.wait_subscribed(10)
            result = await andon.write(f"{mill.path}/command", "stop")
            assert result.ok, result.detail
            deadline = time.monotonic() + 10
            while server.counts.commands == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await server.finished.wait()
            await andon.close()
            await task
        events = historian.events(mill.path, "command", None, None, 10)
        return [e.payload["command"] for e in events]

    assert asyncio.run(main()) == ["stop"]
