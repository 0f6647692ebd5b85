"""Baseline against pilot: every KPI in both periods with its change, and what the change is
worth from the plant's configured costs.

``compare`` works on any KPI dict (OEE's ratios, ISO 22400-2's, energy per unit): ``delta`` is
pilot − baseline in the KPI's own unit (for a ratio, 0.05 is 5 percentage points),
``delta_pct`` the relative change in percent of the baseline (None when the baseline is 0 or
either value is undefined).

``roi`` estimates the value of the pilot period's improvement **normalised to the pilot's own
volume and time**, so periods of different length compare fairly:

- downtime: (baseline − pilot) stop time per planned hour (stop time = planned production time
  − run time: breakdowns and setups) × the pilot's planned hours × ``downtime_per_hour``;
- scrap: (baseline − pilot) scrapped parts per part produced × the pilot's parts produced ×
  ``scrap_per_part``;
- energy: (baseline − pilot) kWh per unit × the pilot's units × the price of a kWh.

That is: "had the pilot period run at the baseline's rates, it would have cost this much more".
A negative figure is a loss. A component whose rate is undefined in either period (no parts, no
energy data) is None and said so in ``assumptions``; the total adds up the defined ones.

No estimate at all when a period's OEE is undefined or unknown — no planned production time,
state data for less than half of it (``MIN_STATE_DATA``), parts judged without run time: time
without state data counts as downtime, so such a period would read as an OEE near 0 and the
"saving" would be the missing data's. ``roi_refusals`` says which period lacks what;
``comparison`` then keeps the KPIs that are defined and returns no ROI with those reasons in
``problems``. Less missing state data is estimated with, and said in ``assumptions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from andon.core.clock import iso
from andon.core.errors import InputError
from andon.kpi.oee import Oee
from andon.plant.production import Costs

OEE_KEYS = ("availability", "performance", "quality", "oee", "teep")
"""The OEE ratios ``comparison`` puts before the ISO 22400 KPIs."""
MIN_STATE_DATA = 0.5
"""The least share of a period's planned production time with state data for an ROI estimate:
time without it counts as downtime, so below this the "saving" would mostly be missing data."""


@dataclass(frozen=True)
class Delta:
    """One KPI in both periods."""

    name: str
    baseline: float | None
    pilot: float | None
    delta: float | None
    delta_pct: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "baseline": self.baseline,
            "pilot": self.pilot,
            "delta": self.delta,
            "delta_pct": self.delta_pct,
        }


def compare(
    baseline: Mapping[str, float | None],
    pilot: Mapping[str, float | None],
    names: Sequence[str] | None = None,
) -> list[Delta]:
    """Each KPI of ``names`` (default: the baseline's, then those only the pilot has) in both
    periods; a KPI missing from one side is None there."""
    keys = list(names) if names is not None else list(dict.fromkeys([*baseline, *pilot]))
    out = []
    for key in keys:
        b, p = baseline.get(key), pilot.get(key)
        delta = p - b if b is not None and p is not None else None
        pct = delta / abs(b) * 100.0 if delta is not None and b else None
        out.append(Delta(key, b, p, delta, pct))
    return out


@dataclass(frozen=True)
class Roi:
    """The estimated value of the pilot's improvement over the baseline (see the module), in
    the plant's currency, for the pilot period."""

    downtime_hours_saved: float | None
    downtime_saving: float | None
    scrap_parts_saved: float | None
    scrap_saving: float | None
    energy_kwh_saved: float | None
    energy_saving: float | None
    total_saving: float
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "downtime_hours_saved": self.downtime_hours_saved,
            "downtime_saving": self.downtime_saving,
            "scrap_parts_saved": self.scrap_parts_saved,
            "scrap_saving": self.scrap_saving,
            "energy_kwh_saved": self.energy_kwh_saved,
            "energy_saving": self.energy_saving,
            "total_saving": self.total_saving,
            "assumptions": list(self.assumptions),
        }


def _rate(num: float | None, den: float) -> float | None:
    return num / den if num is not None and den > 0 else None


def _no_data_s(period: Oee) -> float:
    """Planned time lost as stops without state data (the ``no_data`` breakdowns)."""
    return period.stops_by_state.get("no_data", 0.0)


def roi_refusals(baseline: Oee, pilot: Oee) -> tuple[str, ...]:
    """Why no ROI can be estimated from these periods (empty: it can): for each period whose
    OEE is undefined or unknown, which period and what it lacks."""
    reasons = []
    for which, p in (("baseline", baseline), ("pilot", pilot)):
        span = f"the {which} ({iso(p.start_ns)} .. {iso(p.end_ns)})"
        if p.planned_s <= 0:
            reasons.append(
                f"{span} has no planned production time (outside every shift, a holiday, or "
                "planned stops only): its OEE is undefined"
            )
        elif (known := p.planned_s - _no_data_s(p)) < MIN_STATE_DATA * p.planned_s:
            covered = (
                "no state data for any"
                if known <= 1e-9 * p.planned_s
                else f"state data for only {known / 3600:.2f} h"
            )
            reasons.append(
                f"{span} has {covered} of its {p.planned_s / 3600:.2f} planned hours; time "
                "without it counts as downtime, so its OEE would measure the missing data, not "
                "the machines — were the machines' state signals recorded?"
            )
        elif p.oee is None:
            reasons.append(
                f"{span} has an undefined OEE ({p.total} parts judged without run time): "
                "is the state signal right?"
            )
    return tuple(f"no ROI estimate: {r}" for r in reasons)


