"""Per-sample cost of each data-quality check, vectorised (ns per sample, median of 5 runs).

    .venv/bin/python bench/datahealth_checks.py [--samples 10000000] [--chunk 500000]
                                                [--live 1000]

Each check runs over ``--samples`` synthetic 1 Hz samples (noise with a few faults), fed in
chunks of ``--chunk`` as the historian scan feeds them, with its carry between chunks. The
live checks (``uncertain_quality`` is a historian check too) run over the same samples
spread over 100 tags, as Batches of ``--live`` samples: ``arrival`` is the time check of
``datahealth.live`` (out of order, the same time twice, stamped ahead of or behind arrival)
a pipeline runs on each Batch as it arrives.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.datahealth import checks
from andon.datahealth.checks import Spans


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--live", type=int, default=1000, help="samples per live Batch")
    args = ap.parse_args()
    n, step = args.samples, args.chunk
    rng = np.random.default_rng(1)
    ts = np.arange(n, dtype=np.int64) * NS_PER_S
    value = 50.0 + rng.standard_normal(n)
    value[n // 3 : n // 3 + 1200] = 42.0
    value[rng.integers(0, n, n // 100_000)] = 500.0
    quality = np.full(n, 192, dtype=np.uint8)
    quality[rng.integers(0, n, n // 1000)] = 0
    counter = np.floor(np.arange(n) / 60.0) % 65536
    running = Spans(np.array([0], dtype=np.int64), np.array([n * NS_PER_S], dtype=np.int64))
    cuts = range(0, n, step)

    def gaps() -> None:
        prev = -NS_PER_S
        for i in cuts:
            checks.gaps(ts[i : i + step], NS_PER_S, after_ns=prev)
            prev = int(ts[min(i + step, n) - 1])

    def stuck() -> None:
        carry = None
        for i in cuts:
            _, carry = checks.stuck(
                ts[i : i + step], value[i : i + step], running=running, carry=carry, final=False
            )

    def out_of_range() -> None:
        carry = None
        for i in cuts:
            _, carry = checks.out_of_range(
                ts[i : i + step], value[i : i + step], 0.0, 100.0, carry=carry, final=False
            )

    def bad_quality() -> None:
        carry = None
        for i in cuts:
            _, carry = checks.bad_quality(ts[i : i + step], quality[i : i + step], carry=carry)
            checks.quality_counts(quality[i : i + step])

    def spikes() -> None:
        carry = None
        for i in cuts:
            _, carry = checks.spikes(ts[i : i + step], value[i : i + step], carry=carry)

    def counter_glitches() -> None:
        carry = None
        for i in cuts:
            _, carry = checks.counter_glitches(ts[i : i + step], counter[i : i + step], carry=carry)

    def future() -> None:
        for i in cuts:
            checks.future(ts[i : i + step], n * NS_PER_S // 2)

    def uncertain() -> None:
        carry = None
        for i in cuts:
            _, carry = checks.uncertain_quality(
                ts[i : i + step], quality[i : i + step], carry=carry
            )

    tags = tuple(f"s/a/l/m/t{k}" for k in range(100))
    live = args.live
    # 100 tags sampled in turn: each Batch holds ``live`` samples of consecutive seconds
    live_ts = (np.arange(n, dtype=np.int64) // 100) * NS_PER_S
    live_ids = (np.arange(n) % 100).astype(np.int32)
    q = np.full(live, 192, dtype=np.uint8)
    batches = [
        Batch(tags, live_ts[i : i + live], live_ids[i : i + live], value[i : i + live], q)
        for i in range(0, n, live)
    ]

    def arrival() -> None:
        newest: dict[str, int] = {}
        for b in batches:
            newest = checks.batch_time_problems(b, int(b.ts[-1]), newest).newest

    runs: list[tuple[str, Callable[[], None]]] = [
        ("gap", gaps),
        ("stuck", stuck),
        ("out_of_range", out_of_range),
        ("bad_quality", bad_quality),
        ("spike (Hampel, 21)", spikes),
        ("counter", counter_glitches),
        ("future", future),
        ("uncertain_quality", uncertain),
        (f"arrival ({live}/Batch)", arrival),
    ]
    print(f"{n:,} samples in chunks of {step:,}; median of {args.repeat} runs")
    print(f"{'check':<24} {'ns/sample':>10} {'s total':>8}")
    for name, fn in runs:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"{name:<24} {med / n * 1e9:>10.1f} {med:>8.2f}")


if __name__ == "__main__":
    main()
