"""OEE for any asset of the plant — a machine, a line, an area, the site — over periods.

The glue between the rooms: a machine's state history and parts come from ``andon.state``
(derived from the historian), its planned time from the calendar, its ideal cycle times from
plant.yaml; ``kpi.oee`` does the arithmetic. A line's OEE comes from its bottleneck machine
or is weighted by planned time, as ``plant.yaml`` says (``line.oee``), and the result says
which; an area's and the site's are their lines' weighted by planned time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from andon.core.clock import now_ns
from andon.core.errors import InputError
from andon.historian import Historian
from andon.kpi.kept import Keeper, KeptOee, KeptStops, margin_ns
from andon.kpi.oee import Oee, combine, ideal_for, line_oee, oee_periods
from andon.kpi.pareto import PeriodStops, StopReason, add_stops, stops_in_periods
from andon.kpi.periods import BY, By, Period, periods, planned_stops_for
from andon.plant import MachineRef, Plant, PlantCalendar
from andon.state.counts import read_parts
from andon.state.derive import derive
from andon.state.history import Parts, StateHistory

T = TypeVar("T")
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
        self.since_ns = historian.clock_ns()
        """When the first of these readings may have been read, by the database's clock: a
        result computed from them is as old as that (``kpi.kept``)."""

    def of(self, ref: MachineRef, start_ns: int, end_ns: int) -> tuple[StateHistory, Parts]:
        key = (ref.path, start_ns, end_ns)
        found = self._kept.get(key)
        if found is not None:
            return found
        for (path, lo, hi), (history, parts) in self._kept.items():
            if path == ref.path and lo <= start_ns and end_ns <= hi:
                return history.clip(start_ns, end_ns), parts.within(start_ns, end_ns)
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


Compute = Callable[[StateHistory, Parts, list[Period]], list[T]]
"""One machine's results for consecutive periods from its history and parts read around
them."""


@dataclass(frozen=True)
class Keeping(Generic[T]):
    """One question's kept results of one kind: the keeper (None when no period asked for can
    be kept), what it found kept per machine, and which periods may be kept."""

    kept: Keeper[T] | None
    known: dict[str, dict[int, T]]
    keepable: frozenset[int]

    @classmethod
    def of(
        cls,
        keeper: type[Keeper[T]],
        plant: Plant,
        historian: Historian,
        refs: Sequence[MachineRef],
        spans: Sequence[Period],
        by: By | None,
    ) -> Keeping[T]:
        keepable = whole_periods(plant, spans, by)
        kept = keeper(plant, historian) if keepable else None
        margins = [margin_ns(r, micro_stop_s(r)) for r in refs]
        known = kept.lookup(refs, spans, margins) if kept else {}
        return cls(kept, known, keepable)


def per_period(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    spans: Sequence[Period],
    compute: Compute[T],
    readings: Readings | None = None,
    keeping: Keeping[T] | None = None,
) -> list[T]:
    """One machine's result of one kind in each period.

    The history is read once per run of consecutive periods not in ``found`` (results kept
    earlier), from the machine's margin before the run to the margin after it (never past
    now): a stop that crosses a period's edge is measured whole (a 10-minute breakdown split
    1 + 9 is still a breakdown in both periods), so a period's result does not depend on the
    range it was asked with. With ``keeping``, its results kept earlier are used and those of
    its keepable periods that are closed are kept for the next question.
    """
    if not spans:
        return []
    kept = keeping.kept if keeping is not None else None
    keepable = keeping.keepable if keeping is not None else frozenset()
    found = dict(keeping.known.get(ref.path, {})) if keeping is not None else {}
    missing = [i for i in range(len(spans)) if i not in found]
    now = kept.now_ns if kept is not None else now_ns()
    margin = margin_ns(ref, micro_stop_s(ref))
    for run in _runs(missing):
        start, end = spans[run[0]].start_ns, spans[run[-1]].end_ns
        readings = readings or Readings(plant, historian)
        history, parts = readings.of(ref, start - margin, max(end, min(end + margin, now)))
        results = compute(history, parts, [spans[i] for i in run])
        found.update(zip(run, results, strict=True))
        if kept is not None:
            done = [(spans[i], r) for i, r in zip(run, results, strict=True) if i in keepable]
            kept.keep(ref, done, readings.since_ns, margin)
    return [found[i] for i in range(len(spans))]


def machine_periods(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    spans: Sequence[Period],
    readings: Readings | None = None,
    keeping: Keeping[Oee] | None = None,
) -> list[Oee]:
    """One machine's OEE in each period (``per_period``)."""
    calendar = PlantCalendar(plant.calendar)

    def compute(history: StateHistory, parts: Parts, run: list[Period]) -> list[Oee]:
        return oee_periods(
            history,
            parts,
            [(p.start_ns, p.end_ns) for p in run],
            planned_stops=planned_stops_for(calendar, run[0].start_ns, run[-1].end_ns),
            ideal_s=ideal_for(ref.machine),
            micro_stop_s=micro_stop_s(ref),
        )

    return per_period(plant, ref, historian, spans, compute, readings, keeping)


