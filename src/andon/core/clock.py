"""Time as andon stores it: int64 nanoseconds since the epoch, UTC.

Local time (shifts, tariffs) lives only in ``andon.plant.calendar``; everything else speaks UTC
nanoseconds. This module parses what people type (ISO 8601, ``now``, ``-2h``) and durations
(``90s``, ``5min``, ``2h``, ``1d`` or plain seconds).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from andon.core.errors import InputError

NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_H = 60 * NS_PER_MIN

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_RELATIVE = re.compile(r"^\s*(?:now\s*)?-\s*(.+)$")


def now_ns() -> int:
    """The wall clock, UTC nanoseconds."""
    return time.time_ns()


def to_ns(dt: datetime) -> int:
    """An aware datetime to UTC nanoseconds (naive datetimes are refused: they are ambiguous)."""
    if dt.tzinfo is None:
        raise InputError(f"time {dt.isoformat()} has no UTC offset; add one, e.g. +00:00 or Z")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def from_ns(ns: int) -> datetime:
    """UTC nanoseconds to an aware UTC datetime (microsecond precision)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def iso(ns: int) -> str:
    """UTC nanoseconds as ISO 8601 with a ``Z``, to the millisecond."""
    return from_ns(ns).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_duration(text: str | float | int, *, field: str = "duration") -> float:
    """``'90s'``, ``'5min'``, ``'2h'``, ``'1.5d'`` or a number of seconds, as seconds."""
    if isinstance(text, bool):
        raise InputError(f"{field}: expected a duration such as 90s, 5min or 2h, got {text!r}")
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(text.lower())
    if not m or (m.group(2) and m.group(2) not in _UNITS):
        raise InputError(f"{field}: expected a duration such as 90s, 5min, 2h or 1d, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def parse_time(text: str, *, now: int | None = None, field: str = "time") -> int:
    """A time a person typed, as UTC ns: ISO 8601 with offset, ``now``, or ``-2h`` (before now)."""
    ref = now_ns() if now is None else now
    s = text.strip()
    if s.lower() == "now":
        return ref
    rel = _RELATIVE.match(s.lower())
    if rel:
        return ref - round(parse_duration(rel.group(1), field=field) * NS_PER_S)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{field}: expected ISO 8601 with an offset (2026-03-29T06:00:00+02:00), "
            f"'now' or a relative time like -2h; got {text!r}"
        ) from None
    if dt.tzinfo is None:
        raise InputError(f"{field}: {text!r} has no UTC offset; add Z or +HH:MM")
    return to_ns(dt)
