"""OEE, its six big losses, TEEP and utilization of one machine over a period, as arithmetic
on its state history and parts: no I/O, no clock, numpy over intervals.

The model (decided for andon; every figure is written in seconds):

- **All time** is the period. **Planned production time (PPT)** is all time minus the
  calendar's planned stops (breaks, time outside every shift, holidays) minus the intervals in
  which the machine itself reports ``PLANNED_STOP``. A plant without shifts is planned around
  the clock. Time of the period that the history does not cover counts as ``NO_DATA``.
- Inside PPT, by state:

  - ``RUNNING`` is run time (productive or not);
  - ``SETUP`` (any length) is the **setup and adjustments** loss;
  - a stop — ``DOWN``, ``IDLE``, ``STARVED``, ``BLOCKED`` or ``NO_DATA`` — at least
    ``micro_stop_s`` long is the **breakdowns** loss ("breakdowns and unplanned stops"). Its
    length is that of the whole contiguous stop (consecutive intervals of these states, before
    clipping to PPT or to the period — pass a longer history with ``start_ns``/``end_ns`` to
    measure stops that cross the period's edges whole). A stop exactly at the threshold is a
    breakdown. Breakdown time is also kept per state (``stops_by_state``) for the Pareto;
  - ``MICRO_STOP`` and the stops shorter than the threshold are the **small stops** loss.

- **Run time** = PPT − breakdowns − setup (small stops lie inside run time).
- Only parts judged inside PPT count. total = every part judged (a rework attempt is a part
  that was not good the first time); good = ``GOOD`` results.
- A part's ideal time is its product's ideal cycle time on the machine (``ideal_s``).
  **Net run time** = Σ ideal time of the counted parts; **reduced speed** = run time − small
  stops − net run time. It may come out negative: performance is then above 100%, which is
  reported as a data problem (an ideal cycle time too long?) and never clipped.
- **Fully productive time** = Σ ideal time of the good parts. **Start-up rejects** = Σ ideal
  time of the non-good parts made in a start-up window; **production rejects** = Σ ideal time
  of the other non-good parts.
- breakdowns + setup + small stops + reduced speed + start-up rejects + production rejects +
  fully productive = PPT, exactly up to float rounding.
- A = run / PPT, P = net run / run, Q = fully productive / net run (= good / total with one
  product), OEE = A·P·Q = fully productive / PPT, utilization = PPT / all time,
  TEEP = OEE · utilization = fully productive / all time. A ratio whose denominator is zero is
  ``None`` (undefined): never 0 and never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from andon.core.clock import NS_PER_S
from andon.core.machine_state import MachineState
from andon.plant.calendar import Interval
from andon.plant.model import Machine
from andon.state.history import GOOD, NO_DATA, REWORK, SCRAP, Parts, StateHistory

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

LOSSES = (
    "breakdowns",
    "setup",
    "small_stops",
    "reduced_speed",
    "startup_rejects",
    "production_rejects",
)
"""The six big losses, in the order of the loss waterfall."""

STOP_STATES = (
    MachineState.DOWN,
    MachineState.IDLE,
    MachineState.STARVED,
    MachineState.BLOCKED,
    NO_DATA,
)
"""States that are unplanned stops (a breakdown when long, a small stop when short)."""

STOP_LABELS = ("down", "idle", "starved", "blocked", "no_data")
"""``stops_by_state`` keys, one per ``STOP_STATES`` entry."""

_P_TOLERANCE = 1e-9
"""Performance above 1 + this is reported (float noise at exactly 100% is not)."""


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


@dataclass(frozen=True)
class Oee:
    """OEE with everything it is made of, for one asset and period (see the module).

    Times are seconds; for a line weighted by planned time they are machine-seconds (the
    machines' times added up). ``basis`` says how a line's figure was formed ("" for a
    machine).
    """

    asset: str
    start_ns: int
    end_ns: int
    all_time_s: float
    planned_s: float
    run_s: float
    net_run_s: float
    fully_productive_s: float
    losses: dict[str, float]
    stops_by_state: dict[str, float]
    total: int
    good: int
    scrap: int
    rework: int
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    utilization: float | None
    teep: float | None
    problems: tuple[str, ...] = ()
    basis: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain numbers, ``None`` for undefined ratios, lists for tuples."""
        return {
            "asset": self.asset,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "all_time_s": self.all_time_s,
            "planned_s": self.planned_s,
            "run_s": self.run_s,
            "net_run_s": self.net_run_s,
            "fully_productive_s": self.fully_productive_s,
            "losses": dict(self.losses),
            "stops_by_state": dict(self.stops_by_state),
            "total": self.total,
            "good": self.good,
            "scrap": self.scrap,
            "rework": self.rework,
            "availability": self.availability,
            "performance": self.performance,
            "quality": self.quality,
            "oee": self.oee,
            "utilization": self.utilization,
            "teep": self.teep,
            "problems": list(self.problems),
            "basis": self.basis,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Oee:
        """Back from ``to_dict`` (results kept for closed periods are stored so)."""
        return cls(**{**d, "problems": tuple(d.get("problems", ())), "basis": d.get("basis", "")})


@dataclass
class _Sums:
    """The additive parts of an ``Oee``; ratios follow from them."""

    all_time_s: float = 0.0
    planned_s: float = 0.0
    run_s: float = 0.0
    net_run_s: float = 0.0
    fully_productive_s: float = 0.0
    losses: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LOSSES, 0.0))
    stops_by_state: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(STOP_LABELS, 0.0)
    )
    total: int = 0
    good: int = 0
    scrap: int = 0
    rework: int = 0

    def add(self, r: Oee) -> None:
        self.all_time_s += r.all_time_s
        self.planned_s += r.planned_s
        self.run_s += r.run_s
        self.net_run_s += r.net_run_s
        self.fully_productive_s += r.fully_productive_s
        for k, v in r.losses.items():
            self.losses[k] = self.losses.get(k, 0.0) + v
        for k, v in r.stops_by_state.items():
            self.stops_by_state[k] = self.stops_by_state.get(k, 0.0) + v
        self.total += r.total
        self.good += r.good
        self.scrap += r.scrap
        self.rework += r.rework

    def result(
        self, asset: str, start_ns: int, end_ns: int, problems: Iterable[str], basis: str = ""
    ) -> Oee:
        orphans = self.run_s <= 0 and self.total > 0
        return Oee(
            asset=asset,
            start_ns=start_ns,
            end_ns=end_ns,
            all_time_s=self.all_time_s,
            planned_s=self.planned_s,
            run_s=self.run_s,
            net_run_s=self.net_run_s,
            fully_productive_s=self.fully_productive_s,
            losses=self.losses,
            stops_by_state=self.stops_by_state,
            total=self.total,
            good=self.good,
            scrap=self.scrap,
            rework=self.rework,
            availability=_ratio(self.run_s, self.planned_s),
            performance=_ratio(self.net_run_s, self.run_s),
            quality=_ratio(self.fully_productive_s, self.net_run_s),
            # parts judged without any run time are a data problem (reported): OEE is then
            # undefined, not the ratio of their ideal time to planned time
            oee=None if orphans else _ratio(self.fully_productive_s, self.planned_s),
            utilization=_ratio(self.planned_s, self.all_time_s),
            teep=None if orphans else _ratio(self.fully_productive_s, self.all_time_s),
            problems=tuple(dict.fromkeys(problems)),
            basis=basis,
        )


