"""ISO 22400-2 (manufacturing operations management KPIs) from what andon records.

Definitions used: ISO 22400-2:2014, the KPI formulas as the standard states them, with the
time elements as it defines them:

- **PBT** (planned busy time) = andon's planned production time (``Oee.planned_s``).
- **APT** (actual production time, "the time during which a work unit is producing; only the
  value-adding functions") = time in ``RUNNING`` inside PBT = ``run_s − small_stops`` (OEE's
  run time also holds the small stops; APT does not).
- **AUST** (actual unit setup time) = ``SETUP`` time (the OEE setup loss).
- **ADET** (actual unit delay time, "malfunction-caused interrupts, minor stoppages, and other
  unplanned time intervals … that lead to unwanted extension of the order processing time") =
  ``DOWN`` stops at least the micro-stop threshold long (malfunctions) + every small stop
  (``MICRO_STOP`` and the unplanned stops of any state shorter than the threshold).
- **ADOT** (actual unit down time, "the work unit is not running with orders, although it is
  available") = ``IDLE``, ``STARVED`` and ``BLOCKED`` stops at least the threshold long, and
  time without state data (``NO_DATA``: unknown, so not counted as busy).

  Note: the standard's words put malfunctions in ADET and "available but not producing" in
  ADOT; some secondary sources swap the two. andon follows the standard's text.
- **AUPT** (actual unit processing time, "setup and production") = APT + AUST.
- **AUBT** (actual unit busy time, "used for the execution of a production order") =
  AUPT + ADET = APT + AUST + ADET, so that PBT = AUBT + ADOT.
- **AOET** (actual order execution time, start to end of a production order) = Σ over orders
  of the span from its first to its last part judged (``order_execution_s``; the first part's
  own processing time is not in it). Unavailable without order numbers.
- **PQ, GQ, SQ, RQ** = parts judged, good, scrap, rework (``Oee.total/good/scrap/rework``).
- **PRI** (planned runtime per item) = the ideal cycle time; with several products
  PRI × PQ is Σ ideal cycle time × count = ``Oee.net_run_s``.

Because APT excludes small stops, ISO availability (APT/PBT) is below OEE availability and ISO
effectiveness (PRI×PQ/APT) above OEE performance; their product and the OEE index agree with
OEE when one product is made (quality ratio GQ/PQ counts parts, not ideal time).

Every KPI is returned as a ``KpiValue``; one andon cannot compute names the missing input in
``missing``. A ratio whose denominator is zero is ``None`` with nothing missing (undefined).

Every ratio here is meant to lie between 0 and 1 (0 to 100 %); with the elements above some
can come out higher (AOET is measured from parts, not from order release to completion; PRI is
the configured ideal cycle time). Such a value is kept, never clipped, and ``notes`` says why it
can happen and which data to check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from andon.core.clock import NS_PER_S
from andon.core.machine_state import MachineState
from andon.kpi.oee import Oee
from andon.state.history import StateHistory


@dataclass(frozen=True)
class KpiValue:
    """One ISO 22400-2 KPI: ``value`` is None when undefined (zero denominator) or when
    ``missing`` names inputs andon does not have."""

    name: str
    value: float | None
    unit: str
    formula: str
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """What a reader must know about ``value`` (a ratio above 1: which data to check)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "formula": self.formula,
            "missing": list(self.missing),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class KpiInputs:
    """The ISO 22400-2 time and quantity elements (seconds, counts); None = not recorded."""

    asset: str
    pbt_s: float
    apt_s: float
    aust_s: float
    adet_s: float
    adot_s: float
    pq: int
    gq: int
    sq: int
    rq: int
    pri_x_pq_s: float
    """Σ PRI × PQ: the ideal time of every part produced (net run time)."""
    first_pass_good: int | None = None
    """Parts good the first time; None: GQ (every andon part record is a first judgement)."""
    inspected: int | None = None
    """Parts inspected; None: PQ."""
    aoet_s: float | None = None
    energy_kwh: float | None = None
    failures: int | None = None
    repair_s: tuple[float, ...] | None = None
    operating_s: float | None = None
    """Operating time (``RUNNING``) of the period, for MTBF."""
    to_failure_s: float | None = None
    """Operating time up to the start of the last failure, for MTTF."""
    corrective_maintenance_s: float | None = None
    preventive_maintenance_s: float | None = None
    apwt_s: float | None = None
    apat_s: float | None = None

    @property
    def aupt_s(self) -> float:
        return self.apt_s + self.aust_s

    @property
    def aubt_s(self) -> float:
        return self.apt_s + self.aust_s + self.adet_s


