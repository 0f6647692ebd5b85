"""How fast the virtual plant runs: simulated seconds per wall second and samples per second.

    python bench/sim_speed.py [--hours H] [--repeat K] [--chunk S]

Each repeat builds a fresh VirtualPlant (seed 0, Monday 06:00 local) and advances it by
``--chunk`` simulated seconds at a time (600 s, as the pipeline source does) to ``--hours``;
the figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from andon.core.clock import NS_PER_S, parse_time
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

PLANTS = {
    "job_shop": "2026-03-02T06:00:00+01:00",
    "assembly_line": "2026-03-02T06:00:00-06:00",
}


def run_once(name: str, hours: float, chunk_s: float) -> tuple[float, int, int]:
    plant = load_plant(example_plant(name))
    start = parse_time(PLANTS[name])
    end = start + round(hours * 3600 * NS_PER_S)
    step = round(chunk_s * NS_PER_S)
    began = time.perf_counter()
    vp = VirtualPlant(plant, seed=0, start_ns=start)
    samples = events = 0
    t = start
    while t < end:
        t = min(t + step, end)
        batch, evs = vp.advance(t)
        samples += len(batch)
        events += len(evs)
    return time.perf_counter() - began, samples, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk", type=float, default=600.0, help="simulated seconds per advance")
    args = ap.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {args.hours:g} h, "
        f"chunk {args.chunk:g} s, median of {args.repeat}"
    )
    print(
        f"{'plant':<15}{'wall s':>9}{'sim s / wall s':>16}{'samples':>11}{'samples/s':>12}"
        f"{'events':>9}"
    )
    for name in PLANTS:
        walls = []
        samples = events = 0
        for _ in range(args.repeat):
            wall, samples, events = run_once(name, args.hours, args.chunk)
            walls.append(wall)
        wall = statistics.median(walls)
        print(
            f"{name:<15}{wall:>9.3f}{args.hours * 3600 / wall:>16,.0f}{samples:>11,}"
            f"{samples / wall:>12,.0f}{events:>9,}"
        )


if __name__ == "__main__":
    main()
