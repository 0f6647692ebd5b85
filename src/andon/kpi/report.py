"""ISO 22400-2 KPIs and energy for an asset over a range, read from the historian.

Machine by machine: the OEE (``assets``), failures from the state history, order execution
time from the part events' ``order``, and energy from the machine's power signal (a tag with
``signal: power`` or named ``power``, in kW, integrated by the trapezoid rule). Several
machines add up: times, counts, failures, kWh (ratios are computed on the sums). A line
counted from its bottleneck takes its failures and order times from the bottleneck too, as
its times are (``assets.counted_machines``), so its ratios relate like to like; its kWh are
every machine's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from andon.core.clock import NS_PER_S, now_ns
from andon.historian import Historian
from andon.kpi.assets import (
    AssetOee,
    Keeping,
    Readings,
    aggregate,
    check_range,
    counted_machines,
    machines_under,
    micro_stop_s,
    per_period,
)
from andon.kpi.energy import (
    POWER_GAP_NS,
    POWER_GAP_S,
    EnergyCurve,
    EnergyReport,
    combine_energy,
    energy_report,
    from_power,
    power_tag,
)
from andon.kpi.iso22400 import (
    Failures,
    KpiValue,
    failures,
    inputs_from_oee,
    iso22400,
    order_execution_s,
)
from andon.kpi.kept import KeptEnergy, margin_ns
from andon.kpi.oee import Oee, combine, ideal_for, oee
from andon.kpi.periods import By, Period, planned_stops_for
from andon.plant import MachineRef, Plant, PlantCalendar
from andon.state.history import Parts, StateHistory

PART = "part"
POWER_READ_NS = 6 * 3600 * NS_PER_S
"""A power signal over a long range is read this much at a time (a day of 10 Hz, or a
month of 1 Hz, is more than one read of the historian may return)."""


@dataclass
class AssetReport:
    asset: str
    oee: Oee
    kpis: list[KpiValue]
    energy: list[EnergyReport] = field(default_factory=list)
    kwh: float | None = None


def _power_curve(ref: MachineRef, historian: Historian, start: int, end: int) -> EnergyCurve | None:
    tag = power_tag(ref)
    if tag is None:
        return None
    path = ref.tag_path(tag)
    if path not in {t.path for t in historian.tags(path)}:
        return None
    series = historian.range(path, start, end)
    if len(series.ts) < 2:
        return None
    return from_power(series.ts, series.value, max_gap_s=POWER_GAP_S)


def _range_energy(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    start_ns: int,
    end_ns: int,
    result: Oee,
    history: StateHistory,
) -> EnergyReport | None:
    """A machine's energy over a range of any length, its power read ``POWER_READ_NS`` at a
    time (a month of 1 Hz power is more than one read may return) and added up; None without
    power data."""
    if power_tag(ref) is None:
        return None
    first = start_ns - start_ns % POWER_READ_NS + POWER_READ_NS
    edges = [start_ns, *range(first, end_ns, POWER_READ_NS), end_ns]
    reports = []
    for lo, hi in itertools.pairwise(edges):
        curve = _power_curve(ref, historian, lo - POWER_GAP_NS, hi + POWER_GAP_NS)
        if curve is not None:
            reports.append(
                energy_report(
                    curve, plant, lo, hi, asset=ref.path, total=0, good=0, history=history
                )
            )
    if not reports:
        return None
    return combine_energy(reports, plant, start_ns, end_ns, total=result.total, good=result.good)


def machine_energy(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    spans: Sequence[Period],
    results: Sequence[Oee],
    readings: Readings | None = None,
    keeping: Keeping[EnergyReport | None] | None = None,
) -> list[EnergyReport | None]:
    """One machine's energy in each period (``results``: its OEE in each, for the energy per
    unit); None for a period without power data. The power signal is read period by period,
    a gap's length beyond each, so each period's edges are integrated and the periods add
    up."""
    units = {(p.start_ns, p.end_ns): r for p, r in zip(spans, results, strict=True)}

    def compute(history: StateHistory, _: Parts, run: list[Period]) -> list[EnergyReport | None]:
        out: list[EnergyReport | None] = []
        for p in run:  # a period at a time: a month of 1 Hz power is never read at once
            curve = _power_curve(ref, historian, p.start_ns - POWER_GAP_NS, p.end_ns + POWER_GAP_NS)
            if curve is None:
                out.append(None)
                continue
            r = units[(p.start_ns, p.end_ns)]
            out.append(
                energy_report(
                    curve,
                    plant,
                    p.start_ns,
                    p.end_ns,
                    asset=ref.path,
                    total=r.total,
                    good=r.good,
                    history=history,
                )
            )
        return out

    if power_tag(ref) is None:
        return [None] * len(spans)
    return per_period(plant, ref, historian, spans, compute, readings, keeping)


def energy_by_machine(
    plant: Plant,
    historian: Historian,
    rows: Sequence[AssetOee],
    by: By | None,
    readings: Readings | None = None,
) -> list[EnergyReport]:
    """The energy of each machine with power data over the periods of ``rows`` (an
    ``asset_oee`` answer), added up over the range; the closed whole periods kept."""
    if not rows:
        return []
    spans = [row.period for row in rows]
    paths = [m.asset for m in rows[0].machines]
    refs = [ref for ref in plant.machines() if ref.path in set(paths)]
    refs.sort(key=lambda ref: paths.index(ref.path))
    readings = readings or Readings(plant, historian)
    with_power = [ref for ref in refs if power_tag(ref) is not None]
    keeping = Keeping.of(KeptEnergy, plant, historian, with_power, spans, by)
    start, end = spans[0].start_ns, spans[-1].end_ns
    out = []
    for ref in with_power:
        k = paths.index(ref.path)
        results = [row.machines[k] for row in rows]
        pieces = machine_energy(plant, ref, historian, spans, results, readings, keeping)
        reports = [r for r in pieces if r is not None]
        if reports:
            whole = combine(results)
            out.append(
                combine_energy(reports, plant, start, end, total=whole.total, good=whole.good)
            )
    return out


def asset_report(
    plant: Plant,
    historian: Historian,
    asset: str,
    start_ns: int,
    end_ns: int,
    readings: Readings | None = None,
) -> AssetReport:
    """ISO 22400 KPIs and energy of ``asset`` (machines summed) in ``[start_ns, end_ns)``."""
    check_range(start_ns, end_ns)
    calendar = PlantCalendar(plant.calendar)
    planned = planned_stops_for(calendar, start_ns, end_ns)
    results: list[Oee] = []
    fail_events, operating, to_failure = 0, 0.0, 0.0
    repairs: list[float] = []
    aoet: float | None = None
    energy: list[EnergyReport] = []
    kwh: float | None = None
    refs = machines_under(plant, asset)
    counted = counted_machines(refs)
    readings = readings or Readings(plant, historian)
    for ref in refs:
        # read as ``kpi oee`` reads (a margin around the range: stops crossing its edges are
        # measured whole), so both say the same of the same range
        margin = margin_ns(ref, micro_stop_s(ref))
        wide, parts = readings.of(
            ref, start_ns - margin, max(end_ns, min(end_ns + margin, now_ns()))
        )
        result = oee(
            wide,
            parts,
            planned_stops=planned,
            ideal_s=ideal_for(ref.machine),
            micro_stop_s=micro_stop_s(ref),
            start_ns=start_ns,
            end_ns=end_ns,
        )
        history = wide.clip(start_ns, end_ns)
        results.append(result)
        if ref.path in counted:  # failures and order times of the machines the times are of
            f = failures(history, micro_stop_s(ref))
            fail_events += f.events
            repairs.extend(f.repair_s)
            operating += f.operating_s
            to_failure += f.to_failure_s
            events = historian.events(ref.path, PART, start_ns, end_ns, None)
            own = [e for e in events if e.asset == ref.path and e.kind == PART]
            span = order_execution_s((e.ts for e in own), (e.payload.get("order") for e in own))
            if span is not None:
                aoet = (aoet or 0.0) + span
        report = _range_energy(plant, ref, historian, start_ns, end_ns, result, wide)
        if report is not None:
            energy.append(report)
            kwh = (kwh or 0.0) + report.kwh
    # a line as configured (bottleneck or weighted), as ``andon kpi oee`` counts it
    total = results[0] if len(results) == 1 else aggregate(plant, refs, results, asset)
    fails = Failures(fail_events, tuple(repairs), operating, to_failure)
    inputs = inputs_from_oee(total, failure_data=fails, aoet_s=aoet, energy_kwh=kwh)
    return AssetReport(total.asset, total, iso22400(inputs), energy, kwh)