class Failures(NamedTuple):
    """Failures of a machine over a state history (see ``failures``)."""

    events: int
    """FE: the number of failures."""
    repair_s: tuple[float, ...]
    operating_s: float
    to_failure_s: float


def failures(history: StateHistory, micro_stop_s: float) -> Failures:
    """Failures = ``DOWN`` stops at least ``micro_stop_s`` long (consecutive ``DOWN`` intervals
    are one stop; a stop exactly at the threshold is a failure); repair time = each one's
    length; operating time = ``RUNNING`` time of the history; time to failure = ``RUNNING``
    time before the start of the last failure (for MTTF: the running after it has not yet
    ended in a failure). A ``DOWN`` stop cut by the history's edges is measured as seen."""
    starts, ends, states = history.starts, history.ends(), history.states
    lengths = ends - starts
    running = states == MachineState.RUNNING
    operating_ns = int(lengths[running].sum())
    down = states == MachineState.DOWN
    edges = np.flatnonzero(np.diff(np.concatenate(([0], down.astype(np.int8), [0]))))
    first, last = edges[0::2], edges[1::2] - 1
    stop_ns = ends[last] - starts[first]
    long_stop = stop_ns >= round(micro_stop_s * NS_PER_S)
    repair = tuple(float(x) / NS_PER_S for x in stop_ns[long_stop])
    to_failure_ns = 0
    if repair:
        last_start = int(starts[first[long_stop][-1]])
        before = running & (starts < last_start)
        to_failure_ns = int((np.minimum(ends[before], last_start) - starts[before]).sum())
    return Failures(len(repair), repair, operating_ns / NS_PER_S, to_failure_ns / NS_PER_S)


def order_execution_s(ts: Iterable[int], orders: Iterable[str | None]) -> float | None:
    """AOET: Σ over orders of (last part − first part) in seconds, from the parts' times and
    order numbers (the virtual plant's part events carry ``order``). Parts without an order
    are ignored; None when no part has one."""
    span: dict[str, list[int]] = {}
    for t, order in zip(ts, orders, strict=True):
        if not order:
            continue
        lo_hi = span.setdefault(order, [t, t])
        lo_hi[0] = min(lo_hi[0], t)
        lo_hi[1] = max(lo_hi[1], t)
    if not span:
        return None
    return sum(hi - lo for lo, hi in span.values()) / NS_PER_S


def inputs_from_oee(
    result: Oee,
    *,
    failure_data: Failures | None = None,
    aoet_s: float | None = None,
    energy_kwh: float | None = None,
    first_pass_good: int | None = None,
    inspected: int | None = None,
    corrective_maintenance_s: float | None = None,
    preventive_maintenance_s: float | None = None,
    apwt_s: float | None = None,
    apat_s: float | None = None,
) -> KpiInputs:
    """The ISO elements from an ``Oee`` (mapping in the module docstring) plus what OEE does
    not carry."""
    small = result.losses.get("small_stops", 0.0)
    by_state = result.stops_by_state
    return KpiInputs(
        asset=result.asset,
        pbt_s=result.planned_s,
        apt_s=result.run_s - small,
        aust_s=result.losses.get("setup", 0.0),
        adet_s=by_state.get("down", 0.0) + small,
        adot_s=sum(by_state.get(k, 0.0) for k in ("idle", "starved", "blocked", "no_data")),
        pq=result.total,
        gq=result.good,
        sq=result.scrap,
        rq=result.rework,
        pri_x_pq_s=result.net_run_s,
        first_pass_good=first_pass_good,
        inspected=inspected,
        aoet_s=aoet_s,
        energy_kwh=energy_kwh,
        failures=None if failure_data is None else failure_data.events,
        repair_s=None if failure_data is None else failure_data.repair_s,
        operating_s=None if failure_data is None else failure_data.operating_s,
        to_failure_s=None if failure_data is None else failure_data.to_failure_s,
        corrective_maintenance_s=corrective_maintenance_s,
        preventive_maintenance_s=preventive_maintenance_s,
        apwt_s=apwt_s,
        apat_s=apat_s,
    )


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def _product(*factors: float | None) -> float | None:
    out = 1.0
    for f in factors:
        if f is None:
            return None
        out *= f
    return out


