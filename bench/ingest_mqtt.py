"""MQTT JSON ingest: samples/s from publish to durable in the historian, beside bare paho.

    python bench/ingest_mqtt.py [--mqtt HOST:PORT | --private-broker] [--pg URL | --no-pg]
                                [--messages N] [--repeat K] [--qos 0|1] [--rate MSG_PER_S]

A publisher process pushes JSON at the local Mosquitto as fast as it can, in two loads: one
sample per message (a bare number on a tag topic) and 100 samples per message (a machine
object ``{"timestamp": T, "t000": V, ...}``). Each load is received by

* ``paho``: a bare paho subscriber (loop_start thread, no decoding) that only counts, and
* ``andon``: ``MqttJsonSource`` -> ``Pipeline`` -> ``HistorianSink`` on SQLite and PostgreSQL,
  acknowledging after durable when ``--qos 1``,

in the same run, one after the other, each with a fresh topic prefix and database. Rate =
samples / (last sample received or durable - first publish). Every value is the publish time
(epoch seconds), so the sink wrapper measures publish-to-durable latency of every sample:
p50/p99 are at full load (queueing included). Medians over ``--repeat`` runs.

QoS 0 by default: Mosquitto's default ``max_inflight_messages 20`` caps a QoS 1 subscriber
that acknowledges only after durable to 20 messages per round trip, and its default
``max_queued_messages 1000`` drops what a slow subscriber has not taken; ``--qos 1`` measures
that path. ``--private-broker`` starts a Mosquitto of the benchmark's own on a free loopback
port with no inflight or queue limits (``max_inflight_messages 0``, ``max_queued_messages 0``),
where QoS 1 loses nothing.

``--rate R`` paces the publisher at R messages/s (below capacity), so p50/p99 are the
latency of a sample rather than time spent queueing behind a flood; the bare paho subscriber
then notes the latency of each one-sample message too (it parses the payload, so its rate is
not the ceiling in that mode).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as paho
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect.mqtt_json import MqttJsonSource
from andon.core import Batch
from andon.core.stream import Item
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant.sources import MqttSource

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STALL_S = 5.0


# -- the publisher (its own process, so it does not share our GIL) --------------------------


def payloads(prefix: str, n: int, per: int) -> list[tuple[str, bytes | None]]:
    """Topics and (for per > 1) payload templates; per == 1 payloads are made at publish."""
    base_ms = time.time_ns() // 1_000_000 - n - 10
    if per == 1:
        return [(f"{prefix}/site/area/line-1/m{i % 20:02d}/s{i % 50:02d}", None) for i in range(n)]
    keys = [f"t{k:03d}" for k in range(per)]
    out: list[tuple[str, bytes | None]] = []
    for i in range(n):
        doc = {"timestamp": base_ms + i // 20, **dict.fromkeys(keys, 0.0)}
        out.append((f"{prefix}/site/area/line-1/m{i % 20:02d}", orjson.dumps(doc)))
    return out


def publish(
    host: str, port: int, prefix: str, n: int, per: int, qos: int, go: object, rate: float = 0.0
) -> None:
    messages = payloads(prefix, n, per)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.connect(host, port)
    client.loop_start()
    go.wait()  # type: ignore[attr-defined]
    last = None
    began = time.monotonic()
    for i, (topic, body) in enumerate(messages):
        if rate:
            ahead = began + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        now = b"%.6f" % time.time()
        payload = now if body is None else body.replace(b"0.0", now)
        last = client.publish(topic, payload, qos=qos)
        # keep the client's queues bounded: packets not yet written, and QoS 1 messages not
        # yet acknowledged (beyond 65,535 of those paho's message ids wrap and it refuses)
        while len(client._out_packet) > 10_000 or len(client._out_messages) > 20_000:
            time.sleep(0.0005)
    if last is not None:
        last.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


# -- receivers ----------------------------------------------------------------------------


@dataclass
class Run:
    samples: int = 0
    seconds: float = 0.0
    latencies: list[np.ndarray] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        return float(np.percentile(np.concatenate(self.latencies), q) * 1000)


def start_publisher(
    host: str, port: int, prefix: str, n: int, per: int, qos: int, rate: float = 0.0
) -> tuple[mp.Process, Any]:
    go = mp.Event()
    proc = mp.Process(target=publish, args=(host, port, prefix, n, per, qos, go, rate))
    proc.start()
    time.sleep(0.5)  # let it connect and build its payloads
    return proc, go


def bare_paho(host: str, port: int, n: int, per: int, qos: int, rate: float = 0.0) -> Run:
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    count = [0]
    done = threading.Event()
    subscribed = threading.Event()
    last = [0.0]
    seen_at: list[float] = []
    timed = rate > 0 and per == 1

    def on_message(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        count[0] += 1
        if timed:
            seen_at.append(time.time() - float(m.payload))
        if count[0] == n:
            last[0] = time.time()
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{prefix[-8:]}")
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    client.subscribe(f"{prefix}/#", qos)
    subscribed.wait(5)
    proc, go = start_publisher(host, port, prefix, n, per, qos, rate)
    t0 = time.time()
    go.set()
    seen = 0
    while not done.wait(STALL_S) and count[0] != seen:
        seen = count[0]
    end = last[0] or time.time()
    client.disconnect()
    client.loop_stop()
    proc.join()
    return Run(count[0] * per, end - t0, [np.array(seen_at)] if seen_at else [])


class TimedSink(HistorianSink):
    """The historian sink, noting publish-to-durable latency of every sample it wrote."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.latencies: list[np.ndarray] = []
        self.written = 0
        self.last = 0.0

    async def write(self, item: Item) -> None:
        await super().write(item)
        if isinstance(item, Batch):
            self.last = time.time()
            self.latencies.append(self.last - item.value)
            self.written += len(item)


