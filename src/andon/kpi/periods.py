"""The periods KPIs are reported by — shifts, local days, ISO weeks, months — in UTC ns.

Days, weeks and months begin at local midnight in the plant's time zone, so the day the
clocks go forward has 23 hours and the day they go back 25. Every period is clipped to the
range asked for; a shift keeps its name ("2026-03-02 early") even when clipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from andon.core.clock import from_ns, to_ns
from andon.core.errors import InputError
from andon.plant.calendar import Interval, PlantCalendar

By = Literal["shift", "day", "week", "month"]
BY: tuple[By, ...] = ("shift", "day", "week", "month")


@dataclass(frozen=True, slots=True)
class Period:
    """A named reporting period ``[start_ns, end_ns)``."""

    name: str
    start_ns: int
    end_ns: int


def periods(calendar: PlantCalendar, start_ns: int, end_ns: int, by: By | None) -> list[Period]:
    """The periods of ``[start_ns, end_ns)``, ordered, clipped to the range.

    ``shift``: each shift occurrence overlapping the range (a plant without shifts reports by
    day: its day is its shift); ``day``/``week``/``month``: local calendar days, ISO weeks
    from Monday, months; ``None``: the whole range as one period.
    """
    if by is not None and by not in BY:
        raise InputError(f"by: {by!r} is not a period; expected one of {', '.join(BY)}")
    if end_ns <= start_ns:
        return []
    if by is None:
        return [Period(_range_name(calendar, start_ns, end_ns), start_ns, end_ns)]
    if by == "shift" and not calendar.around_the_clock:
        return [
            Period(
                f"{inst.day.isoformat()} {inst.name}",
                max(inst.start, start_ns),
                min(inst.end, end_ns),
            )
            for inst in calendar.shifts(start_ns, end_ns)
        ]
    unit: By = "day" if by == "shift" else by
    out = []
    for first, name in _local_starts(calendar, start_ns, unit):
        nxt = _next(first, unit)
        lo, hi = _midnight(calendar, first), _midnight(calendar, nxt)
        if lo >= end_ns:
            break
        if hi > start_ns and hi > lo:
            out.append(Period(name, max(lo, start_ns), min(hi, end_ns)))
    return out


def planned_stops_for(calendar: PlantCalendar, start_ns: int, end_ns: int) -> list[Interval]:
    """The calendar's planned stops within the range, sorted, overlapping or touching ones
    merged (named after all they merge)."""
    merged: list[Interval] = []
    for iv in calendar.planned_stops(start_ns, end_ns):
        if iv.end <= iv.start:
            continue
        if merged and iv.start <= merged[-1].end:
            last = merged[-1]
            name = last.name if iv.name in last.name.split(" + ") else f"{last.name} + {iv.name}"
            merged[-1] = Interval(last.start, max(last.end, iv.end), name)
        else:
            merged.append(iv)
    return merged


def _midnight(calendar: PlantCalendar, day: date) -> int:
    return to_ns(datetime.combine(day, time(0), tzinfo=calendar.tz))


def _local_starts(calendar: PlantCalendar, start_ns: int, unit: By) -> Iterator[tuple[date, str]]:
    """First local days of the periods from the one containing ``start_ns`` on, named."""
    day = from_ns(start_ns).astimezone(calendar.tz).date()
    if unit == "week":
        day -= timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    while True:
        if unit == "day":
            name = day.isoformat()
        elif unit == "week":
            year, week, _ = day.isocalendar()
            name = f"{year}-W{week:02d}"
        else:
            name = f"{day.year}-{day.month:02d}"
        yield day, name
        day = _next(day, unit)


def _next(day: date, unit: By) -> date:
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _range_name(calendar: PlantCalendar, start_ns: int, end_ns: int) -> str:
    fmt = "%Y-%m-%d %H:%M"
    lo = from_ns(start_ns).astimezone(calendar.tz).strftime(fmt)
    hi = from_ns(end_ns).astimezone(calendar.tz).strftime(fmt)
    return f"{lo} – {hi}"
