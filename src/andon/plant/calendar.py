"""The plant calendar in UTC: shifts, breaks and planned stops from local times.

Shifts and breaks are declared in the plant's local time zone; this module is the only place
that turns local time into UTC nanoseconds, day by day, so that days of 23 and 25 hours (clock
changes) and shifts crossing midnight come out right. A local time that does not exist (the
hour skipped in spring) is read with ``fold=0``, i.e. as if the clock had not yet changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from andon.core.clock import NS_PER_S, from_ns, to_ns
from andon.plant.fields import WEEKDAYS
from andon.plant.model import Calendar, Shift


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open time interval [start, end) in UTC ns with a name."""

    start: int
    end: int
    name: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / NS_PER_S


@dataclass(frozen=True, slots=True)
class ShiftInstance:
    """One occurrence of a shift: its UTC interval and its breaks."""

    name: str
    day: date
    start: int
    end: int
    breaks: tuple[Interval, ...]


class PlantCalendar:
    """Answers "which shift is this" and "when is the plant planned to stand still"."""

    def __init__(self, calendar: Calendar) -> None:
        self.model = calendar
        self.tz = ZoneInfo(calendar.timezone)
        self._holidays = set(calendar.holidays)

    @property
    def around_the_clock(self) -> bool:
        """True when no shifts are declared: the plant is planned to run all the time."""
        return not self.model.shifts

    def _local(self, day: date, t: time) -> int:
        return to_ns(datetime.combine(day, t, tzinfo=self.tz))

    def _instance(self, shift: Shift, day: date) -> ShiftInstance:
        end_day = day + timedelta(days=1) if shift.end <= shift.start else day
        start = self._local(day, shift.start)
        end = self._local(end_day, shift.end)
        breaks = []
        for br in shift.breaks:
            bday = day if br.start >= shift.start else day + timedelta(days=1)
            bstart = self._local(bday, br.start)
            bend = min(end, bstart + round(br.duration * NS_PER_S))
            if start <= bstart < end:
                breaks.append(Interval(bstart, bend, br.name))
        return ShiftInstance(shift.name, day, start, end, tuple(breaks))

    def shifts(self, start: int, end: int) -> list[ShiftInstance]:
        """Every shift occurrence overlapping [start, end), ordered by start."""
        first = from_ns(start).astimezone(self.tz).date() - timedelta(days=1)
        last = from_ns(end).astimezone(self.tz).date() + timedelta(days=1)
        out = []
        day = first
        while day <= last:
            if day not in self._holidays:
                weekday = WEEKDAYS[day.weekday()]
                for shift in self.model.shifts:
                    if weekday in shift.days:
                        inst = self._instance(shift, day)
                        if inst.start < end and inst.end > start:
                            out.append(inst)
            day += timedelta(days=1)
        out.sort(key=lambda s: s.start)
        return out

    def shift_at(self, ts: int) -> ShiftInstance | None:
        """The shift running at ``ts``, or None outside every shift."""
        for inst in self.shifts(ts, ts + 1):
            if inst.start <= ts < inst.end:
                return inst
        return None

    def planned_stops(self, start: int, end: int) -> list[Interval]:
        """Planned stops within [start, end), ordered: breaks, and time outside every shift
        (named ``no shift``)."""
        if self.around_the_clock:
            return []
        instances = self.shifts(start, end)
        stops: list[Interval] = []
        cursor = start
        for iv in _merge([Interval(i.start, i.end, i.name) for i in instances]):
            if iv.start > cursor:
                stops.append(Interval(cursor, min(iv.start, end), "no shift"))
            cursor = max(cursor, iv.end)
        if cursor < end:
            stops.append(Interval(cursor, end, "no shift"))
        for inst in instances:
            for br in inst.breaks:
                if br.start < end and br.end > start:
                    stops.append(Interval(max(br.start, start), min(br.end, end), br.name))
        return sorted((s for s in stops if s.end > s.start), key=lambda s: s.start)

    def planned_stop_at(self, ts: int) -> Interval | None:
        """The planned stop covering ``ts``, or None if the plant is planned to produce then."""
        for stop in self.planned_stops(ts, ts + 1):
            if stop.start <= ts < stop.end:
                return stop
        return None

    def next_change(self, ts: int, horizon_s: float = 8 * 86400) -> int | None:
        """The next instant after ``ts`` at which planned production starts or stops."""
        end = ts + round(horizon_s * NS_PER_S)
        edges = sorted(
            {e for s in self.planned_stops(ts, end) for e in (s.start, s.end) if ts < e < end}
        )
        return edges[0] if edges else None


def _merge(intervals: list[Interval]) -> Iterator[Interval]:
    """Merge overlapping or touching intervals of busy time, keeping the first one's name."""
    current: Interval | None = None
    for iv in sorted((i for i in intervals if i.end > i.start), key=lambda i: i.start):
        if current is not None and iv.start <= current.end:
            current = Interval(current.start, max(current.end, iv.end), current.name)
            continue
        if current is not None:
            yield current
        current = iv
    if current is not None:
        yield current