# ---------------------------------------------------------------- one machine


def oee(
    history: StateHistory,
    parts: Parts,
    *,
    planned_stops: Sequence[Interval],
    ideal_s: Callable[[str], float],
    micro_stop_s: float,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Oee:
    """OEE of ``history.asset`` over ``[start_ns, end_ns)`` (default: the history's range).

    ``planned_stops`` are the calendar's (any order, may overlap); ``ideal_s(product)`` gives a
    product's ideal cycle time in seconds; ``micro_stop_s`` is the breakdown threshold.
    """
    lo = history.start_ns if start_ns is None else start_ns
    hi = history.end_ns if end_ns is None else end_ns
    return oee_periods(
        history,
        parts,
        [(lo, hi)],
        planned_stops=planned_stops,
        ideal_s=ideal_s,
        micro_stop_s=micro_stop_s,
    )[0]


def oee_periods(
    history: StateHistory,
    parts: Parts,
    spans: Sequence[tuple[int, int]],
    *,
    planned_stops: Sequence[Interval],
    ideal_s: Callable[[str], float],
    micro_stop_s: float,
) -> list[Oee]:
    """``oee`` for each ``(start_ns, end_ns)`` span, in one vectorised pass over the history
    (the way to compute a month by shift). Stops are measured whole across span edges."""
    if not spans:
        return []
    ps = np.array([s[0] for s in spans], dtype=np.int64)
    pe = np.array([s[1] for s in spans], dtype=np.int64)
    if bool(np.any(pe <= ps)):
        raise ValueError("every OEE period must end after it starts")
    if len(spans) > 1 and not bool(np.all(ps[1:] >= pe[:-1])):
        # Overlapping or unordered periods: each on its own.
        return [
            oee_periods(
                history,
                parts,
                [s],
                planned_stops=planned_stops,
                ideal_s=ideal_s,
                micro_stop_s=micro_stop_s,
            )[0]
            for s in spans
        ]
    return _compute(history, parts, ps, pe, planned_stops, ideal_s, micro_stop_s)


def _merged(stops: Sequence[Interval]) -> tuple[I64, I64]:
    """Planned stops as sorted, disjoint ``[start, end)`` arrays."""
    if not stops:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    s = np.array([iv.start for iv in stops], dtype=np.int64)
    e = np.array([iv.end for iv in stops], dtype=np.int64)
    keep = e > s
    s, e = s[keep], e[keep]
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e) if len(e) else e
    new = np.ones(len(s), dtype=np.bool_)
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(s)) - 1
    return s[first], reach[last]


