"""Precision and recall of the data-health checks on faults injected into the virtual plant.

    .venv/bin/python bench/datahealth_accuracy.py [--seeds 3] [--hours 4] [--per-kind 3]

For each seed the job-shop example runs ``--hours`` simulated hours twice into a fresh SQLite
historian: once with ``--per-kind`` random faults of every kind (``andon.sim.faults``, drawn
from the seed), once without any. ``check_range`` then checks the whole plant over the run with
``now_ns`` = the simulated end, and its findings are matched to the ``truth.data_fault``
events the plant recorded.

Matching. A finding matches a fault when it is on the fault's tag, its check is the one the
fault's kind calls for (dropout→gap, stuck→stuck, spike→spike, drift→out_of_range,
clock_skew→future, counter_glitch→counter) and its interval ``[start, end]`` overlaps the
fault's window widened by ``TOLERANCE`` on each side (a gap runs from the last sample before
a dropout to the first after it; a spike finding is one sample). For a clock skew the window
is where its samples were *stamped* (``stamped_start_ns``..``stamped_end_ns``).

Fairness. A fault is drawn so that the check meant for it can see it:
- a stuck sensor is frozen for 40-60 minutes and the stuck check counts a flat run only while
  its machine runs (a stopped spindle reads 0 rpm and is right to). A stuck fault whose
  machine ran less than the check's 10 minutes during it cannot be seen; such faults are
  counted and shown apart (``not visible``), and left out of the stuck recall;
- a drift is steep enough to leave the tag's declared limits (1.5 × its span over the window);
- a clock skew (+5 to +15 min) lasts until the end of the run, which is when the check runs:
  a fast clock is "in the future" only while its stamps are still ahead of now (see
  ``andon.sim.faults``). A skew that ended earlier shows in the historian only as a gap;
- spikes are 25 % of the tag's declared span, at most three per 20-40 minutes;
- faults on one tag never overlap (10 minutes apart at least), and none starts in the first or
  ends in the last 10 minutes of the run (except clock skews), where the spike filter has no
  whole window.

Precision counts every finding of a check that matches no fault of its kind as false; the
``collat.`` column says how many of those lie on a faulty tag within another fault's window
(a clock skew leaves a gap where its clock jumped ahead: no sample is stamped there): they are
real traces of an injected fault, found by another check, and ``p. w/ collat.`` is the
precision when they are counted as right.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from andon.core.clock import NS_PER_MIN, NS_PER_S, parse_time
from andon.core.event import Event
from andon.datahealth import Finding, check_range
from andon.historian import open_historian
from andon.plant import Plant, example_plant, load_plant
from andon.plant.model import DataFault, PlantSimulation
from andon.sim import VirtualPlant
from andon.sim.faults import TRUTH_KIND

START = parse_time("2025-03-03T05:00:00Z")  # a Monday: all three shifts at work
CHUNK_NS = 10 * NS_PER_MIN  # as VirtualPlantSource advances when run as fast as possible
TOLERANCE = 60 * NS_PER_S
EDGE_NS = 10 * NS_PER_MIN
APART_NS = 10 * NS_PER_MIN
CHECK_OF = {
    "dropout": "gap",
    "stuck": "stuck",
    "spike": "spike",
    "drift": "out_of_range",
    "clock_skew": "future",
    "counter_glitch": "counter",
}
ANALOG = (
    "spindle_speed",
    "spindle_vibration",
    "bearing_temperature",
    "motor_current",
    "power",
    "coolant_pressure",
)
"""Tags with noise and declared limits: the ones a dropout, stuck, spike or drift is put on."""


@dataclass
class Run:
    findings: list[Finding]
    truth: list[Event]
    states: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]
    """Per machine path: state-code sample times and values (for the stuck visibility)."""


def draw_faults(plant: Plant, seed: int, span_ns: int, per_kind: int) -> list[DataFault]:
    """``per_kind`` faults of every kind at random, never overlapping on a tag."""
    rng = np.random.default_rng([seed, 12])
    taken: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    machines = [r.machine for r in plant.machines()]
    faults: list[DataFault] = []

    def place(machine: str, tag: str, t0: int, t1: int) -> bool:
        for a, b in taken[(machine, tag)]:
            if t0 < b + APART_NS and a < t1 + APART_NS:
                return False
        taken[(machine, tag)].append((t0, t1))
        return True

    def window(lo_min: float, hi_min: float) -> tuple[int, int]:
        d = round(rng.uniform(lo_min, hi_min) * NS_PER_MIN / NS_PER_S) * NS_PER_S
        t0 = round(rng.uniform(EDGE_NS, span_ns - EDGE_NS - d) / NS_PER_S) * NS_PER_S
        return int(t0), int(d)

    for kind in CHECK_OF:
        made = 0
        while made < per_kind:
            m = machines[int(rng.integers(len(machines)))]
            tag = "part_count" if kind == "counter_glitch" else str(rng.choice(ANALOG))
            spec = next(t for t in m.tags if t.name == tag)
            extra: dict[str, Any] = {}
            if kind == "dropout":
                t0, d = window(2, 20)
            elif kind == "stuck":
                t0, d = window(40, 60)
            elif kind == "spike":
                t0, d = window(20, 40)
                extra = {"size": "25%", "count": int(rng.integers(1, 4))}
            elif kind == "drift":
                t0, d = window(20, 40)
                assert spec.low is not None and spec.high is not None
                extra = {"rate": 1.5 * (spec.high - spec.low) / (d / NS_PER_S / 3600)}
            elif kind == "clock_skew":
                d = round(rng.uniform(15, 40)) * NS_PER_MIN
                t0 = span_ns - d
                extra = {"offset": f"+{int(rng.integers(5, 16))}min"}
            else:
                t0, d = window(0, 0)
                extra = {"drop": int(rng.integers(20, 200))}
            if not place(m.id, tag, t0, t0 + max(d, NS_PER_S)):
                continue
            fields: dict[str, Any] = {"kind": kind, "machine": m.id, "tag": tag}
            fields["at"] = t0 / NS_PER_S
            if d:
                fields["duration"] = d / NS_PER_S
            faults.append(DataFault.model_validate({**fields, **extra}))
            made += 1
    return faults


def simulate(plant: Plant, seed: int, span_ns: int, db: Path) -> Run:
    """One run into a fresh historian, checked at its simulated end."""
    vp = VirtualPlant(plant, seed=seed, start_ns=START)
    end = START + span_ns
    states: dict[str, list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = defaultdict(list)
    state_tags = {r.tag_path("state_code"): r.path for r in plant.machines()}
    with open_historian(f"sqlite:///{db}") as h:
        while vp.now_ns < end:
            batch, events = vp.advance(min(vp.now_ns + CHUNK_NS, end))
            h.write(batch)
            h.write_events(events)
            for path, machine in state_tags.items():
                rows = batch.tag_id == batch.tags.index(path)
                states[machine].append((batch.ts[rows], batch.value[rows]))
        report = check_range(plant, h, None, START, end, end)
    joined = {
        m: (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        for m, parts in states.items()
    }
    truth = [e for e in vp.ground_truth if e.kind == TRUTH_KIND]
    return Run(report.findings, truth, joined)


def running_ns(run: Run, machine: str, t0: int, t1: int) -> int:
    """How long the machine ran within [t0, t1), from its state-code samples (1 s apart)."""
    ts, v = run.states[machine]
    inside = (ts >= t0) & (ts < t1) & (v == 1)
    return int(np.count_nonzero(inside)) * NS_PER_S


def window_of(e: Event) -> tuple[int, int]:
    p = e.payload
    if p["kind"] == "clock_skew":
        return int(p["stamped_start_ns"]), int(p["stamped_end_ns"])
    return int(p["start_ns"]), int(p["end_ns"])


def overlaps(f: Finding, e: Event) -> bool:
    a, b = window_of(e)
    return f.start_ns <= b + TOLERANCE and f.end_ns >= a - TOLERANCE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--per-kind", type=int, default=3)
    args = ap.parse_args()
    base = load_plant(example_plant("job_shop"))
    span = round(args.hours * 3600) * NS_PER_S
    found = Counter[str]()  # faults found, per kind
    total = Counter[str]()  # visible faults, per kind
    invisible = Counter[str]()
    tp = Counter[str]()  # findings matching a fault of their kind, per check
    fp = Counter[str]()
    collateral = Counter[str]()
    clean_findings: list[Finding] = []
    missed: list[str] = []
    false: list[str] = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            faults = draw_faults(base, seed, span, args.per_kind)
            plant = base.model_copy(update={"simulation": PlantSimulation(faults=faults)})
            run = simulate(plant, seed, span, Path(tmp) / f"faulty-{seed}.db")
            clean = simulate(base, seed, span, Path(tmp) / f"clean-{seed}.db")
            clean_findings += clean.findings
            for e in run.truth:
                kind = str(e.payload["kind"])
                if kind == "stuck":
                    a, b = window_of(e)
                    if running_ns(run, e.asset, a, b) < 10 * NS_PER_MIN:
                        invisible[kind] += 1
                        continue
                total[kind] += 1
                hit = any(
                    f.tag == e.payload["tag"] and f.check == CHECK_OF[kind] and overlaps(f, e)
                    for f in run.findings
                )
                found[kind] += hit
                if not hit:
                    missed.append(f"seed {seed}: {kind} {e.payload}")
            for f in run.findings:
                own = [e for e in run.truth if e.payload["tag"] == f.tag and overlaps(f, e)]
                if any(CHECK_OF[str(e.payload["kind"])] == f.check for e in own):
                    tp[f.check] += 1
                else:
                    fp[f.check] += 1
                    collateral[f.check] += bool(own)
                    why = f"trace of {own[0].payload['kind']}" if own else "unexplained"
                    false.append(f"seed {seed}: {f.check} ({why}) {f.tag}: {f.detail}")
    wall = time.perf_counter() - t_start
    print(
        f"{args.seeds} seeds x {args.hours:g} simulated hours of the job shop, "
        f"{args.per_kind} faults of each kind per seed; tolerance {TOLERANCE // NS_PER_S} s"
    )
    print(
        f"{'fault kind':<15}{'check':<14}{'faults':>7}{'found':>7}{'recall':>8}"
        f"{'findings':>10}{'false':>7}{'collat.':>8}{'precision':>11}{'p. w/ collat.':>15}"
    )
    for kind, check in CHECK_OF.items():
        n, k = total[kind], found[kind]
        rec = f"{k / n:.2f}" if n else "-"
        nf = tp[check] + fp[check]
        prec = f"{tp[check] / nf:.2f}" if nf else "-"
        lenient = f"{(tp[check] + collateral[check]) / nf:.2f}" if nf else "-"
        print(
            f"{kind:<15}{check:<14}{n:>7}{k:>7}{rec:>8}{nf:>10}{fp[check]:>7}"
            f"{collateral[check]:>8}{prec:>11}{lenient:>15}"
        )
    others = sorted(set(fp) - set(CHECK_OF.values()))
    for check in others:
        print(f"{'(none)':<15}{check:<14}{'':>7}{'':>7}{'':>8}{fp[check]:>10}{fp[check]:>7}")
    if invisible:
        print(
            "not visible (stuck while the machine ran under 10 min, left out of recall): "
            + ", ".join(f"{k} {v}" for k, v in invisible.items())
        )
    print(f"findings on the fault-free runs (same seeds): {len(clean_findings)}")
    for f in clean_findings:
        print(f"  clean: {f.check} {f.tag}: {f.detail}")
    for line in missed:
        print(f"  missed: {line}")
    for line in false:
        print(f"  false: {line}")
    print(f"wall time {wall:.1f} s")


if __name__ == "__main__":
    main()
