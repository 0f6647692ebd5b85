"""The calendar in UTC: shifts over midnight and the two days a year the clocks change."""

from datetime import date

import pytest

from andon.core import NS_PER_S, iso, parse_time
from andon.core.errors import ConfigError
from andon.plant import PlantCalendar, parse_plant

H = 3600 * NS_PER_S

PLANT = """\
site: s
calendar:
  timezone: Europe/Berlin
  holidays: [2026-12-25]
  shifts:
    - name: day
      start: "06:00"
      end: "18:00"
      days: [mon, tue, wed, thu, fri]
      breaks: [{start: "12:00", duration: 30min, name: lunch}]
    - name: night
      start: "22:00"
      end: "06:00"
      days: [mon, tue, wed, thu, fri]
      breaks: [{start: "02:00", duration: 15min}]
areas:
  - id: a
    lines: [{id: l, type: job_shop, machines: [{id: m, type: mill, ideal_cycle_time: 1}]}]
"""


def calendar() -> PlantCalendar:
    return PlantCalendar(parse_plant(PLANT).calendar)


def test_shift_crossing_midnight_and_its_break_after_midnight():
    cal = calendar()
    shifts = cal.shifts(
        parse_time("2026-06-15T00:00:00+02:00"), parse_time("2026-06-16T00:00:00+02:00")
    )
    night = next(s for s in shifts if s.name == "night" and s.day == date(2026, 6, 15))
    assert iso(night.start) == "2026-06-15T20:00:00.000Z"
    assert iso(night.end) == "2026-06-16T04:00:00.000Z"
    assert [iso(b.start) for b in night.breaks] == ["2026-06-16T00:00:00.000Z"]
    assert night.breaks[0].seconds == 15 * 60


def every_night() -> PlantCalendar:
    """The same plant with its night shift on every day of the week."""
    text = PLANT.replace(
        'days: [mon, tue, wed, thu, fri]\n      breaks: [{start: "02:00"',
        'breaks: [{start: "02:00"',
    )
    return PlantCalendar(parse_plant(text).calendar)


def night_of(cal: PlantCalendar, start: str, end: str):
    return next(s for s in cal.shifts(parse_time(start), parse_time(end)) if s.name == "night")


def test_spring_forward_night_shift_is_seven_hours():
    # Europe/Berlin: clocks go 02:00 -> 03:00 on 2026-03-29, in the night from Saturday.
    night = night_of(every_night(), "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z")
    assert night.end - night.start == 7 * H
    # the break at 02:00 local does not exist that night: read as 02:00 CET (fold=0) = 01:00Z
    assert iso(night.breaks[0].start) == "2026-03-29T01:00:00.000Z"


def test_fall_back_night_shift_is_nine_hours():
    night = night_of(every_night(), "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z")
    assert night.end - night.start == 9 * H


def test_planned_stops_are_breaks_and_time_without_shift():
    cal = calendar()
    start = parse_time("2026-06-15T00:00:00+02:00")  # Monday
    stops = cal.planned_stops(start, start + 24 * H)
    got = [(iso(s.start), iso(s.end), s.name) for s in stops]
    assert got == [
        ("2026-06-14T22:00:00.000Z", "2026-06-15T04:00:00.000Z", "no shift"),  # Sunday night
        ("2026-06-15T10:00:00.000Z", "2026-06-15T10:30:00.000Z", "lunch"),
        ("2026-06-15T16:00:00.000Z", "2026-06-15T20:00:00.000Z", "no shift"),
    ]
    planned = 24 * H - sum(s.end - s.start for s in stops)
    assert planned == (12 * H - H // 2) + 2 * H  # day shift minus lunch, plus 22:00-24:00


def test_weekend_and_holiday_are_planned_stops():
    cal = calendar()
    sat = parse_time("2026-06-13T12:00:00+02:00")
    assert cal.shift_at(sat) is None
    assert cal.planned_stop_at(sat) is not None
    xmas = parse_time("2026-12-25T10:00:00+01:00")
    assert cal.shift_at(xmas) is None
    # the night shift that started on the 24th still runs into the 25th
    assert cal.shift_at(parse_time("2026-12-25T03:00:00+01:00")) is not None


def test_shift_at_and_next_change():
    cal = calendar()
    t = parse_time("2026-06-15T11:00:00+02:00")
    assert cal.shift_at(t).name == "day"
    assert cal.planned_stop_at(t) is None
    assert iso(cal.next_change(t)) == "2026-06-15T10:00:00.000Z"  # lunch starts 12:00 local


def test_no_shifts_means_around_the_clock():
    text = "site: s\ncalendar: {timezone: UTC}\n" + PLANT[PLANT.index("areas:") :]
    cal = PlantCalendar(parse_plant(text).calendar)
    assert cal.around_the_clock
    assert cal.planned_stops(0, 10 * H) == []
    assert cal.next_change(0) is None


NIGHT = '      start: "22:00"\n      end: "06:00"\n      days: [mon, tue, wed, thu, fri]'


def with_night(start: str, end: str, days: str) -> str:
    return PLANT.replace(NIGHT, f'      start: "{start}"\n      end: "{end}"\n      days: [{days}]')


def test_overlapping_shifts_are_refused_with_both_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_plant(with_night("17:00", "06:00", "fri"))
    said = str(err.value)
    assert "plant.yaml:2: calendar" in said
    assert "shifts day (fri 06:00-18:00) and night (fri 17:00-06:00) overlap" in said
    # Sunday's night shift runs into Monday's day shift, across the end of the week
    with pytest.raises(ConfigError, match=r"night \(sun 22:00-07:00\) and day \(mon"):
        parse_plant(with_night("22:00", "07:00", "sun"))
    parse_plant(with_night("22:00", "06:00", "sun, mon"))  # touching is fine