def _runs(mask: npt.NDArray[np.bool_]) -> I64:
    """The length of each run of consecutive ``True`` in ``mask``, in order."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return (edges[1::2] - edges[0::2]).astype(np.int64)


def _inside(t: I64, s: I64, e: I64) -> npt.NDArray[np.bool_]:
    """Whether each time lies in one of the disjoint sorted intervals ``[s, e)``."""
    if len(s) == 0:
        return np.zeros(len(t), dtype=np.bool_)
    k = np.searchsorted(s, t, side="right") - 1
    return (k >= 0) & (t < e[np.maximum(k, 0)])


def _compute(
    history: StateHistory,
    parts: Parts,
    ps: I64,
    pe: I64,
    planned_stops: Sequence[Interval],
    ideal_s: Callable[[str], float],
    micro_stop_s: float,
) -> list[Oee]:
    # The history, padded with NO_DATA to cover every period; unknown codes are NO_DATA too.
    t0 = min(history.start_ns, int(ps[0]))
    t1 = max(history.end_ns, int(pe[-1]))
    starts = history.starts
    states = np.where(history.states > max(MachineState), NO_DATA, history.states).astype(np.uint8)
    if t0 < history.start_ns:
        starts = np.concatenate(([t0], starts)).astype(np.int64)
        states = np.concatenate(([NO_DATA], states)).astype(np.uint8)
    if t1 > history.end_ns:
        starts = np.append(starts, np.int64(history.end_ns))
        states = np.append(states, np.uint8(NO_DATA))
    ends = np.append(starts[1:], np.int64(t1))

    # Whole contiguous stops: their length decides breakdown (>= threshold) or small stop.
    is_stop = np.isin(states, np.array([int(s) for s in STOP_STATES], dtype=np.uint8))
    lengths = ends - starts
    first = is_stop.copy()
    first[1:] &= ~is_stop[:-1]
    last = is_stop.copy()
    last[:-1] &= ~is_stop[1:]
    covered = np.concatenate(([0], np.cumsum(lengths)))
    stop_len = covered[np.flatnonzero(last) + 1] - covered[np.flatnonzero(first)]
    long_stop = np.zeros(len(states), dtype=np.bool_)
    long_stop[is_stop] = np.repeat(stop_len >= round(micro_stop_s * NS_PER_S), _runs(is_stop))

    # Elementary segments: cut at every state change, planned-stop edge and period edge.
    cs, ce = _merged(planned_stops)
    cuts = np.concatenate((starts, cs, ce, ps, pe, [t1])).astype(np.int64)
    bounds = np.unique(np.clip(cuts, t0, t1))
    seg = bounds[:-1]
    seg_len = np.diff(bounds)
    idx = np.searchsorted(starts, seg, side="right") - 1
    seg_state = states[idx]
    planned = ~_inside(seg, cs, ce) & (seg_state != MachineState.PLANNED_STOP)
    ppt = np.where(planned, seg_len, 0)
    seg_stop = is_stop[idx]
    seg_long = long_stop[idx]

    rows = [
        ppt,
        np.where(seg_state == MachineState.SETUP, ppt, 0),
        np.where((seg_state == MachineState.MICRO_STOP) | (seg_stop & ~seg_long), ppt, 0),
    ]
    rows += [np.where(seg_long & (seg_state == s), ppt, 0) for s in STOP_STATES]
    rows.append(np.where(seg_state == NO_DATA, ppt, 0))
    table = np.zeros((len(rows), len(seg) + 1), dtype=np.int64)
    np.cumsum(np.vstack(rows), axis=1, out=table[:, 1:])
    lo = np.searchsorted(seg, ps, side="left")
    hi = np.searchsorted(seg, pe, side="left")
    sums = ((table[:, hi] - table[:, lo]) / NS_PER_S).tolist()
    ppt_s, setup_s, small_s = sums[0], sums[1], sums[2]
    stops_s = sums[3 : 3 + len(STOP_STATES)]
    no_data_s = sums[3 + len(STOP_STATES)]

    # Parts: only those judged inside planned production time count.
    ts = parts.ts
    product, result, startup = parts.product, parts.result, parts.startup
    if len(ts) > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
        order = np.argsort(ts, kind="stable")
        ts, product, result, startup = ts[order], product[order], result[order], startup[order]
    ideal_of = np.array([float(ideal_s(p)) for p in parts.products] or [0.0], dtype=np.float64)
    in_range = (ts >= t0) & (ts < t1)
    p_idx = np.clip(np.searchsorted(starts, ts, side="right") - 1, 0, len(states) - 1)
    counted = (
        in_range & ~_inside(ts, cs, ce) & (states[p_idx] != MachineState.PLANNED_STOP)
    ).astype(np.int64)
    # Each part's period (n = none), then sums per period in one pass each.
    n = len(ps)
    j = np.searchsorted(ps, ts, side="right") - 1
    j = np.where((j >= 0) & (ts < pe[np.maximum(j, 0)]), j, n)
    jc = np.where(counted > 0, j, n)
    ideal = ideal_of[product] if len(ts) else np.zeros(0)
    good = result == GOOD
    bad = ~good

    def per_period(keys: I64, weights: F64 | None = None) -> list[float]:
        return np.bincount(keys, weights=weights, minlength=n + 1)[:n].tolist()  # type: ignore[no-any-return]

    count_rows = [
        per_period(jc),
        per_period(jc[good]),
        per_period(jc[result == SCRAP]),
        per_period(jc[result == REWORK]),
        per_period(j[counted == 0]),
    ]
    ideals = [
        per_period(jc, ideal),
        per_period(jc[good], ideal[good]),
        per_period(jc[bad & startup], ideal[bad & startup]),
        per_period(jc[bad & ~startup], ideal[bad & ~startup]),
    ]
    counts = [[int(x) for x in row] for row in count_rows]

    asset = history.asset
    out = []
    for k in range(n):
        start, end = int(ps[k]), int(pe[k])
        net_s, fully_s, startup_rej, prod_rej = (
            ideals[0][k],
            ideals[1][k],
            ideals[2][k],
            ideals[3][k],
        )
        breakdowns = sum(row[k] for row in stops_s)
        run_s = ppt_s[k] - breakdowns - setup_s[k]
        sums_j = _Sums(
            all_time_s=(end - start) / NS_PER_S,
            planned_s=ppt_s[k],
            run_s=run_s,
            net_run_s=net_s,
            fully_productive_s=fully_s,
            losses={
                "breakdowns": breakdowns,
                "setup": setup_s[k],
                "small_stops": small_s[k],
                "reduced_speed": run_s - small_s[k] - net_s,
                "startup_rejects": startup_rej,
                "production_rejects": prod_rej,
            },
            stops_by_state={label: row[k] for label, row in zip(STOP_LABELS, stops_s, strict=True)},
            total=counts[0][k],
            good=counts[1][k],
            scrap=counts[2][k],
            rework=counts[3][k],
        )
        problems = []
        if run_s > 0 and net_s > run_s * (1 + _P_TOLERANCE):
            made = np.unique(product[jc == k])
            problems.append(_too_fast(asset, net_s / run_s, parts.products, made, ideal_of))
        if run_s <= 0 and counts[0][k]:
            problems.append(
                f"{asset}: {counts[0][k]} parts judged in planned production time without "
                "run time — is the state signal right?"
            )
        if no_data_s[k] > 0:
            problems.append(
                f"{asset}: no state data for {no_data_s[k]:.0f} s of planned production time "
                "(counted as stops)"
            )
        if counts[4][k]:
            n = counts[4][k]
            problems.append(
                f"{asset}: {n} part{'s' if n != 1 else ''} judged outside planned production "
                "time not counted"
            )
        out.append(sums_j.result(asset, start, end, problems))
    return out


def _too_fast(
    asset: str,
    performance: float,
    products: tuple[str, ...],
    made: npt.NDArray[np.int32],
    ideal_of: F64,
) -> str:
    """The sentence for performance above 100%: the ideal cycle times to check."""
    named = [
        f"{products[int(i)]} ({ideal_of[int(i)]:g} s)" if products[int(i)] else None for i in made
    ]
    if len(named) == 1 and named[0] is not None:
        what = f"the ideal cycle time of product {named[0]}"
    elif named and all(n is not None for n in named):
        what = "the ideal cycle times of products " + ", ".join(n for n in named if n)
    else:
        what = "the ideal cycle time " + ", ".join(f"({ideal_of[int(i)]:g} s)" for i in made)
    return f"{asset}: performance {performance:.0%} — is {what.rstrip()} too long?"


def ideal_for(machine: Machine) -> Callable[[str], float]:
    """A product's ideal cycle time on ``machine`` (its ``cycle_times``, else its default)."""
    return machine.ideal_cycle_time_for


