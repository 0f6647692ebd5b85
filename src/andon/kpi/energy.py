"""Energy, its cost and its carbon: kWh in a range, per machine state, per unit; cost under
time-of-use tariffs; kg CO2e (scope 2, location based).

A machine's consumption is an ``EnergyCurve``: the energy used since its first sample as a
function of time, from either

- a **power** series (kW): integrated with the **trapezoid** rule (power is taken to change
  linearly between samples — closer than sample-and-hold for a meter sampled at a steady rate,
  and exact for ramps). Between two samples further apart than ``max_gap_s`` nothing is
  counted (unknown, not guessed); or
- an **energy counter** (kWh, monotonic): consumption is the sum of its increments, a drop is
  a reset (the new reading is what was used since). The energy of a gap is known from the
  counter; within it, time is interpolated linearly.

Energy in any interval is ``curve.at(end) − curve.at(start)``, vectorised over many intervals
at once (the state history's, the tariff windows'). Outside the samples nothing is counted.

**Cost**: tariffs are declared in the calendar's local time (``start``, ``end`` — an end at or
before the start runs past midnight and belongs to the day it starts — ``days``,
``price_per_kwh``); each window is turned into UTC day by day through ``zoneinfo``, so a window
on a day with a clock change is an hour shorter or longer where it crosses the change. Where
tariffs overlap, the one declared first wins. Energy outside every window is priced at
``costs.energy_per_kwh`` when the plant has one, else reported as unpriced kWh (never priced at
zero silently).

**Carbon**: kg CO2e = kWh × the grid's emission factor (``plant.carbon``, else the calendar's
``grid_kg_co2e_per_kwh``): scope 2, location based.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from andon.core.clock import NS_PER_S, from_ns, to_ns
from andon.core.machine_state import MachineState
from andon.plant import MachineRef
from andon.plant.fields import WEEKDAYS
from andon.plant.model import Calendar, Plant
from andon.state.history import NO_DATA, StateHistory

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

NS_PER_H = 3600 * NS_PER_S
POWER_GAP_S = 600.0
"""Two power samples further apart than this leave the time between them uncounted."""
POWER_GAP_NS = round(POWER_GAP_S * NS_PER_S)


def power_tag(ref: MachineRef) -> str | None:
    """The machine's power signal (kW): its tag with ``signal: power``, else one named
    ``power``; None when it has neither."""
    tag = next((t for t in ref.machine.tags if t.signal == "power" or t.name == "power"), None)
    return None if tag is None else tag.name


@dataclass(frozen=True, eq=False)
class EnergyCurve:
    """Cumulative kWh at each sample time; ``kw`` set for a power series (trapezoid between
    samples), None for a counter (linear between readings); ``gap[k]`` marks the segment
    ``ts[k]..ts[k+1]`` of a power series that is not integrated."""

    ts: I64
    cum_kwh: F64
    kw: F64 | None
    gap: B

    def at(self, t: npt.ArrayLike) -> F64:
        """kWh used from the first sample up to each time in ``t`` (ns)."""
        tt = np.asarray(t, dtype=np.int64)
        if len(self.ts) < 2:
            return np.zeros(tt.shape, dtype=np.float64)
        tt = np.clip(tt, self.ts[0], self.ts[-1])
        k = np.clip(np.searchsorted(self.ts, tt, side="right") - 1, 0, len(self.ts) - 2)
        t0 = self.ts[k]
        span = (self.ts[k + 1] - t0).astype(np.float64)
        frac = (tt - t0) / span
        if self.kw is None:
            return self.cum_kwh[k] + frac * (self.cum_kwh[k + 1] - self.cum_kwh[k])
        p0 = self.kw[k]
        pt = p0 + frac * (self.kw[k + 1] - p0)
        part = np.where(self.gap[k], 0.0, (tt - t0) / NS_PER_H * (p0 + pt) / 2)
        out: F64 = self.cum_kwh[k] + part
        return out

    def kwh_in(self, starts: npt.ArrayLike, ends: npt.ArrayLike) -> F64:
        """kWh used in each ``[starts[i], ends[i])``."""
        out: F64 = self.at(ends) - self.at(starts)
        return out

    def kwh(self, start_ns: int, end_ns: int) -> float:
        """kWh used in ``[start_ns, end_ns)``."""
        return float(self.kwh_in([start_ns], [end_ns])[0])

    def covered_s(self, start_ns: int, end_ns: int) -> float:
        """Seconds of ``[start_ns, end_ns)`` for which the samples give the energy."""
        if len(self.ts) < 2:
            return 0.0
        s = np.clip(self.ts[:-1], start_ns, end_ns)
        e = np.clip(self.ts[1:], start_ns, end_ns)
        return float(((e - s)[~self.gap]).sum()) / NS_PER_S


def _clean(ts: npt.ArrayLike, values: npt.ArrayLike, what: str) -> tuple[I64, F64]:
    """Samples in time order, NaN dropped, the last of equal times kept."""
    t = np.asarray(ts, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError(f"{what}: times and values differ in shape")
    keep = np.isfinite(v)
    t, v = t[keep], v[keep]
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    last = np.ones(len(t), dtype=np.bool_)
    last[:-1] = t[1:] != t[:-1]
    return t[last], v[last]


def from_power(
    ts: npt.ArrayLike, kw: npt.ArrayLike, *, max_gap_s: float | None = None
) -> EnergyCurve:
    """A power series (kW at UTC ns), integrated by the trapezoid rule; segments longer than
    ``max_gap_s`` count nothing."""
    t, p = _clean(ts, kw, "power series")
    dt = np.diff(t)
    gap = (
        dt > round(max_gap_s * NS_PER_S)
        if max_gap_s is not None
        else np.zeros(len(dt), dtype=np.bool_)
    )
    seg = np.where(gap, 0.0, dt / NS_PER_H * (p[:-1] + p[1:]) / 2)
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    return EnergyCurve(t, cum, p, gap)


def from_counter(ts: npt.ArrayLike, kwh: npt.ArrayLike) -> EnergyCurve:
    """An energy counter (kWh at UTC ns, monotonic): increments summed; a drop is a reset, after
    which the reading itself is the energy used since."""
    t, c = _clean(ts, kwh, "energy counter")
    d = np.diff(c)
    inc = np.where(d < 0, c[1:], d)
    cum = np.concatenate(([0.0], np.cumsum(inc)))
    return EnergyCurve(t, cum, None, np.zeros(max(len(t) - 1, 0), dtype=np.bool_))


def _label(code: int) -> str:
    try:
        return MachineState(code).label
    except ValueError:
        return "no_data"


def kwh_by_state(curve: EnergyCurve, history: StateHistory) -> dict[str, float]:
    """kWh used in each state of ``history`` (label → kWh; ``no_data`` for unknown time):
    what a machine burns while idle, starved, blocked or down."""
    e = curve.kwh_in(history.starts, history.ends())
    codes = np.where(history.states > max(MachineState), NO_DATA, history.states)
    sums = np.bincount(codes.astype(np.int64), weights=e, minlength=max(MachineState) + 1)
    out = {_label(int(c)): float(sums[c]) for c in range(len(sums)) if c != NO_DATA}
    out["no_data"] = float(sums[NO_DATA])
    return out


def per_unit(value: float | None, units: int) -> float | None:
    """``value`` per unit, None when there are no units (undefined, not zero)."""
    return value / units if value is not None and units > 0 else None


# ---------------------------------------------------------------- tariffs


@dataclass(frozen=True, slots=True)
class TariffWindow:
    """One occurrence of a tariff, in UTC ns."""

    start: int
    end: int
    name: str
    price_per_kwh: float
    rank: int
    """The tariff's place in the calendar (lower wins where windows overlap)."""


