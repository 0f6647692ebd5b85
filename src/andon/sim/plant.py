"""The virtual plant: every machine of a plant.yaml comes alive on the twin's kernel.

``advance(until_ns)`` is the whole interface in one call: run the kernel up to that time,
then compute every sensor sample of the window from what the machines recorded
(``sim.sampling``), and hand back the samples as one Batch and the events of the window.
Windows are half-open, ``[now_ns, until_ns)``; samples sit on multiples of each tag's interval
since the epoch, noise is drawn per tag in time order and event-driven tags remember what they
last wrote, so advancing in many small steps or in one big step gives the same data, wherever
the steps fall (the time per state is kept in integer nanoseconds for the same reason).

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
from andon.plant.model import MachineRef, Plant, Product
from andon.sim.defaults import resolve
from andon.sim.faults import FaultInjector
from andon.sim.machine import Inbound, Route, VirtualMachine, random_stream
from andon.sim.physics import Window
from andon.sim.sampling import Sampler
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
from andon.twin.kernel import Environment
from andon.twin.resources import Store

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

HEALTH_EVERY_NS = 600 * NS_PER_S
"""Ground truth of bearing health and tool wear every 10 simulated minutes."""
_LOOKAHEAD_S = 1e-3  # run the kernel a hair past the window so rounding to ns never matters


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
    ns: dict[str, int] = field(default_factory=lambda: {s.label: 0 for s in MachineState})
    samples: int = 0
    last_event: str = ""


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
        self._sampler = Sampler(self._machines, seed)
        self.tags: tuple[str, ...] = self._sampler.tags
        self.unsimulated: tuple[str, ...] = self._sampler.unsimulated
        """Configured sim tags the virtual plant cannot produce (unknown or missing signal)."""
        self._faults = FaultInjector(plant, self._sampler.plans, seed=seed, start_ns=start_ns)
        """plant.yaml's ``simulation: faults:``, applied to the samples (``sim.faults``)."""

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

    # ------------------------------------------------------------------ running

    def advance(self, until_ns: int) -> tuple[Batch, list[Event]]:
        """Simulate up to ``until_ns``: every sample with ts in [now_ns, until_ns) and every
        event of that window, ordered by time. Samples are grouped by tag, in time order
        (unless an injected data fault says otherwise: a clock skew moves stamps)."""
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
        batch = self._sampler.window(views, start, until_ns)
        if self._faults:
            batch, told = self._faults.apply(batch, start, until_ns)
            events.extend(told)
        self._count_samples(batch)
        events.extend(self._health(views, start, until_ns))
        events.sort(key=lambda e: e.ts)
        self.ground_truth.extend(e for e in events if e.kind.startswith("truth."))
        self._count(views, events, start, until_ns)
        for vm in self._machines:
            vm.timeline.prune(until_ns)
        self.now_ns = until_ns
        return batch, events

    def command(self, machine: str, command: str, *, by: str = "") -> Event:
        """A written ``stop`` or ``start`` for ``machine`` (id or path), as a PLC would take
        it: the machine finishes the part in hand and stands IDLE until ``start``. Returns
        the ``command`` event to record (who sent it is the caller's to audit)."""
        vm = self._machine(machine)
        vm.command(command)
        return Event(
            ts=max(self.now_ns, self._clock.ns(self._env.now)),
            asset=vm.path,
            kind="command",
            payload={"command": command, "by": by},
            source="sim",
        )

    def _count_samples(self, batch: Batch) -> None:
        per_tag = np.bincount(batch.tag_id, minlength=len(self.tags)).tolist()
        for plan in self._sampler.plans:
            self._tally[plan.machine.path].samples += per_tag[plan.index]

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
                    tally.ns[MachineState(states[k]).label] += b - a  # exact in any chunking
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
                seconds={k: v / NS_PER_S for k, v in t.ns.items()},
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


def _describe(e: Event) -> str:
    """One line for the live table: ``down (bearing failure)``, ``part 42 shaft good``."""
    p = e.payload
    if e.kind == "state":
        reason = f" ({p['reason']})" if p.get("reason") else ""
        return f"{p['state']}{reason}"
    if e.kind == "part":
        return f"part {p['count']} {p['product']} {p['result']}"
    return f"{e.kind} {p.get('cause', '')}".rstrip()