def roi(
    baseline: Oee,
    pilot: Oee,
    costs: Costs,
    *,
    energy_baseline_kwh: float | None = None,
    energy_pilot_kwh: float | None = None,
    units_baseline: int | None = None,
    units_pilot: int | None = None,
    energy_price_per_kwh: float | None = None,
) -> Roi:
    """The ROI estimate from ``costs`` (see the module). Energy per unit uses ``units_*``
    (default: the parts produced, ``Oee.total``); the price of a kWh is
    ``energy_price_per_kwh`` (e.g. the pilot's mean tariff price), else
    ``costs.energy_per_kwh``. Raises ``InputError`` when ``roi_refusals`` names a reason."""
    refusals = roi_refusals(baseline, pilot)
    if refusals:
        raise InputError("; ".join(refusals))
    notes = [
        "normalised to the pilot period: the baseline's rates applied to the pilot's planned "
        "time and volume",
        "downtime = planned production time − run time (breakdowns and setups)",
    ]

    # Downtime: stop hours per planned hour (both periods have planned time: not refused).
    b_rate = (baseline.planned_s - baseline.run_s) / baseline.planned_s
    p_rate = (pilot.planned_s - pilot.run_s) / pilot.planned_s
    hours = (b_rate - p_rate) * pilot.planned_s / 3600.0
    downtime = hours * costs.downtime_per_hour
    notes.append(f"an hour of downtime costs {costs.downtime_per_hour:g}")
    for which, p in (("baseline", baseline), ("pilot", pilot)):
        if _no_data_s(p) > 0:
            notes.append(
                f"the {which} has no state data for {_no_data_s(p) / 3600:.2f} of its "
                f"{p.planned_s / 3600:.2f} planned hours, counted as downtime: the downtime "
                "saving is only as good as that data"
            )

    # Scrap: scrapped parts per part produced.
    b_scrap = _rate(baseline.scrap, baseline.total)
    p_scrap = _rate(pilot.scrap, pilot.total)
    parts: float | None = None
    scrap: float | None = None
    if b_scrap is None or p_scrap is None:
        which = "baseline" if b_scrap is None else "pilot"
        notes.append(f"scrap saving undefined: the {which} produced no parts")
    else:
        parts = (b_scrap - p_scrap) * pilot.total
        scrap = parts * costs.scrap_per_part
        notes.append(f"a scrapped part costs {costs.scrap_per_part:g}; rework is not costed")

    # Energy: kWh per unit.
    ub = baseline.total if units_baseline is None else units_baseline
    up = pilot.total if units_pilot is None else units_pilot
    b_kwh = _rate(energy_baseline_kwh, ub)
    p_kwh = _rate(energy_pilot_kwh, up)
    kwh: float | None = None
    energy: float | None = None
    price = energy_price_per_kwh if energy_price_per_kwh is not None else costs.energy_per_kwh
    if b_kwh is None or p_kwh is None:
        if energy_baseline_kwh is None or energy_pilot_kwh is None:
            notes.append("energy saving not estimated: no energy data for both periods")
        else:
            notes.append("energy saving undefined: a period made no units")
    else:
        kwh = (b_kwh - p_kwh) * up
        if price is None:
            notes.append("energy saving in kWh only: no price of a kWh configured")
        else:
            energy = kwh * price
            notes.append(f"a kWh costs {price:g}")

    total = sum(v for v in (downtime, scrap, energy) if v is not None)
    return Roi(hours, downtime, parts, scrap, kwh, energy, total, tuple(notes))


@dataclass(frozen=True)
class Comparison:
    """Baseline against pilot: every KPI's delta, the ROI estimate (None when refused) and the
    problems a reader must see: why there is no ROI, and each period's data problems."""

    deltas: tuple[Delta, ...]
    roi: Roi | None
    problems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "deltas": [d.to_dict() for d in self.deltas],
            "roi": None if self.roi is None else self.roi.to_dict(),
            "problems": list(self.problems),
        }


def comparison(
    baseline: Oee,
    pilot: Oee,
    costs: Costs,
    *,
    baseline_kpis: Mapping[str, float | None] | None = None,
    pilot_kpis: Mapping[str, float | None] | None = None,
    energy_baseline_kwh: float | None = None,
    energy_pilot_kwh: float | None = None,
) -> Comparison:
    """The OEE ratios (``OEE_KEYS``) and the given KPIs (e.g. ISO 22400's) of both periods
    compared, with the ROI estimate unless ``roi_refusals`` names a reason: then the KPIs
    that are defined still come back, and the reasons are in ``problems``."""
    b = {k: getattr(baseline, k) for k in OEE_KEYS} | dict(baseline_kpis or {})
    t = {k: getattr(pilot, k) for k in OEE_KEYS} | dict(pilot_kpis or {})
    refusals = roi_refusals(baseline, pilot)
    estimate = (
        None
        if refusals
        else roi(
            baseline,
            pilot,
            costs,
            energy_baseline_kwh=energy_baseline_kwh,
            energy_pilot_kwh=energy_pilot_kwh,
        )
    )
    seen = (
        f"{which}: {p}"
        for which, r in (("baseline", baseline), ("pilot", pilot))
        for p in r.problems
    )
    return Comparison(tuple(compare(b, t)), estimate, tuple(dict.fromkeys((*refusals, *seen))))
