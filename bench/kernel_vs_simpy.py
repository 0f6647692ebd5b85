"""Our discrete-event kernel against SimPy on the same model.

    pip install simpy   # only for this comparison; andon never imports it
    python bench/kernel_vs_simpy.py [--jobs N] [--machines M] [--repeat K]

The model: a machine shop of M machines fed by one FIFO store; jobs arrive with exponential
gaps (mean 1 s) and each machine takes a job and works on it for an exponential time (mean
0.9·M s), so the shop is 90 % busy. Both kernels see the same random numbers and must give
the same completion count and mean flow time; the figure is jobs (and kernel events) per wall
second, the median over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from andon.twin.kernel import Environment
from andon.twin.resources import Store


def model(env: Any, store: Any, jobs: int, machines: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0, jobs)
    work = rng.exponential(0.9 * machines, jobs)
    flow: list[float] = []

    def arrivals() -> Any:
        for i in range(jobs):
            yield env.timeout(float(gaps[i]))
            yield store.put((i, env.now))

    def machine() -> Any:
        while True:
            i, arrived = yield store.get()
            yield env.timeout(float(work[i]))
            flow.append(env.now - arrived)

    env.process(arrivals())
    for _ in range(machines):
        env.process(machine())
    return flow


def run_ours(jobs: int, machines: int, seed: int) -> tuple[float, list[float], int]:
    began = time.perf_counter()
    env = Environment()
    flow = model(env, Store(env), jobs, machines, seed)
    env.run()
    return time.perf_counter() - began, flow, env.processed_events


def run_simpy(jobs: int, machines: int, seed: int) -> tuple[float, list[float], int]:
    import simpy

    began = time.perf_counter()
    env = simpy.Environment()
    flow = model(env, simpy.Store(env), jobs, machines, seed)
    env.run()
    return time.perf_counter() - began, flow, 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200_000)
    ap.add_argument("--machines", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import simpy

    print(
        f"{args.jobs:,} jobs, {args.machines} machines, median of {args.repeat}; "
        f"simpy {simpy.__version__}"
    )
    kernels = {"andon.twin": run_ours, "simpy": run_simpy}
    walls: dict[str, list[float]] = {name: [] for name in kernels}
    results = {}
    for r in range(args.repeat):  # interleaved, so a noisy neighbour hurts both alike
        for name, fn in kernels.items():
            wall, flow, events = fn(args.jobs, args.machines, seed=r)
            walls[name].append(wall)
            results[name] = (0.0, len(flow), float(np.mean(flow)), events)
    for name in kernels:
        results[name] = (statistics.median(walls[name]), *results[name][1:])
    ours_events = results["andon.twin"][3]
    for name, (wall, done, mean_flow, _) in results.items():
        print(
            f"{name:<11} wall {wall:7.3f} s   jobs/s {done / wall:>10,.0f}   "
            f"events/s {ours_events / wall:>10,.0f}   done {done:,}   mean flow {mean_flow:.3f} s"
        )
    assert results["andon.twin"][1:3] == results["simpy"][1:3], "the kernels disagree"


if __name__ == "__main__":
    main()