def _runs(indexes: list[int]) -> list[list[int]]:
    """Consecutive indexes grouped: each group is read from the historian in one go."""
    runs: list[list[int]] = []
    for i in indexes:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def whole_periods(plant: Plant, spans: Sequence[Period], by: By | None) -> frozenset[int]:
    """Indexes of the periods that are whole calendar periods (the first and last may be
    clipped to the range asked for; an arbitrary range is never one)."""
    if by is None or not spans:
        return frozenset()
    calendar = PlantCalendar(plant.calendar)
    whole = set(range(len(spans)))
    for i in {0, len(spans) - 1}:
        p = spans[i]
        around = periods(calendar, p.start_ns - 1, p.end_ns + 1, by)
        if not any((q.start_ns, q.end_ns) == (p.start_ns, p.end_ns) for q in around):
            whole.discard(i)
    return frozenset(whole)


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
    period_by: By | None = next((b for b in BY if b == by), None)
    if len(spans) > MAX_PERIODS:
        raise InputError(
            f"{len(spans)} periods by {by}: at most {MAX_PERIODS}; shorten the range or ask "
            "by a longer period"
        )
    readings = readings or Readings(plant, historian)
    keeping = Keeping.of(KeptOee, plant, historian, refs, spans, period_by)
    per_machine = {
        ref.path: machine_periods(plant, ref, historian, spans, readings, keeping) for ref in refs
    }
    out = []
    for i, p in enumerate(spans):
        results = [per_machine[ref.path][i] for ref in refs]
        if len(refs) == 1:
            out.append(AssetOee(p, refs[0].path, results[0], (results[0],)))
            continue
        out.append(AssetOee(p, asset, aggregate(plant, refs, results, asset), tuple(results)))
    return out


def _lines(refs: Sequence[MachineRef]) -> dict[str, list[MachineRef]]:
    lines: dict[str, list[MachineRef]] = {}
    for ref in refs:
        lines.setdefault(ref.path.rsplit("/", 1)[0], []).append(ref)
    return lines


def bottleneck_of(members: Sequence[MachineRef]) -> str:
    """A line's bottleneck among ``members`` (its machines): plant.yaml's ``bottleneck`` when
    it is among them (a machine id shared by several lines brings one machine of each), else
    the slowest ideal cycle time."""
    line = members[0].line
    named = [ref.path for ref in members if ref.machine.id == line.bottleneck]
    return named[0] if named else max(members, key=lambda m: m.machine.ideal_cycle_time).path


def counted_machines(refs: Sequence[MachineRef]) -> set[str]:
    """The machines whose figures make up the asset's: a bottleneck line's bottleneck, every
    machine of a weighted line (what times and failures of the asset must be taken from, so
    that its ratios relate like to like)."""
    out: set[str] = set()
    for members in _lines(refs).values():
        if members[0].line.oee == "bottleneck":
            out.add(bottleneck_of(members))
        else:
            out.update(ref.path for ref in members)
    return out


