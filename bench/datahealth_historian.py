"""Data health over the historian: a month of 1 Hz data for 100 tags, wall time and peak memory.

    python bench/datahealth_historian.py [--tags N] [--days D] [--pg URL] [--no-pg]
                                         [--no-sqlite] [--page P]

A plant of ``N / 10`` machines with ten 1 Hz tags each (a temperature, vibration, current,
power, pressure... with declared limits; no state tag, so stuck runs count whole) is built in
code. A fresh SQLite file and a fresh PostgreSQL schema (dropped afterwards) are filled with
``D`` days from 2 March 2026 00:00 UTC: a slow random walk plus noise per tag, written with
``Historian.write`` a day of one machine at a time, with a few faults on some tags (an hour
stuck, a spike, a 20-minute gap) so that the checks have something to report.

Then ``andon.datahealth.check_range`` runs over the whole plant and range in a child process
(so its peak memory is its own): wall time, the child's peak resident memory
(``ru_maxrss``, imports and all) and the peak of the check's own allocations (``tracemalloc``,
which numpy's arrays report to).
Memory does not grow with the range: the check reads each tag ``--page`` samples at a time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import sqlite3
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy.engine import make_url

from andon.core import Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.historian import open_historian
from andon.plant import Plant
from andon.plant.loader import parse_plant

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = "2026-03-02T00:00:00Z"
DAY_S = 86_400
TAGS = [
    ("temperature", "degC", 20.0, 80.0),
    ("vibration", "mm/s", 0.0, 20.0),
    ("current", "A", 0.0, 100.0),
    ("power", "kW", 0.0, 60.0),
    ("pressure", "bar", 0.0, 80.0),
    ("speed", "rpm", 0.0, 6000.0),
    ("flow", "l/min", 0.0, 200.0),
    ("humidity", "%", 0.0, 100.0),
    ("torque", "N*m", 0.0, 500.0),
    ("level", "%", 0.0, 100.0),
]


def plant_yaml(tags: int) -> str:
    machines = []
    for m in range((tags + len(TAGS) - 1) // len(TAGS)):
        own = TAGS[: min(len(TAGS), tags - m * len(TAGS))]
        listed = ", ".join(
            f"{{name: {n}, unit: '{u}', interval: 1s, low: {lo:g}, high: {hi:g}}}"
            for n, u, lo, hi in own
        )
        machines.append(
            f"          - {{id: m{m:03d}, type: mill, ideal_cycle_time: 60s, tags: [{listed}]}}"
        )
    return (
        "site: bench\ncalendar: {timezone: UTC}\n"
        "areas:\n  - id: shop\n    lines:\n      - id: line-0\n        type: job_shop\n"
        "        machines:\n" + "\n".join(machines) + "\n"
    )


def fill(url: str, plant: Plant, start_ns: int, days: int) -> tuple[int, float]:
    """Write ``days`` of every tag; returns (samples, wall s)."""
    t0 = time.perf_counter()
    n = 0
    with open_historian(url) as h:
        for m, ref in enumerate(plant.machines()):
            names = tuple(ref.tag_path(t.name) for t in ref.machine.tags)
            for d in range(days):
                rng = np.random.default_rng(m * 1000 + d)
                ts = start_ns + (d * DAY_S + np.arange(DAY_S, dtype=np.int64)) * NS_PER_S
                cols = []
                keep_ts = []
                for k, t in enumerate(ref.machine.tags):
                    lo, hi = t.low or 0.0, t.high or 1.0
                    walk = np.cumsum(rng.normal(0, (hi - lo) * 1e-4, DAY_S))
                    v = lo + (hi - lo) * 0.5 + np.clip(walk, -(hi - lo) * 0.2, (hi - lo) * 0.2)
                    v += rng.normal(0, (hi - lo) * 0.002, DAY_S)
                    t_keep = ts
                    if (m + k + d) % 7 == 0:  # an hour stuck
                        v[3600:7200] = v[3600]
                    if (m + k + d) % 11 == 0:  # a spike
                        v[40_000] += (hi - lo) * 0.5
                    if (m + k + d) % 13 == 0:  # a 20-minute gap
                        mask = np.ones(DAY_S, dtype=np.bool_)
                        mask[50_000:51_200] = False
                        t_keep, v = ts[mask], v[mask]
                    keep_ts.append(t_keep)
                    cols.append(v)
                all_ts = np.concatenate(keep_ts)
                tag_id = np.repeat(np.arange(len(cols), dtype=np.int32), [len(c) for c in cols])
                n += h.write(Batch.build(names, all_ts, tag_id, np.concatenate(cols)))
    return n, time.perf_counter() - t0


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def _check(  # type: ignore[type-arg]
    url: str, yaml: str, start_ns: int, end_ns: int, page: int, traced: bool, out: mp.Queue
) -> None:
    from andon.datahealth import check_range  # imported here: counted in the baseline

    plant = parse_plant(yaml, "bench plant")
    with open_historian(url, create=False) as h:
        h.latest(plant.machines()[0].tag_path(plant.machines()[0].machine.tags[0].name))
        base = _maxrss_mb()
        if traced:  # slows the check down: a run of its own
            tracemalloc.start()
        t = time.perf_counter()
        report = check_range(plant, h, None, start_ns, end_ns, end_ns, page=page)
        wall = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    out.put((wall, base, _maxrss_mb(), peak, len(report.findings)))


def check_in_child(  # type: ignore[type-arg]
    url: str, yaml: str, start_ns: int, end_ns: int, page: int, traced: bool
) -> tuple:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_check, args=(url, yaml, start_ns, end_ns, page, traced, out))
    proc.start()
    result = out.get()
    proc.join()
    return result  # type: ignore[no-any-return]


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(name: str, url: str, args: argparse.Namespace) -> None:
    yaml = plant_yaml(args.tags)
    plant = parse_plant(yaml, "bench plant")
    start_ns = parse_time(START, field="start")
    end_ns = start_ns + args.days * DAY_S * NS_PER_S
    samples, wall = fill(url, plant, start_ns, args.days)
    print(f"{name}: filled {args.tags} tags x {args.days} d: {samples:,} samples in {wall:.0f} s")
    check_wall, base, peak, _, findings = check_in_child(
        url, yaml, start_ns, end_ns, args.page, False
    )
    traced = check_in_child(url, yaml, start_ns, end_ns, args.page, True)[3]
    print(
        f"  check: {check_wall:.1f} s ({samples / check_wall:,.0f} samples/s), "
        f"peak RSS {peak:.0f} MB (before the check {base:.0f} MB), peak of the check's own "
        f"allocations {traced:.0f} MB (tracemalloc, numpy included), {findings} findings",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tags", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--page", type=int, default=500_000)
    ap.add_argument("--pg", default=os.environ.get("ANDON_TEST_PG", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    print(
        f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {args.tags} tags x {args.days} days of 1 Hz",
        flush=True,
    )
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if not args.no_pg:
        with pg_schema(args.pg) as url:
            run("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