# ---------------------------------------------------------------- adding up


def combine(results: Sequence[Oee], how: Literal["sum"] = "sum") -> Oee:
    """One asset's periods as one: times and counts added, ratios recomputed (so the OEE of a
    day is its shifts' fully productive time over their planned time, not a mean of ratios)."""
    if how != "sum":
        raise ValueError(f"combine: unknown way {how!r}; expected 'sum'")
    if not results:
        raise ValueError("combine: no results to add up")
    assets = {r.asset for r in results}
    if len(assets) > 1:
        raise ValueError(f"combine adds periods of one asset, got {sorted(assets)}")
    total = _Sums()
    for r in results:
        total.add(r)
    return total.result(
        results[0].asset,
        min(r.start_ns for r in results),
        max(r.end_ns for r in results),
        merge_problems([p for r in results for p in r.problems]),
        results[0].basis,
    )


_FIGURE = re.compile(r"(?<![\w./-])\d+(?:\.\d+)?(?![\w/-])")
"""A figure of a sentence, not a digit of a name (``cell-1/mill-2``)."""
_ADDITIVE = re.compile(r"^\s(?:s\b|parts?\b)")
_PLURAL = re.compile(r" parts\b")
"""A figure followed by " s" or " part(s)" is a duration or a count: periods' add up."""


