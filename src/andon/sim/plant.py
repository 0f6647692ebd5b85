"""The virtual plant: every machine of a plant.yaml comes alive on the twin's kernel.

``advance(until_ns)`` is the whole interface in one call: run the kernel up to that time,
then compute every sensor sample of the window from what the machines recorded, with numpy
over the window, and hand back the samples as one Batch and the events of the window. Samples
sit on multiples of each tag's interval since the epoch and noise is drawn per tag in time
order, so advancing in many small steps or in one big step gives the same data.

Determinism: everything random comes from numpy generators keyed by (seed, machine path or
tag path, purpose); the same plant, seed and start give the same data, and adding a tag or a
machine leaves the other streams alone.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S, iso
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.core.tagpath import join
from andon.plant.calendar import PlantCalendar
from andon.plant.model import MachineRef, Plant, Product, Tag
from andon.sim.defaults import resolve
from andon.sim.machine import Inbound, Route, VirtualMachine, random_stream
from andon.sim.physics import COUNTER_MODULO, EVENT_SIGNALS, SIGNALS, Window
from andon.sim.timeline import TimelineView
from andon.sim.waveform import bearing_waveform
from andon.sim.work import (
    PlannedStops,
    SimClock,
    Supply,
    flow_buffers,
    flow_route,
    job_shop_route,
    release_orders,
)
from andon.twin.kernel import Environment, Store

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

HEALTH_EVERY_NS = 600 * NS_PER_S
"""Ground truth of bearing health and tool wear every 10 simulated minutes."""
_LOOKAHEAD_S = 1e-3  # run the kernel a hair past the window so rounding to ns never matters
_EVENT_DRIVEN = frozenset({"state_code", "part_counter", "tool_wear", "measurement"})


@dataclass(frozen=True, slots=True)
class MachineStatus:
    """A machine at ``now_ns``, for the live table (``idle`` since the start until the first
    ``advance``); ``seconds`` is the time spent per state label since the start."""

    path: str
    id: str
    state: MachineState
    since_ns: int
    good: int
    scrap: int
    rework: int
    seconds: dict[str, float]
    samples: int
    last_event: str


@dataclass
class _Tally:
    state: MachineState = MachineState.IDLE
    since_ns: int = 0
    good: int = 0
    scrap: int = 0
    rework: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {s.label: 0.0 for s in MachineState})
    samples: int = 0
    last_event: str = ""


@dataclass(frozen=True, slots=True)
class _TagPlan:
    index: int
    path: str
    machine: VirtualMachine
    signal: str
    interval_ns: int | None
    rng: np.random.Generator


class VirtualPlant:
    """Simulates ``plant`` from ``start_ns`` on; see the module docstring."""

    def __init__(self, plant: Plant, *, seed: int = 0, start_ns: int) -> None:
        self.plant = plant
        self.seed = seed
        self.start_ns = start_ns
        self.now_ns = start_ns
        self.ground_truth: list[Event] = []
        self._env = Environment()
        self._clock = SimClock(start_ns)
        self._stops = PlannedStops(PlantCalendar(plant.calendar), self._clock)
        self._pending: list[Event] = []
        self._machines: list[VirtualMachine] = []
        for area in plant.areas:
            for line in area.lines:
                refs = [r for r in plant.machines() if r.area.id == area.id and r.line is line]
                line_path = join(plant.root, area.id, line.id)
                if line.type == "job_shop":
                    self._job_shop(refs, line_path)
                else:
                    self._flow_line(refs, line_path)
        self._tally = {m.path: _Tally(since_ns=start_ns) for m in self._machines}
        plans, unsimulated = self._plan_tags()
        self._plans = plans
        self.tags: tuple[str, ...] = tuple(p.path for p in plans)
        self.unsimulated: tuple[str, ...] = tuple(unsimulated)
        """Configured sim tags the virtual plant cannot produce (unknown or missing signal)."""

    # ------------------------------------------------------------------ building

    def _add(self, ref: MachineRef, inbound: Inbound, route: Route) -> None:
        self._machines.append(
            VirtualMachine(
                self._env,
                ref,
                resolve(ref.machine),
                seed=self.seed,
                clock=self._clock,
                stops=self._stops,
                inbound=inbound,
                route=route,
                emit=self._pending.append,
            )
        )

    def _job_shop(self, refs: list[MachineRef], line_path: str) -> None:
        queues = {r.machine.id: Store(self._env) for r in refs}
        route = job_shop_route(queues)
        for ref in refs:
            self._add(ref, queues[ref.machine.id], route)
        line = refs[0].line if refs else None
        if line is not None:
            self._env.process(
                release_orders(
                    self._env,
                    line,
                    line_path,
                    self.plant.products,
                    queues,
                    random_stream(self.seed, line_path, "orders"),
                    self._clock,
                    self._pending.append,
                )
            )

    def _flow_line(self, refs: list[MachineRef], line_path: str) -> None:
        if not refs:
            return
        line = refs[0].line
        buffers = flow_buffers(self._env, line)
        products = self.plant.products or [Product(id="part")]
        supply = Supply(
            self._env,
            products,
            line.simulation.lot_size,
            random_stream(self.seed, line_path, "supply"),
        )
        for i, ref in enumerate(refs):
            inbound: Inbound = supply if i == 0 else buffers[i - 1]
            self._add(ref, inbound, flow_route(buffers[i] if i < len(buffers) else None))

    def _plan_tags(self) -> tuple[list[_TagPlan], list[str]]:
        plans: list[_TagPlan] = []
        unsimulated: list[str] = []
        for vm in self._machines:
            for tag in vm.ref.machine.tags:
                if tag.source != "sim":
                    continue
                path = vm.ref.tag_path(tag.name)
                if not _simulable(tag, vm):
                    unsimulated.append(path)
                    continue
                signal = tag.signal or ""
                interval = None
                if tag.interval is not None and signal != "measurement":
                    interval = max(round(tag.interval * NS_PER_S), 1)
                rng = random_stream(self.seed, path, "noise")
                plans.append(_TagPlan(len(plans), path, vm, signal, interval, rng))
        return plans, unsimulated

    # ------------------------------------------------------------------ running

    def advance(self, until_ns: int) -> tuple[Batch, list[Event]]:
        """Simulate up to ``until_ns``: every sample with ts in [now_ns, until_ns) and every
        event of that window, ordered by time. Samples are grouped by tag, in time order."""
        if until_ns < self.now_ns:
            raise ValueError(
                f"cannot advance backwards: until {iso(until_ns)} is before now {iso(self.now_ns)}"
            )
        start = self.now_ns
        if until_ns == start:
            return Batch.empty(self.tags), []
        self._env.run(until=self._clock.seconds(until_ns) + _LOOKAHEAD_S)
        cut = bisect.bisect_left([e.ts for e in self._pending], until_ns)
        events = self._pending[:cut]
        del self._pending[:cut]
        views = {vm.path: vm.timeline.view() for vm in self._machines}
        batch = self._samples(views, start, until_ns)
        events.extend(self._health(views, start, until_ns))
        events.sort(key=lambda e: e.ts)
        self.ground_truth.extend(e for e in events if e.kind.startswith("truth."))
        self._count(views, events, start, until_ns)
        for vm in self._machines:
            vm.timeline.prune(until_ns)
        self.now_ns = until_ns
        return batch, events

    def _samples(self, views: dict[str, TimelineView], start: int, end: int) -> Batch:
        ts_parts: list[I64] = []
        id_parts: list[npt.NDArray[np.int32]] = []
        values: list[F64] = []
        windows: dict[tuple[str, int], Window] = {}  # tags of a machine share their lookups
        for plan in self._plans:
            view = views[plan.machine.path]
            if plan.signal == "measurement":
                lo, hi = np.searchsorted(view.meas_t, [start, end])
                ts, v = view.meas_t[lo:hi], view.meas_v[lo:hi]
            elif plan.interval_ns is None:
                ts, v = _event_driven(plan.signal, view, start, end)
            else:
                step = plan.interval_ns
                ts = np.arange(-(-start // step) * step, end, step, dtype=np.int64)
                fn, noisy = SIGNALS[plan.signal]
                noise = plan.rng.standard_normal(len(ts)) if noisy else _NO_NOISE[: len(ts)]
                if len(noise) < len(ts):
                    noise = np.zeros(len(ts))
                key = (plan.machine.path, step)
                if key not in windows:
                    windows[key] = Window.at(view, plan.machine.params, ts)
                v = fn(windows[key], noise)
            ts_parts.append(ts)
            id_parts.append(np.full(len(ts), plan.index, dtype=np.int32))
            values.append(np.asarray(v, dtype=np.float64))
            self._tally[plan.machine.path].samples += len(ts)
        if not ts_parts:
            return Batch.empty(self.tags)
        ts_all = np.concatenate(ts_parts)
        return Batch(
            self.tags,
            ts_all,
            np.concatenate(id_parts),
            np.concatenate(values),
            np.full(len(ts_all), 192, dtype=np.uint8),
        )

    def _health(self, views: dict[str, TimelineView], start: int, end: int) -> list[Event]:
        """``truth.health`` events on multiples of 10 minutes since the epoch."""
        grid = np.arange(
            -(-start // HEALTH_EVERY_NS) * HEALTH_EVERY_NS, end, HEALTH_EVERY_NS, dtype=np.int64
        )
        out: list[Event] = []
        if not len(grid):
            return out
        for vm in self._machines:
            p = vm.params
            if p.bearing_life is None and not p.tool_life_parts:
                continue
            view = views[vm.path]
            w = Window.at(view, p, grid)
            wear, health = w.wear(), 1.0 - w.damage()
            tool = None
            if p.tool_life_parts:  # a step series: the last point at or before each time
                idx = np.maximum(np.searchsorted(view.tool_t, grid, side="right") - 1, 0)
                tool = view.tool_v[idx]
            for i, ts in enumerate(grid.tolist()):
                payload: dict[str, float] = {}
                if p.bearing_life is not None:
                    payload["bearing_health"] = round(float(health[i]), 6)
                    payload["bearing_wear"] = round(float(wear[i]), 6)
                    payload["bearing_rul_running_h"] = round(
                        max(1.0 - float(wear[i]), 0.0) * p.bearing_life / 3600.0, 4
                    )
                if tool is not None:
                    payload["tool_wear_pct"] = round(float(tool[i]), 3)
                out.append(Event(ts, vm.path, "truth.health", payload, "sim"))
        return out

    def _count(
        self, views: dict[str, TimelineView], events: list[Event], start: int, end: int
    ) -> None:
        for vm in self._machines:
            tally = self._tally[vm.path]
            view = views[vm.path]
            seg_t = view.seg_t.tolist()
            states = view.seg_state.tolist()
            for k, t0 in enumerate(seg_t):
                t1 = seg_t[k + 1] if k + 1 < len(seg_t) else end
                a, b = max(t0, start), min(t1, end)
                if b > a:
                    tally.seconds[MachineState(states[k]).label] += (b - a) / NS_PER_S
        for e in events:
            tally_or_none = self._tally.get(e.asset)
            if tally_or_none is None:
                continue
            tally = tally_or_none
            if e.kind == "state":
                tally.state = MachineState.from_label(e.payload["state"])
                tally.since_ns = e.ts
            elif e.kind == "part":
                result = e.payload["result"]
                if result == "good":
                    tally.good += 1
                elif result == "scrap":
                    tally.scrap += 1
                else:
                    tally.rework += 1
            if not e.kind.startswith("truth."):  # ground truth is for scoring, not the floor
                tally.last_event = _describe(e)

    # ------------------------------------------------------------------ looking in

    def machines(self) -> list[MachineStatus]:
        """Every machine's state, counts and time per state at ``now_ns``."""
        return [
            MachineStatus(
                path=vm.path,
                id=vm.id,
                state=t.state,
                since_ns=t.since_ns,
                good=t.good,
                scrap=t.scrap,
                rework=t.rework,
                seconds=dict(t.seconds),
                samples=t.samples,
                last_event=t.last_event,
            )
            for vm in self._machines
            for t in [self._tally[vm.path]]
        ]

    def waveform(
        self,
        machine: str,
        at_ns: int | None = None,
        seconds: float = 1.0,
        rate_hz: float = 25_600.0,
    ) -> F64:
        """Raw spindle-housing acceleration in m/s² at ``at_ns`` (default: now).

        The spindle turns only while the machine runs; otherwise the record is noise.
        ``at_ns`` must lie in the current stretch of the machine's timeline (at or shortly
        before ``now_ns``): the virtual plant keeps no older detail.
        """
        vm = self._machine(machine)
        at = self.now_ns if at_ns is None else at_ns
        view = vm.timeline.view()
        if at > self.now_ns or not len(view.seg_t) or at < int(view.seg_t[0]):
            raise ValueError(
                f"waveform of {vm.path} at {iso(at)}: only times from "
                f"{iso(int(view.seg_t[0])) if len(view.seg_t) else '?'} to {iso(self.now_ns)} "
                "are available"
            )
        w = Window.at(view, vm.params, np.array([at], dtype=np.int64))
        running = bool(w.running[0])
        rpm = vm.params.nominal_rpm * (1 - 0.01 * float(w.load()[0])) if running else 0.0
        return bearing_waveform(
            rpm=rpm,
            bearing=vm.ref.machine.bearing,
            damage=float(w.damage()[0]),
            seconds=seconds,
            rate_hz=rate_hz,
            resonance_hz=vm.params.resonance_hz,
            rng=random_stream(self.seed, vm.path, "waveform", str(at)),
        )

    def _machine(self, ident: str) -> VirtualMachine:
        for vm in self._machines:
            if ident in (vm.id, vm.path):
                return vm
        raise KeyError(f"no machine {ident!r} in the virtual plant")


