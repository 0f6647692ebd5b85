"""API latency under concurrent clients, from a second process on loopback.

    python bench/api_latency.py [--concurrency 1 8 32] [--repeat 3] [--requests 120]
    python bench/api_latency.py --tool wrk [--duration 4]

Prepares a SQLite historian (one day of a 1 Hz tag, plus four hours of the demo's job-shop
plant for the board), starts the API in a *separate* process (uvicorn on a free port, the same
``ApiServer`` that ``andon serve`` runs), and drives it from this process with
``httpx.AsyncClient`` at each concurrency: every client sends its next request as soon as the
previous one answers. Per (endpoint, concurrency) it reports the median over repeats of p50
and p99 latency and of throughput.

``--tool wrk`` drives the same endpoints with ``wrk`` instead (one thread, N connections, each
closed-loop, for ``--duration`` seconds per repeat; a Lua script sets the bearer header;
p50/p99 from wrk's ``--latency`` distribution). wrk is C and needs far less CPU than the
Python client, which otherwise competes with the server for the same cores. Endpoints:

- trend 1m: ``/tags/{tag}/history?every=1m`` over one day (1,440 buckets, from the rollups);
- trend 1m columns: the same with ``format=columns`` (epoch milliseconds instead of ISO);
- trend raw: the same day raw (86,400 samples, ~3 MB of JSON);
- board: ``/machines`` (state, time in state, parts today of every machine).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import re
import shutil
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


def endpoints(start: int, args: argparse.Namespace) -> dict[str, tuple[str, int]]:
    """Name: (URL, requests per repeat for the httpx client)."""
    span = f"from={iso(start)}&to={iso(start + DAY_S * NS_PER_S)}"
    return {
        "trend 1m (1 day)": (f"/api/v1/tags/{TAG}/history?{span}&every=1m", args.requests),
        "trend 1m columns": (
            f"/api/v1/tags/{TAG}/history?{span}&every=1m&format=columns",
            args.requests,
        ),
        "trend raw (1 day)": (f"/api/v1/tags/{TAG}/history?{span}", max(10, args.requests // 4)),
        "board (/machines)": ("/api/v1/machines", args.requests),
    }


async def measure(base: str, token: str, start: int, args: argparse.Namespace) -> list[str]:
    rows = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:
        for name, (url, n) in endpoints(start, args).items():
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


LUA = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ANDON_BENCH_TOKEN")
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, connections: int, seconds: int, script: str, token: str) -> dict[str, float]:
    """One wrk run: p50 and p99 (ms) from ``--latency``, requests per second."""
    # wrk's default 2 s timeout would drop the slowest answers from the distribution
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "120s"]
    out = subprocess.run(
        [*command, "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "ANDON_BENCH_TOKEN": token},
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"{url}: wrk saw errors or non-2xx answers\n{out}")
    found = {
        "p50": re.search(r"^\s+50%\s+(\S+)", out, re.M),
        "p99": re.search(r"^\s+99%\s+(\S+)", out, re.M),
        "rate": re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M),
    }
    if not all(found.values()) or re.search(r"^\s+0 requests in", out, re.M):
        raise RuntimeError(f"no answers, or cannot read wrk's output:\n{out}")
    return {
        "p50": _ms(found["p50"].group(1)),  # type: ignore[union-attr]
        "p99": _ms(found["p99"].group(1)),  # type: ignore[union-attr]
        "rate": float(found["rate"].group(1)),  # type: ignore[union-attr]
    }


def measure_wrk(base: str, token: str, start: int, args: argparse.Namespace, tmp: str) -> None:
    script = str(Path(tmp) / "bearer.lua")
    Path(script).write_text(LUA)
    for name, (url, _) in endpoints(start, args).items():
        # warm up; this also waits out the answers still owed to the connections the last
        # run closed (the server finishes requests whose client has gone)
        for _ in range(3):
            httpx.get(base + url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        for c in args.concurrency:
            # long enough for a few answers per connection, even of the raw day (~0.15 s each)
            seconds = math.ceil(max(args.duration, 3 * c * (0.2 if "raw" in name else 0.01)))
            runs = [run_wrk(base + url, c, seconds, script, token) for _ in range(args.repeat)]
            print(
                f"| {name} | {c} | {statistics.median(r['p50'] for r in runs):.1f} | "
                f"{statistics.median(r['p99'] for r in runs):.1f} | "
                f"{statistics.median(r['rate'] for r in runs):.0f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument(
        "--tool",
        choices=["httpx", "wrk"],
        default="httpx",
        help="load generator: the Python client (default) or wrk (C, must be installed)",
    )
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run (at least)")
    args = parser.parse_args()
    if args.tool == "wrk" and shutil.which("wrk") is None:
        parser.error("--tool wrk: wrk is not installed (apt-get install wrk), or use httpx")
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
            print(f"load generator: {args.tool}")
            print("| endpoint | clients | p50 ms | p99 ms | req/s |")
            print("|---|---:|---:|---:|---:|")
            if args.tool == "wrk":
                measure_wrk(base, token, start, args, tmp)
            else:
                asyncio.run(measure(base, token, start, args))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
