"""OEE, its six losses, TEEP and utilization against cases computed by hand (the arithmetic is
written next to each assertion)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from andon.core import NS_PER_S, parse_time
from andon.core.machine_state import MachineState as M
from andon.kpi import (
    LOSSES,
    Oee,
    combine,
    ideal_for,
    line_oee,
    oee,
    oee_periods,
    periods,
    planned_stops_for,
)
from andon.kpi.oee import merge_problems
from andon.plant import PlantCalendar
from andon.plant.calendar import Interval
from andon.plant.model import Calendar, Machine
from andon.state.history import NO_DATA, Parts, StateHistory

S = NS_PER_S
MIN = 60 * S
H = 3600 * S
ASSET = "acme/p/a/l/m1"


def berlin(shifts: list[dict[str, Any]] | None = None) -> PlantCalendar:
    return PlantCalendar(
        Calendar.model_validate({"timezone": "Europe/Berlin", "shifts": shifts or []})
    )


DAY_SHIFT = {
    "name": "early",
    "start": "06:00",
    "end": "14:00",
    "breaks": [{"start": "10:00", "duration": "30min", "name": "lunch"}],
}
NIGHT_SHIFT = {
    "name": "night",
    "start": "22:00",
    "end": "06:00",
    "breaks": [{"start": "02:00", "duration": "15min"}],
}


def t(local: str) -> int:
    """A Berlin local time in summer (UTC+2) or as written with its offset."""
    return parse_time(local if "+" in local[10:] else local + "+02:00")


def history(steps: list[tuple[int, M | int]], end: int, asset: str = ASSET) -> StateHistory:
    return StateHistory.of(asset, steps[0][0], end, [(s, st, "") for s, st in steps])


def every(start: int, n: int, step_s: float) -> list[int]:
    return [start + round(i * step_s * S) for i in range(n)]


def const(seconds: float) -> Any:
    return lambda product: seconds


def assert_adds_up(r: Oee) -> None:
    total = sum(r.losses.values()) + r.fully_productive_s
    assert total == pytest.approx(r.planned_s, abs=1e-6)
    assert set(r.losses) == set(LOSSES)


def test_simple_shift_with_a_break() -> None:
    # early shift 06:00–14:00 with lunch 10:00–10:30: all time 8 h = 28800 s,
    # PPT = 28800 − 1800 = 27000 s.
    cal = berlin([DAY_SHIFT])
    (shift,) = periods(cal, t("2026-06-15T00:00"), t("2026-06-15T20:00"), "shift")
    assert shift.name == "2026-06-15 early"
    h = history(
        [
            (t("2026-06-15T06:00"), M.RUNNING),
            (t("2026-06-15T08:00"), M.DOWN),  # 20 min ≥ 120 s → breakdown 1200 s
            (t("2026-06-15T08:20"), M.RUNNING),
            (t("2026-06-15T09:00"), M.MICRO_STOP),  # 60 s → small stop
            (t("2026-06-15T09:01"), M.RUNNING),
            (t("2026-06-15T10:00"), M.IDLE),  # lunch: outside PPT, no loss
            (t("2026-06-15T10:30"), M.SETUP),  # 30 min → setup 1800 s
            (t("2026-06-15T11:00"), M.RUNNING),
            (t("2026-06-15T12:00"), M.STARVED),  # 90 s < 120 s → small stop
            (t("2026-06-15T12:01:30"), M.RUNNING),
        ],
        t("2026-06-15T14:00"),
    )
    # 400 parts of A (ideal 50 s) from 11:00 every 9 s: 380 good, 4 start-up scrap,
    # 8 scrap, 8 rework; and one part in the lunch break (not counted).
    ts = every(t("2026-06-15T11:00"), 400, 9)
    rows: list[tuple[int, str, str, bool]] = []
    for i, ts_i in enumerate(ts):
        if i < 4:
            rows.append((ts_i, "A", "scrap", True))
        elif i < 12:
            rows.append((ts_i, "A", "scrap", False))
        elif i < 20:
            rows.append((ts_i, "A", "rework", False))
        else:
            rows.append((ts_i, "A", "good", False))
    rows.insert(0, (t("2026-06-15T10:10"), "A", "good", False))
    parts = Parts.of(ASSET, rows)
    r = oee(
        h,
        parts,
        planned_stops=planned_stops_for(cal, shift.start_ns, shift.end_ns),
        ideal_s=const(50),
        micro_stop_s=120,
    )
    assert r.all_time_s == 28800
    assert r.planned_s == 27000
    assert r.losses["breakdowns"] == 1200
    assert r.stops_by_state == {
        "down": 1200,
        "idle": 0,
        "starved": 0,
        "blocked": 0,
        "no_data": 0,
    }
    assert r.losses["setup"] == 1800
    assert r.losses["small_stops"] == 60 + 90
    assert r.run_s == 27000 - 1200 - 1800 == 24000
    assert (r.total, r.good, r.scrap, r.rework) == (400, 380, 12, 8)
    assert r.net_run_s == 400 * 50 == 20000
    assert r.losses["reduced_speed"] == 24000 - 150 - 20000 == 3850
    assert r.losses["startup_rejects"] == 4 * 50
    assert r.losses["production_rejects"] == (8 + 8) * 50
    assert r.fully_productive_s == 380 * 50 == 19000
    assert r.availability == pytest.approx(24000 / 27000)
    assert r.performance == pytest.approx(20000 / 24000)
    assert r.quality == pytest.approx(19000 / 20000)
    assert r.oee == pytest.approx(19000 / 27000)  # 70.4 %
    assert r.utilization == pytest.approx(27000 / 28800)
    assert r.teep == pytest.approx(19000 / 28800)
    assert_adds_up(r)
    assert r.problems == (f"{ASSET}: 1 part judged outside planned production time not counted",)


def test_shift_crossing_midnight() -> None:
    # night 22:00–06:00 (8 h) with a 15 min break at 02:00: PPT = 28800 − 900 = 27900 s.
    cal = berlin([NIGHT_SHIFT])
    spans = periods(cal, t("2026-06-15T12:00"), t("2026-06-16T12:00"), "shift")
    assert [p.name for p in spans] == ["2026-06-15 night"]
    (night,) = spans
    assert (night.start_ns, night.end_ns) == (t("2026-06-15T22:00"), t("2026-06-16T06:00"))
    h = history(
        [
            (night.start_ns, M.RUNNING),
            (t("2026-06-15T23:50"), M.DOWN),  # 30 min over midnight → breakdown 1800 s
            (t("2026-06-16T00:20"), M.RUNNING),
        ],
        night.end_ns,
    )
    parts = Parts.of(ASSET, [(ts, "A", "good") for ts in every(t("2026-06-16T03:00"), 300, 30)])
    r = oee(
        h,
        parts,
        planned_stops=planned_stops_for(cal, night.start_ns, night.end_ns),
        ideal_s=const(60),
        micro_stop_s=120,
    )
    assert r.planned_s == 27900
    assert r.losses["breakdowns"] == 1800
    assert r.run_s == 27900 - 1800 == 26100
    assert r.net_run_s == 300 * 60 == 18000
    assert r.losses["reduced_speed"] == 26100 - 18000
    assert r.oee == pytest.approx(18000 / 27900)  # 64.5 %
    assert_adds_up(r)


def test_clock_change_days_around_the_clock() -> None:
    cal = berlin()
    # 2026-03-29: 02:00 → 03:00, the day has 23 h = 82800 s, all of it planned.
    day_start = parse_time("2026-03-29T00:00+01:00")
    day_end = parse_time("2026-03-30T00:00+02:00")
    (day,) = periods(cal, day_start, day_end, "day")
    assert day.name == "2026-03-29"
    h = history([(day_start, M.RUNNING)], day_end)
    parts = Parts.of(ASSET, [(ts, "A", "good") for ts in every(day_start + S, 828, 100)])
    r = oee(h, parts, planned_stops=[], ideal_s=const(100), micro_stop_s=120)
    # 828 parts × 100 s = 82800 s = the whole day: OEE exactly 100 %, not a problem.
    assert (r.all_time_s, r.planned_s, r.net_run_s) == (82800, 82800, 82800)
    assert (r.availability, r.performance, r.quality, r.oee) == (1.0, 1.0, 1.0, 1.0)
    assert r.utilization == 1.0
    assert r.problems == ()

    # 2026-10-25: 03:00 → 02:00, the day has 25 h = 90000 s; down 00:30Z–01:30Z (1 h).
    day_start = parse_time("2026-10-25T00:00+02:00")
    day_end = parse_time("2026-10-26T00:00+01:00")
    h = history(
        [
            (day_start, M.RUNNING),
            (parse_time("2026-10-25T00:30Z"), M.DOWN),
            (parse_time("2026-10-25T01:30Z"), M.RUNNING),
        ],
        day_end,
    )
    parts = Parts.of(ASSET, [(ts, "A", "good") for ts in every(day_start, 450, 150)])
    r = oee(h, parts, planned_stops=[], ideal_s=const(100), micro_stop_s=120)
    assert r.all_time_s == r.planned_s == 90000
    assert r.run_s == 90000 - 3600
    assert r.net_run_s == 450 * 100 == 45000
    assert r.oee == 45000 / 90000
    assert_adds_up(r)


@pytest.mark.parametrize(
    ("date", "next_date", "all_s", "planned_s"),
    [
        # 29 March: night of the 28th until 06:00 = 5 h (02:00–03:00 does not exist),
        # early 06:00–14:00 = 8 h, night of the 29th 22:00–24:00 = 2 h → 15 h; day 23 h.
        ("2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00", 23 * 3600, 15 * 3600),
        # 25 October: 00:00–06:00 = 7 h (02:00–03:00 twice), + 8 h + 2 h = 17 h; day 25 h.
        ("2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00", 25 * 3600, 17 * 3600),
    ],
)
def test_clock_change_days_with_shifts(
    date: str, next_date: str, all_s: int, planned_s: int
) -> None:
    shifts = [{**DAY_SHIFT, "breaks": []}, {**NIGHT_SHIFT, "breaks": []}]
    cal = berlin(shifts)
    start, end = parse_time(date), parse_time(next_date)
    (day,) = periods(cal, start, end, "day")
    assert (day.start_ns, day.end_ns) == (start, end)
    h = history([(start, M.RUNNING)], end)
    # 540 parts × 60 s = 32400 s of fully productive time, during the early shift
    parts = Parts.of(ASSET, [(ts, "A", "good") for ts in every(start + 7 * H, 540, 10)])
    r = oee(
        h,
        parts,
        planned_stops=planned_stops_for(cal, start, end),
        ideal_s=const(60),
        micro_stop_s=120,
    )
    assert r.all_time_s == all_s
    assert r.planned_s == planned_s
    assert r.oee == pytest.approx(32400 / planned_s)
    assert r.utilization == pytest.approx(planned_s / all_s)
    assert r.teep == pytest.approx(32400 / all_s)
    # the night shift crossing the change: 7 h in spring, 9 h in autumn
    nights = [p for p in periods(cal, start - 6 * H, end, "shift") if p.name.endswith("night")]
    assert (nights[0].end_ns - nights[0].start_ns) // H == (7 if all_s < 86400 else 9)


def test_breakdown_spanning_a_planned_break() -> None:
    cal = berlin([DAY_SHIFT])
    start, end = t("2026-06-15T06:00"), t("2026-06-15T14:00")
    stops = planned_stops_for(cal, start, end)
    # down 09:50–10:45 across lunch 10:00–10:30: only 09:50–10:00 (600 s) and
    # 10:30–10:45 (900 s) are inside planned time → breakdowns 1500 s.
    h = history(
        [(start, M.RUNNING), (t("2026-06-15T09:50"), M.DOWN), (t("2026-06-15T10:45"), M.RUNNING)],
        end,
    )
    empty = Parts.of(ASSET, [])
    r = oee(h, empty, planned_stops=stops, ideal_s=const(1), micro_stop_s=120)
    assert r.losses["breakdowns"] == 1500
    assert r.stops_by_state["down"] == 1500
    assert r.run_s == 27000 - 1500
    # down 09:59–10:31 with a 300 s threshold: 60 + 60 = 120 s inside planned time, but the
    # stop is 32 min long as a whole → a breakdown of 120 s, not a small stop.
    h = history(
        [(start, M.RUNNING), (t("2026-06-15T09:59"), M.DOWN), (t("2026-06-15T10:31"), M.RUNNING)],
        end,
    )
    r = oee(h, empty, planned_stops=stops, ideal_s=const(1), micro_stop_s=300)
    assert r.losses["breakdowns"] == 120
    assert r.losses["small_stops"] == 0
    assert_adds_up(r)


def test_micro_stop_threshold_is_a_breakdown_one_second_below_is_not() -> None:
    # threshold 120 s, 1 h all planned; idle exactly 120 s → breakdown; blocked 119 s →
    # small stop; down 60 s followed by idle 60 s is one 120 s stop → breakdown (60 + 60).
    h = history(
        [
            (0, M.RUNNING),
            (600 * S, M.IDLE),
            (720 * S, M.RUNNING),
            (1200 * S, M.BLOCKED),
            (1319 * S, M.RUNNING),
            (1800 * S, M.DOWN),
            (1860 * S, M.IDLE),
            (1920 * S, M.RUNNING),
        ],
        H,
    )
    r = oee(h, Parts.of(ASSET, []), planned_stops=[], ideal_s=const(1), micro_stop_s=120)
    assert r.losses["breakdowns"] == 120 + 120
    assert r.stops_by_state == {
        "down": 60,
        "idle": 120 + 60,
        "starved": 0,
        "blocked": 0,
        "no_data": 0,
    }
    assert r.losses["small_stops"] == 119
    assert r.run_s == 3600 - 240
    assert r.performance == 0.0  # run time but no parts: 0 %, defined
    assert r.quality is None  # no parts: undefined
    assert_adds_up(r)


def test_changeover_with_two_ideal_cycle_times_and_rejects() -> None:
    machine = Machine.model_validate(
        {"id": "m1", "type": "mill", "ideal_cycle_time": 30, "cycle_times": {"B": 45}}
    )
    # 8 h, all planned; A until 04:00, setup 04:00–04:30 (1800 s), then B.
    h = history([(0, M.RUNNING), (4 * H, M.SETUP), (4 * H + 30 * MIN, M.RUNNING)], 8 * H)
    rows: list[tuple[int, str, str, bool]] = [(ts, "A", "good", False) for ts in every(0, 400, 30)]
    b = every(4 * H + 30 * MIN, 300, 40)
    rows += [(ts, "B", "scrap", True) for ts in b[:3]]  # start-up rejects after the setup
    rows += [(ts, "B", "good", False) for ts in b[3:293]]
    rows += [(ts, "B", "scrap", False) for ts in b[293:297]]
    rows += [(ts, "B", "rework", False) for ts in b[297:]]
    r = oee(
        h, Parts.of(ASSET, rows), planned_stops=[], ideal_s=ideal_for(machine), micro_stop_s=120
    )
    # ideal time Σ per product: 400 × 30 + 300 × 45 = 12000 + 13500 = 25500 s
    assert r.net_run_s == 25500
    assert r.losses["setup"] == 1800
    assert r.run_s == 28800 - 1800 == 27000
    assert r.losses["reduced_speed"] == 27000 - 25500 == 1500
    # good: 400 × 30 + 290 × 45 = 12000 + 13050 = 25050 s
    assert r.fully_productive_s == 25050
    assert r.losses["startup_rejects"] == 3 * 45 == 135
    assert r.losses["production_rejects"] == (4 + 3) * 45 == 315
    assert (r.total, r.good, r.scrap, r.rework) == (700, 690, 7, 3)
    # Q in ideal time (25050 / 25500 = 98.24 %), not in counts (690 / 700 = 98.57 %)
    assert r.quality == pytest.approx(25050 / 25500)
    assert r.oee == pytest.approx(25050 / 28800)
    assert r.availability * r.performance * r.quality == pytest.approx(r.oee)  # type: ignore[operator]
    assert_adds_up(r)


def test_startup_rejects_apart_from_production_rejects() -> None:
    # 1 h running, ideal 10 s: 2 start-up scrap + 1 start-up rework = 30 s start-up rejects,
    # 5 later scrap = 50 s production rejects; a start-up *good* part is simply good.
    h = history([(0, M.RUNNING)], H)
    rows = [
        (1 * S, "A", "scrap", True),
        (2 * S, "A", "rework", True),
        (3 * S, "A", "scrap", True),
        (4 * S, "A", "good", True),
        *[(100 * S + i * S, "A", "scrap", False) for i in range(5)],
        *[(200 * S + i * S, "A", "good", False) for i in range(100)],
    ]
    r = oee(h, Parts.of(ASSET, rows), planned_stops=[], ideal_s=const(10), micro_stop_s=120)
    assert r.losses["startup_rejects"] == 30
    assert r.losses["production_rejects"] == 50
    assert r.fully_productive_s == 101 * 10
    assert r.quality == pytest.approx(1010 / 1090)


def test_performance_above_100_percent_is_a_problem_not_clipped() -> None:
    # 1 h running, 100 parts of X declared at 60 s ideal: net run 6000 s > run 3600 s.
    h = history([(0, M.RUNNING)], H)
    parts = Parts.of(ASSET, [(ts, "X", "good") for ts in every(0, 100, 36)])
    r = oee(h, parts, planned_stops=[], ideal_s=const(60), micro_stop_s=120)
    assert r.performance == pytest.approx(6000 / 3600)  # 167 %, kept
    assert r.losses["reduced_speed"] == 3600 - 6000  # negative, kept
    assert r.oee == pytest.approx(6000 / 3600)
    assert r.problems == (
        f"{ASSET}: performance 167% — is the ideal cycle time of product X (60 s) too long?",
    )
    assert_adds_up(r)


def test_period_without_planned_time() -> None:
    # Sunday for a Monday-to-Friday plant: nothing is planned. A, P, Q, OEE undefined;
    # utilization and TEEP are 0 (planned 0 s of 86400 s: defined and zero).
    cal = berlin([{**DAY_SHIFT, "days": ["mon", "tue", "wed", "thu", "fri"]}])
    start, end = t("2026-06-14T00:00"), t("2026-06-15T00:00")
    assert periods(cal, start, end, "shift") == []
    h = history([(start, M.DOWN), (t("2026-06-14T08:00"), M.RUNNING)], end)
    parts = Parts.of(ASSET, [(t("2026-06-14T09:00"), "A", "good")])
    r = oee(
        h,
        parts,
        planned_stops=planned_stops_for(cal, start, end),
        ideal_s=const(60),
        micro_stop_s=120,
    )
    assert r.planned_s == 0
    assert (r.availability, r.performance, r.quality, r.oee) == (None, None, None, None)
    assert (r.utilization, r.teep) == (0.0, 0.0)
    assert all(v == 0 for v in r.losses.values())
    assert r.total == 0
    assert r.to_dict()["oee"] is None


def test_machine_reported_planned_stop_reduces_planned_time() -> None:
    # 8 h; lunch 10:00–10:30 from the calendar; the machine reports PLANNED_STOP
    # 10:15–11:15 (maintenance). Not planned: 10:00–11:15 = 4500 s, counted once.
    # PPT = 28800 − 4500 = 24300 s.
    start, end = t("2026-06-15T06:00"), t("2026-06-15T14:00")
    h = history(
        [
            (start, M.RUNNING),
            (t("2026-06-15T10:15"), M.PLANNED_STOP),
            (t("2026-06-15T11:15"), M.RUNNING),
        ],
        end,
    )
    lunch = [Interval(t("2026-06-15T10:00"), t("2026-06-15T10:30"), "lunch")]
    r = oee(h, Parts.of(ASSET, []), planned_stops=lunch, ideal_s=const(1), micro_stop_s=120)
    assert r.planned_s == 24300
    assert r.run_s == 24300
    assert r.utilization == pytest.approx(24300 / 28800)


def test_no_data_is_a_stop_and_a_problem() -> None:
    # 1 h: NO_DATA 600 s (≥ 120 s → breakdown "no_data"), NO_DATA 60 s (small stop);
    # the problem names all 660 s. The period also runs 300 s past the history's end:
    # that time is NO_DATA too (a 300 s breakdown) → no_data breakdown 900 s, 960 s reported.
    h = history(
        [
            (0, M.RUNNING),
            (600 * S, NO_DATA),
            (1200 * S, M.RUNNING),
            (2000 * S, NO_DATA),
            (2060 * S, M.RUNNING),
        ],
        H,
    )
    r = oee(h, Parts.of(ASSET, []), planned_stops=[], ideal_s=const(1), micro_stop_s=120)
    assert r.losses["breakdowns"] == r.stops_by_state["no_data"] == 600
    assert r.losses["small_stops"] == 60
    assert r.problems == (
        f"{ASSET}: no state data for 660 s of planned production time (counted as stops)",
    )
    r = oee(
        h,
        Parts.of(ASSET, []),
        planned_stops=[],
        ideal_s=const(1),
        micro_stop_s=120,
        end_ns=H + 300 * S,
    )
    assert r.all_time_s == 3900
    assert r.stops_by_state["no_data"] == 900
    assert "960 s" in r.problems[0]


def two_shifts() -> tuple[StateHistory, Parts, list[Interval], int, int, int]:
    # 06:00–14:00 and 14:00–22:00 (UTC, no calendar), a 10 min stop across 14:00.
    h = history(
        [
            (6 * H, M.RUNNING),
            (10 * H, M.SETUP),
            (10 * H + 20 * MIN, M.RUNNING),
            (14 * H - 5 * MIN, M.DOWN),
            (14 * H + 5 * MIN, M.RUNNING),
            (18 * H, M.MICRO_STOP),
            (18 * H + MIN, M.RUNNING),
        ],
        22 * H,
    )
    parts = Parts.of(
        ASSET,
        [
            (ts, "A", "good" if i % 10 else "scrap", i % 50 == 0)
            for i, ts in enumerate(every(6 * H, 1500, 36))
        ],
    )
    stops = [
        Interval(12 * H, 12 * H + 30 * MIN, "break"),
        Interval(20 * H, 20 * H + 30 * MIN, "break"),
    ]
    return h, parts, stops, 6 * H, 14 * H, 22 * H


def test_combine_over_two_shifts_equals_the_whole() -> None:
    h, parts, stops, a, b, c = two_shifts()
    kw: dict[str, Any] = {"planned_stops": stops, "ideal_s": const(30), "micro_stop_s": 300}
    whole = oee(h, parts, **kw)
    first = oee(h, parts, start_ns=a, end_ns=b, **kw)
    second = oee(h, parts, start_ns=b, end_ns=c, **kw)
    # the 10 min stop across 14:00 is one breakdown, 300 s in each shift
    assert first.losses["breakdowns"] == second.losses["breakdowns"] == 300
    both = combine([first, second])
    for name in (
        "all_time_s",
        "planned_s",
        "run_s",
        "net_run_s",
        "fully_productive_s",
        "oee",
        "teep",
    ):
        assert getattr(both, name) == pytest.approx(getattr(whole, name)), name
    for k in LOSSES:
        assert both.losses[k] == pytest.approx(whole.losses[k]), k
    assert (both.total, both.good, both.scrap) == (whole.total, whole.good, whole.scrap)
    assert (both.start_ns, both.end_ns) == (a, c)
    # one pass over both shifts gives the same as one call each
    batch = oee_periods(h, parts, [(a, b), (b, c)], **kw)
    assert [x.to_dict() for x in batch] == [first.to_dict(), second.to_dict()]
    with pytest.raises(ValueError, match="one asset"):
        combine([first, oee(history([(a, M.RUNNING)], c, "other"), parts, **kw)])


def test_line_oee_from_the_bottleneck_and_weighted() -> None:
    line = "acme/p/a/l"
    kw: dict[str, Any] = {"planned_stops": [], "ideal_s": const(60), "micro_stop_s": 120}
    # m1: 8 h planned, 240 good parts × 60 s = 14400 s → OEE 50 %.
    # m2: 4 h planned (PLANNED_STOP the rest), 180 good × 60 s = 10800 s → OEE 75 %.
    m1 = oee(
        history([(0, M.RUNNING)], 8 * H, f"{line}/m1"),
        Parts.of("m1", [(ts, "A", "good") for ts in every(0, 240, 60)]),
        **kw,
    )
    m2 = oee(
        history([(0, M.RUNNING), (4 * H, M.PLANNED_STOP)], 8 * H, f"{line}/m2"),
        Parts.of("m2", [(ts, "A", "good") for ts in every(0, 180, 60)]),
        **kw,
    )
    assert (m1.oee, m2.oee) == (0.5, 0.75)
    neck = line_oee([m1, m2], "bottleneck", bottleneck=f"{line}/m2")
    assert neck.asset == line
    assert neck.basis == f"bottleneck {line}/m2"
    assert neck.oee == 0.75
    assert line_oee([m1, m2], "bottleneck", bottleneck="m1").oee == 0.5
    # weighted by planned time: (0.5 × 28800 + 0.75 × 14400) / (28800 + 14400)
    #   = (14400 + 10800) / 43200 = 0.5833
    w = line_oee([m1, m2], "weighted")
    assert w.basis == "weighted by planned time"
    assert w.asset == line
    assert w.oee == pytest.approx((14400 + 10800) / 43200)
    assert w.planned_s == 43200
    with pytest.raises(ValueError, match="bottleneck"):
        line_oee([m1, m2], "bottleneck", bottleneck="m9")


def test_line_oee_keeps_every_machines_problems_named_by_machine() -> None:
    line = "acme/p/a/l"
    kw: dict[str, Any] = {"planned_stops": [], "ideal_s": const(60), "micro_stop_s": 120}
    # m1 (fast, not the bottleneck): 100 parts of 60 s in 1 h running → performance 167 %.
    # m2 (the bottleneck): 30 min running, then 30 min without state data.
    m1 = oee(
        history([(0, M.RUNNING)], H, f"{line}/m1"),
        Parts.of(f"{line}/m1", [(ts, "X", "good") for ts in every(0, 100, 36)]),
        **kw,
    )
    m2 = oee(
        history([(0, M.RUNNING), (30 * MIN, NO_DATA)], H, f"{line}/m2"),
        Parts.of(f"{line}/m2", [(ts, "X", "good") for ts in every(0, 30, 60)]),
        **kw,
    )
    fast = f"{line}/m1: performance 167% — is the ideal cycle time of product X (60 s) too long?"
    blind = f"{line}/m2: no state data for 1800 s of planned production time (counted as stops)"
    assert (m1.problems, m2.problems) == ((fast,), (blind,))
    neck = line_oee([m1, m2], "bottleneck", bottleneck="m2")
    assert neck.oee == m2.oee == 0.5  # the figure is the bottleneck's alone
    assert neck.problems == (blind, fast)  # the bottleneck's first, none lost
    # weighted: a problem that names no asset gets its result's asset in front
    bare = replace(m1, problems=("no parts counter configured",))
    w = line_oee([bare, m2], "weighted")
    assert w.problems == (f"{line}/m1: no parts counter configured", blind)
    # above a line: the lines' problems already name their machines and stay as they are
    other = replace(m1, asset="acme/p/a/k/m9", problems=("acme/p/a/k/m9: clock drift",))
    area = line_oee([neck, line_oee([other], "weighted")], "weighted", asset="acme/p/a")
    assert area.problems == (blind, fast, "acme/p/a/k/m9: clock drift")


def test_parts_without_any_run_time_leave_oee_undefined():
    """A machine whose state is unknown all shift but whose counter counted parts: the parts
    are a data problem, and OEE is undefined rather than their ideal time over planned time."""
    from andon.state.history import NO_DATA

    t0 = 1_767_250_800 * NS_PER_S
    end = t0 + 3600 * NS_PER_S
    history = StateHistory.of("s/a/l/m", t0, end, [(t0, NO_DATA, "no state signal")])
    parts = Parts.of("s/a/l/m", [(t0 + 60 * NS_PER_S, "A", "good")])
    r = oee(history, parts, planned_stops=[], ideal_s=lambda _p: 60.0, micro_stop_s=120.0)
    assert r.availability == 0.0 and r.oee is None and r.teep is None
    assert r.problems


def test_periods_problems_are_said_once_with_their_figures_added_up() -> None:
    m = "s/a/cell-1/mill-2"
    said = merge_problems(
        [
            f"{m}: no state data for 100 s of planned production time (counted as stops)",
            f"{m}: 1 part judged outside planned production time not counted",
            f"{m}: no state data for 46 s of planned production time (counted as stops)",
            f"{m}: 2 parts judged outside planned production time not counted",
            f"{m}: performance 103% — is the ideal cycle time (55 s) too long?",
            f"{m}: performance 104% — is the ideal cycle time (55 s) too long?",
            "s/a/cell-1/mill-1: no state data for 46 s of planned production time (counted)",
        ]
    )
    assert said == [
        f"{m}: no state data for 146 s of planned production time (counted as stops)",
        f"{m}: 3 parts judged outside planned production time not counted",
        f"{m}: performance 103% — is the ideal cycle time (55 s) too long? (in 2 periods)",
        "s/a/cell-1/mill-1: no state data for 46 s of planned production time (counted)",
    ]
