"""Baseline against pilot: deltas of any KPI dict, and the ROI estimate normalised to the
pilot period (hand-computed figures next to each assertion)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from andon.core.errors import InputError
from andon.kpi.compare import MIN_STATE_DATA, compare, comparison, roi, roi_refusals
from andon.kpi.oee import LOSSES, STOP_LABELS, Oee
from andon.plant.production import Costs

T0 = 1_780_000_000 * 10**9


def period(planned_h: float, run_h: float, total: int, scrap: int, no_data_h: float = 0.0) -> Oee:
    """An ``Oee`` with just what ROI reads: planned and run time, time without state data (a
    stop, so not run time), parts and scrap; OEE = run / planned (every part ideal and good)."""
    planned, run = planned_h * 3600, run_h * 3600
    return Oee(
        asset="acme/p/a/l/m1",
        start_ns=T0,
        end_ns=T0 + (int(planned * 1e9) or 1),
        all_time_s=planned,
        planned_s=planned,
        run_s=run,
        net_run_s=run,
        fully_productive_s=run,
        losses=dict.fromkeys(LOSSES, 0.0),
        stops_by_state=dict.fromkeys(STOP_LABELS, 0.0) | {"no_data": no_data_h * 3600},
        total=total,
        good=total - scrap,
        scrap=scrap,
        rework=0,
        availability=run / planned if planned else None,
        performance=None,
        quality=None,
        oee=run / planned if planned else None,
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


def test_roi_is_refused_when_a_period_has_no_planned_time() -> None:
    # Undefined OEE is not OEE 0: no downtime "saved" against a baseline that planned nothing.
    base, pilot = period(0, 0, 0, 0), period(8, 7, 100, 2)
    (reason,) = roi_refusals(base, pilot)
    assert reason.startswith("no ROI estimate: the baseline (2026-05-28T")
    assert "no planned production time" in reason and "OEE is undefined" in reason
    with pytest.raises(InputError, match=r"baseline .* no planned production time"):
        roi(base, pilot, COSTS, energy_baseline_kwh=0.0, energy_pilot_kwh=50.0)
    # the KPIs that are defined still compare; the ROI is None and the reason is a problem
    c = comparison(base, pilot, COSTS, baseline_kpis={"Scrap ratio": None}, pilot_kpis={})
    assert c.roi is None and c.problems == (reason,)
    deltas = {d.name: d for d in c.deltas}
    assert deltas["oee"].baseline is None and deltas["oee"].pilot == pytest.approx(7 / 8)
    assert deltas["oee"].delta is None
    assert c.to_dict()["roi"] is None and c.to_dict()["problems"] == [reason]


def test_roi_is_refused_when_a_period_has_no_state_data() -> None:
    # 8 planned hours all without state data: "down" only because nothing was recorded.
    # Estimated as before, it would "save" (1 − 0.1) × 8 h × 500 = 3600 against this baseline.
    blind, pilot = period(8, 0, 0, 0, no_data_h=8), period(8, 7.2, 100, 2)
    (reason,) = roi_refusals(blind, pilot)
    assert "the baseline" in reason and "no state data for any of its 8.00 planned hours" in reason
    # mostly blind (2 h of 8 with data): refused too, saying how much data there is
    (reason,) = roi_refusals(period(8, 1, 10, 0), period(8, 1, 10, 0, no_data_h=6))
    assert "the pilot" in reason and "state data for only 2.00 h of its 8.00" in reason
    assert MIN_STATE_DATA == 0.5
    c = comparison(blind, pilot, COSTS)
    assert c.roi is None and "no state data" in c.problems[0]
    # both periods at once: each named
    assert [r.split("(")[0] for r in roi_refusals(blind, period(0, 0, 0, 0))] == [
        "no ROI estimate: the baseline ",
        "no ROI estimate: the pilot ",
    ]


def test_parts_without_run_time_refuse_the_roi() -> None:
    orphans = replace(period(8, 0, 40, 0), oee=None, teep=None)  # as oee() leaves them
    (reason,) = roi_refusals(period(8, 7, 100, 2), orphans)
    assert "the pilot" in reason and "40 parts judged without run time" in reason


def test_some_missing_state_data_is_estimated_and_said() -> None:
    # The pilot lacks state data for 1 of its 8 h: counted as downtime, and said so.
    base, pilot = period(8, 6, 100, 2), period(8, 6.5, 100, 2, no_data_h=1)
    assert roi_refusals(base, pilot) == ()
    r = roi(base, pilot, COSTS)
    assert r.downtime_hours_saved == pytest.approx(0.5)  # (2/8 − 1.5/8) × 8 h
    assert any(
        "pilot has no state data for 1.00 of its 8.00 planned hours" in a for a in r.assumptions
    )
    assert not any("baseline has no state data" in a for a in r.assumptions)
    c = comparison(base, pilot, COSTS)
    assert c.roi == r and c.problems == ()


def test_a_period_without_parts_leaves_only_scrap_and_energy_undefined() -> None:
    r = roi(
        period(8, 6, 0, 0),
        period(8, 7, 100, 2),
        COSTS,
        energy_baseline_kwh=0.0,
        energy_pilot_kwh=50.0,
    )
    assert r.downtime_saving == pytest.approx(500.0)  # (0.25 − 0.125) × 8 h × 500
    assert r.scrap_saving is None and r.energy_saving is None
    assert r.total_saving == pytest.approx(500.0)
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
