"""Energy, cost and carbon against cases computed by hand: the trapezoid rule, a counter with
a reset, kWh per state, time-of-use tariffs on the days clocks change in Europe/Berlin."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from andon.core import NS_PER_S, parse_time
from andon.core.machine_state import MachineState as M
from andon.kpi.energy import (
    energy_cost,
    energy_report,
    from_counter,
    from_power,
    kwh_by_state,
    tariff_windows,
)
from andon.plant import example_plant, load_plant
from andon.plant.model import Calendar
from andon.plant.production import Carbon, Costs
from andon.state.history import StateHistory

S = NS_PER_S
H = 3600 * S


def test_trapezoid() -> None:
    # 0 kW at 0 h, 10 kW at 1 h, 10 kW at 2 h: ramp 0–1 h = 5 kWh, then 10 kWh.
    curve = from_power([0, H, 2 * H], [0.0, 10.0, 10.0])
    assert curve.kwh(0, 2 * H) == pytest.approx(15.0)
    # At 0.5 h: 0.5 h × (0 + 5 kW) / 2 = 1.25 kWh; at 1.5 h: 5 + 0.5 × 10 = 10 -> 8.75.
    assert curve.kwh(H // 2, 3 * H // 2) == pytest.approx(8.75)
    # Outside the samples nothing is counted.
    assert curve.kwh(-H, 0) == 0.0
    assert curve.kwh(2 * H, 3 * H) == 0.0
    assert curve.kwh(-H, 5 * H) == pytest.approx(15.0)
    # Vectorised: the same intervals at once.
    np.testing.assert_allclose(curve.kwh_in([0, H // 2], [H, 3 * H // 2]), [5.0, 8.75])


def test_gap_is_not_integrated() -> None:
    # 4 kW samples at 0, 1 min, then nothing until 2 h: with max_gap 5 min only 1 min counts.
    curve = from_power([0, 60 * S, 2 * H, 2 * H + 60 * S], [4.0] * 4, max_gap_s=300)
    assert curve.kwh(0, 3 * H) == pytest.approx(2 * 4.0 / 60)  # 2 min × 4 kW
    assert curve.covered_s(0, 3 * H) == pytest.approx(120)


def test_unordered_and_nan_samples() -> None:
    curve = from_power([H, 0, 2 * H, 3 * H], [2.0, 2.0, float("nan"), 2.0])
    assert curve.kwh(0, 3 * H) == pytest.approx(6.0)  # 3 h × 2 kW, the NaN dropped


def test_counter_with_reset() -> None:
    # 100 -> 105 (+5), reset to 2 (+2), -> 4 (+2): 9 kWh.
    curve = from_counter([0, H, 2 * H, 3 * H], [100.0, 105.0, 2.0, 4.0])
    assert curve.kwh(0, 3 * H) == pytest.approx(9.0)
    # Linear within readings: at 0.5 h 2.5 kWh, at 2.5 h 7 + 1 = 8 kWh -> 5.5.
    assert curve.kwh(H // 2, 5 * H // 2) == pytest.approx(5.5)


def test_kwh_per_state() -> None:
    # A constant 6 kW: running 1 h = 6 kWh, idle 0.5 h = 3 kWh, down 0.5 h = 3 kWh.
    curve = from_power([0, 2 * H], [6.0, 6.0])
    h = StateHistory.of(
        "m", 0, 2 * H, [(0, M.RUNNING, ""), (H, M.IDLE, ""), (3 * H // 2, M.DOWN, "")]
    )
    by = kwh_by_state(curve, h)
    assert by["running"] == pytest.approx(6.0)
    assert by["idle"] == pytest.approx(3.0)
    assert by["down"] == pytest.approx(3.0)
    assert by["setup"] == 0.0
    assert by["no_data"] == 0.0
    assert sum(by.values()) == pytest.approx(curve.kwh(0, 2 * H))


def berlin(tariffs: list[dict[str, Any]]) -> Calendar:
    return Calendar.model_validate({"timezone": "Europe/Berlin", "tariffs": tariffs})


NIGHT = {"name": "night", "start": "22:00", "end": "06:00", "price_per_kwh": 0.10}
DAY = {"name": "day", "start": "06:00", "end": "22:00", "price_per_kwh": 0.30}


def one_kw(start: int, end: int) -> Any:
    """A constant 1 kW, sampled every 15 min."""
    ts = np.arange(start, end + 1, 15 * 60 * S, dtype=np.int64)
    return from_power(ts, np.ones(len(ts)))


def test_tariff_window_across_spring_clock_change() -> None:
    # Berlin, Sunday 2026-03-29: 02:00 CET -> 03:00 CEST. From Saturday 22:00 CET (21:00 UTC)
    # to Sunday 22:00 CEST (20:00 UTC) is 23 h. Night: 22:00 CET -> 06:00 CEST = 21:00 -> 04:00
    # UTC = 7 h = 7 kWh × 0.10 = 0.70; day 04:00 -> 20:00 UTC = 16 kWh × 0.30 = 4.80.
    start = parse_time("2026-03-28T21:00:00Z")
    end = parse_time("2026-03-29T20:00:00Z")
    cal = berlin([NIGHT, DAY])
    wins = [(w.name, w.start, w.end) for w in tariff_windows(cal, start, end)]
    assert wins == [
        ("night", start, parse_time("2026-03-29T04:00:00Z")),
        ("day", parse_time("2026-03-29T04:00:00Z"), end),
    ]
    cost = energy_cost(one_kw(start - H, end + H), cal, start, end)
    assert cost.kwh == pytest.approx(23.0)
    assert cost.by_tariff["night"] == pytest.approx((7.0, 0.70))
    assert cost.by_tariff["day"] == pytest.approx((16.0, 4.80))
    assert cost.cost == pytest.approx(5.50)
    assert cost.unpriced_kwh == 0.0
    assert cost.currency == "EUR"


def test_tariff_window_across_autumn_clock_change() -> None:
    # Sunday 2026-10-25: 03:00 CEST -> 02:00 CET. Night 22:00 CEST Sat (20:00 UTC) -> 06:00 CET
    # Sun (05:00 UTC) = 9 h = 9 kWh × 0.10 = 0.90.
    start = parse_time("2026-10-24T20:00:00Z")
    end = parse_time("2026-10-25T05:00:00Z")
    cost = energy_cost(one_kw(start - H, end + H), berlin([NIGHT, DAY]), start, end)
    assert cost.by_tariff["night"] == pytest.approx((9.0, 0.90))
    assert "day" not in cost.by_tariff  # no day window overlaps the range
    assert cost.cost == pytest.approx(0.90)


def test_outside_every_tariff_flat_price_or_unpriced() -> None:
    # Only the day tariff on the spring day: the 7 night hours are unpriced, or at 0.20 flat.
    start = parse_time("2026-03-28T21:00:00Z")
    end = parse_time("2026-03-29T20:00:00Z")
    curve = one_kw(start - H, end + H)
    unpriced = energy_cost(curve, berlin([DAY]), start, end)
    assert unpriced.unpriced_kwh == pytest.approx(7.0)
    assert unpriced.priced_kwh == pytest.approx(16.0)
    assert unpriced.cost == pytest.approx(4.80)
    flat = energy_cost(curve, berlin([DAY]), start, end, flat_price_per_kwh=0.20)
    assert flat.unpriced_kwh == 0.0
    assert flat.by_tariff["flat"] == pytest.approx((7.0, 1.40))
    assert flat.cost == pytest.approx(6.20)


def test_overlapping_tariffs_first_declared_wins() -> None:
    # "peak" 08:00–12:00 declared before "day" 06:00–22:00: on 2026-06-01 (CEST, UTC+2)
    # 06:00–22:00 local = 16 kWh: 4 at 0.50, 12 at 0.30.
    peak = {"name": "peak", "start": "08:00", "end": "12:00", "price_per_kwh": 0.50}
    start = parse_time("2026-06-01T04:00:00Z")
    end = parse_time("2026-06-01T20:00:00Z")
    cost = energy_cost(one_kw(start, end), berlin([peak, DAY]), start, end)
    assert cost.by_tariff["peak"] == pytest.approx((4.0, 2.0))
    assert cost.by_tariff["day"] == pytest.approx((12.0, 3.6))


def test_carbon_and_per_unit_report() -> None:
    # The spring day again: 23 kWh, 0.4 kg CO2e/kWh = 9.2 kg; 46 parts made, 40 good:
    # 0.5 kWh and 0.2 kg per unit; cost 5.50 / 46 per unit, 5.50 / 40 per good.
    plant = load_plant(example_plant("job_shop")).model_copy(
        update={
            "calendar": berlin([NIGHT, DAY]),
            "carbon": Carbon(grid_kg_co2e_per_kwh=0.4),
            "costs": Costs(),
        }
    )
    start = parse_time("2026-03-28T21:00:00Z")
    end = parse_time("2026-03-29T20:00:00Z")
    history = StateHistory.of(
        "m", start, end, [(start, M.IDLE, ""), (start + 7 * H, M.RUNNING, "")]
    )
    r = energy_report(
        one_kw(start - H, end + H),
        plant,
        start,
        end,
        asset="m",
        total=46,
        good=40,
        history=history,
    )
    assert r.kwh == pytest.approx(23.0)
    assert r.kwh_per_unit == pytest.approx(0.5)
    assert r.kwh_per_good == pytest.approx(23 / 40)
    assert r.kg_co2e == pytest.approx(9.2)
    assert r.kg_co2e_per_unit == pytest.approx(0.2)
    assert r.cost_per_unit == pytest.approx(5.50 / 46)
    assert r.cost_per_good == pytest.approx(5.50 / 40)
    assert r.by_state["idle"] == pytest.approx(7.0)  # what the idle machine burnt overnight
    assert r.by_state["running"] == pytest.approx(16.0)
    assert r.problems == ()
    # No units: per unit undefined; no emission factor: no CO2e, and said so.
    bare = energy_report(
        one_kw(start, end),
        plant.model_copy(update={"carbon": None}),
        start,
        end,
        asset="m",
        total=0,
        good=0,
    )
    assert bare.kwh_per_unit is None
    assert bare.cost_per_good is None
    assert bare.kg_co2e is None
    assert any("emission factor" in p for p in bare.problems)
