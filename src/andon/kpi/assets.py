"""OEE for any asset of the plant — a machine, a line, an area, the site — over periods.

The glue between the rooms: a machine's state history and parts come from ``andon.state``
(derived from the historian), its planned time from the calendar, its ideal cycle times from
plant.yaml; ``kpi.oee`` does the arithmetic. A line's OEE comes from its bottleneck machine
or is weighted by planned time, as ``plant.yaml`` says (``line.oee``), and the result says
which; an area's and the site's are their lines' weighted by planned time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from andon.core.errors import InputError
from andon.historian import Historian
from andon.kpi.oee import Oee, combine, ideal_for, line_oee, oee_periods
from andon.kpi.pareto import StopReason, stop_reasons
from andon.kpi.periods import Period, periods, planned_stops_for
from andon.plant import MachineRef, Plant, PlantCalendar
from andon.state.counts import read_parts
from andon.state.derive import derive
from andon.state.history import Parts, StateHistory

DEFAULT_MICRO_STOP_S = 120.0
MAX_PERIODS = 1000
"""Most periods one question may ask for (by shift, about eleven months)."""
MAX_RANGE_DAYS = 3 * 366
"""Longest range one question may cover: computing it must not tie the server up."""


def check_range(start_ns: int, end_ns: int) -> None:
    """Refuse an empty or backwards range, and one longer than ``MAX_RANGE_DAYS``."""
    if end_ns <= start_ns:
        raise InputError("the range is empty: its end must be after its start")
    if end_ns - start_ns > MAX_RANGE_DAYS * 86_400 * 10**9:
        raise InputError(
            f"the range is longer than {MAX_RANGE_DAYS} days; ask for at most three years"
        )


class Readings:
    """What one request reads per machine — its state history and parts over one range —
    kept so that the OEE, the Pareto and the energy of one page read the historian once."""

    def __init__(self, plant: Plant, historian: Historian) -> None:
        self.plant, self.historian = plant, historian
        self._kept: dict[tuple[str, int, int], tuple[StateHistory, Parts]] = {}

    def of(self, ref: MachineRef, start_ns: int, end_ns: int) -> tuple[StateHistory, Parts]:
        key = (ref.path, start_ns, end_ns)
        found = self._kept.get(key)
        if found is None:
            history = derive(self.plant, ref, self.historian, start_ns, end_ns)
            parts = read_parts(self.plant, ref, self.historian, start_ns, end_ns, history=history)
            found = self._kept[key] = (history, parts)
        return found


@dataclass(frozen=True)
class AssetOee:
    """One period of one asset: its OEE and, below a machine, each machine's."""

    period: Period
    asset: str
    result: Oee
    machines: tuple[Oee, ...]


def machines_under(plant: Plant, asset: str) -> list[MachineRef]:
    """The machines at or below ``asset`` (a path, or a machine id)."""
    asset = asset.strip("/")
    found = [
        ref
        for ref in plant.machines()
        if ref.path == asset or ref.path.startswith(asset + "/") or ref.machine.id == asset
    ]
    if not found:
        raise InputError(
            f"asset {asset!r}: no machine of the plant is at or below it; "
            f"try {plant.machines()[0].path} or {plant.root}"
        )
    return found


def micro_stop_s(ref: MachineRef) -> float:
    state = ref.machine.state
    return state.micro_stop if state is not None else DEFAULT_MICRO_STOP_S


def machine_periods(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    spans: Sequence[Period],
    readings: Readings | None = None,
) -> list[Oee]:
    """One machine's OEE in each period (the history is read once for the whole span)."""
    if not spans:
        return []
    start, end = spans[0].start_ns, spans[-1].end_ns
    history, parts = (readings or Readings(plant, historian)).of(ref, start, end)
    calendar = PlantCalendar(plant.calendar)
    # one pass over the unclipped history: a stop that crosses a shift change is measured
    # whole (a 10-minute breakdown split 1 + 9 is still a breakdown in both shifts)
    return oee_periods(
        history,
        parts,
        [(p.start_ns, p.end_ns) for p in spans],
        planned_stops=planned_stops_for(calendar, start, end),
        ideal_s=ideal_for(ref.machine),
        micro_stop_s=micro_stop_s(ref),
    )


def asset_oee(
    plant: Plant,
    historian: Historian,
    asset: str,
    start_ns: int,
    end_ns: int,
    by: str | None = None,
    readings: Readings | None = None,
) -> list[AssetOee]:
    """OEE of ``asset`` per period (``by``: shift, day, week, month, or None for the range)."""
    check_range(start_ns, end_ns)
    refs = machines_under(plant, asset)
    spans = periods(PlantCalendar(plant.calendar), start_ns, end_ns, by)  # type: ignore[arg-type]
    if len(spans) > MAX_PERIODS:
        raise InputError(
            f"{len(spans)} periods by {by}: at most {MAX_PERIODS}; shorten the range or ask "
            "by a longer period"
        )
    readings = readings or Readings(plant, historian)
    per_machine = {
        ref.path: machine_periods(plant, ref, historian, spans, readings) for ref in refs
    }
    out = []
    for i, p in enumerate(spans):
        results = [per_machine[ref.path][i] for ref in refs]
        if len(refs) == 1:
            out.append(AssetOee(p, refs[0].path, results[0], (results[0],)))
            continue
        out.append(AssetOee(p, asset, aggregate(plant, refs, results, asset), tuple(results)))
    return out


def aggregate(plant: Plant, refs: list[MachineRef], results: list[Oee], asset: str) -> Oee:
    """A line's OEE as configured; above a line, the lines' weighted by planned time."""
    lines: dict[str, list[tuple[MachineRef, Oee]]] = {}
    for ref, r in zip(refs, results, strict=True):
        line_path = ref.path.rsplit("/", 1)[0]
        lines.setdefault(line_path, []).append((ref, r))
    line_results = []
    for members in lines.values():
        line = members[0][0].line
        bottleneck = max(members, key=lambda m: m[0].machine.ideal_cycle_time)[0].path
        line_results.append(line_oee([r for _, r in members], line.oee, bottleneck=bottleneck))
    if len(line_results) == 1:
        return line_results[0]
    return line_oee(line_results, "weighted", asset=asset)


def asset_stop_reasons(
    plant: Plant,
    historian: Historian,
    asset: str,
    start_ns: int,
    end_ns: int,
    readings: Readings | None = None,
) -> list[StopReason]:
    """The Pareto of stops of every machine at or below ``asset``, added up by reason."""
    check_range(start_ns, end_ns)
    calendar = PlantCalendar(plant.calendar)
    planned = planned_stops_for(calendar, start_ns, end_ns)
    totals: dict[str, tuple[float, int]] = {}
    for ref in machines_under(plant, asset):
        history, _ = (readings or Readings(plant, historian)).of(ref, start_ns, end_ns)
        for r in stop_reasons(history, planned, micro_stop_s(ref)):
            seconds, stops = totals.get(r.reason, (0.0, 0))
            totals[r.reason] = (seconds + r.seconds, stops + r.stops)
    return sorted((StopReason(k, s, n) for k, (s, n) in totals.items()), key=lambda r: -r.seconds)


__all__ = [
    "AssetOee",
    "asset_oee",
    "asset_stop_reasons",
    "combine",
    "machine_periods",
    "machines_under",
]
