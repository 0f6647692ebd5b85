"""API latency under concurrent clients, from a second process on loopback.

    python bench/api_latency.py [--concurrency 1 8 32] [--repeat 3] [--requests 120]

Prepares a SQLite historian (one day of a 1 Hz tag, plus four hours of the demo's job-shop
plant for the board), starts the API in a *separate* process (uvicorn on a free port, the same
``ApiServer`` that ``andon serve`` runs), and drives it from this process with
``httpx.AsyncClient`` at each concurrency: every client sends its next request as soon as the
previous one answers. Per (endpoint, concurrency) it reports the median over repeats of p50
and p99 latency and of throughput. Endpoints:

- trend 1m: ``/tags/{tag}/history?every=1m`` over one day (1,440 buckets, from the rollups);
- trend 1m columns: the same with ``format=columns`` (epoch milliseconds instead of ISO);
- trend raw: the same day raw (86,400 samples, ~3 MB of JSON);
- board: ``/machines`` (state, time in state, parts today of every machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S, iso, now_ns
from andon.historian import open_historian
from andon.identity import Identity, Role
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant, VirtualPlantSource

TAG = "bench/area/line/press-1/force"
DAY_S = 86_400
SIM_HOURS = 4


def prepare(db: str) -> tuple[str, int]:
    """Fill the historian; returns an admin token and the trend's start (UTC ns)."""
    end = now_ns()
    end -= end % (60 * NS_PER_S)
    start = end - DAY_S * NS_PER_S
    plant = load_plant(example_plant("job_shop"))
    with open_historian(db) as historian:
        ts = start + np.arange(DAY_S, dtype=np.int64) * NS_PER_S
        value = 50 + 10 * np.sin(np.arange(DAY_S) / 600.0)
        historian.write(Batch.build([TAG], ts, np.zeros(DAY_S), value))
        historian.ensure_tags(
            (r.tag_path(t.name), t.unit, t.description, t.source)
            for r in plant.machines()
            for t in r.machine.tags
        )
        sim_start = end - SIM_HOURS * 3600 * NS_PER_S
        virtual = VirtualPlant(plant, seed=1, start_ns=sim_start)
        source = VirtualPlantSource(virtual, end, speed=0)
        asyncio.run(Pipeline([source], [HistorianSink(historian)]).run())
        identity = Identity(historian._engine)
        identity.create_user("bench", Role.ADMIN, "bench password long enough", actor="cli:bench")
        _, token = identity.create_token(
            "bench", [Role.VIEWER], expires_in_s=3600, actor="cli:bench"
        )
    return token, start


SERVER = """
import asyncio, sys
from andon.api import ApiContext, ApiServer
from andon.historian import open_historian
from andon.plant import example_plant, load_plant

async def main():
    historian = open_historian(sys.argv[1], create=False)
    ctx = ApiContext.for_historian(historian, plant=load_plant(example_plant("job_shop")))
    async with ApiServer(ctx, "127.0.0.1", 0) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def drive(
    client: httpx.AsyncClient, url: str, concurrency: int, requests: int
) -> tuple[list[float], float]:
    """Latencies (s) of ``requests`` GETs from ``concurrency`` closed-loop clients; wall time."""
    latencies: list[float] = []
    left = requests

    async def one_client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            began = time.perf_counter()
            r = await client.get(url)
            await r.aread()
            latencies.append(time.perf_counter() - began)
            if r.status_code != 200:
                raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")

    began = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) * 1000


async def measure(base: str, token: str, start: int, args: argparse.Namespace) -> list[str]:
    span = f"from={iso(start)}&to={iso(start + DAY_S * NS_PER_S)}"
    endpoints = {
        "trend 1m (1 day)": (f"/api/v1/tags/{TAG}/history?{span}&every=1m", args.requests),
        "trend 1m columns": (
            f"/api/v1/tags/{TAG}/history?{span}&every=1m&format=columns",
            args.requests,
        ),
        "trend raw (1 day)": (f"/api/v1/tags/{TAG}/history?{span}", max(10, args.requests // 4)),
        "board (/machines)": ("/api/v1/machines", args.requests),
    }
    rows = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:
        for name, (url, n) in endpoints.items():
            await drive(client, url, 2, 6)  # warm up
            for c in args.concurrency:
                p50s, p99s, rates = [], [], []
                for _ in range(args.repeat):
                    lat, wall = await drive(client, url, c, max(n, c))
                    p50s.append(pct(lat, 50))
                    p99s.append(pct(lat, 99))
                    rates.append(len(lat) / wall)
                rows.append(
                    f"| {name} | {c} | {statistics.median(p50s):.1f} | "
                    f"{statistics.median(p99s):.1f} | {statistics.median(rates):.0f} |"
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        db = str(Path(tmp) / "andon.db")
        began = time.perf_counter()
        token, start = prepare(db)
        print(f"prepared in {time.perf_counter() - began:.1f} s", flush=True)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, db], stdout=subprocess.PIPE, text=True, env=os.environ
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            print(
                f"API at {base} (pid {server.pid}); {platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} cores, Python {platform.python_version()}"
            )
            print("| endpoint | clients | p50 ms | p99 ms | req/s |")
            print("|---|---:|---:|---:|---:|")
            asyncio.run(measure(base, token, start, args))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
