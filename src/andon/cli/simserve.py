"""What ``andon sim serve`` runs: the virtual plant behind its protocol servers, in real time."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from urllib.parse import urlsplit

import yaml

from andon.cli.console import console
from andon.core.clock import MAX_NS, NS_PER_S, now_ns
from andon.core.errors import InputError
from andon.core.stream import Item
from andon.plant import Plant
from andon.plant.sources import Source
from andon.sim import VirtualPlant
from andon.sim.serve.modbus import EnergyMeterServer
from andon.sim.serve.mqtt_json import UnsPublisher
from andon.sim.serve.opcua import PlantOpcUaServer
from andon.sim.serve.plant_server import Output, PlantServer
from andon.sim.serve.sparkplug import SparkplugPublisher


def check_broker_url(url: str) -> str:
    """``--mqtt``: a broker URL, refused with the expected form when it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InputError(f"--mqtt: expected a broker URL like mqtt://127.0.0.1:1883, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InputError(f"--mqtt: the port in {url!r} is not a number") from None
    return url


def sources_yaml(sources: list[Source]) -> str:
    """The plant.yaml ``sources:`` section that reads these outputs."""
    entries = [s.model_dump(mode="json", exclude_defaults=True) for s in sources]
    for entry, s in zip(entries, sources, strict=True):
        entry["type"] = s.type  # a discriminator is never "default"
    return yaml.safe_dump({"sources": entries}, sort_keys=False, width=100)


def run_servers(
    plant: Plant,
    speed: float,
    seed: int,
    opcua_port: int,
    modbus_port: int,
    mqtt: str | None,
    prefix: str,
    sparkplug: bool,
) -> None:
    asyncio.run(_serve(plant, speed, seed, opcua_port, modbus_port, mqtt, prefix, sparkplug))


async def _serve(
    plant: Plant,
    speed: float,
    seed: int,
    opcua_port: int,
    modbus_port: int,
    mqtt: str | None,
    prefix: str,
    sparkplug: bool,
) -> None:
    start = now_ns()
    start -= start % NS_PER_S
    virtual = VirtualPlant(plant, seed=seed, start_ns=start)
    holder: list[PlantServer] = []

    def obey(machine: str, command: str) -> None:
        holder[0].command(machine, command)

    async def on_command(machine: str, command: str) -> None:
        obey(machine, command)

    outputs: list[Output] = []
    if opcua_port:
        outputs.append(PlantOpcUaServer(plant, port=opcua_port, on_command=obey))
    if modbus_port:
        outputs.append(EnergyMeterServer(plant, port=modbus_port))
    if mqtt:
        outputs.append(UnsPublisher(mqtt, prefix, on_command=on_command))
        if sparkplug:
            outputs.append(SparkplugPublisher(plant, mqtt, on_command=on_command))
    server = PlantServer(virtual, outputs, MAX_NS - NS_PER_S * 10**9, speed=speed)
    holder.append(server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        console.print(
            "# the virtual plant is served; paste into plant.yaml to connect andon (Ctrl-C stops):"
        )
        console.print(sources_yaml(server.sources()), markup=False, highlight=False)
        if any(isinstance(o, SparkplugPublisher) for o in outputs):
            console.print(
                "# Sparkplug B: the edge nodes publish data while andon's host is online",
                markup=False,
            )
        runner = asyncio.create_task(server.run(_narrate))
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for task in (runner, waiter):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    console.print(
        f"stopped: {server.counts.samples:,} samples served, {server.counts.commands} commands"
    )


async def _narrate(item: Item) -> None:
    """Events stay in the simulator; commands it obeyed are told."""
    if isinstance(item, tuple):
        for e in item:
            if e.kind == "command":
                console.print(f"{e.asset}: {e.payload.get('command')} (written command)")