def _local(tz: ZoneInfo, day: date, t: time) -> int:
    # fold=0: a local time skipped in spring is read as if the clock had not changed yet,
    # as the plant calendar does.
    return to_ns(datetime.combine(day, t, tzinfo=tz))


def tariff_windows(calendar: Calendar, start_ns: int, end_ns: int) -> list[TariffWindow]:
    """Every tariff window overlapping ``[start_ns, end_ns)``, clipped to it, in UTC."""
    tz = ZoneInfo(calendar.timezone)
    first = from_ns(start_ns).astimezone(tz).date() - timedelta(days=1)
    last = from_ns(end_ns).astimezone(tz).date() + timedelta(days=1)
    out = []
    day = first
    while day <= last:
        weekday = WEEKDAYS[day.weekday()]
        for rank, tariff in enumerate(calendar.tariffs):
            if weekday not in tariff.days:
                continue
            end_day = day + timedelta(days=1) if tariff.end <= tariff.start else day
            ws, we = _local(tz, day, tariff.start), _local(tz, end_day, tariff.end)
            lo, hi = max(ws, start_ns), min(we, end_ns)
            if lo < hi:
                out.append(TariffWindow(lo, hi, tariff.name, tariff.price_per_kwh, rank))
        day += timedelta(days=1)
    out.sort(key=lambda w: (w.start, w.rank))
    return out


