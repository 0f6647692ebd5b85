"""Work for the virtual machines: lots, job-shop orders, a flow line's supply and buffers, and
the planned stops they respect.

A job shop receives orders (a lot of one product) with exponential gaps; a lot visits the
machines of its product's routing in turn, queueing in front of each (unbounded queues), and
moves on as a whole when the machine has made all of it (the usual transfer batch of a job
shop, which is why changeovers happen per lot). A flow line's first station draws single parts
from an unlimited supply planned in lots (a new lot of another product means a changeover at
every station), and parts pass the line's buffers one by one; a full buffer blocks the station
above it, an empty one starves the station below.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from andon.core.clock import NS_PER_S
from andon.core.event import Event
from andon.plant.calendar import PlantCalendar
from andon.plant.model import Line, Product
from andon.twin.kernel import Environment, ProcessGenerator
from andon.twin.resources import Store

DAY = 86400.0
DEFAULT_INTERARRIVAL = 1800.0


@dataclass(frozen=True, slots=True)
class SimClock:
    """Kernel seconds since ``start_ns`` ↔ UTC nanoseconds."""

    start_ns: int

    def ns(self, t: float) -> int:
        return self.start_ns + round(t * NS_PER_S)

    def seconds(self, ns: int) -> float:
        return (ns - self.start_ns) / NS_PER_S


@dataclass(frozen=True, slots=True)
class Lot:
    """``qty`` parts of ``product``; ``step`` indexes ``routing`` (the machine making it now)."""

    order: str
    product: str
    qty: int
    routing: tuple[str, ...] = ()
    step: int = 0


@dataclass(frozen=True, slots=True)
class Stop:
    start: float
    end: float
    name: str


@dataclass
class PlannedStops:
    """The calendar's planned stops in kernel seconds, computed a day ahead at a time."""

    calendar: PlantCalendar
    clock: SimClock
    _stops: list[Stop] = field(default_factory=list)
    _starts: list[float] = field(default_factory=list)
    _horizon: float = 0.0

    def _cover(self, t: float) -> None:
        while self._horizon < t + DAY:
            a, b = self._horizon, self._horizon + DAY
            for iv in self.calendar.planned_stops(self.clock.ns(a), self.clock.ns(b)):
                s, e = self.clock.seconds(iv.start), self.clock.seconds(iv.end)
                last = self._stops[-1] if self._stops else None
                if last is not None and last.name == iv.name and abs(last.end - s) < 1e-9:
                    self._stops[-1] = Stop(last.start, e, iv.name)  # cut at the day edge
                else:
                    self._stops.append(Stop(s, e, iv.name))
                    self._starts.append(s)
            self._horizon = b

    def at(self, t: float) -> Stop | None:
        """The planned stop covering ``t``, if any."""
        self._cover(t)
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and self._stops[i].end > t:
            return self._stops[i]
        return None

    def next_start(self, t: float) -> float | None:
        """Start of the next planned stop after ``t`` (None if none within a day)."""
        self._cover(t)
        i = bisect.bisect_right(self._starts, t)
        return self._starts[i] if i < len(self._starts) else None


class Supply:
    """A flow line's first station never waits: the next part comes from a plan of lots."""

    def __init__(
        self,
        env: Environment,
        products: list[Product],
        lot_size: tuple[int, int],
        rng: np.random.Generator,
    ) -> None:
        self.env = env
        self._parts = _lot_plan(products, lot_size, rng)

    def get(self) -> Any:
        return self.env.event().succeed(next(self._parts))


def _lot_plan(
    products: list[Product], lot_size: tuple[int, int], rng: np.random.Generator
) -> Iterator[Lot]:
    mix = np.array([p.mix for p in products], dtype=np.float64)
    n = 0
    while True:
        product = products[int(rng.choice(len(products), p=mix / mix.sum()))].id
        n += 1
        for _ in range(int(rng.integers(lot_size[0], lot_size[1] + 1))):
            yield Lot(order=f"lot-{n}", product=product, qty=1)


def release_orders(
    env: Environment,
    line: Line,
    line_path: str,
    products: list[Product],
    queues: dict[str, Store],
    rng: np.random.Generator,
    clock: SimClock,
    emit: Callable[[Event], None],
) -> ProcessGenerator:
    """A job shop's order stream: one order of each product at the start (the work on the
    floor when the simulation begins), then orders with exponential gaps."""
    routed = [p for p in products if p.routing and all(m in queues for m in p.routing)]
    if not routed:
        return
    mix = np.array([p.mix for p in routed], dtype=np.float64)
    mean_gap = line.simulation.order_interarrival or DEFAULT_INTERARRIVAL
    lo, hi = line.simulation.lot_size
    n = 0
    backlog = list(routed)  # the shop starts with one order of each product on the floor
    while True:
        n += 1
        if backlog:
            product = backlog.pop(0)
        else:
            product = routed[int(rng.choice(len(routed), p=mix / mix.sum()))]
        lot = Lot(
            order=f"{line.id}-{n:05d}",
            product=product.id,
            qty=int(rng.integers(lo, hi + 1)),
            routing=tuple(product.routing),
        )
        emit(
            Event(
                ts=clock.ns(env.now),
                asset=line_path,
                kind="order.released",
                payload={
                    "order": lot.order,
                    "product": lot.product,
                    "qty": lot.qty,
                    "routing": list(lot.routing),
                },
                source="sim",
            )
        )
        queues[lot.routing[0]].put(lot)
        if not backlog:
            yield env.timeout(float(rng.exponential(mean_gap)))


def job_shop_route(queues: dict[str, Store]) -> Callable[[Lot], tuple[Lot, Store] | None]:
    """Where a finished lot goes next in a job shop (None: its routing is done)."""

    def route(lot: Lot) -> tuple[Lot, Store] | None:
        if lot.step + 1 >= len(lot.routing):
            return None
        nxt = Lot(lot.order, lot.product, lot.qty, lot.routing, lot.step + 1)
        return nxt, queues[nxt.routing[nxt.step]]

    return route


def flow_route(downstream: Store | None) -> Callable[[Lot], tuple[Lot, Store] | None]:
    """Where a finished part goes in a flow line: the buffer below, or out of the line."""

    def route(lot: Lot) -> tuple[Lot, Store] | None:
        return None if downstream is None else (lot, downstream)

    return route


def flow_buffers(env: Environment, line: Line) -> list[Store]:
    """The buffers between consecutive stations (capacity 1 where plant.yaml declares none)."""
    caps = {(b.upstream, b.downstream): b.capacity for b in line.buffers}
    ms = line.machines
    return [Store(env, capacity=caps.get((a.id, b.id), 1)) for a, b in itertools.pairwise(ms)]
