"""OPC UA ingest: values/s from the server's write to durable in the historian.

    python bench/ingest_opcua.py [--seconds S] [--interval I] [--repeat K] [--pg [URL]]

The virtual plant's OPC UA server (``PlantOpcUaServer``, job_shop: 40 tags) publishes S
simulated seconds of samples as fast as it can, in time order, in chunks of 200. Two
subscribers run in the same process and the same run, one after the other:

* raw: a bare asyncua client subscription (same publishing interval, queue size and
  filter as andon's) whose callback only counts the notifications;
* andon: ``OpcUaSource`` → ``Pipeline`` → ``HistorianSink`` (SQLite file, or PostgreSQL in a
  fresh schema with ``--pg``), counted when the historian has committed them.

Reported per subscriber: median values/s (first write → last value received / stored) and
p50/p99 latency (a chunk's write → the value received / stored) over the repeats, and the
ratio andon/raw. Server, clients and historian share one event loop and this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
from asyncua import Client, ua
from sqlalchemy.engine import make_url

from andon.connect.opcua import OpcUaSource
from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.core.stream import Item
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import example_plant, load_plant
from andon.sim.plant import VirtualPlant
from andon.sim.serve.opcua import PlantOpcUaServer

START_NS = 1_700_000_000 * NS_PER_S
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Clock:
    """When each chunk was written (by the server) and each value arrived (at the subscriber)."""

    chunk_end_ts: list[int] = field(default_factory=list)
    chunk_written: list[float] = field(default_factory=list)
    arrived_ts: list[np.ndarray] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)
    count: int = 0

    def arrive(self, ts: np.ndarray) -> None:
        ts = ts[(ts >= START_NS) & (ts < START_NS + 10**6 * NS_PER_S)]
        if len(ts):
            self.arrived_ts.append(ts)
            self.arrived_at.append(time.perf_counter())
            self.count += len(ts)

    def result(self, began: float) -> tuple[float, float, float]:
        ends = np.array(self.chunk_end_ts)
        lat: list[np.ndarray] = []
        for ts, at in zip(self.arrived_ts, self.arrived_at, strict=True):
            k = np.searchsorted(ends, ts)
            lat.append(at - np.array(self.chunk_written)[k])
        all_lat = np.concatenate(lat)
        rate = self.count / (self.arrived_at[-1] - began)
        return rate, float(np.percentile(all_lat, 50)), float(np.percentile(all_lat, 99))


async def publish(server: PlantOpcUaServer, batch: Batch, clock: Clock) -> float:
    order = np.argsort(batch.ts, kind="stable")
    began = time.perf_counter()
    for i in range(0, len(order), CHUNK):
        part = batch.select(order[i : i + CHUNK])
        await server.publish(part)
        clock.chunk_end_ts.append(int(part.ts.max()))
        clock.chunk_written.append(time.perf_counter())
        await asyncio.sleep(0)
    return began


async def until(cond: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("not every value arrived")
        await asyncio.sleep(0.005)


async def raw_run(server: PlantOpcUaServer, batch: Batch, interval: float) -> tuple[float, ...]:
    clock = Clock()

    async def on_publish(result: ua.PublishResult) -> None:
        for data in result.NotificationMessage.NotificationData or ():
            if isinstance(data, ua.DataChangeNotification):
                ts = np.array(
                    [
                        int(item.Value.SourceTimestamp.timestamp() * 1e6) * 1000
                        if item.Value.SourceTimestamp
                        else 0
                        for item in data.MonitoredItems
                    ],
                    dtype=np.int64,
                )
                clock.arrive(ts)

    client = Client(server.url)
    await client.connect()
    try:
        sub = await client.uaclient.create_subscription(
            ua.CreateSubscriptionParameters(
                RequestedPublishingInterval=interval * 1000,
                RequestedLifetimeCount=300,
                RequestedMaxKeepAliveCount=100,
                MaxNotificationsPerPublish=0,
                PublishingEnabled=True,
                Priority=0,
            ),
            on_publish,
        )
        items = [
            ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(
                    NodeId=ua.NodeId.from_string(node), AttributeId=ua.AttributeIds.Value
                ),
                MonitoringMode=ua.MonitoringMode.Reporting,
                RequestedParameters=ua.MonitoringParameters(
                    ClientHandle=h,
                    SamplingInterval=0,
                    Filter=ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp),
                    QueueSize=10_000,
                    DiscardOldest=True,
                ),
            )
            for h, (_, node) in enumerate(server.endpoint_nodes())
        ]
        await client.uaclient.create_monitored_items(
            ua.CreateMonitoredItemsParameters(
                SubscriptionId=sub.SubscriptionId,
                ItemsToCreate=items,
                TimestampsToReturn=ua.TimestampsToReturn.Both,
            )
        )
        await asyncio.sleep(0.3)
        began = await publish(server, batch, clock)
        written = time.perf_counter() - began
        await until(lambda: clock.count >= len(batch))
        return (*clock.result(began), len(batch) / written)
    finally:
        await client.disconnect()


class TimedSink(HistorianSink):
    def __init__(self, historian: object, clock: Clock) -> None:
        super().__init__(historian)  # type: ignore[arg-type]
        self.clock = clock

    async def write(self, item: Item) -> None:
        await super().write(item)
        if isinstance(item, Batch):
            self.clock.arrive(item.ts)


async def andon_run(
    server: PlantOpcUaServer, batch: Batch, interval: float, db_url: str
) -> tuple[float, ...]:
    clock = Clock()
    source = OpcUaSource(server.source_config("bench", publishing_interval=interval))
    historian = open_historian(db_url)
    try:
        pipe = asyncio.create_task(Pipeline([source], [TimedSink(historian, clock)]).run())
        await until(lambda: source.health.connected)
        await asyncio.sleep(0.3)
        began = await publish(server, batch, clock)
        written = time.perf_counter() - began
        await until(lambda: clock.count >= len(batch))
        await source.close()
        await pipe
        stored = historian.count_samples(start_ns=START_NS, end_ns=START_NS + 10**6 * NS_PER_S)
        assert stored == len(batch), f"stored {stored} of {len(batch)}"
        return (*clock.result(began), len(batch) / written)
    finally:
        historian.close()


def fresh_pg(url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    u = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return u.render_as_string(hide_password=False), schema


def drop_pg(url: str, schema: str) -> None:
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


async def one(batch: Batch, interval: float, db_url: str) -> tuple[tuple[float, ...], ...]:
    plant = load_plant(example_plant("job_shop"))
    results = []
    for kind in ("raw", "andon"):
        server = PlantOpcUaServer(plant, port=free_port())
        await server.start()
        try:
            if kind == "raw":
                results.append(await raw_run(server, batch, interval))
            else:
                results.append(await andon_run(server, batch, interval, db_url))
        finally:
            await server.stop()
    return tuple(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1200.0, help="simulated seconds published")
    ap.add_argument("--interval", type=float, default=0.05, help="publishing interval, s")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", nargs="?", const=PG_DEFAULT, default=None, help="PostgreSQL URL")
    args = ap.parse_args()
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    plant = load_plant(example_plant("job_shop"))
    batch, _ = VirtualPlant(plant, seed=1, start_ns=START_NS).advance(
        START_NS + int(args.seconds * NS_PER_S)
    )
    engines = ["sqlite"] + (["postgresql"] if args.pg else [])
    print(f"{len(batch)} values of {len(batch.tags)} tags, publishing interval {args.interval} s")
    for engine in engines:
        runs = []
        for _ in range(args.repeat):
            if engine == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    runs.append(asyncio.run(one(batch, args.interval, f"sqlite:///{tmp}/b.db")))
            else:
                url, schema = fresh_pg(args.pg)
                try:
                    runs.append(asyncio.run(one(batch, args.interval, url)))
                finally:
                    drop_pg(args.pg, schema)
        med = [[statistics.median(r[k][j] for r in runs) for j in range(4)] for k in range(2)]
        (raw_rate, raw50, raw99, raw_w), (a_rate, a50, a99, a_w) = med
        print(
            f"{engine:10s} raw asyncua receive {raw_rate:9,.0f} values/s "
            f"(p50 {raw50 * 1e3:6.1f} ms, p99 {raw99 * 1e3:6.1f} ms; server writes {raw_w:,.0f}/s)"
        )
        print(
            f"{engine:10s} andon durable       {a_rate:9,.0f} values/s "
            f"(p50 {a50 * 1e3:6.1f} ms, p99 {a99 * 1e3:6.1f} ms; server writes {a_w:,.0f}/s) "
            f"ratio {a_rate / raw_rate:.2f}"
        )


if __name__ == "__main__":
    main()
