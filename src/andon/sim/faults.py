"""Data faults injected into the virtual plant's samples, each with its ground truth.

plant.yaml's ``simulation: faults:`` list (``andon.plant.model.DataFault``) makes the virtual
plant lie on request, so that andon's data-health checks can be scored by precision and recall
against what really went wrong. ``FaultInjector.apply`` takes the samples of one window
straight from the sampler and changes them with numpy masks over the batch's columns:

- ``dropout``: the tag's samples in the window are removed;
- ``stuck``: they repeat the value of the tag's first sample at or after the fault's start;
- ``spike``: ``count`` single samples, spread over the window (one per equal slot of the tag's
  sampling grid, at a seeded random place in the slot's middle half, so that they stay
  isolated; a tag sampled per event has its first ``count`` samples of the window hit), read
  value + size, or value − size when + would leave the tag's declared limits (a spike is not
  an out-of-range);
- ``drift``: ``rate`` × hours since the start is added;
- ``clock_skew``: time stamps are shifted by ``offset`` (the value is right, its time is not);
- ``counter_glitch``: the counter reads ``drop`` parts less (modulo its rollover), for the
  window or, without a duration, for one reading: one step backwards that is neither a reset
  nor a rollover.

Every fault is recorded once, when the plant first reaches its start, as a ``truth.data_fault``
event on its machine, payload ``{tag, kind, start_ns, end_ns, fault, ...}`` in *true* time
(``tag`` is the tag's path); it joins ``VirtualPlant.ground_truth`` like every ``truth.*``.

**What the checks can see.** The windows are in true time; a check sees stored time stamps.
For ``clock_skew`` the payload also gives ``stamped_start_ns``/``stamped_end_ns``: where the
skewed samples sit in the historian. The data-health ``future`` check compares stamps with a
*now*: a fast clock is visible as such only while its stamps are still ahead of that now,
i.e. when the check runs at most ``offset`` after the skewed samples were written. Live, that
is the arrival time (``checks.batch_time_problems``); over the historian, ``check_range``'s
``now_ns`` — for a virtual plant run in accelerated past time, pass the simulated now, not the
wall clock. A skew that ended longer than ``offset`` before the check leaves only its traces:
a hole of ``offset`` at its start and samples stamped over the ones that followed it.

Faults are deterministic for a plant, seed and start, and do not depend on how the run is cut
into windows: spike times sit on the tag's sampling grid, drawn from the fault's own random
stream, and a stuck value is kept from the window that saw the fault's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_S, iso, to_ns
from andon.core.errors import InputError
from andon.core.event import Event
from andon.plant.model import DataFault, MachineRef, Plant, Tag
from andon.sim.machine import random_stream
from andon.sim.physics import COUNTER_MODULO
from andon.sim.sampling import TagPlan

I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

TRUTH_KIND = "truth.data_fault"
ONE_SHOT_WINDOW_NS = NS_PER_H
"""A spike or counter glitch without a duration on a tag sampled per event (no interval)
hits the first samples within the hour after ``at``."""


@dataclass
class ActiveFault:
    """One configured fault, resolved against the plant and the simulation's start."""

    number: int
    fault: DataFault
    ref: MachineRef
    tag: Tag
    plan: TagPlan
    start_ns: int
    end_ns: int
    size: float = 0.0
    """A spike's size in the tag's unit."""
    shots_ns: I64 | None = None
    """The sample times a spike or one-reading counter glitch hits (None: the tag has no
    sampling grid; the first ``count`` samples of the window are hit instead)."""
    one_shot: bool = False
    """A spike or counter glitch without a window: the next reading(s) only."""
    rollover: float = float(COUNTER_MODULO)
    held: float | None = None
    done: int = 0
    announced: bool = False

    @property
    def path(self) -> str:
        return self.plan.path

    def truth(self) -> dict[str, Any]:
        """The ground truth payload (JSON-safe)."""
        f = self.fault
        out: dict[str, Any] = {
            "tag": self.path,
            "kind": f.kind,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "fault": self.number,
            "machine": self.ref.machine.id,
        }
        if f.kind == "spike":
            out["size"] = self.size
            out["count"] = f.count
            if self.shots_ns is not None:
                out["spike_ns"] = self.shots_ns.tolist()
        elif f.kind == "drift":
            out["rate_per_h"] = f.rate
            out["unit"] = self.tag.unit
        elif f.kind == "clock_skew":
            offset = round((f.offset or 0.0) * NS_PER_S)
            out["offset_ns"] = offset
            out["stamped_start_ns"] = self.start_ns + offset
            out["stamped_end_ns"] = self.end_ns + offset
        elif f.kind == "counter_glitch":
            out["drop"] = f.drop
            if self.shots_ns is not None:
                out["reading_ns"] = self.shots_ns.tolist()
        return out


def _ns(at: float | datetime, start_ns: int) -> int:
    return to_ns(at) if isinstance(at, datetime) else start_ns + round(at * NS_PER_S)


