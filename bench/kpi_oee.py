"""OEE with its six losses for 100 machines × 30 days, per shift: the computation only.

    python bench/kpi_oee.py [--machines N] [--days D] [--repeat K] [--mode batch|each]

Histories are generated directly as ``StateHistory`` arrays (a state change every 30–300 s,
about 15 000 intervals per machine-month; states weighted like a real shop: mostly running,
some micro-stops, idle, down, setup, a little NO_DATA) with parts while running, on a plant
calendar of three 8 h shifts with breaks (Europe/Berlin, March 2026: one 23 h day). Reading
the historian and deriving states is not measured here. ``batch`` computes a machine's
shifts in one pass (``oee_periods``); ``each`` calls ``oee`` once per shift on the clipped
history (the way ``kpi.assets`` calls it today). Wall time is the median over the repeats.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from andon.core.clock import NS_PER_S, parse_time
from andon.core.machine_state import MachineState as M
from andon.kpi import oee, oee_periods, periods, planned_stops_for
from andon.plant import PlantCalendar
from andon.plant.model import Calendar
from andon.state.history import NO_DATA, Parts, StateHistory

START = "2026-03-01T00:00:00+01:00"
STATES = np.array(
    [M.RUNNING, M.MICRO_STOP, M.IDLE, M.STARVED, M.BLOCKED, M.DOWN, M.SETUP, NO_DATA],
    dtype=np.uint8,
)
WEIGHTS = np.array([0.62, 0.12, 0.06, 0.05, 0.04, 0.06, 0.04, 0.01])
IDEAL_S = {"A": 25.0, "B": 40.0}


def calendar() -> PlantCalendar:
    brk = [{"start": "02:00", "duration": "30min"}]
    return PlantCalendar(
        Calendar.model_validate(
            {
                "timezone": "Europe/Berlin",
                "shifts": [
                    {
                        "name": "early",
                        "start": "06:00",
                        "end": "14:00",
                        "breaks": [{"start": "10:00", "duration": "30min"}],
                    },
                    {
                        "name": "late",
                        "start": "14:00",
                        "end": "22:00",
                        "breaks": [{"start": "18:00", "duration": "30min"}],
                    },
                    {"name": "night", "start": "22:00", "end": "06:00", "breaks": brk},
                ],
            }
        )
    )


def machine(i: int, start: int, end: int, rng: np.random.Generator) -> tuple[StateHistory, Parts]:
    span_s = (end - start) // NS_PER_S
    n = int(span_s / 150) + 10
    steps = rng.integers(30, 301, size=n)
    starts_s = np.concatenate(([0], np.cumsum(steps)))
    starts_s = starts_s[starts_s < span_s]
    states = rng.choice(STATES, size=len(starts_s), p=WEIGHTS)
    starts = start + starts_s.astype(np.int64) * NS_PER_S
    history = StateHistory(
        f"site/a/l{i // 10}/m{i}", start, end, starts, states, ("",) * len(starts)
    )
    # parts while running: one per ~30 s of running time
    ends_s = np.append(starts_s[1:], span_s)
    run = states == M.RUNNING
    per = ((ends_s - starts_s) // 30)[run]
    first = starts_s[run]
    ts_s = (
        np.repeat(first, per) + (np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)) * 30
    )
    k = len(ts_s)
    product = (ts_s // (4 * 3600) % 2).astype(np.int32)
    result = rng.choice(np.array([0, 1, 2], dtype=np.uint8), size=k, p=[0.97, 0.02, 0.01])
    parts = Parts(
        history.asset, ("A", "B"), start + ts_s * NS_PER_S, product, result, rng.random(k) < 0.02
    )
    return history, parts


def run_once(
    data: list[tuple[StateHistory, Parts]], cal: PlantCalendar, mode: str
) -> tuple[float, int]:
    start, end = data[0][0].start_ns, data[0][0].end_ns
    began = time.perf_counter()
    spans = periods(cal, start, end, "shift")
    stops = planned_stops_for(cal, start, end)
    n = 0
    for history, parts in data:
        kw = {"planned_stops": stops, "ideal_s": IDEAL_S.__getitem__, "micro_stop_s": 120.0}
        if mode == "batch":
            n += len(oee_periods(history, parts, [(p.start_ns, p.end_ns) for p in spans], **kw))  # type: ignore[arg-type]
        else:
            for p in spans:
                oee(history.clip(p.start_ns, p.end_ns), parts.within(p.start_ns, p.end_ns), **kw)  # type: ignore[arg-type]
                n += 1
    return time.perf_counter() - began, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mode", choices=["batch", "each"], default="batch")
    args = ap.parse_args()
    cal = calendar()
    start = parse_time(START)
    end = start + args.days * 86400 * NS_PER_S
    rng = np.random.default_rng(0)
    data = [machine(i, start, end, rng) for i in range(args.machines)]
    intervals = sum(len(h.starts) for h, _ in data)
    n_parts = sum(len(p) for _, p in data)
    walls = []
    for _ in range(args.repeat):
        wall, n = run_once(data, cal, args.mode)
        walls.append(wall)
    med = statistics.median(walls)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    print(
        f"{args.machines} machines × {args.days} days: {intervals} state intervals, "
        f"{n_parts} parts, {n} OEE results (per machine per shift), mode {args.mode}"
    )
    print(f"OEE with losses: {med:.3f} s wall (median of {args.repeat}; min {min(walls):.3f} s)")


if __name__ == "__main__":
    main()
