"""Reporting periods in UTC: shifts over midnight, 23 h and 25 h days, ISO weeks, months."""

from __future__ import annotations

from typing import Any

import pytest

from andon.core import NS_PER_S, InputError, iso, parse_time
from andon.kpi import Period, periods, planned_stops_for
from andon.plant import PlantCalendar
from andon.plant.model import Calendar

H = 3600 * NS_PER_S


def cal(shifts: list[dict[str, Any]] | None = None) -> PlantCalendar:
    return PlantCalendar(
        Calendar.model_validate({"timezone": "Europe/Berlin", "shifts": shifts or []})
    )


SHIFTS = [
    {
        "name": "early",
        "start": "06:00",
        "end": "14:00",
        "days": ["mon", "tue", "wed", "thu", "fri"],
    },
    {
        "name": "night",
        "start": "22:00",
        "end": "06:00",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "breaks": [{"start": "02:00", "duration": "15min"}],
    },
]


def hours(p: Period) -> float:
    return (p.end_ns - p.start_ns) / H


def test_shifts_over_midnight_named_by_their_start_day_and_clipped() -> None:
    # Mon 2026-03-02 00:00 to Tue 12:00 (CET = UTC+1)
    start, end = parse_time("2026-03-02T00:00+01:00"), parse_time("2026-03-03T12:00+01:00")
    got = periods(cal(SHIFTS), start, end, "shift")
    assert [p.name for p in got] == [
        "2026-03-02 early",
        "2026-03-02 night",
        "2026-03-03 early",
    ]
    night = got[1]
    assert (iso(night.start_ns), iso(night.end_ns)) == (
        "2026-03-02T21:00:00.000Z",
        "2026-03-03T05:00:00.000Z",
    )
    # the early shift of Tuesday is clipped at 12:00: 6 h of its 8
    assert hours(got[2]) == 6
    # Friday's night shift runs into Saturday; Saturday and Sunday have none of their own
    fri = periods(
        cal(SHIFTS),
        parse_time("2026-03-06T20:00+01:00"),
        parse_time("2026-03-09T00:00+01:00"),
        "shift",
    )
    assert [p.name for p in fri] == ["2026-03-06 night"]


def test_clock_change_days_have_23_and_25_hours() -> None:
    c = cal()
    spring = periods(
        c, parse_time("2026-03-28T00:00+01:00"), parse_time("2026-03-31T00:00+02:00"), "day"
    )
    assert [(p.name, hours(p)) for p in spring] == [
        ("2026-03-28", 24),
        ("2026-03-29", 23),
        ("2026-03-30", 24),
    ]
    autumn = periods(
        c, parse_time("2026-10-25T00:00+02:00"), parse_time("2026-10-26T00:00+01:00"), "day"
    )
    assert [(p.name, hours(p)) for p in autumn] == [("2026-10-25", 25)]
    # night shifts across the change: 22:00–06:00 local is 7 h in spring, 9 h in autumn
    every_day = [{**SHIFTS[1], "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}]
    nights = periods(
        cal(every_day),
        parse_time("2026-03-28T12:00+01:00"),
        parse_time("2026-03-29T12:00+02:00"),
        "shift",
    )
    assert [(p.name, hours(p)) for p in nights] == [("2026-03-28 night", 7)]
    nights = periods(
        cal(every_day),
        parse_time("2026-10-24T12:00+02:00"),
        parse_time("2026-10-25T12:00+01:00"),
        "shift",
    )
    assert [(p.name, hours(p)) for p in nights] == [("2026-10-24 night", 9)]


def test_iso_weeks_start_monday_local_time() -> None:
    # 2026-01-01 is a Thursday: it lies in ISO week 2026-W01 (Mon 2025-12-29 to Sun 01-04)
    got = periods(
        cal(), parse_time("2026-01-01T00:00+01:00"), parse_time("2026-01-13T00:00+01:00"), "week"
    )
    assert [p.name for p in got] == ["2026-W01", "2026-W02", "2026-W03"]
    assert iso(got[0].start_ns) == "2025-12-31T23:00:00.000Z"  # clipped to the range
    assert iso(got[1].start_ns) == "2026-01-04T23:00:00.000Z"  # Monday 00:00 CET
    assert hours(got[1]) == 7 * 24
    # the week with the spring change has 167 h
    (w13,) = periods(
        cal(), parse_time("2026-03-23T00:00+01:00"), parse_time("2026-03-30T00:00+02:00"), "week"
    )
    assert (w13.name, hours(w13)) == ("2026-W13", 167)
    # the last days of 2024 belong to 2025-W01
    (w,) = periods(
        cal(), parse_time("2024-12-30T00:00+01:00"), parse_time("2024-12-31T00:00+01:00"), "week"
    )
    assert w.name == "2025-W01"


def test_months() -> None:
    got = periods(
        cal(), parse_time("2026-02-15T00:00+01:00"), parse_time("2026-04-10T00:00+02:00"), "month"
    )
    assert [p.name for p in got] == ["2026-02", "2026-03", "2026-04"]
    assert hours(got[1]) == 31 * 24 - 1  # March loses an hour to the clock change
    assert iso(got[1].start_ns) == "2026-02-28T23:00:00.000Z"
    assert hours(got[0]) == 14 * 24  # clipped: 15 to 28 February
    dec = periods(
        cal(), parse_time("2026-12-31T00:00+01:00"), parse_time("2027-01-02T00:00+01:00"), "month"
    )
    assert [p.name for p in dec] == ["2026-12", "2027-01"]


def test_whole_range_empty_range_and_bad_unit() -> None:
    start, end = parse_time("2026-06-15T06:00+02:00"), parse_time("2026-06-15T18:30+02:00")
    assert periods(cal(), start, end, None) == [
        Period("2026-06-15 06:00 – 2026-06-15 18:30", start, end)
    ]
    assert periods(cal(), end, start, "day") == []
    # a plant without shifts reports "by shift" by day
    assert [p.name for p in periods(cal(), start, end, "shift")] == ["2026-06-15"]
    with pytest.raises(InputError, match="shift, day, week, month"):
        periods(cal(), start, end, "year")  # type: ignore[arg-type]


def test_planned_stops_merged_and_sorted() -> None:
    # Mon 00:00 to Tue 12:00 (CET): no shift until Monday 06:00 (Sunday has no night shift),
    # no shift 14:00–22:00, the night's break Tue 02:00–02:15; early follows night at 06:00.
    start, end = parse_time("2026-03-02T00:00+01:00"), parse_time("2026-03-03T12:00+01:00")
    stops = planned_stops_for(cal(SHIFTS), start, end)
    assert [(iso(s.start), iso(s.end), s.name) for s in stops] == [
        ("2026-03-01T23:00:00.000Z", "2026-03-02T05:00:00.000Z", "no shift"),
        ("2026-03-02T13:00:00.000Z", "2026-03-02T21:00:00.000Z", "no shift"),
        ("2026-03-03T01:00:00.000Z", "2026-03-03T01:15:00.000Z", "break"),
    ]
    # a break at the end of the early shift touches the time without shift: one stop
    shifts = [{**SHIFTS[0], "breaks": [{"start": "13:45", "duration": "15min"}]}, SHIFTS[1]]
    stops = planned_stops_for(cal(shifts), start, end)
    assert [(iso(s.start), iso(s.end), s.name) for s in stops][1] == (
        "2026-03-02T12:45:00.000Z",
        "2026-03-02T21:00:00.000Z",
        "break + no shift",
    )
    assert planned_stops_for(cal(), start, end) == []