@dataclass(frozen=True)
class EnergyCost:
    """What the energy of a range cost: ``by_tariff`` maps a tariff's name (``flat`` for the
    plant's flat price) to ``(kWh, cost)``; ``unpriced_kwh`` is energy outside every tariff
    window when the plant has no flat price (its cost is not in ``cost``)."""

    kwh: float
    cost: float
    priced_kwh: float
    unpriced_kwh: float
    by_tariff: dict[str, tuple[float, float]] = field(default_factory=dict)
    currency: str = "EUR"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kwh": self.kwh,
            "cost": self.cost,
            "priced_kwh": self.priced_kwh,
            "unpriced_kwh": self.unpriced_kwh,
            "by_tariff": {k: {"kwh": v[0], "cost": v[1]} for k, v in self.by_tariff.items()},
            "currency": self.currency,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnergyCost:
        """Back from ``to_dict``."""
        by = {k: (float(v["kwh"]), float(v["cost"])) for k, v in d["by_tariff"].items()}
        return cls(d["kwh"], d["cost"], d["priced_kwh"], d["unpriced_kwh"], by, d["currency"])


def energy_cost(
    curve: EnergyCurve,
    calendar: Calendar,
    start_ns: int,
    end_ns: int,
    *,
    flat_price_per_kwh: float | None = None,
) -> EnergyCost:
    """The cost of the energy used in ``[start_ns, end_ns)``: the integration is split at every
    tariff window edge; time outside every window is priced at ``flat_price_per_kwh`` or left
    unpriced."""
    windows = tariff_windows(calendar, start_ns, end_ns)
    edges = [start_ns, end_ns] + [e for w in windows for e in (w.start, w.end)]
    bounds = np.unique(np.array(edges, dtype=np.int64))
    seg_s, seg_e = bounds[:-1], bounds[1:]
    kwh = curve.kwh_in(seg_s, seg_e)
    # Which tariff prices each segment: the first declared among the windows covering it.
    which = np.full(len(seg_s), -1, dtype=np.int64)
    best = np.full(len(seg_s), np.iinfo(np.int64).max, dtype=np.int64)
    for i, w in enumerate(windows):
        inside = (seg_s >= w.start) & (seg_e <= w.end) & (w.rank < best)
        which[inside] = i
        best[inside] = w.rank
    by: dict[str, tuple[float, float]] = {}
    for i, w in enumerate(windows):
        e = float(kwh[which == i].sum())
        if e or w.name not in by:
            k, c = by.get(w.name, (0.0, 0.0))
            by[w.name] = (k + e, c + e * w.price_per_kwh)
    outside = float(kwh[which < 0].sum())
    unpriced = 0.0
    if flat_price_per_kwh is not None:
        if outside:
            by["flat"] = (outside, outside * flat_price_per_kwh)
    else:
        unpriced = outside
    total = float(kwh.sum())
    return EnergyCost(
        kwh=total,
        cost=sum(c for _, c in by.values()),
        priced_kwh=total - unpriced,
        unpriced_kwh=unpriced,
        by_tariff=by,
        currency=calendar.currency,
    )


# ---------------------------------------------------------------- carbon and the summary


def grid_factor(plant: Plant) -> float | None:
    """kg CO2e per kWh of the plant's grid (``carbon:``, else the calendar's), None if not
    configured."""
    if plant.carbon is not None:
        return plant.carbon.grid_kg_co2e_per_kwh
    return plant.calendar.grid_kg_co2e_per_kwh


def co2e_kg(kwh: float, factor: float | None) -> float | None:
    """Scope 2, location based: kWh × the grid's emission factor (None without a factor)."""
    return None if factor is None else kwh * factor