def merge_problems(problems: Sequence[str]) -> list[str]:
    """Several periods' problems said once each: the same sentence with other figures is one
    problem, its seconds or parts added up when it has one such figure (a month of shifts
    says "no state data for 5400 s" once, not ninety times), else said with how many periods
    it came from."""
    groups: dict[str, list[str]] = {}
    for p in problems:
        groups.setdefault(_PLURAL.sub(" part", _FIGURE.sub("#", p)), []).append(p)
    out = []
    for said in groups.values():
        first = said[0]
        figures = list(_FIGURE.finditer(first))
        if len(said) == 1:
            out.append(first)
        elif len(figures) == 1 and _ADDITIVE.match(first[figures[0].end() :]):
            total = sum(_figure(p) for p in said)
            text = f"{total:.0f}" if total == int(total) else f"{total:g}"
            rest = first[figures[0].end() :]
            if rest.startswith((" part ", " parts ")):  # "1 part", "2 parts"
                rest = (" part " if total == 1 else " parts ") + rest.split(" ", 2)[2]
            out.append(first[: figures[0].start()] + text + rest)
        else:
            out.append(f"{first} (in {len(said)} periods)")
    return out


def _figure(text: str) -> float:
    m = _FIGURE.search(text)
    return float(m.group()) if m is not None else 0.0


