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
A negative figure is a loss. A component whose rate is undefined in either period (no planned
time, no parts, no energy data) is None and said so in ``assumptions``; the total adds up the
defined ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from andon.kpi.oee import Oee
from andon.plant.production import Costs


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
    ``costs.energy_per_kwh``."""
    notes = [
        "normalised to the pilot period: the baseline's rates applied to the pilot's planned "
        "time and volume",
        "downtime = planned production time − run time (breakdowns and setups)",
    ]

    # Downtime: stop hours per planned hour.
    b_rate = _rate(baseline.planned_s - baseline.run_s, baseline.planned_s)
    p_rate = _rate(pilot.planned_s - pilot.run_s, pilot.planned_s)
    hours: float | None = None
    downtime: float | None = None
    if b_rate is None or p_rate is None:
        which = "baseline" if b_rate is None else "pilot"
        notes.append(f"downtime saving undefined: the {which} has no planned production time")
    else:
        hours = (b_rate - p_rate) * pilot.planned_s / 3600.0
        downtime = hours * costs.downtime_per_hour
        notes.append(f"an hour of downtime costs {costs.downtime_per_hour:g}")

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