_NO_NOISE = np.zeros(0)


def _simulable(tag: Tag, vm: VirtualMachine) -> bool:
    signal = tag.signal
    if signal is None or (signal not in SIGNALS and signal not in EVENT_SIGNALS):
        return False
    if signal == "measurement":
        return vm.params.measurement_nominal is not None
    return tag.interval is not None or signal in _EVENT_DRIVEN


def _event_driven(signal: str, view: TimelineView, start: int, end: int) -> tuple[I64, F64]:
    """Samples of a tag without an interval: written when the value changes."""
    if signal == "state_code":
        change = np.ones(len(view.seg_state), dtype=bool)
        change[1:] = view.seg_state[1:] != view.seg_state[:-1]
        t, v = view.seg_t[change], view.seg_state[change].astype(np.float64)
    elif signal == "part_counter":
        t, v = view.count_t[1:], np.mod(view.count_v[1:], COUNTER_MODULO)
    else:
        t, v = view.tool_t, view.tool_v
    keep = (t >= start) & (t < end)
    return t[keep], v[keep]


def _describe(e: Event) -> str:
    """One line for the live table: ``down (bearing failure)``, ``part 42 shaft good``."""
    p = e.payload
    if e.kind == "state":
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return f"{p['state']}{reason}"
    if e.kind == "part":
        return f"part {p['count']} {p['product']} {p['result']}"
    return f"{e.kind} {p.get('cause', '')}".rstrip()
