"""Modbus TCP ingest: values/s from poll to durable in the historian, beside a bare client.

    python bench/ingest_modbus.py [--meters 100] [--polls 300] [--repeat 5] [--pg [URL]]

The device is a pymodbus TCP server in its own process on loopback, laid out as andon's
virtual energy meters (``andon.sim.serve.modbus``): per meter, power (float32) and energy
(float64) 10 holding registers apart, so 100 meters are 200 values in 996 registers.

* andon: ``ModbusSource`` polling as fast as it can (poll interval 10 µs: every poll is
  "late" and the next starts at once) into a ``Pipeline`` with a ``HistorianSink``; the clock
  runs from the first poll to the last batch being durable. Latency is per poll: from the
  poll's timestamp to its batch being written by the historian sink.
* raw: pymodbus' ``AsyncModbusTcpClient`` alone sending the same coalesced reads (as the
  connector planned them), without decoding or storing anything.

Reported: medians over ``--repeat`` runs of values/s, the ratio andon/raw, p50/p99
poll-to-stored latency (flat out, where the pipeline's bounded queue is full, and paced at 20
polls/s, where it is not); on SQLite, and on PostgreSQL with ``--pg``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import platform
import socket
import statistics
import struct
import tempfile
import time
import uuid
from typing import Any

import numpy as np
import sqlalchemy as sa
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from sqlalchemy.engine import make_url

from andon.connect.modbus import ModbusSource
from andon.core.batch import Batch
from andon.core.stream import Emit, Item
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant.sources import ModbusRegister
from andon.plant.sources import ModbusSource as ModbusConfig

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STRIDE = 10
PACED_POLL = 0.05
"""A paced run (20 polls at 20 Hz) measures latency without a saturated queue."""


def layout(meters: int) -> tuple[list[int], list[ModbusRegister]]:
    words = [0] * (STRIDE * meters)
    regs: list[ModbusRegister] = []
    for m in range(meters):
        base = STRIDE * m
        words[base : base + 2] = struct.unpack(">2H", struct.pack(">f", 10.0 + m))
        words[base + 2 : base + 6] = struct.unpack(">4H", struct.pack(">d", 1000.0 * m))
        path = f"bench/energy/hall/m{m:03d}"
        regs.append(ModbusRegister(tag=f"{path}/power", address=base, type="float32"))
        regs.append(ModbusRegister(tag=f"{path}/energy", address=base + 2, type="float64"))
    return words, regs


def serve(port: int, meters: int, ready: Any) -> None:
    """The device, in its own process."""

    async def main() -> None:
        words, _ = layout(meters)
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, values=words, datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            ),
        )
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TimedSink(HistorianSink):
    """The historian sink, noting when each poll's batch is durable."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.latency_ns: list[int] = []
        self.stored = 0
        self.last_ns = 0

    async def write(self, item: Item) -> None:
        await super().write(item)
        if isinstance(item, Batch):
            self.last_ns = time.time_ns()
            self.latency_ns.append(self.last_ns - int(item.ts[0]))
            self.stored += len(item)


class StopAfter:
    """The connector, closed after ``polls`` batches."""

    def __init__(self, source: ModbusSource, polls: int) -> None:
        self.source, self.polls, self.name = source, polls, source.name
        self.first_ns = 0

    async def run(self, emit: Emit) -> None:
        seen = 0

        async def counting(item: Item) -> None:
            nonlocal seen
            if isinstance(item, Batch):
                if not seen:
                    self.first_ns = int(item.ts[0])
                seen += 1
            await emit(item)
            if seen >= self.polls:
                await self.source.close()

        await self.source.run(counting)


