"""Tag sampling: every sensor sample of a window, computed from what the machines recorded.

A tag with an interval is sampled on the multiples of its interval since the epoch, with numpy
over the whole window; its noise comes from the tag's own generator, one standard normal per
sample in time order. A tag without one (``state_code``, ``part_counter``, ``tool_wear``) is
event-driven: it is written when its value changes, and the sampler remembers the last value
it wrote (or, for a part counter, the reading at the start, which is not news), never where in
the timeline that value sat. ``measurement`` is written once per part. Windows are half-open,
``[start, end)``, so cutting the time line anywhere (even exactly on a part or a state change)
gives the same samples as one big window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.plant.model import Tag
from andon.sim.machine import VirtualMachine, random_stream
from andon.sim.physics import COUNTER_MODULO, EVENT_SIGNALS, SIGNALS, Window
from andon.sim.timeline import TimelineView

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

EVENT_DRIVEN = frozenset({"state_code", "part_counter", "tool_wear", "measurement"})
"""Signals that may go without an interval."""
GOOD = 192  # OPC UA quality "good"


@dataclass(frozen=True, slots=True)
class TagPlan:
    """How one tag is produced: its index in the batch's tag list, its machine and signal, its
    interval (None: event-driven) and its noise generator."""

    index: int
    path: str
    machine: VirtualMachine
    signal: str
    interval_ns: int | None
    rng: np.random.Generator


def plan_tags(machines: Sequence[VirtualMachine], seed: int) -> tuple[list[TagPlan], list[str]]:
    """A plan for every ``source: sim`` tag the machines can produce, and the paths of those
    they cannot (unknown or missing signal)."""
    plans: list[TagPlan] = []
    unsimulated: list[str] = []
    for vm in machines:
        for tag in vm.ref.machine.tags:
            if tag.source != "sim":
                continue
            path = vm.ref.tag_path(tag.name)
            if not simulable(tag, vm):
                unsimulated.append(path)
                continue
            signal = tag.signal or ""
            interval = None
            if tag.interval is not None and signal != "measurement":
                interval = max(round(tag.interval * NS_PER_S), 1)
            rng = random_stream(seed, path, "noise")
            plans.append(TagPlan(len(plans), path, vm, signal, interval, rng))
    return plans, unsimulated


def simulable(tag: Tag, vm: VirtualMachine) -> bool:
    """Whether the virtual plant can produce ``tag`` of ``vm``."""
    signal = tag.signal
    if signal is None or (signal not in SIGNALS and signal not in EVENT_SIGNALS):
        return False
    if signal == "measurement":
        return vm.params.measurement_nominal is not None
    return tag.interval is not None or signal in EVENT_DRIVEN


class Sampler:
    """The samples of every simulated tag of ``machines``, window after window."""

    def __init__(self, machines: Sequence[VirtualMachine], seed: int) -> None:
        plans, unsimulated = plan_tags(machines, seed)
        self.plans: tuple[TagPlan, ...] = tuple(plans)
        self.tags: tuple[str, ...] = tuple(p.path for p in plans)
        self.unsimulated: tuple[str, ...] = tuple(unsimulated)
        self._last: dict[int, float] = {}
        """Last value written per event-driven tag (by plan index)."""
        for p in plans:
            if p.interval_ns is None and p.signal == "part_counter":
                self._last[p.index] = float(p.machine.counter_start % COUNTER_MODULO)

    def window(self, views: Mapping[str, TimelineView], start: int, end: int) -> Batch:
        """Every sample with ts in ``[start, end)``, grouped by tag, each tag in time order.

        Windows must follow one another without gaps or overlaps (event-driven tags and noise
        carry on from the window before)."""
        ts_parts: list[I64] = []
        id_parts: list[npt.NDArray[np.int32]] = []
        values: list[F64] = []
        windows: dict[tuple[str, int], Window] = {}  # tags of a machine share their lookups
        for plan in self.plans:
            view = views[plan.machine.path]
            if plan.signal == "measurement":
                lo, hi = np.searchsorted(view.meas_t, [start, end])
                ts, v = view.meas_t[lo:hi], view.meas_v[lo:hi]
            elif plan.interval_ns is None:
                ts, v = self._changes(plan, view, start, end)
            else:
                step = plan.interval_ns
                ts = np.arange(-(-start // step) * step, end, step, dtype=np.int64)
                fn, noisy = SIGNALS[plan.signal]
                noise = plan.rng.standard_normal(len(ts)) if noisy else np.zeros(len(ts))
                key = (plan.machine.path, step)
                if key not in windows:
                    windows[key] = Window.at(view, plan.machine.params, ts)
                v = fn(windows[key], noise)
            ts_parts.append(ts)
            id_parts.append(np.full(len(ts), plan.index, dtype=np.int32))
            values.append(np.asarray(v, dtype=np.float64))
        if not ts_parts:
            return Batch.empty(self.tags)
        ts_all = np.concatenate(ts_parts)
        return Batch(
            self.tags,
            ts_all,
            np.concatenate(id_parts),
            np.concatenate(values),
            np.full(len(ts_all), GOOD, dtype=np.uint8),
        )

    def _changes(self, plan: TagPlan, view: TimelineView, start: int, end: int) -> tuple[I64, F64]:
        """An event-driven tag: the points of its step series in the window whose value differs
        from the one written before (the first point ever is always written)."""
        if plan.signal == "state_code":
            t, v = view.seg_t, view.seg_state.astype(np.float64)
        elif plan.signal == "part_counter":
            t, v = view.count_t, np.mod(view.count_v, COUNTER_MODULO)
        else:
            t, v = view.tool_t, view.tool_v
        lo, hi = np.searchsorted(t, [start, end])
        t, v = t[lo:hi], v[lo:hi]
        if not len(v):
            return t, v
        before = np.empty(len(v))
        before[0] = self._last.get(plan.index, np.nan)  # nan differs from every value
        before[1:] = v[:-1]
        self._last[plan.index] = float(v[-1])
        change = v != before
        return t[change], v[change]