def _grid(plan: TagPlan, lo: int, hi: int) -> I64:
    step = plan.interval_ns or 1
    return np.arange(-(-lo // step) * step, hi, step, dtype=np.int64)


class FaultInjector:
    """Applies ``plant.simulation.faults`` to the sampler's windows (see the module docs)."""

    def __init__(
        self, plant: Plant, plans: tuple[TagPlan, ...], *, seed: int, start_ns: int
    ) -> None:
        by_path = {p.path: p for p in plans}
        self.faults: list[ActiveFault] = []
        for number, fault in enumerate(plant.simulation.faults):
            self.faults.append(_resolve(plant, by_path, number, fault, seed, start_ns))

    def __bool__(self) -> bool:
        return bool(self.faults)

    def apply(self, batch: Batch, start: int, end: int) -> tuple[Batch, list[Event]]:
        """The window ``[start, end)``'s samples with the faults applied, and the ground truth
        of every fault starting in it (or before it, if not yet told)."""
        events: list[Event] = []
        for af in self.faults:
            if not af.announced and af.start_ns < end:
                af.announced = True
                at = max(af.start_ns, start)
                events.append(Event(at, af.ref.path, TRUTH_KIND, af.truth(), "sim"))
        live = [af for af in self.faults if af.start_ns < end and af.end_ns > start]
        if not live or not len(batch):
            return batch, events
        ts = batch.ts.copy()
        value = batch.value.copy()
        keep = np.ones(len(batch), dtype=np.bool_)
        for af in live:
            rows = np.flatnonzero(
                (batch.tag_id == af.plan.index) & (batch.ts >= af.start_ns) & (batch.ts < af.end_ns)
            )
            if not len(rows):
                continue
            kind = af.fault.kind
            if kind == "dropout":
                keep[rows] = False
            elif kind == "stuck":
                if af.held is None:
                    af.held = float(value[rows[np.argmin(batch.ts[rows])]])
                value[rows] = af.held
            elif kind == "drift":
                value[rows] += (af.fault.rate or 0.0) * (batch.ts[rows] - af.start_ns) / NS_PER_H
            elif kind == "clock_skew":
                ts[rows] += round((af.fault.offset or 0.0) * NS_PER_S)
            else:
                hit = self._shots(af, batch.ts, rows)
                if kind == "spike":
                    value[hit] = _spiked(value[hit], af.size, af.tag)
                else:
                    value[hit] = np.mod(value[hit] - (af.fault.drop or 0), af.rollover)
        out = Batch(batch.tags, ts, batch.tag_id, value, batch.quality, batch.strings)
        return (out if keep.all() else out.select(keep)), events

    @staticmethod
    def _shots(af: ActiveFault, ts: I64, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        """The rows a spike or a counter glitch of one reading hits."""
        if af.fault.kind == "counter_glitch" and not af.one_shot:
            return rows  # a counter reading low for a while
        if af.shots_ns is not None:
            return rows[np.isin(ts[rows], af.shots_ns)]
        wanted = (af.fault.count if af.fault.kind == "spike" else 1) - af.done
        hit = rows[np.argsort(ts[rows], kind="stable")][: max(wanted, 0)]
        af.done += len(hit)
        return hit


def _spiked(value: npt.NDArray[np.float64], size: float, tag: Tag) -> npt.NDArray[np.float64]:
    """Value + size, or − size where + would leave the tag's limits and − would not."""
    up = value + size
    down = value - size
    over = up > tag.high if tag.high is not None else np.zeros(len(value), dtype=np.bool_)
    fits = down >= tag.low if tag.low is not None else np.ones(len(value), dtype=np.bool_)
    out: npt.NDArray[np.float64] = np.where(over & fits, down, up)
    return out


def _resolve(
    plant: Plant,
    by_path: dict[str, TagPlan],
    number: int,
    fault: DataFault,
    seed: int,
    start_ns: int,
) -> ActiveFault:
    """A configured fault in nanoseconds, with its spike times drawn; plant.yaml's loader has
    checked the names, so what fails here is what only the simulation's start tells."""
    where = f"simulation.faults[{number}]"
    refs = [r for r in plant.machines() if fault.machine in (r.machine.id, r.path)]
    if len(refs) != 1:
        raise InputError(f"{where}: machine {fault.machine!r} is not one machine of the plant")
    ref = refs[0]
    tag = next((t for t in ref.machine.tags if t.name == fault.tag), None)
    plan = by_path.get(ref.tag_path(fault.tag))
    if tag is None or plan is None:
        raise InputError(
            f"{where}: the virtual plant does not produce {ref.tag_path(fault.tag)} "
            "(undeclared, not source: sim, or no signal it can simulate)"
        )
    t0 = _ns(fault.at, start_ns)
    one_shot = fault.kind in ("spike", "counter_glitch") and fault.duration is None
    if fault.duration is not None:
        t1 = t0 + round(fault.duration * NS_PER_S)
    elif fault.until is not None:
        t1 = _ns(fault.until, start_ns)
        one_shot = False
    elif plan.interval_ns is not None:
        t1 = int(_grid(plan, t0, t0 + plan.interval_ns + 1)[0]) + 1  # the next reading only
    else:
        t1 = t0 + ONE_SHOT_WINDOW_NS
    if t1 <= t0:
        raise InputError(
            f"{where}: the fault ends ({iso(t1)}) before it starts ({iso(t0)}); "
            "check at and until against the simulation's start"
        )
    af = ActiveFault(number, fault, ref, tag, plan, t0, t1, one_shot=one_shot)
    if fault.kind == "counter_glitch" and ref.machine.counter is not None:
        af.rollover = float(ref.machine.counter.rollover)
    if fault.kind == "spike":
        share = fault.span_fraction()
        if share is not None:
            if tag.low is None or tag.high is None:
                raise InputError(f"{where}: a size as a share of the span needs low and high")
            af.size = share * (tag.high - tag.low)
        else:
            af.size = float(fault.size or 0.0)
    if plan.interval_ns is not None and fault.kind in ("spike", "counter_glitch"):
        if fault.kind == "counter_glitch" and not one_shot:
            return af  # the counter reads low for the whole window
        grid = _grid(plan, t0, t1)
        count = fault.count if fault.kind == "spike" else 1
        if len(grid) < count or (count > 1 and len(grid) < 4 * count):
            raise InputError(
                f"{where}: {count} spike(s) need at least {4 * count if count > 1 else 1} "
                f"readings of {ref.tag_path(fault.tag)} in the window; make it longer"
            )
        if count == 1 and one_shot:
            af.shots_ns = grid[:1]
        else:
            rng = random_stream(seed, plan.path, "fault", str(number))
            slot = len(grid) / count
            lo = (np.arange(count) * slot + slot / 4).astype(np.int64)
            width = max(int(slot / 2), 1)
            af.shots_ns = grid[np.minimum(lo + rng.integers(0, width, count), len(grid) - 1)]
    return af


DEMO_MIN_S = 3600.0
"""``demo_faults`` needs an hour: a stuck sensor is judged after 10 minutes of running."""


def demo_faults(plant: Plant, span_s: float) -> list[DataFault]:
    """One fault of every kind for a run of ``span_s`` seconds, each on a different sensor
    (``andon demo --faults``): a dropout, a stuck value, two spikes and a drift out of the
    tag's limits spread over the run, a counter glitch, and a fast clock (+10 min) over the
    last quarter hour, still ahead of the wall clock when the demo ends. Tags are picked by
    their signal, on the machines in turn; a kind with no fitting tag is left out."""
    if span_s < DEMO_MIN_S:
        raise InputError(
            f"injected faults need at least {DEMO_MIN_S / 60:.0f} simulated minutes "
            f"(a stuck sensor is judged after 10 minutes of running); got {span_s / 60:.0f}"
        )
    refs = plant.machines()
    used: set[tuple[str, str]] = set()

    def pick(k: int, signals: tuple[str, ...], *, limits: bool) -> tuple[str, str] | None:
        for i in range(len(refs)):
            ref = refs[(k + i) % len(refs)]
            for signal in signals:
                for t in ref.machine.tags:
                    ok = t.source == "sim" and t.signal == signal and t.interval is not None
                    ok = ok and (ref.path, t.name) not in used
                    if ok and (not limits or (t.low is not None and t.high is not None)):
                        used.add((ref.path, t.name))
                        return ref.path, t.name
        return None

    def share(x: float) -> float:
        return round(x * span_s)

    wanted: list[tuple[str, tuple[str, ...], bool, dict[str, Any]]] = [
        ("stuck", ("vibration_rms", "motor_current"), False, {"at": share(0.2), "duration": 2700}),
        ("dropout", ("power",), False, {"at": share(0.3), "duration": 600}),
        (
            "spike",
            ("bearing_temperature", "vibration_rms"),
            True,
            {"at": share(0.4), "duration": 1200, "size": "25%", "count": 2},
        ),
        (
            "drift",
            ("coolant_pressure", "motor_current"),
            True,
            {"at": share(0.5), "duration": 1200},
        ),
        ("counter_glitch", ("part_counter",), False, {"at": share(0.6), "drop": 50}),
        (
            "clock_skew",
            ("motor_current", "power", "spindle_speed"),
            False,
            {"at": span_s - 900, "duration": 900, "offset": "+10min"},
        ),
    ]
    faults: list[DataFault] = []
    for k, (kind, signals, limits, fields) in enumerate(wanted):
        found = pick(k, signals, limits=limits or kind == "drift")
        if found is None:
            continue
        machine, tag_name = found
        if kind == "drift":
            tag = next(
                t for r in refs if r.path == machine for t in r.machine.tags if t.name == tag_name
            )
            assert tag.low is not None and tag.high is not None
            fields = {**fields, "rate": 1.5 * (tag.high - tag.low) / (fields["duration"] / 3600)}
        faults.append(
            DataFault.model_validate({"kind": kind, "machine": machine, "tag": tag_name, **fields})
        )
    return faults
