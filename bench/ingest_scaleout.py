"""Ingest scale-out: samples/s of 1 and 2 ``andon ingest`` worker processes sharing one stream.

    python bench/ingest_scaleout.py [--pg URL] [--samples N] [--workers 1 2] [--repeat K]
                                    [--shared-broker HOST:PORT --qos 0]

Each run starts W worker processes, exactly as an operator would::

    andon ingest --mqtt mqtt://HOST:PORT --prefix P --share GROUP --db PG --spool DIR

(MQTT JSON over the unified namespace, QoS 1, acknowledging after durable; through the disk
queue's store-and-forward into one PostgreSQL schema, fresh per run and dropped afterwards),
waits until every worker's subscription is confirmed, then a publisher process sends N samples
as JSON machine objects of 100 samples per message (``bench/ingest_mqtt.py``'s publisher, at
QoS 1). The broker hands each message to one worker of the shared group. The clock runs from
the first publish until ``SELECT count(*) FROM samples`` (polled every ``--poll`` s) reaches N;
the count must equal N (asserted). Also shown: when the publisher had sent everything, and the
CPU the workers, the PostgreSQL server processes, the Mosquitto processes and the whole
machine used over the run, as a share of one core (2 cores = 200 %).

The broker is a Mosquitto of the benchmark's own (free loopback port, no inflight or queue
limits): with QoS 1 and Mosquitto's defaults a worker could hold only 20 unacknowledged
messages and the broker would drop what queued beyond 1000 for a busy worker, and at QoS 0
nothing guarantees stored == published. Medians over ``--repeat`` runs; ratio = W workers / 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from andon.historian import open_historian
from ingest_mqtt import PG_DEFAULT, pg_schema, private_broker, start_publisher

PER = 100
SERVERS = ("postgres", "mosquitto")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_by_command(names: tuple[str, ...]) -> dict[str, float]:
    """CPU seconds of every live process whose command is one of ``names``, summed per name."""
    out = dict.fromkeys(names, 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name in out:
            fields = text.rsplit(")", 1)[1].split()
            out[name] += (int(fields[11]) + int(fields[12])) / TICKS
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Worker:
    """One ``andon ingest`` process; ``subscribed`` is set once it logs its subscription."""

    def __init__(self, url: str, prefix: str, group: str, db: str, spool: Path) -> None:
        andon = Path(sys.executable).with_name("andon")
        head = [str(andon)] if andon.exists() else [sys.executable, "-m", "andon.cli.app"]
        cmd = [*head, "ingest", "--mqtt", url, "--prefix", prefix, "--share", group]
        cmd += ["--db", db, "--spool", str(spool)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.subscribed = threading.Event()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # drained to the end, so the worker never blocks on it
            self.log.append(line.rstrip())
            if "subscribed" in line:
                self.subscribed.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Result:
    samples: int
    seconds: float
    published_s: float
    worker_cpu: float
    machine_cpu: float
    postgres_cpu: float
    broker_cpu: float

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def run(
    host: str, port: int, db_url: str, workers: int, total: int, qos: int, poll: float
) -> Result:
    prefix = f"bench/{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    with open_historian(db_url):
        pass  # create the tables once, so the workers do not race to migrate
    engine = sa.create_engine(db_url)
    spool_root = Path(tempfile.mkdtemp(prefix="andon-bench-spool-"))
    crew = [
        Worker(f"mqtt://{host}:{port}", prefix, group, db_url, spool_root / f"w{i}")
        for i in range(workers)
    ]
    try:
        for w in crew:
            if not w.subscribed.wait(60):
                raise RuntimeError("a worker did not subscribe:\n" + "\n".join(w.log[-20:]))
        n = total // PER
        proc, go = start_publisher(host, port, prefix, n, PER, qos)
        cpu0 = [cpu_seconds(w.proc.pid) for w in crew]
        servers0 = cpu_by_command(SERVERS)
        busy0, all0 = machine_busy()
        t0 = time.time()
        go.set()
        published = 0.0
        count, last_change, seen = 0, time.monotonic(), -1
        with engine.connect() as conn:
            while count < total:
                time.sleep(poll)
                count = int(conn.execute(sa.text("SELECT count(*) FROM samples")).scalar_one())
                conn.commit()
                if not published and not proc.is_alive():
                    published = time.time() - t0
                if count != seen:
                    seen, last_change = count, time.monotonic()
                elif time.monotonic() - last_change > 20:
                    break
        end = time.time()
        busy1, all1 = machine_busy()
        servers1 = cpu_by_command(SERVERS)
        cpu = sum(cpu_seconds(w.proc.pid) - c for w, c in zip(crew, cpu0, strict=True))
        proc.join()
        published = published or end - t0
        wall = end - t0
        machine = (busy1 - busy0) / (all1 - all0) * (os.cpu_count() or 1)
        pg, broker = (servers1[k] - servers0[k] for k in SERVERS)
        return Result(count, wall, published, cpu / wall, machine, pg / wall, broker / wall)
    finally:
        for w in crew:
            w.stop()
        engine.dispose()
        shutil.rmtree(spool_root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL URL (a fresh schema per run)")
    ap.add_argument("--samples", type=int, default=1_000_000, help="samples per run")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.2, help="count(*) polling interval, s")
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1, help="publisher QoS")
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
    total = args.samples // PER * PER
    where = "shared" if args.shared_broker else "private, no queue limits"
    print(
        f"andon ingest scale-out, broker {host}:{port} ({where}), publisher QoS {args.qos}, "
        f"{total:,} samples in messages of {PER}, {os.cpu_count()} cores, "
        f"medians of {args.repeat} runs (workers interleaved)"
    )
    results: dict[int, list[Result]] = {w: [] for w in args.workers}
    for _ in range(args.repeat):
        for workers in args.workers:
            made = pg_schema(args.pg)
            if made is None:
                return
            url, drop = made
            try:
                r = run(host, port, url, workers, total, args.qos, args.poll)
            finally:
                drop()
            status = "" if r.samples == total else f"  STORED {r.samples:,} OF {total:,}"
            print(f"  {workers} worker(s): {r.rate:,.0f} samples/s in {r.seconds:.2f} s{status}")
            if r.samples != total:
                raise SystemExit(f"stored {r.samples:,} samples, published {total:,}")
            results[workers].append(r)
    print(
        f"{'workers':<9}{'samples/s':>12}{'vs 1':>7}{'wall s':>8}{'published s':>13}"
        f"{'workers CPU':>13}{'postgres CPU':>14}{'broker CPU':>12}{'machine CPU':>13}"
    )
    base = statistics.median(r.rate for r in results[args.workers[0]])
    for workers, rs in results.items():
        rate = statistics.median(r.rate for r in rs)
        print(
            f"{workers:<9}{rate:>12,.0f}{rate / base:>7.2f}"
            f"{statistics.median(r.seconds for r in rs):>8.2f}"
            f"{statistics.median(r.published_s for r in rs):>13.2f}"
            f"{statistics.median(r.worker_cpu for r in rs):>12.0%} "
            f"{statistics.median(r.postgres_cpu for r in rs):>13.0%} "
            f"{statistics.median(r.broker_cpu for r in rs):>11.0%} "
            f"{statistics.median(r.machine_cpu for r in rs):>12.0%} "
        )


if __name__ == "__main__":
    main()