@dataclass(frozen=True)
class EnergyReport:
    """A machine's energy over a range, per unit made (``total``) and per good unit."""

    asset: str
    start_ns: int
    end_ns: int
    kwh: float
    kwh_per_unit: float | None
    kwh_per_good: float | None
    by_state: dict[str, float]
    cost: EnergyCost
    cost_per_unit: float | None
    cost_per_good: float | None
    kg_co2e: float | None
    kg_co2e_per_unit: float | None
    kg_co2e_per_good: float | None
    problems: tuple[str, ...] = ()
    covered_s: float | None = None
    """Seconds of the range the power data cover (None: not measured)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "kwh": self.kwh,
            "kwh_per_unit": self.kwh_per_unit,
            "kwh_per_good": self.kwh_per_good,
            "by_state": dict(self.by_state),
            "cost": self.cost.to_dict(),
            "cost_per_unit": self.cost_per_unit,
            "cost_per_good": self.cost_per_good,
            "kg_co2e": self.kg_co2e,
            "kg_co2e_per_unit": self.kg_co2e_per_unit,
            "kg_co2e_per_good": self.kg_co2e_per_good,
            "problems": list(self.problems),
            "covered_s": self.covered_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnergyReport:
        """Back from ``to_dict`` (each closed period's energy is kept so)."""
        return cls(
            **{
                **d,
                "cost": EnergyCost.from_dict(d["cost"]),
                "problems": tuple(d.get("problems", ())),
            }
        )


def energy_report(
    curve: EnergyCurve,
    plant: Plant,
    start_ns: int,
    end_ns: int,
    *,
    asset: str,
    total: int,
    good: int,
    history: StateHistory | None = None,
) -> EnergyReport:
    """kWh, cost and kg CO2e of ``[start_ns, end_ns)``, per unit and per good unit, and (given
    the machine's state history) kWh per state."""
    cost = energy_cost(
        curve, plant.calendar, start_ns, end_ns, flat_price_per_kwh=plant.costs.energy_per_kwh
    )
    by_state: dict[str, float] = {}
    if history is not None and history.start_ns < end_ns and start_ns < history.end_ns:
        by_state = kwh_by_state(curve, history.clip(start_ns, end_ns))
    covered = curve.covered_s(start_ns, end_ns)
    return _report(plant, asset, start_ns, end_ns, cost, by_state, covered, total, good)


def _report(
    plant: Plant,
    asset: str,
    start_ns: int,
    end_ns: int,
    cost: EnergyCost,
    by_state: dict[str, float],
    covered_s: float,
    total: int,
    good: int,
) -> EnergyReport:
    """The report of a range's energy, its cost and carbon, per unit from ``total``/``good``."""
    kwh = cost.kwh
    factor = grid_factor(plant)
    carbon = co2e_kg(kwh, factor)
    span_s = (end_ns - start_ns) / NS_PER_S
    return EnergyReport(
        asset=asset,
        start_ns=start_ns,
        end_ns=end_ns,
        kwh=kwh,
        kwh_per_unit=per_unit(kwh, total),
        kwh_per_good=per_unit(kwh, good),
        by_state=by_state,
        cost=cost,
        cost_per_unit=per_unit(cost.cost, total),
        cost_per_good=per_unit(cost.cost, good),
        kg_co2e=carbon,
        kg_co2e_per_unit=per_unit(carbon, total),
        kg_co2e_per_good=per_unit(carbon, good),
        problems=_problems(asset, span_s, covered_s, cost.unpriced_kwh, factor),
        covered_s=covered_s,
    )


def _problems(
    asset: str, span_s: float, covered_s: float, unpriced_kwh: float, factor: float | None
) -> tuple[str, ...]:
    problems = []
    if span_s - covered_s > max(60.0, 0.001 * span_s):  # a sample interval at an edge is no gap
        problems.append(
            f"{asset}: energy data cover {covered_s:.0f} s of {span_s:.0f} s; "
            "the rest is not counted"
        )
    if unpriced_kwh > 0:
        problems.append(
            f"{asset}: {unpriced_kwh:.3f} kWh outside every tariff window and no "
            "costs.energy_per_kwh: not in the cost"
        )
    if factor is None:
        problems.append("no grid emission factor (carbon.grid_kg_co2e_per_kwh): no CO2e")
    return tuple(problems)


def combine_energy(
    reports: Sequence[EnergyReport],
    plant: Plant,
    start_ns: int,
    end_ns: int,
    *,
    total: int,
    good: int,
) -> EnergyReport:
    """One machine's energy over ``[start_ns, end_ns)`` from its periods' (``reports``,
    those with power data): kWh, cost and carbon added up, per unit from the range's
    ``total`` and ``good``, the coverage said of the whole range."""
    if not reports:
        raise ValueError("combine_energy: no energy reports to add up")
    kwh = sum(r.kwh for r in reports)
    by_state: dict[str, float] = {}
    by_tariff: dict[str, tuple[float, float]] = {}
    for r in reports:
        for k, v in r.by_state.items():
            by_state[k] = by_state.get(k, 0.0) + v
        for name, (e, c) in r.cost.by_tariff.items():
            k0, c0 = by_tariff.get(name, (0.0, 0.0))
            by_tariff[name] = (k0 + e, c0 + c)
    unpriced = sum(r.cost.unpriced_kwh for r in reports)
    cost = EnergyCost(
        kwh=kwh,
        cost=sum(c for _, c in by_tariff.values()),
        priced_kwh=kwh - unpriced,
        unpriced_kwh=unpriced,
        by_tariff=by_tariff,
        currency=reports[0].cost.currency,
    )
    covered = sum(r.covered_s or 0.0 for r in reports)
    asset = reports[0].asset
    return _report(plant, asset, start_ns, end_ns, cost, by_state, covered, total, good)