async def run_andon(
    url: str, regs: list[ModbusRegister], db_url: str, polls: int, poll: float = 1e-5
) -> dict[str, float]:
    cfg = ModbusConfig(type="modbus", name="bench", url=url, poll=poll, registers=regs)
    source = ModbusSource(cfg)
    historian = open_historian(db_url)
    try:
        sink = TimedSink(historian)
        wrapped = StopAfter(source, polls)
        await Pipeline([wrapped], [sink]).run()
        assert historian.count_samples() == polls * len(regs), "samples went missing"
    finally:
        historian.close()
    seconds = (sink.last_ns - wrapped.first_ns) / 1e9
    lat = np.asarray(sink.latency_ns) / 1e6
    return {
        "values_s": sink.stored / seconds,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "reads": len(source.reads),
    }


async def run_raw(port: int, regs: list[ModbusRegister], polls: int) -> float:
    cfg = ModbusConfig(type="modbus", name="raw", url="modbus://127.0.0.1:1", registers=regs)
    reads = ModbusSource(cfg).reads  # the same coalesced reads, planned by andon
    client = AsyncModbusTcpClient("127.0.0.1", port=port, retries=0, reconnect_delay=0)
    await client.connect()
    try:
        began = time.perf_counter()
        for _ in range(polls):
            for r in reads:
                rsp = await client.read_holding_registers(r.address, count=r.count, device_id=1)
                assert not rsp.isError()
        seconds = time.perf_counter() - began
    finally:
        client.close()
    return polls * len(regs) / seconds


def fresh_pg(url: str) -> tuple[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meters", type=int, default=100)
    ap.add_argument("--polls", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pg", nargs="?", const=PG_DEFAULT, default=None, help="also PostgreSQL")
    args = ap.parse_args()

    words, regs = layout(args.meters)
    port = free_port()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    device = ctx.Process(target=serve, args=(port, args.meters, ready), daemon=True)
    device.start()
    if not ready.wait(20):
        raise SystemExit("the Modbus device did not start")
    url = f"modbus://127.0.0.1:{port}"
    print(
        f"Modbus ingest: {args.meters} meters x 2 values ({len(words)} registers), "
        f"{args.polls} polls per run, median of {args.repeat}; "
        f"python {platform.python_version()}, {platform.machine()}"
    )
    engines = ["sqlite"] + (["postgresql"] if args.pg else [])
    try:
        for engine in engines:
            runs: list[dict[str, float]] = []
            paced: list[dict[str, float]] = []
            raws: list[float] = []
            for _ in range(args.repeat):
                raws.append(asyncio.run(run_raw(port, regs, args.polls)))
                for out, polls, poll in ((runs, args.polls, 1e-5), (paced, 20, PACED_POLL)):
                    if engine == "sqlite":
                        with tempfile.TemporaryDirectory() as tmp:
                            db = f"sqlite:///{tmp}/bench.db"
                            out.append(asyncio.run(run_andon(url, regs, db, polls, poll)))
                    else:
                        db, drop = fresh_pg(args.pg)
                        try:
                            out.append(asyncio.run(run_andon(url, regs, db, polls, poll)))
                        finally:
                            drop()
            andon = statistics.median(r["values_s"] for r in runs)
            raw = statistics.median(raws)
            print(
                f"{engine:10s} andon {andon:10,.0f} values/s  raw pymodbus {raw:10,.0f} values/s"
                f"  ratio {andon / raw:5.2f}  poll-to-stored p50 "
                f"{statistics.median(r['p50_ms'] for r in runs):6.2f} ms  p99 "
                f"{statistics.median(r['p99_ms'] for r in runs):6.2f} ms  "
                f"({int(runs[0]['reads'])} reads per poll)"
            )
            print(
                f"{'':10s} paced at {1 / PACED_POLL:.0f} polls/s: poll-to-stored p50 "
                f"{statistics.median(r['p50_ms'] for r in paced):6.2f} ms  p99 "
                f"{statistics.median(r['p99_ms'] for r in paced):6.2f} ms"
            )
    finally:
        device.terminate()
        device.join(5)


if __name__ == "__main__":
    main()