def andon(host: str, port: int, db_url: str, n: int, per: int, qos: int, rate: float = 0.0) -> Run:
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    config = MqttSource.model_validate(
        {
            "type": "mqtt",
            "name": "bench",
            "url": f"mqtt://{host}:{port}",
            "prefix": prefix,
            "qos": qos,
        }
    )
    expected = n * per

    async def main() -> Run:
        with open_historian(db_url) as h:
            source = MqttJsonSource(config)
            sink = TimedSink(h)
            task = asyncio.create_task(Pipeline([source], [sink]).run())
            await source.wait_subscribed(10)
            proc, go = start_publisher(host, port, prefix, n, per, qos, rate)
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
            return Run(sink.written, sink.last - t0, sink.latencies)

    return asyncio.run(main())


# -- a broker of the benchmark's own --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[str, int]]:
    """A Mosquitto of our own on a free loopback port, with no inflight or queue limits (so
    QoS 1 loses nothing to a slow subscriber) and no persistence; stopped on exit."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    workdir = Path(tempfile.mkdtemp(prefix="andon-bench-mqtt-"))
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 0",
        "max_inflight_messages 0",
        "log_dest none",
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # else mosquitto drops to a user that may not exist
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.Popen(
        [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"private mosquitto did not start on port {port}") from None
                time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


# -- the table -----------------------------------------------------------------------------


def pg_schema(url: str) -> tuple[str, Callable[[], None]] | None:
    try:
        admin = sa.create_engine(url, connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure: no PostgreSQL figures
        print(f"PostgreSQL at {url} not reachable, skipped: {str(exc).splitlines()[0]}")
        return None

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    scoped = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mqtt", default="127.0.0.1:1883")
    ap.add_argument("--pg", default=PG_DEFAULT)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--messages", type=int, default=100_000, help="one-sample messages per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--qos", type=int, choices=(0, 1), default=0)
    ap.add_argument(
        "--private-broker", action="store_true", help="a Mosquitto of our own, no queue limits"
    )
    ap.add_argument("--rate", type=float, default=0.0, help="pace the publisher (messages/s)")
    ap.add_argument("--per", type=int, nargs="+", default=[1, 100], help="samples per message")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if args.private_broker:
            host, port = stack.enter_context(private_broker())
        else:
            host, _, port_s = args.mqtt.rpartition(":")
            port = int(port_s)
        table(args, host, port)


def table(args: argparse.Namespace, host: str, port: int) -> None:
    """Per load: each repeat runs paho, then andon on each engine (interleaved, so a change
    in the machine's load hits both sides); medians over the repeats."""
    loads = [
        (per, args.messages if per == 1 else max(args.messages // 50, 100)) for per in args.per
    ]
    paced = f", paced at {args.rate:,.0f} messages/s" if args.rate else ""
    print(
        f"MQTT JSON ingest, broker {host}:{port}{' (private)' if args.private_broker else ''}, "
        f"QoS {args.qos}{paced}, medians of {args.repeat} runs (interleaved)"
    )
    print(f"{'load':<16}{'receiver':<16}{'samples/s':>12}{'vs paho':>9}{'p50 ms':>9}{'p99 ms':>9}")
    engines: list[tuple[str, Callable[[], tuple[str, Callable[[], None]] | None]]] = [
        ("sqlite", lambda: (f"sqlite:///{tempfile.mkdtemp()}/andon.db", lambda: None))
    ]
    if not args.no_pg:
        engines.append(("postgresql", lambda: pg_schema(args.pg)))
    for per, n in loads:
        bare: list[Run] = []
        runs: dict[str, list[Run]] = {engine: [] for engine, _ in engines}
        for _ in range(args.repeat):
            bare.append(bare_paho(host, port, n, per, args.qos, args.rate))
            for engine, make in engines:
                made = make()
                if made is None:
                    continue
                url, drop = made
                try:
                    runs[engine].append(andon(host, port, url, n, per, args.qos, args.rate))
                finally:
                    drop()
        bare_rate = statistics.median(r.rate for r in bare)
        label = f"{per} x {n:,}"
        print(f"{label:<16}{'paho (receive)':<16}{bare_rate:>12,.0f}{'1.00':>9}{_ms(bare)}")
        for engine, done in runs.items():
            if not done:
                continue
            rate = statistics.median(r.rate for r in done)
            lost = max(n * per - r.samples for r in done)
            note = f"  (lost up to {lost:,})" if lost else ""
            print(
                f"{'':<16}{'andon ' + engine:<16}{rate:>12,.0f}{rate / bare_rate:>9.2f}"
                f"{_ms(done)}{note}"
            )


def _ms(runs: list[Run]) -> str:
    """p50 and p99 columns (medians over the runs), blank when not measured."""
    if not any(r.latencies for r in runs):
        return f"{'':>9}{'':>9}"
    p50 = statistics.median(r.pct(50) for r in runs)
    p99 = statistics.median(r.pct(99) for r in runs)
    return f"{p50:>9.1f}{p99:>9.1f}"


if __name__ == "__main__":
    main()