_ABOVE_ONE_TOLERANCE = 1e-9
"""A ratio above 1 + this gets a note (float noise at exactly 1 does not)."""

_AOET = "AOET is measured from each order's first to its last part judged"
_ABOVE_ONE = {
    "Allocation ratio": (
        f"{_AOET}, so busy time before an order's first part (its setup, the first cycle), "
        "between orders and on parts without an order number is in AUBT but not in AOET; well "
        "above 1 points at a data problem: parts missing their order number, orders split or "
        "renumbered, or busy time recorded outside the orders"
    ),
    "Production process ratio": (
        f"{_AOET}, so producing time before an order's first part is judged (the first cycle), "
        "between orders and on parts without an order number is in APT but not in AOET; well "
        "above 1 points at a data problem: parts missing their order number, or orders split "
        "or renumbered"
    ),
    "Effectiveness": (
        "the parts' ideal time (PRI × PQ) exceeds the time spent producing (APT, small stops "
        "left out): a data problem — is an ideal cycle time too long, or were parts counted "
        "while the state said stopped?"
    ),
    "Overall equipment effectiveness index (OEE)": (
        "follows from an effectiveness above 1: is an ideal cycle time too long?"
    ),
    "Net equipment effectiveness index (NEE)": (
        "follows from an effectiveness above 1: is an ideal cycle time too long?"
    ),
    "Worker efficiency": "a data problem: more work time (APWT) than attendance (APAT)",
    "First pass yield": "a data problem: more parts good the first time than inspected",
}


def _above_one(k: KpiValue) -> KpiValue:
    """``k`` with a note when it is a ratio above 1, which none of these ratios should be: the
    value is kept (clipping would hide the data problem) and the note says where to look."""
    if k.unit != "ratio" or k.value is None or k.value <= 1 + _ABOVE_ONE_TOLERANCE:
        return k
    why = _ABOVE_ONE.get(k.name, "a data problem: check the inputs of " + k.formula)
    note = f"{k.value:.0%} is above 100%, more than this ratio can mean: {why}"
    return replace(k, notes=(*k.notes, note))


_NO_ORDERS = "AOET (actual order execution time): needs part events with order numbers"
_NO_FAILURES = "failures (DOWN stops of a state history): pass failure_data"


