"""One virtual machine: a generator process on the twin's kernel that decides, moment by
moment, what the machine does, and writes it down (its timeline and its events).

The story of one pass of the loop: stand still while the calendar says so; wait for work
(STARVED); change the tool when it is worn out and set up when the product changes (SETUP);
make the part (RUNNING), a cycle that a breakdown (DOWN), a worn-out bearing (DOWN, "bearing
failure"), a micro-stop (MICRO_STOP) or the start of a planned stop may interrupt, after which
the cycle resumes; judge the part (good, scrap, rework: made again here); hand the good parts
on, waiting while the next buffer is full (BLOCKED).

Random draws, each from its own stream so that one kind of draw never shifts another:
cycle times are lognormal around ideal × (1 + speed_loss) with ``cycle_time_cv``; times to
breakdown are exponential in running time (mean ``mtbf``: random failures have a constant
hazard); repairs are lognormal (mean ``mttr``, cv 0.5; a bearing replacement takes
max(4 × mttr, 2 h), cv 0.3); micro-stops come as a Poisson process in running time, each
lognormal around ``micro_stop_duration`` and kept between 5 s and 4 min.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Generator
from typing import Any, Protocol

import numpy as np

from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.plant.model import MachineRef
from andon.sim.defaults import MachineParams
from andon.sim.degradation import NOISE_IN_TOLERANCES, bearing_damage, measurement_drift
from andon.sim.physics import THERMAL_TAU_S, thermal_target
from andon.sim.timeline import Timeline
from andon.sim.work import Lot, PlannedStops, SimClock, Stop
from andon.twin.kernel import Environment
from andon.twin.kernel import Event as KernelEvent
from andon.twin.resources import Store

Steps = Generator[KernelEvent, Any, Any]
Route = Callable[[Lot], tuple[Lot, Store] | None]
_S = MachineState
MICRO_STOP_RANGE = (5.0, 240.0)
INF = math.inf
COMMAND_STOP = "stopped by command"
COMMANDS = ("stop", "start")


class Inbound(Protocol):
    def get(self) -> KernelEvent: ...


def random_stream(seed: int, *names: str) -> np.random.Generator:
    """A generator of its own for one purpose: keyed by names, not by creation order, so adding
    a machine, a tag or a purpose never changes another stream."""
    key = [zlib.crc32(n.encode()) for n in names]
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def lognormal(rng: np.random.Generator, mean: float, cv: float) -> float:
    """A lognormal draw with the given mean and coefficient of variation."""
    if cv <= 0:
        return mean
    sigma = math.sqrt(math.log1p(cv * cv))
    return float(mean * rng.lognormal(-sigma * sigma / 2, sigma))


class VirtualMachine:
    """The state process of one machine and what it has recorded."""

    def __init__(
        self,
        env: Environment,
        ref: MachineRef,
        params: MachineParams,
        *,
        seed: int,
        clock: SimClock,
        stops: PlannedStops,
        inbound: Inbound,
        route: Route,
        emit: Callable[[Event], None],
    ) -> None:
        self.env, self.ref, self.params = env, ref, params
        self.path, self.id = ref.path, ref.machine.id
        self.clock, self.stops, self.inbound, self.route, self.emit = (
            clock,
            stops,
            inbound,
            route,
            emit,
        )

        def rng(purpose: str) -> np.random.Generator:
            return random_stream(seed, ref.path, purpose)

        self._cycle_rng, self._quality_rng = rng("cycle"), rng("quality")
        self._breakdown_rng, self._micro_rng = rng("breakdown"), rng("micro-stop")
        self._repair_rng, self._measure_rng = rng("repair"), rng("measurement")
        self.timeline = Timeline(THERMAL_TAU_S)
        self.state: MachineState | None = None
        self.product: str | None = None
        self.count = 0
        self.counter_start = int(rng("counter").integers(0, 65536))
        life = params.tool_life_parts
        self.tool_parts = round(params.tool_wear * life) if life else 0
        self.wear = params.bearing_wear if params.bearing_life else 0.0
        self.to_bearing = (1 - self.wear) * params.bearing_life if params.bearing_life else INF
        self.to_breakdown = float(self._breakdown_rng.exponential(params.mtbf))
        self.to_micro = self._next_micro()
        self.held = False
        """Stopped by a written command: finishes the part in hand, then stands IDLE."""
        self._wake = env.event()
        self.timeline.count(clock.start_ns, self.counter_start)
        if life:
            self.timeline.tool(clock.start_ns, 100.0 * self.tool_parts / life)
        self.process = env.process(self.run())

    def command(self, command: str) -> None:
        """Obey a written ``stop`` or ``start`` (the machine's next decision point acts)."""
        if command not in COMMANDS:
            raise ValueError(f"unknown machine command {command!r}; expected stop or start")
        self.held = command == "stop"
        wake, self._wake = self._wake, self.env.event()
        wake.succeed()

    def _stop_at(self, t: float) -> Stop | None:
        return Stop(t, INF, COMMAND_STOP) if self.held else self.stops.at(t)

    # ------------------------------------------------------------------ the story

    def run(self) -> Steps:
        while True:
            yield from self._stand_still_while_planned()
            lot: Lot = yield from self._await(self.inbound.get(), _S.STARVED, "no work")
            left, good = lot.qty, 0
            while left > 0:
                yield from self._stand_still_while_planned()
                yield from self._prepare(lot.product)
                result = yield from self._make(lot)
                if result == "rework":
                    continue  # the same part goes round again on this machine
                left -= 1
                good += result == "good"
            routed = self.route(Lot(lot.order, lot.product, good, lot.routing, lot.step))
            if good and routed is not None:
                nxt, store = routed
                yield from self._await(store.put(nxt), _S.BLOCKED, "downstream full")

    # ------------------------------------------------------------------ steps

    def _await(self, request: KernelEvent, state: MachineState, reason: str) -> Steps:
        """Wait for a store request, standing still during planned stops meanwhile."""
        while not request.triggered:
            stop = self._stop_at(self.env.now)
            if stop is not None:
                yield from self._stand_still(stop)
                continue
            self._set(state, reason)
            nxt = self.stops.next_start(self.env.now)
            waits = [request, self._wake]
            if nxt is not None:
                waits.append(self.env.timeout(nxt - self.env.now))
            yield self.env.any_of(waits)
        return request.value

    def _stand_still(self, stop: Stop) -> Steps:
        if stop.name == COMMAND_STOP:
            self._set(_S.IDLE, COMMAND_STOP)
            while self.held:
                yield self._wake
            return
        self._set(_S.PLANNED_STOP, stop.name)
        yield self.env.timeout(max(stop.end - self.env.now, 0.0))

    def _stand_still_while_planned(self) -> Steps:
        while (stop := self._stop_at(self.env.now)) is not None:
            yield from self._stand_still(stop)

    def _prepare(self, product: str) -> Steps:
        p = self.params
        if p.tool_life_parts and self.tool_parts >= p.tool_life_parts:
            self._set(_S.SETUP, "tool change")
            yield self.env.timeout(p.tool_change_time)
            self.tool_parts = 0
            self.timeline.tool(self.clock.ns(self.env.now), 0.0)
        if product != self.product:
            if self.product is not None and p.setup_time > 0:
                self._set(_S.SETUP, f"changeover to {product}", segment=True)
                yield self.env.timeout(p.setup_time)
            self.product = product

    def _make(self, lot: Lot) -> Steps:
        p = self.params
        ideal = self.ref.machine.ideal_cycle_time_for(lot.product)
        cycle = lognormal(self._cycle_rng, ideal * (1 + p.speed_loss), p.cycle_time_cv)
        load = float(
            np.clip(p.cutting_load * (1 + 0.1 * self._cycle_rng.standard_normal()), 0.2, 1.0)
        )
        yield from self._run_for(cycle, load)
        return self._judge(lot)

    def _run_for(self, seconds: float, load: float) -> Steps:
        """Run for ``seconds`` of cutting time, going through whatever interrupts it."""
        left = seconds
        while True:
            self._set(_S.RUNNING, "", load=load, segment=True)
            nxt = self.stops.next_start(self.env.now)
            to_stop = 0.0 if self.held else INF if nxt is None else nxt - self.env.now
            first = min(self.to_bearing, self.to_breakdown, self.to_micro, to_stop)
            if left <= first:
                yield self.env.timeout(left)
                self._consume(left)
                return
            yield self.env.timeout(first)
            self._consume(first)
            left -= first
            if first == self.to_bearing:
                yield from self._bearing_failure()
            elif first == self.to_breakdown:
                yield from self._breakdown()
            elif first == self.to_micro:
                yield from self._micro_stop()
            yield from self._stand_still_while_planned()

    def _consume(self, dt: float) -> None:
        """Running time passes: the bearing wears and the failure clocks run down."""
        if self.params.bearing_life:
            self.wear += dt / self.params.bearing_life
        self.to_bearing -= dt
        self.to_breakdown -= dt
        self.to_micro -= dt

    def _breakdown(self) -> Steps:
        repair = lognormal(self._repair_rng, self.params.mttr, 0.5)
        self._truth("truth.failure", {"cause": "breakdown", "repair_s": round(repair, 1)})
        self._set(_S.DOWN, "breakdown")
        yield self.env.timeout(repair)
        self.to_breakdown = float(self._breakdown_rng.exponential(self.params.mtbf))

    def _bearing_failure(self) -> Steps:
        repair = lognormal(self._repair_rng, max(4 * self.params.mttr, 7200.0), 0.3)
        self._truth(
            "truth.failure",
            {"cause": "bearing failure", "repair_s": round(repair, 1), "bearing_health": 0.0},
        )
        self._set(_S.DOWN, "bearing failure")
        yield self.env.timeout(repair)
        self.wear = 0.0
        self.to_bearing = self.params.bearing_life or INF
        self._truth("truth.repair", {"cause": "bearing failure", "bearing_replaced": True})

    def _micro_stop(self) -> Steps:
        lo, hi = MICRO_STOP_RANGE
        d = min(max(lognormal(self._micro_rng, self.params.micro_stop_duration, 0.5), lo), hi)
        self._set(_S.MICRO_STOP, "micro-stop")
        yield self.env.timeout(d)
        self.to_micro = self._next_micro()

    def _next_micro(self) -> float:
        rate = self.params.micro_stops_per_hour
        return float(self._micro_rng.exponential(3600.0 / rate)) if rate > 0 else INF

    # ------------------------------------------------------------------ records

    def _judge(self, lot: Lot) -> str:
        """Count and judge the part just made; record its measurement and the tool's wear."""
        p = self.params
        t = self.clock.ns(self.env.now)
        self.count += 1
        self.timeline.count(t, self.counter_start + self.count)
        wear = 0.0
        if p.tool_life_parts:
            self.tool_parts += 1
            wear = self.tool_parts / p.tool_life_parts
            self.timeline.tool(t, 100.0 * wear)
        u = float(self._quality_rng.random())
        payload: dict[str, Any] = {"product": lot.product}
        out_of_tolerance = False
        if p.measurement_nominal is not None and p.measurement_tolerance is not None:
            tol = p.measurement_tolerance
            value = (
                p.measurement_nominal
                + measurement_drift(wear, tol)
                + NOISE_IN_TOLERANCES * tol * float(self._measure_rng.standard_normal())
            )
            self.timeline.measurement(t, value)
            payload["measurement"] = round(value, 6)
            out_of_tolerance = abs(value - p.measurement_nominal) > tol
        if out_of_tolerance or u < p.scrap_rate:
            result = "scrap"
        elif u < p.scrap_rate + p.rework_rate:
            result = "rework"
        else:
            result = "good"
        payload.update(result=result, count=self.count, order=lot.order)
        self.emit(Event(ts=t, asset=self.path, kind="part", payload=payload, source="sim"))
        return result

    def _set(
        self, state: MachineState, reason: str, *, load: float = 0.0, segment: bool = False
    ) -> None:
        """Enter ``state`` (an event if it changed) and start a timeline segment."""
        if state == self.state and not segment:
            return
        t = self.clock.ns(self.env.now)
        if state != self.state:
            previous = self.state.label if self.state is not None else None
            self.emit(
                Event(
                    ts=t,
                    asset=self.path,
                    kind="state",
                    payload={"state": state.label, "previous": previous, "reason": reason},
                    source="sim",
                )
            )
            self.state = state
        damage = float(bearing_damage(self.wear))
        self.timeline.segment(t, int(state), load, self.wear, thermal_target(state, load, damage))

    def _truth(self, kind: str, payload: dict[str, Any]) -> None:
        self.emit(
            Event(
                ts=self.clock.ns(self.env.now),
                asset=self.path,
                kind=kind,
                payload=payload,
                source="sim",
            )
        )
