"""The whole demo path: virtual plant → protocol → connector → pipeline → historian, against
its parts run alone.

    python bench/demo_end_to_end.py [--hours H] [--repeat K] [--db URL] [--mqtt URL]

Runs side by side per repeat, each on a fresh database: the virtual plant alone (advance
only), the historian alone (writing the same batches, generated beforehand), the in-process
pipeline doing both at once (the demo before it went over protocols), and what
``andon demo --speed 0`` does now: the plant served over OPC UA on loopback and read back by
andon's OPC UA connector (and, with ``--mqtt``, published as JSON to that broker and read back
by the MQTT connector). Each protocol run asserts that every sample arrived. Medians.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from pathlib import Path

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.core.event import Event
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import Plant, example_plant, load_plant
from andon.sim import VirtualPlant, VirtualPlantSource
from andon.sim.serve.mqtt_json import UnsPublisher
from andon.sim.serve.opcua import PlantOpcUaServer
from andon.sim.serve.over_protocols import OverProtocols
from andon.sim.serve.plant_server import Output

START = "2026-03-02T06:00:00+01:00"
CHUNK_NS = 600 * NS_PER_S


def _specs(plant: Plant) -> list[tuple[str, str, str, str]]:
    return [
        (r.tag_path(t.name), t.unit, t.description, t.source)
        for r in plant.machines()
        for t in r.machine.tags
    ]


def sim_only(plant: Plant, start: int, end: int) -> tuple[float, list[tuple[Batch, list[Event]]]]:
    began = time.perf_counter()
    vp = VirtualPlant(plant, seed=0, start_ns=start)
    out = []
    t = start
    while t < end:
        t = min(t + CHUNK_NS, end)
        out.append(vp.advance(t))
    return time.perf_counter() - began, out


def historian_only(url: str, plant: Plant, chunks: list[tuple[Batch, list[Event]]]) -> float:
    with open_historian(url) as h:
        h.ensure_tags(_specs(plant))
        began = time.perf_counter()
        for batch, events in chunks:
            h.write(batch)
            h.write_events(events)
        return time.perf_counter() - began


def pipeline(url: str, plant: Plant, start: int, end: int) -> float:
    with open_historian(url) as h:
        h.ensure_tags(_specs(plant))
        began = time.perf_counter()
        vp = VirtualPlant(plant, seed=0, start_ns=start)
        asyncio.run(Pipeline([VirtualPlantSource(vp, end)], [HistorianSink(h)]).run())
        return time.perf_counter() - began


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def over_protocol(url: str, plant: Plant, start: int, end: int, mqtt: str | None) -> float:
    """What ``andon demo --speed 0`` does: the plant behind a protocol, andon's connector
    reading it into the historian."""

    async def run(h: object) -> int:
        vp = VirtualPlant(plant, seed=0, start_ns=start)
        outputs: list[Output] = [
            UnsPublisher(mqtt, f"andon-bench/{time.time_ns()}")
            if mqtt
            else PlantOpcUaServer(plant, port=free_port(), command_nodes=False)
        ]
        source = OverProtocols(vp, outputs, end, speed=0)
        async with source:
            await Pipeline([source], [HistorianSink(h)]).run()  # type: ignore[arg-type]
        got, want = source.received(), source.server.counts.samples
        assert got == want, f"{want - got} of {want} samples lost on the way"
        return source.server.counts.samples

    with open_historian(url) as h:
        h.ensure_tags(_specs(plant))
        began = time.perf_counter()
        asyncio.run(run(h))
        return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--mqtt", default=None, help="also go through this broker (mqtt://HOST:PORT)")
    args = ap.parse_args()
    plant = load_plant(example_plant("job_shop"))
    start = parse_time(START)
    end = start + round(args.hours * 3600 * NS_PER_S)
    sims, hists, pipes, opcuas, mqtts = [], [], [], [], []
    samples = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):

            def url(kind: str, i: int = i) -> str:
                return args.db or f"sqlite:///{Path(tmp) / f'{kind}-{i}.db'}"

            wall, chunks = sim_only(plant, start, end)
            sims.append(wall)
            samples = sum(len(b) for b, _ in chunks)
            hists.append(historian_only(url("hist"), plant, chunks))
            pipes.append(pipeline(url("pipe"), plant, start, end))
            opcuas.append(over_protocol(url("opcua"), plant, start, end, None))
            if args.mqtt:
                mqtts.append(over_protocol(url("mqtt"), plant, start, end, args.mqtt))
    sim, hist, pipe, opcua = (statistics.median(x) for x in (sims, hists, pipes, opcuas))
    print(
        f"python {platform.python_version()} on {platform.machine()}, job shop "
        f"{args.hours:g} h = {samples:,} samples, median of {args.repeat}"
    )
    print(f"{'run':<26}{'wall s':>9}{'samples/s':>12}")
    for name, wall in (
        ("virtual plant alone", sim),
        ("historian alone", hist),
        ("sum of the two", sim + hist),
        ("pipeline in process", pipe),
        ("over OPC UA (andon demo)", opcua),
        *((("over MQTT JSON (--mqtt)", statistics.median(mqtts)),) if mqtts else ()),
    ):
        print(f"{name:<26}{wall:>9.3f}{samples / wall:>12,.0f}")
    print(f"pipeline / (sim + historian) = {pipe / (sim + hist):.2f}")
    print(f"over OPC UA / in process = {opcua / pipe:.2f}")


if __name__ == "__main__":
    main()