def iso22400(x: KpiInputs) -> list[KpiValue]:
    """Every ISO 22400-2 KPI of andon's list: production, then quality, maintenance, energy."""
    a = _ratio(x.apt_s, x.pbt_s)
    e = _ratio(x.pri_x_pq_s, x.apt_s)
    qr = _ratio(x.gq, x.pq)
    ue = _ratio(x.apt_s, x.aubt_s)
    aoet_missing = () if x.aoet_s is not None else (_NO_ORDERS,)
    fail_missing = () if x.failures is not None else (_NO_FAILURES,)
    fpy_good = x.gq if x.first_pass_good is None else x.first_pass_good
    fpy_inspected = x.pq if x.inspected is None else x.inspected
    cmt, pmt = x.corrective_maintenance_s, x.preventive_maintenance_s
    maint_missing = tuple(
        name
        for name, v in (
            ("CMT (corrective maintenance time), which andon does not record", cmt),
            ("PMT (preventive maintenance time), which andon does not record", pmt),
        )
        if v is None
    )
    worker_missing = tuple(
        name
        for name, v in (
            ("APWT (actual personnel work time), which andon does not record", x.apwt_s),
            ("APAT (actual personnel attendance time), which andon does not record", x.apat_s),
        )
        if v is None
    )
    failures_n = x.failures
    repair_total = None if x.repair_s is None else float(sum(x.repair_s))
    values = [
        KpiValue(
            "Worker efficiency", _ratio(x.apwt_s, x.apat_s), "ratio", "APWT / APAT", worker_missing
        ),
        KpiValue(
            "Allocation ratio", _ratio(x.aubt_s, x.aoet_s), "ratio", "AUBT / AOET", aoet_missing
        ),
        KpiValue(
            "Throughput rate", _ratio(x.pq * 3600.0, x.aoet_s), "units/h", "PQ / AOET", aoet_missing
        ),
        KpiValue("Allocation efficiency", _ratio(x.aubt_s, x.pbt_s), "ratio", "AUBT / PBT"),
        KpiValue("Utilization efficiency", ue, "ratio", "APT / AUBT"),
        KpiValue(
            "Overall equipment effectiveness index (OEE)",
            _product(a, e, qr),
            "ratio",
            "Availability × Effectiveness × Quality ratio",
        ),
        KpiValue(
            "Net equipment effectiveness index (NEE)",
            _product(ue, e, qr),
            "ratio",
            "Utilization efficiency × Effectiveness × Quality ratio",
        ),
        KpiValue("Availability", a, "ratio", "APT / PBT"),
        KpiValue("Effectiveness", e, "ratio", "PRI × PQ / APT"),
        KpiValue("Quality ratio", qr, "ratio", "GQ / PQ"),
        KpiValue("Setup rate", _ratio(x.aust_s, x.aupt_s), "ratio", "AUST / AUPT"),
        KpiValue(
            "Technical efficiency",
            _ratio(x.apt_s, x.apt_s + x.adet_s),
            "ratio",
            "APT / (APT + ADET)",
        ),
        KpiValue(
            "Production process ratio",
            _ratio(x.apt_s, x.aoet_s),
            "ratio",
            "APT / AOET",
            aoet_missing,
        ),
        KpiValue("Scrap ratio", _ratio(x.sq, x.pq), "ratio", "SQ / PQ"),
        KpiValue("Rework ratio", _ratio(x.rq, x.pq), "ratio", "RQ / PQ"),
        KpiValue(
            "First pass yield",
            _ratio(fpy_good, fpy_inspected),
            "ratio",
            "parts good the first time / parts inspected",
        ),
        KpiValue(
            "Mean operating time between failures (MTBF)",
            _ratio(x.operating_s, failures_n),
            "s",
            "operating time / FE",
            fail_missing,
        ),
        KpiValue(
            "Mean time to failure (MTTF)",
            _ratio(x.to_failure_s, failures_n),
            "s",
            "Σ TTF / FE",
            fail_missing,
        ),
        KpiValue(
            "Mean time to repair (MTTR)",
            _ratio(repair_total, failures_n),
            "s",
            "Σ TTR / FE",
            fail_missing,
        ),
        KpiValue(
            "Corrective maintenance ratio",
            None if maint_missing else _ratio(cmt, (cmt or 0.0) + (pmt or 0.0)),
            "ratio",
            "CMT / (CMT + PMT)",
            maint_missing,
        ),
        KpiValue(
            "Comprehensive energy consumption",
            _ratio(x.energy_kwh, x.pq),
            "kWh/unit",
            "energy consumed / PQ",
            ()
            if x.energy_kwh is not None
            else ("energy consumed: needs a power or energy-counter tag on the machine",),
        ),
    ]
    return [_above_one(k) for k in values]


def as_dict(values: Sequence[KpiValue]) -> dict[str, float | None]:
    """KPI name → value, the shape ``compare`` takes."""
    return {v.name: v.value for v in values}