def aggregate(plant: Plant, refs: list[MachineRef], results: list[Oee], asset: str) -> Oee:
    """A line's OEE as configured; above a line, the lines' weighted by planned time."""
    by_path = {ref.path: r for ref, r in zip(refs, results, strict=True)}
    line_results = [
        line_oee(
            [by_path[ref.path] for ref in members],
            members[0].line.oee,
            bottleneck=bottleneck_of(members),
        )
        for members in _lines(refs).values()
    ]
    if len(line_results) == 1:
        return line_results[0]
    return line_oee(line_results, "weighted", asset=asset)


def machine_stops(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    spans: Sequence[Period],
    readings: Readings | None = None,
    keeping: Keeping[PeriodStops] | None = None,
) -> list[PeriodStops]:
    """One machine's stops by reason in each period (``per_period``, ``pareto``)."""
    calendar = PlantCalendar(plant.calendar)

    def compute(history: StateHistory, parts: Parts, run: list[Period]) -> list[PeriodStops]:
        # planned stops over the whole history read: a stop is measured whole
        planned = planned_stops_for(calendar, history.start_ns, history.end_ns)
        spans = [(p.start_ns, p.end_ns) for p in run]
        return stops_in_periods(history, planned, micro_stop_s(ref), spans)

    return per_period(plant, ref, historian, spans, compute, readings, keeping)


def pieces_of(plant: Plant, start_ns: int, end_ns: int) -> tuple[list[Period], By]:
    """The periods a range is added up from when no period was asked for: its shifts, so that
    its closed ones are kept, unless they leave time between them or are more than
    ``MAX_PERIODS``; then its days (pieces must cover the range: a stop is followed from one
    into the next)."""
    calendar = PlantCalendar(plant.calendar)
    spans = periods(calendar, start_ns, end_ns, "shift")
    if len(spans) <= MAX_PERIODS and covers(spans, start_ns, end_ns):
        return spans, "shift"
    return periods(calendar, start_ns, end_ns, "day"), "day"


def covers(spans: Sequence[Period], start_ns: int, end_ns: int) -> bool:
    """Whether ``spans`` (ordered) cover ``[start_ns, end_ns)`` without a hole."""
    at = start_ns
    for p in spans:
        if p.start_ns > at:
            return False
        at = max(at, p.end_ns)
    return at >= end_ns


def stops_by_machine(
    plant: Plant,
    historian: Historian,
    refs: Sequence[MachineRef],
    spans: Sequence[Period],
    by: By | None,
    readings: Readings | None = None,
) -> dict[str, list[PeriodStops]]:
    """Each machine's stops in each of ``spans`` (the periods ``by`` of a range), the closed
    whole ones kept."""
    readings = readings or Readings(plant, historian)
    keeping = Keeping.of(KeptStops, plant, historian, refs, spans, by)
    return {
        ref.path: machine_stops(plant, ref, historian, spans, readings, keeping) for ref in refs
    }


def asset_stop_reasons(
    plant: Plant,
    historian: Historian,
    asset: str,
    start_ns: int,
    end_ns: int,
    readings: Readings | None = None,
) -> list[StopReason]:
    """The Pareto of stops of every machine at or below ``asset``, added up by reason, from
    the range's shifts (``pareto``: a range's Pareto is its periods' added up)."""
    check_range(start_ns, end_ns)
    refs = machines_under(plant, asset)
    spans, by = pieces_of(plant, start_ns, end_ns)
    per_machine = stops_by_machine(plant, historian, refs, spans, by, readings)
    return add_stops(per_machine.values())


__all__ = [
    "AssetOee",
    "Keeping",
    "asset_oee",
    "asset_stop_reasons",
    "bottleneck_of",
    "combine",
    "counted_machines",
    "covers",
    "machine_periods",
    "machine_stops",
    "machines_under",
    "per_period",
    "pieces_of",
    "stops_by_machine",
]
