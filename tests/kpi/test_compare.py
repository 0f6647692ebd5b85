"""Baseline against pilot: deltas of any KPI dict, and the ROI estimate normalised to the
pilot period (hand-computed figures next to each assertion)."""

from __future__ import annotations

import pytest

from andon.kpi.compare import compare, roi
from andon.kpi.oee import LOSSES, STOP_LABELS, Oee
from andon.plant.production import Costs


def period(planned_h: float, run_h: float, total: int, scrap: int) -> Oee:
    """An ``Oee`` with just what ROI reads: planned and run time, parts and scrap."""
    planned, run = planned_h * 3600, run_h * 3600
    return Oee(
        asset="acme/p/a/l/m1",
        start_ns=0,
        end_ns=int(planned * 1e9) or 1,
        all_time_s=planned,
        planned_s=planned,
        run_s=run,
        net_run_s=run,
        fully_productive_s=run,
        losses=dict.fromkeys(LOSSES, 0.0),
        stops_by_state=dict.fromkeys(STOP_LABELS, 0.0),
        total=total,
        good=total - scrap,
        scrap=scrap,
        rework=0,
        availability=run / planned if planned else None,
        performance=None,
        quality=None,
        oee=None,
        utilization=None,
        teep=None,
    )


def test_deltas() -> None:
    baseline = {"oee": 0.5, "mttr_s": 600.0, "undefined": None, "zero": 0.0, "gone": 1.0}
    pilot = {"oee": 0.6, "mttr_s": 450.0, "undefined": 0.3, "zero": 0.1, "new": 2.0}
    d = {x.name: x for x in compare(baseline, pilot)}
    assert [x.name for x in compare(baseline, pilot)] == [
        "oee",
        "mttr_s",
        "undefined",
        "zero",
        "gone",
        "new",
    ]
    assert d["oee"].delta == pytest.approx(0.1)  # 10 percentage points
    assert d["oee"].delta_pct == pytest.approx(20.0)  # 0.1 / 0.5
    assert d["mttr_s"].delta == pytest.approx(-150.0)
    assert d["mttr_s"].delta_pct == pytest.approx(-25.0)
    assert (d["undefined"].delta, d["undefined"].delta_pct) == (None, None)
    assert d["zero"].delta == pytest.approx(0.1)
    assert d["zero"].delta_pct is None  # no relative change from 0
    assert (d["gone"].pilot, d["gone"].delta) == (None, None)
    assert (d["new"].baseline, d["new"].delta) == (None, None)
    only = compare(baseline, pilot, names=["oee"])
    assert [x.name for x in only] == ["oee"]
    assert only[0].to_dict()["delta_pct"] == pytest.approx(20.0)


COSTS = Costs(downtime_per_hour=500.0, scrap_per_part=20.0, energy_per_kwh=0.25)


def test_roi_normalised_to_the_pilot_period() -> None:
    # Baseline 10 planned h, 8 run h (0.2 h down per planned h); 1000 parts, 50 scrap (5%);
    # 2000 kWh (2 kWh/unit). Pilot twice as long: 20 h, 18 run h (0.1); 2400 parts, 48 scrap
    # (2%); 4320 kWh (1.8 kWh/unit). Both periods lost 2 h: un-normalised, no saving at all.
    base, pilot = period(10, 8, 1000, 50), period(20, 18, 2400, 48)
    r = roi(base, pilot, COSTS, energy_baseline_kwh=2000, energy_pilot_kwh=4320)
    assert r.downtime_hours_saved == pytest.approx(2.0)  # (0.2 − 0.1) × 20 h
    assert r.downtime_saving == pytest.approx(1000.0)  # 2 h × 500
    assert r.scrap_parts_saved == pytest.approx(72.0)  # (0.05 − 0.02) × 2400
    assert r.scrap_saving == pytest.approx(1440.0)  # 72 × 20
    assert r.energy_kwh_saved == pytest.approx(480.0)  # (2 − 1.8) × 2400
    assert r.energy_saving == pytest.approx(120.0)  # 480 × 0.25
    assert r.total_saving == pytest.approx(2560.0)
    assert any("normalised to the pilot" in a for a in r.assumptions)
    # An explicit price (e.g. the pilot's mean tariff price) overrides the flat one.
    r2 = roi(
        base,
        pilot,
        COSTS,
        energy_baseline_kwh=2000,
        energy_pilot_kwh=4320,
        energy_price_per_kwh=0.5,
    )
    assert r2.energy_saving == pytest.approx(240.0)
    # Energy per good unit instead: 2000/950 vs 4320/2352 kWh per unit, × 2352 units.
    r3 = roi(
        base,
        pilot,
        COSTS,
        energy_baseline_kwh=2000,
        energy_pilot_kwh=4320,
        units_baseline=950,
        units_pilot=2352,
    )
    assert r3.energy_kwh_saved == pytest.approx((2000 / 950 - 4320 / 2352) * 2352)


def test_roi_worse_pilot_is_a_loss() -> None:
    r = roi(period(10, 9, 100, 1), period(10, 8, 100, 3), COSTS)
    assert r.downtime_saving == pytest.approx(-500.0)  # (0.1 − 0.2) × 10 h × 500
    assert r.scrap_saving == pytest.approx(-40.0)  # (0.01 − 0.03) × 100 × 20
    assert r.energy_saving is None
    assert r.total_saving == pytest.approx(-540.0)
    assert any("no energy data" in a for a in r.assumptions)


def test_roi_baseline_without_planned_time() -> None:
    r = roi(
        period(0, 0, 0, 0),
        period(8, 7, 100, 2),
        COSTS,
        energy_baseline_kwh=0.0,
        energy_pilot_kwh=50.0,
    )
    assert r.downtime_hours_saved is None
    assert r.downtime_saving is None
    assert r.scrap_saving is None
    assert r.energy_saving is None
    assert r.total_saving == 0.0
    assert any("baseline has no planned production time" in a for a in r.assumptions)
    assert any("baseline produced no parts" in a for a in r.assumptions)
    assert any("made no units" in a for a in r.assumptions)


def test_roi_without_energy_price() -> None:
    r = roi(
        period(10, 8, 1000, 50),
        period(20, 18, 2400, 48),
        Costs(),
        energy_baseline_kwh=2000,
        energy_pilot_kwh=4320,
    )
    assert r.energy_kwh_saved == pytest.approx(480.0)
    assert r.energy_saving is None
    assert any("no price of a kWh" in a for a in r.assumptions)
    assert r.to_dict()["energy_kwh_saved"] == pytest.approx(480.0)
