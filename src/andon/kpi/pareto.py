"""The Pareto of stops: where the planned time went, by the reason of each stop.

A stop's reason is the one an operator gave it (``state.reason``), else the one its signal
carried (the virtual plant's "breakdown", "no work", "changeover to B"), else its state. Stops
are counted inside planned production time only; unplanned stops shorter than the micro-stop
threshold are gathered under "small stops", as in the OEE.

Over periods (``stops_in_periods``) a stop is measured whole, as in the OEE: its length, for
whether it is small, from its start to its end even across a period's edge; its planned
seconds go to the periods they fall in. A period counts the stops that began in it and lost
planned time in it, and names the stop crossing its start and the one crossing its end (a
machine has one state at a time, so at most one each); adding up consecutive periods
(``add_stops``) follows a stop across their edges and counts it once, in the first period
where it lost planned time. So a range's Pareto is its periods' added up, whatever the
range, and each closed period's can be kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from andon.core.machine_state import MachineState
from andon.plant.calendar import Interval
from andon.state.history import NO_DATA, StateHistory

_NOT_STOPS = {int(MachineState.RUNNING), int(MachineState.PLANNED_STOP)}
SMALL_STOPS = "small stops"
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class StopReason:
    reason: str
    seconds: float
    stops: int


@dataclass(frozen=True, slots=True)
class ReasonLoss:
    """One reason's stops in one period: planned seconds lost in it, and how many stops began
    in it and lost planned time in it."""

    reason: str
    seconds: float
    begun: int


@dataclass(frozen=True, slots=True)
class Crossing:
    """The stop under way at a period's edge (a machine has at most one at any instant)."""

    reason: str
    seconds: float
    """At the period's start: its planned seconds in the period."""
    through: bool = False
    """At the period's end: it is also the one under way at the start (it spans the period)."""
    counted: bool = False
    """At the period's end, when it began in the period: it lost planned time there (so it
    is among the period's ``begun``)."""


@dataclass(frozen=True, slots=True)
class PeriodStops:
    """One machine's stops in one period: by reason, and the stops crossing its start
    (``head``) and its end (``tail``), which link it to the periods beside it."""

    reasons: tuple[ReasonLoss, ...] = ()
    head: Crossing | None = None
    tail: Crossing | None = None


def _label(code: int) -> str:
    return "no data" if code == NO_DATA else MachineState(code).label.replace("_", " ")


def _planned_clock(planned_stops: Sequence[Interval]) -> tuple[I64, I64]:
    """Starts and ends of the planned stops, merged and ordered, for ``_planned_at``."""
    spans = sorted((s.start, s.end) for s in planned_stops if s.end > s.start)
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return (
        np.array([m[0] for m in merged], dtype=np.int64),
        np.array([m[1] for m in merged], dtype=np.int64),
    )


def _planned_at(t: I64, clock: tuple[I64, I64]) -> I64:
    """Planned production time (ns) elapsed up to each ``t`` from a fixed origin: ``t`` less
    the planned stops before it. The planned time of ``[a, b)`` is ``f(b) - f(a)``."""
    s, e = clock
    if not len(s):
        return t.copy()
    lengths = e - s
    before = np.concatenate(([0], np.cumsum(lengths)))
    k = np.searchsorted(s, t, side="right")  # stops starting at or before t
    last = np.clip(k - 1, 0, None)
    inside = np.where(k > 0, np.clip(t - s[last], 0, lengths[last]), 0)
    out: I64 = t - before[np.clip(k - 1, 0, None)] * (k > 0) - inside
    return out


def _stops(history: StateHistory) -> tuple[list[str], I64, I64, list[int]]:
    """The stops of a history: a stop runs over consecutive stop intervals of one reason.
    Returns each stop's reason, start and end index (inclusive) and its first state code."""
    states = history.states
    keys: list[str] = []
    first: list[int] = []
    last: list[int] = []
    codes: list[int] = []
    for i, code in enumerate(states.tolist()):
        if code in _NOT_STOPS:
            continue
        reason = history.reasons[i] or _label(code)
        if last and last[-1] == i - 1 and keys[-1] == reason:
            last[-1] = i
            continue
        keys.append(reason)
        first.append(i)
        last.append(i)
        codes.append(code)
    return keys, np.array(first, dtype=np.int64), np.array(last, dtype=np.int64), codes


