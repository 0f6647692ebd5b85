"""OEE by shift from the historian, the whole path: read states and parts, derive, compute.

    python bench/kpi_from_historian.py [--machines N] [--days D] [--repeat K] [--web-repeat W]
                                       [--plant-repeat P] [--pg URL] [--no-pg] [--no-sqlite]
                                       [--no-web] [--profile] [--kept-only] [--power]

A plant of ``N`` machines (10 per line) with a ``state_code`` tag (interval 1 s) and the job
shop's calendar (three shifts with breaks, Europe/Berlin) is built in code. The historian (a
fresh SQLite file; a fresh PostgreSQL schema at ``--pg``, dropped afterwards) is filled with
``D + 1`` days from Monday 2 March 2026 00:00 local time: 1 Hz state codes generated with numpy (a
change every 30–300 s; mostly running, some micro-stops, idle, starved, blocked, down, setup)
written with ``Historian.write`` a day of ten machines at a time, and ``part`` events (one per
60–120 s of running, about 1 % scrap and 2 % rework) with ``Historian.write_events``.

Timed over ``D`` days from the first early shift (06:00), so that every shift is whole,
median of ``K`` after one warm-up:

* ``asset_oee(plant, historian, plant.root, start, end, "shift")``: the whole path, from the
  samples (every kept result forgotten first);
* ``kept``: the same call once the closed shifts' results are kept (``andon.kpi.kept``): what
  every question after the first costs;
* its parts, each called alone for every machine: ``derive`` (states from the historian),
  ``read_parts`` (part events), ``oee_periods`` (the arithmetic on what those returned);
* unless ``--no-web``: ``GET /oee`` and ``GET /api/v1/kpi/oee`` through FastAPI's TestClient
  (a logged-in viewer; no server), for one machine over one day and for the whole plant over
  one day, median of ``W`` (default 10; ``P`` for the plant's, default 10), and the first
  request on its own after every kept result is forgotten (it computes and keeps the closed
  shifts' OEE, stops and energy).

``--power`` gives every machine a 1 Hz power meter (3.5 kW idle, 18 kW running), the
calendar time-of-use tariffs and a grid emission factor, so the page's energy is computed too.

``--profile`` prints the top of a cProfile of one ``asset_oee`` call on each engine.
``--kept-only`` (for the full plant-month, whose parts would take minutes each) times the
first question once and then the kept answer.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import re
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from andon.api import ApiContext, create_app
from andon.audit import AuditLog
from andon.core import Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.core.event import Event
from andon.core.machine_state import MachineState as M
from andon.historian import Historian, open_historian
from andon.identity import Identity, Role
from andon.kpi.assets import asset_oee, machines_under, micro_stop_s
from andon.kpi.oee import ideal_for, oee_periods
from andon.kpi.periods import periods, planned_stops_for
from andon.plant import Plant, PlantCalendar
from andon.plant.loader import parse_plant
from andon.state.counts import read_parts
from andon.state.derive import derive
from andon.web import install

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = "2026-03-02T00:00:00+01:00"  # a Monday, local midnight in Berlin
FIRST_SHIFT_S = 6 * 3600  # the early shift begins at 06:00
TIMEZONE = "Europe/Berlin"
DAY_S = 86_400
LEAD_S = 120  # samples written before the range, so the state at its start is known
PER_LINE = 10
PASSWORD = "correct horse battery staple"
CODES = np.array(
    [M.RUNNING, M.MICRO_STOP, M.IDLE, M.STARVED, M.BLOCKED, M.DOWN, M.SETUP], dtype=np.float64
)
WEIGHTS = np.array([0.64, 0.12, 0.06, 0.05, 0.04, 0.05, 0.04])
IDEAL_S = 55.0

CALENDAR = """\
calendar:
  timezone: Europe/Berlin
  shifts:
    - name: early
      start: "06:00"
      end: "14:00"
      breaks: [{start: "09:00", duration: 15min}, {start: "11:30", duration: 30min}]
    - name: late
      start: "14:00"
      end: "22:00"
      breaks: [{start: "17:00", duration: 15min}, {start: "19:30", duration: 30min}]
    - name: night
      start: "22:00"
      end: "06:00"
      breaks: [{start: "01:00", duration: 30min}, {start: "04:00", duration: 15min}]