def _parent(assets: Sequence[str]) -> str:
    """The deepest path above all of ``assets`` (a line's path above its machines)."""
    parts = [a.split("/") for a in assets]
    common: list[str] = []
    for names in zip(*parts, strict=False):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    if len(common) == min(len(p) for p in parts):
        common = common[:-1]
    return "/".join(common)


def _named(result: Oee) -> list[str]:
    """``result``'s problems, each starting with the asset it is about: a machine's already
    do; one that names no asset at or below ``result.asset`` gets that path in front."""
    if not result.asset:
        return list(result.problems)
    own = (f"{result.asset}:", f"{result.asset}/")
    return [p if p.startswith(own) else f"{result.asset}: {p}" for p in result.problems]


def line_oee(
    results: Sequence[Oee],
    mode: Literal["bottleneck", "weighted"],
    bottleneck: str | None = None,
    *,
    asset: str | None = None,
) -> Oee:
    """A line's OEE from its machines' results of one period: the bottleneck machine's
    (``bottleneck``: its asset path or id), or weighted by planned time (times and counts
    added up, so OEE = Σ fully productive / Σ planned). ``basis`` says which; ``asset``
    defaults to the path above the machines. Either way ``problems`` holds every machine's,
    each led by the machine's asset path (the bottleneck's first)."""
    if not results:
        raise ValueError("line_oee: no machine results")
    name = asset if asset is not None else _parent([r.asset for r in results])
    if mode == "bottleneck":
        if bottleneck is None:
            raise ValueError("line_oee: mode 'bottleneck' needs the bottleneck machine")
        found = [r for r in results if r.asset == bottleneck or r.asset.endswith("/" + bottleneck)]
        if not found:
            raise ValueError(f"line_oee: bottleneck {bottleneck!r} is not among the machines")
        neck = found[0]
        # the figure is the bottleneck's, but no machine's data problem may vanish with it
        others = (p for r in results if r is not neck for p in _named(r))
        problems = tuple(dict.fromkeys((*_named(neck), *others)))
        return replace(neck, asset=name, basis=f"bottleneck {neck.asset}", problems=problems)
    if mode == "weighted":
        total = _Sums()
        for r in results:
            total.add(r)
        return total.result(
            name,
            min(r.start_ns for r in results),
            max(r.end_ns for r in results),
            (p for r in results for p in _named(r)),
            "weighted by planned time",
        )
    raise ValueError(f"line_oee: unknown mode {mode!r}; expected 'bottleneck' or 'weighted'")