def stops_in_periods(
    history: StateHistory,
    planned_stops: Sequence[Interval],
    micro_stop_s: float,
    spans: Sequence[tuple[int, int]],
) -> list[PeriodStops]:
    """Each span's stops by reason, longest first, with the stops crossing its edges (see
    the module); ``spans`` ordered and not overlapping, within the history."""
    keys, first, last, codes = _stops(history)
    out: list[PeriodStops] = [PeriodStops() for _ in spans]
    if not keys or not spans:
        return out
    ends = history.ends()
    a, b = history.starts[first], ends[last]
    clock = _planned_clock(planned_stops)
    length_s = (b - a) / 1e9
    code = np.array(codes, dtype=np.int64)
    short = (code == int(MachineState.MICRO_STOP)) | (
        (code != int(MachineState.SETUP)) & (length_s < micro_stop_s)
    )
    ps = np.array([s[0] for s in spans], dtype=np.int64)
    pe = np.array([s[1] for s in spans], dtype=np.int64)
    # the spans each stop overlaps: from the first ending after its start to the last
    # starting before its end
    k0 = np.searchsorted(pe, a, side="right")
    k1 = np.searchsorted(ps, b, side="left") - 1
    count = np.clip(k1 - k0 + 1, 0, None)
    stop = np.repeat(np.arange(len(keys)), count)
    offset = np.arange(len(stop)) - np.repeat(np.cumsum(count) - count, count)
    span = np.repeat(k0, count) + offset
    lo = np.maximum(a[stop], ps[span])
    hi = np.minimum(b[stop], pe[span])
    seconds = (_planned_at(hi, clock) - _planned_at(lo, clock)) / 1e9
    begun = (a[stop] >= ps[span]) & (seconds > 0)
    totals: list[dict[str, list[float]]] = [{} for _ in spans]
    heads: list[Crossing | None] = [None] * len(spans)
    tails: list[Crossing | None] = [None] * len(spans)
    head_of: dict[int, int] = {}
    pairs = zip(stop.tolist(), span.tolist(), seconds.tolist(), begun.tolist(), strict=True)
    for j, k, sec, bg in pairs:
        key = SMALL_STOPS if short[j] else keys[j]
        starts_before = int(a[j]) < int(ps[k])
        if starts_before:
            heads[k] = Crossing(key, sec)
            head_of[k] = j
        if int(b[j]) > int(pe[k]):
            tails[k] = Crossing(key, 0.0, through=head_of.get(k) == j, counted=bool(bg))
        if sec > 0:
            entry = totals[k].setdefault(key, [0.0, 0])
            entry[0] += sec
            entry[1] += bg
    for k, found in enumerate(totals):
        reasons = sorted(
            (ReasonLoss(key, v[0], int(v[1])) for key, v in found.items()),
            key=lambda r: (-r.seconds, r.reason),
        )
        out[k] = PeriodStops(tuple(reasons), heads[k], tails[k])
    return out


def add_stops(machines: Iterable[Sequence[PeriodStops]]) -> list[StopReason]:
    """A range's Pareto from each machine's stops in its consecutive periods (which must
    cover the range without a hole): seconds and stops begun added up; a stop crossing from
    one period into the next is the same stop, counted once, in the first period where it
    lost planned time (one already under way at the range's start included); reasons without
    planned time lost left out; longest total first."""
    totals: dict[str, list[float]] = {}
    for pieces in machines:
        carried: bool | None = None  # the stop crossing into this period: counted yet?
        for piece in pieces:
            for r in piece.reasons:
                entry = totals.setdefault(r.reason, [0.0, 0])
                entry[0] += r.seconds
                entry[1] += r.begun
            counted = False
            if piece.head is not None:
                counted = bool(carried)
                if not counted and piece.head.seconds > 0:
                    totals.setdefault(piece.head.reason, [0.0, 0])[1] += 1
                    counted = True
            tail = piece.tail
            carried = None if tail is None else (counted if tail.through else tail.counted)
    return sorted(
        (StopReason(k, v[0], int(v[1])) for k, v in totals.items() if v[0] > 0),
        key=lambda r: (-r.seconds, r.reason),
    )


def stop_reasons(
    history: StateHistory, planned_stops: Sequence[Interval], micro_stop_s: float
) -> list[StopReason]:
    """Stops in planned time by reason over the whole history, longest total first."""
    spans = [(history.start_ns, history.end_ns)]
    return add_stops([stops_in_periods(history, planned_stops, micro_stop_s, spans)])