"""
TARIFFS = """\
  tariffs:
    - {name: peak, start: "07:00", end: "20:00", price_per_kwh: 0.24,
       days: [mon, tue, wed, thu, fri]}
    - {name: off-peak, start: "20:00", end: "07:00", price_per_kwh: 0.15}
carbon: {grid_kg_co2e_per_kwh: 0.38}
"""
IDLE_KW, RUNNING_KW = 3.5, 18.0


def plant_yaml(machines: int, power: bool = False) -> str:
    """``machines`` machines, ten per line, each with a 1 s state-code tag (and with
    ``power`` a 1 s power meter, the calendar's tariffs and a grid emission factor)."""
    lines = []
    meter = ", {name: power, unit: kW, interval: 1s, signal: power}" if power else ""
    for li in range((machines + PER_LINE - 1) // PER_LINE):
        lines.append(f"      - id: line-{li}\n        type: job_shop\n        machines:")
        for m in range(li * PER_LINE, min((li + 1) * PER_LINE, machines)):
            lines.append(
                f"          - {{id: m{m:03d}, type: mill, ideal_cycle_time: {IDEAL_S:g}s, tags: "
                f"[{{name: state_code, unit: code, interval: 1s, signal: state_code}}{meter}]}}"
            )
    return (
        "site: bench\n"
        + CALENDAR
        + (TARIFFS if power else "")
        + "products:\n  - {id: widget}\n"
        + "areas:\n  - id: shop\n    lines:\n"
        + "\n".join(lines)
        + "\n"
    )


def machine_day(rng: np.random.Generator, t0_s: int, span_s: int) -> tuple[Any, Any, Any]:
    """One machine's 1 Hz state codes over ``span_s`` s from ``t0_s`` and its part times.

    Returns (ts ns, code per sample, part ts ns)."""
    steps = rng.integers(30, 301, size=span_s // 30 + 2)
    starts = np.concatenate(([0], np.cumsum(steps)))
    starts = starts[starts < span_s]
    codes = rng.choice(CODES, size=len(starts), p=WEIGHTS)
    lengths = np.diff(np.append(starts, span_s))
    values = np.repeat(codes, lengths)
    ts = (t0_s + np.arange(span_s, dtype=np.int64)) * NS_PER_S
    # parts while running: one every 60-120 s of each running interval
    part_s: list[Any] = []
    for s, n in zip(starts[codes == M.RUNNING], lengths[codes == M.RUNNING], strict=True):
        gaps = rng.integers(60, 121, size=n // 60 + 1)
        at = np.cumsum(gaps)
        part_s.append(s + at[at <= n])
    parts = np.concatenate(part_s) if part_s else np.empty(0, np.int64)
    return ts, values, (t0_s + parts.astype(np.int64)) * NS_PER_S


def fill(
    historian: Historian, plant: Plant, start_ns: int, days: int, power: bool = False
) -> tuple[int, int, float]:
    """Write ``days`` of every machine; returns (samples, parts, wall s)."""
    refs = plant.machines()
    t_start = time.perf_counter()
    samples = parts = 0
    first_s = start_ns // NS_PER_S - LEAD_S
    for d in range(days):
        t0_s = first_s + (0 if d == 0 else LEAD_S + d * DAY_S)
        span_s = DAY_S + (LEAD_S if d == 0 else 0)
        for g in range(0, len(refs), PER_LINE):
            group = refs[g : g + PER_LINE]
            names = ("state_code", "power") if power else ("state_code",)
            tags = tuple(r.tag_path(n) for r in group for n in names)
            cols: list[tuple[Any, Any]] = []
            events: list[Event] = []
            for i, ref in enumerate(group):
                rng = np.random.default_rng((g + i) * 10_000 + d)
                ts, values, part_ts = machine_day(rng, t0_s, span_s)
                cols.append((ts, values))
                if power:  # idle draw, the spindle's while running, a little noise
                    kw = IDLE_KW + (RUNNING_KW - IDLE_KW) * (values == M.RUNNING)
                    cols.append((ts, kw + rng.normal(0.0, 0.2, size=len(kw))))
                result = rng.choice(
                    ["good", "scrap", "rework"], size=len(part_ts), p=[0.97, 0.01, 0.02]
                )
                events.extend(
                    Event(
                        int(t),
                        ref.path,
                        "part",
                        {"product": "widget", "result": str(r), "count": 1},
                        "bench",
                    )
                    for t, r in zip(part_ts.tolist(), result.tolist(), strict=True)
                )
            ts = np.concatenate([c[0] for c in cols])
            tag_id = np.repeat(np.arange(len(cols), dtype=np.int32), [len(c[0]) for c in cols])
            value = np.concatenate([c[1] for c in cols])
            samples += historian.write(Batch.build(tags, ts, tag_id, value))
            parts += historian.write_events(events)
    return samples, parts, time.perf_counter() - t_start


def median_s(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_path(
    plant: Plant, historian: Historian, start_ns: int, end_ns: int, repeat: int
) -> dict[str, float]:
    """The whole ``asset_oee`` and its three parts, each on its own, median seconds."""
    refs = machines_under(plant, plant.root)
    calendar = PlantCalendar(plant.calendar)
    spans = periods(calendar, start_ns, end_ns, "shift")
    bounds = [(p.start_ns, p.end_ns) for p in spans]
    lo, hi = spans[0].start_ns, spans[-1].end_ns
    histories = {r.path: derive(plant, r, historian, lo, hi) for r in refs}
    parts = {
        r.path: read_parts(plant, r, historian, lo, hi, history=histories[r.path]) for r in refs
    }

    def whole() -> None:
        historian.forget()  # from the samples, as on the first question
        asset_oee(plant, historian, plant.root, start_ns, end_ns, "shift")

    def kept() -> None:  # the closed shifts' results kept by an earlier question
        asset_oee(plant, historian, plant.root, start_ns, end_ns, "shift")

    def states() -> None:
        for r in refs:
            derive(plant, r, historian, lo, hi)

    def part_events() -> None:
        for r in refs:
            read_parts(plant, r, historian, lo, hi, history=histories[r.path])

    def arithmetic() -> None:
        for r in refs:
            oee_periods(
                histories[r.path],
                parts[r.path],
                bounds,
                planned_stops=planned_stops_for(calendar, lo, hi),
                ideal_s=ideal_for(r.machine),
                micro_stop_s=micro_stop_s(r),
            )

    n_parts = sum(len(p) for p in parts.values())
    n_states = sum(len(h.starts) for h in histories.values())
    print(f"    {len(spans)} shifts, {n_states:,} state intervals, {n_parts:,} parts")
    return {
        "asset_oee": median_s(whole, repeat),
        "kept": median_s(kept, max(repeat, 5)),
        "derive": median_s(states, repeat),
        "read_parts": median_s(part_events, repeat),
        "oee_periods": median_s(arithmetic, repeat),
    }


def profile(plant: Plant, historian: Historian, start_ns: int, end_ns: int) -> None:
    prof = cProfile.Profile()
    prof.enable()
    asset_oee(plant, historian, plant.root, start_ns, end_ns, "shift")
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def time_web(
    plant: Plant, historian: Historian, start_ns: int, repeat: int, plant_repeat: int
) -> dict[str, float]:
    """``GET /oee`` and ``/api/v1/kpi/oee`` for one machine and the plant over the first day."""
    identity = Identity(historian.engine, password_hasher=fast_hasher())
    identity.create_user("viewer", Role.VIEWER, PASSWORD, actor="cli:bench")
    context = ApiContext(
        historian=historian, identity=identity, audit=AuditLog(historian.engine), plant=plant
    )
    app = create_app(context)
    install(app)
    day = {
        "from": _iso(start_ns),
        "to": _iso(start_ns + DAY_S * NS_PER_S),
        "by": "shift",
    }
    out: dict[str, float] = {}
    # raise_server_exceptions=False: a failing page is reported as its status, not a traceback
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        _log_in(client)
        for who, asset in (("one machine", plant.machines()[0].path), ("plant", plant.root)):
            for route in ("/oee", "/api/v1/kpi/oee"):
                params = {**day, "asset": asset}

                def get(route: str = route, params: dict[str, str] = params) -> None:
                    r = client.get(route, params=params)
                    if r.status_code != 200:
                        raise RuntimeError(f"HTTP {r.status_code}")

                try:
                    n = repeat if who == "one machine" else plant_repeat
                    historian.forget()  # the first request computes and keeps the closed shifts
                    t = time.perf_counter()
                    get()
                    out[f"{route} {who}, first"] = time.perf_counter() - t
                    out[f"{route} {who}"] = median_s(get, n)
                except RuntimeError as exc:  # a page being edited elsewhere: say so, go on
                    print(f"  GET {route} {who}: {exc}", flush=True)
    return out


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // NS_PER_S))


def _log_in(client: TestClient) -> None:
    def token(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]*)"', html)
        assert found, "no csrf_token on the login page"
        return found.group(1)

    r = client.post(
        "/login",
        data={
            "csrf_token": token(client.get("/login").text),
            "name": "viewer",
            "password": PASSWORD,
            "next": "/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh schema at ``url``, dropped afterwards; yields a URL scoped to it."""
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
    plant = parse_plant(plant_yaml(args.machines, args.power), "bench plant")
    filled_from = parse_time(START, field="start")
    # the timed range runs from the first early shift, so every shift in it is whole (a shift
    # clipped by the range is computed from the samples each time); the extra day filled
    # holds the last night shift's end and what follows it
    start_ns = filled_from + FIRST_SHIFT_S * NS_PER_S
    # ``days`` local days later, so the range ends at a shift change even across a change of
    # the clocks (29 March 2026 in Berlin: 30 days of 86,400 s end at 07:00, cutting a shift)
    first = datetime.fromtimestamp(start_ns / NS_PER_S, ZoneInfo(TIMEZONE))
    end_ns = int((first + timedelta(days=args.days)).timestamp()) * NS_PER_S
    with open_historian(url) as historian:
        samples, parts, wall = fill(historian, plant, filled_from, args.days + 1, args.power)
        print(
            f"{name}: filled {args.machines} machines x {args.days + 1} d: {samples:,} samples, "
            f"{parts:,} part events in {wall:.0f} s"
        )
        if args.kept_only:
            t = time.perf_counter()
            asset_oee(plant, historian, plant.root, start_ns, end_ns, "shift")
            print(f"  first question (computes and keeps): {time.perf_counter() - t:.1f} s")
            figures = {
                "kept": median_s(
                    lambda: asset_oee(plant, historian, plant.root, start_ns, end_ns, "shift"),
                    max(args.repeat, 5),
                )
            }
        else:
            figures = time_path(plant, historian, start_ns, end_ns, args.repeat)
        machine_days = args.machines * args.days
        for k, v in figures.items():
            print(f"  {k:12} {v:8.3f} s   {1000 * v / machine_days:7.2f} ms per machine-day")
        if args.profile:
            profile(plant, historian, start_ns, end_ns)
        if not args.no_web:
            for k, v in time_web(
                plant, historian, start_ns, args.web_repeat, args.plant_repeat
            ).items():
                print(f"  GET {k:28} {1000 * v:8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--machines", type=int, default=100)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--web-repeat", type=int, default=10)
    ap.add_argument("--plant-repeat", type=int, default=10, help="repeats of the plant's pages")
    ap.add_argument("--pg", default=os.environ.get("ANDON_TEST_PG", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    ap.add_argument("--no-web", action="store_true", help="skip the page and API timings")
    ap.add_argument(
        "--power", action="store_true", help="a 1 Hz power meter per machine, tariffs, carbon"
    )
    ap.add_argument("--profile", action="store_true", help="cProfile one asset_oee call")
    ap.add_argument(
        "--kept-only",
        action="store_true",
        help="time the first question once and the kept answer (for the full-size plant-month)",
    )
    args = ap.parse_args()
    print(
        f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {args.machines} machines x {args.days} days of 1 Hz "
        f"states, median of {args.repeat}",
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
