"""Sparkplug B ingest: samples/s from publish to durable in the historian, beside bare paho.

    python bench/ingest_sparkplug.py [--pg [URL]] [--messages N] [--metrics M [M ...]]
                                     [--devices D] [--repeat K] [--qos 0|1]
                                     [--shared-broker HOST:PORT]

An edge node (``andon.connect.sparkplug_edge.EdgeNode``) in its own process publishes an
NBIRTH, one DBIRTH per device (D devices of M Double metrics), then N DDATA messages of M
metrics each as fast as paho lets it, devices in turn. Every metric value is the publish time
(epoch seconds, patched into the prebuilt protobuf just before the publish) and every
metric's own timestamp is unique per tag, so the historian stores each sample once. Each load
is received by

* ``paho``: a bare paho subscriber on ``spBv1.0/<group>/#`` (loop_start thread, no
  decoding) that only counts, and
* ``andon``: ``SparkplugSource`` (births, aliases, seq checking) -> ``Pipeline`` ->
  ``HistorianSink`` on SQLite and, unless ``--no-pg``, PostgreSQL in a fresh schema dropped
  afterwards; acknowledging after durable at ``--qos 1``,

in the same run, one after the other, each with a fresh Sparkplug group and database. The
clock starts once the births are received (stored, for andon); rate = DDATA samples / (last
sample received or durable - first publish). p50/p99 are publish-to-durable latency of every
sample at full load (queueing included). ``stored`` counts the DDATA samples in the database
at the end against those published (the fewest over the repeats). Medians over ``--repeat``
runs, the receivers interleaved within each repeat.

The broker is a Mosquitto of the benchmark's own on a free loopback port with no inflight or
queue limits, so nothing is dropped; ``--shared-broker HOST:PORT`` uses an existing one
instead (Mosquitto's defaults drop QoS 1 messages beyond 1000 queued for a slow subscriber).
QoS 0 by default, as Sparkplug 3.0 requires for NDATA/DDATA; ``--qos 1`` publishes and
subscribes at QoS 1 (andon then acknowledges each window once it is durable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import statistics
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect.sparkplug_codec import DataType
from andon.connect.sparkplug_edge import EdgeNode
from andon.connect.sparkplug_source import SparkplugSource
from andon.historian import open_historian
from andon.pipeline import Pipeline
from andon.plant.sources import SparkplugSource as SparkplugConfig
from ingest_mqtt import PG_DEFAULT, Run, TimedSink, pg_schema, private_broker

STALL_S = 5.0
SENTINEL = struct.pack("<d", 7.0e-300)
"""The double every DDATA metric is built with; replaced by the publish time when sent."""


# -- the edge node (its own process, so it does not share our GIL) --------------------------


def publish(
    host: str,
    port: int,
    group: str,
    devices: int,
    metrics: int,
    n: int,
    qos: int,
    born: Any,
    go: Any,
) -> None:
    edge = EdgeNode(group, "edge-1")
    names = [f"m{k:03d}" for k in range(metrics)]
    defined = {name: (int(DataType.Double), 0.0) for name in names}
    device_ids = [f"d{d:02d}" for d in range(devices)]
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{group}")
    client.will_set(*edge.will(), qos=1)
    client.max_inflight_messages_set(1000)
    client.connect(host, port)
    client.loop_start()
    now_ms = time.time_ns() // 1_000_000
    births = [edge.nbirth(now_ms)] + [edge.dbirth(d, now_ms, defined) for d in device_ids]
    info = None
    for topic, payload in births:
        info = client.publish(topic, payload, qos=1)
    if info is not None:
        info.wait_for_publish(30)
    # DDATA prebuilt in order (the edge numbers seq 0..255); metric timestamps unique per tag
    base_ms = now_ms - n // devices - 10
    values = dict.fromkeys(names, struct.unpack("<d", SENTINEL)[0])
    messages = [
        edge.ddata(device_ids[i % devices], values, base_ms + i // devices) for i in range(n)
    ]
    born.set()
    go.wait()
    last = None
    for topic, body in messages:
        last = client.publish(topic, body.replace(SENTINEL, struct.pack("<d", time.time())), qos)
        # keep the client's queues bounded: packets not yet written, and QoS 1 messages not
        # yet acknowledged (beyond 65,535 of those paho's message ids wrap and it refuses)
        while len(client._out_packet) > 10_000 or len(client._out_messages) > 20_000:
            time.sleep(0.0005)
    if last is not None:
        last.wait_for_publish(60)
    client.disconnect()  # clean: the will (NDEATH) is not sent, so no stale samples follow
    client.loop_stop()


def start_edge(
    host: str, port: int, group: str, devices: int, metrics: int, n: int, qos: int
) -> tuple[mp.Process, Any, Any]:
    born, go = mp.Event(), mp.Event()
    proc = mp.Process(target=publish, args=(host, port, group, devices, metrics, n, qos, born, go))
    proc.start()
    if not born.wait(120):
        raise RuntimeError("the edge node did not publish its births")
    return proc, born, go


# -- receivers ----------------------------------------------------------------------------


def bare_paho(host: str, port: int, devices: int, metrics: int, n: int, qos: int) -> Run:
    group = f"bench{uuid.uuid4().hex[:8]}"
    births = 1 + devices
    count = [0]
    done, subscribed, born = threading.Event(), threading.Event(), threading.Event()
    last = [0.0]

    def on_message(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        count[0] += 1
        if count[0] == births:
            born.set()
        elif count[0] == births + n:
            last[0] = time.time()
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{group}")
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe(f"spBv1.0/{group}/#", qos)
    subscribed.wait(5)
    proc, _, go = start_edge(host, port, group, devices, metrics, n, qos)
    born.wait(10)
    t0 = time.time()
    go.set()
    seen = 0
    while not done.wait(STALL_S) and count[0] != seen:
        seen = count[0]
    end = last[0] or time.time()
    client.disconnect()
    client.loop_stop()
    proc.join()
    return Run((count[0] - births) * metrics, end - t0)


def andon(
    host: str, port: int, db_url: str, devices: int, metrics: int, n: int, qos: int
) -> tuple[Run, int]:
    """The andon run and the DDATA samples found in the historian afterwards."""
    group = f"bench{uuid.uuid4().hex[:8]}"
    config = SparkplugConfig.model_validate(
        {
            "type": "sparkplug",
            "name": "bench",
            "url": f"mqtt://{host}:{port}",
            "group": group,
            "host_id": f"bench-{group}",
            "qos": qos,
            "tag_prefix": "bench/sparkplug",
        }
    )
    birth_samples = 2 + devices * metrics  # NBIRTH: bdSeq and Node Control/Rebirth
    expected = n * metrics

    async def main() -> tuple[Run, int]:
        with open_historian(db_url) as h:
            source = SparkplugSource(config)
            sink = TimedSink(h)
            task = asyncio.create_task(Pipeline([source], [sink]).run())
            await source.wait_subscribed(10)
            proc, _, go = start_edge(host, port, group, devices, metrics, n, qos)
            deadline = time.monotonic() + 30
            while sink.written < birth_samples and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if sink.written != birth_samples:
                raise RuntimeError(f"births gave {sink.written} samples, not {birth_samples}")
            sink.written, sink.latencies = 0, []
            t0 = time.time()
            go.set()
            seen, stalled = 0, time.monotonic()
            while sink.written < expected:
                await asyncio.sleep(0.05)
                if sink.written != seen:
                    seen, stalled = sink.written, time.monotonic()
                elif time.monotonic() - stalled > STALL_S:
                    break
            await source.close()
            await task
            proc.join()
            stored = h.count_samples() - birth_samples
            return Run(sink.written, sink.last - t0, sink.latencies), stored

    return asyncio.run(main())


# -- the table -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL URL (a fresh schema is used)")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--messages", type=int, default=50_000, help="DDATA messages of 1 metric")
    ap.add_argument("--metrics", type=int, nargs="+", default=[1, 100], help="metrics per DDATA")
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--qos", type=int, choices=(0, 1), default=0)
    ap.add_argument("--shared-broker", metavar="HOST:PORT", default=None)
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if args.shared_broker:
            host, _, port_s = args.shared_broker.rpartition(":")
            port = int(port_s)
        else:
            host, port = stack.enter_context(private_broker())
        table(args, host, port)


def table(args: argparse.Namespace, host: str, port: int) -> None:
    where = "shared" if args.shared_broker else "private, no queue limits"
    print(
        f"Sparkplug B ingest, broker {host}:{port} ({where}), QoS {args.qos}, "
        f"{args.devices} devices, medians of {args.repeat} runs"
    )
    print(
        f"{'load':<18}{'receiver':<18}{'samples/s':>12}{'vs paho':>9}{'p50 ms':>9}"
        f"{'p99 ms':>9}{'stored/published':>20}"
    )
    engines: list[tuple[str, Callable[[], tuple[str, Callable[[], None]] | None]]] = [
        ("sqlite", lambda: (f"sqlite:///{tempfile.mkdtemp()}/andon.db", lambda: None))
    ]
    if not args.no_pg:
        engines.append(("postgresql", lambda: pg_schema(args.pg)))
    d = args.devices
    for metrics in args.metrics:
        # many metrics per message: 4x the samples, so the run lasts long enough to time
        n = args.messages if metrics == 1 else max(args.messages * 4 // metrics, 5 * d)
        published = n * metrics
        bare: list[Run] = []
        runs: dict[str, list[tuple[Run, int]]] = {engine: [] for engine, _ in engines}
        for _ in range(args.repeat):  # interleaved: a change in load hits every receiver
            bare.append(bare_paho(host, port, d, metrics, n, args.qos))
            for engine, make in engines:
                made = make()
                if made is None:
                    continue
                url, drop = made
                try:
                    runs[engine].append(andon(host, port, url, d, metrics, n, args.qos))
                finally:
                    drop()
        bare_rate = statistics.median(r.rate for r in bare)
        got = min(r.samples for r in bare)
        print(
            f"{f'{metrics} x {n:,}':<18}{'paho (receive)':<18}{bare_rate:>12,.0f}{'1.00':>9}"
            f"{'':>9}{'':>9}{f'{got:,}/{published:,}':>20}"
        )
        for engine, done in runs.items():
            if not done:
                continue
            rate = statistics.median(r.rate for r, _ in done)
            p50 = statistics.median(r.pct(50) for r, _ in done)
            p99 = statistics.median(r.pct(99) for r, _ in done)
            stored = min(kept for _, kept in done)
            print(
                f"{'':<18}{'andon ' + engine:<18}{rate:>12,.0f}{rate / bare_rate:>9.2f}"
                f"{p50:>9.1f}{p99:>9.1f}{f'{stored:,}/{published:,}':>20}"
            )
            if args.qos == 1 and stored != published:
                print(f"  LOST at QoS 1: {published - stored:,} samples not stored")


if __name__ == "__main__":
    main()
