"""Time as andon stores it: int64 nanoseconds since the epoch, UTC.

Local time (shifts, tariffs) lives only in ``andon.plant.calendar``; everything else speaks UTC
nanoseconds. This module parses what people type (ISO 8601, ``now``, ``-2h``) and durations
(``90s``, ``5min``, ``2h``, ``1d`` or plain seconds).
"""

from __future__ import annotations

import math
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
MIN_NS = -(2**63) + 1
MAX_NS = 2**63 - 1
"""Int64 nanoseconds reach from 1677-09-21 to 2262-04-11; times outside cannot be stored."""
MAX_DURATION_S = 100 * 366 * 86400.0
"""The longest duration andon accepts (a century), far below the int64 limit."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_RELATIVE = re.compile(r"^\s*(?:now\s*)?-\s*(.+)$")


def now_ns() -> int:
    """The wall clock, UTC nanoseconds."""
    return time.time_ns()


def check_ns(ns: int, *, field: str = "time") -> int:
    """Return ``ns`` if it is a storable time (int64 nanoseconds), else say what is allowed."""
    if not MIN_NS <= ns <= MAX_NS:
        raise InputError(f"{field}: out of range; times must lie between 1677-09-22 and 2262-04-11")
    return ns


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
    """UTC nanoseconds as ISO 8601 with a ``Z``: to the millisecond, or finer when the time
    has finer digits (so two samples 10 µs apart never print alike)."""
    seconds, frac = divmod(ns, NS_PER_S)
    base = from_ns(seconds * NS_PER_S).strftime("%Y-%m-%dT%H:%M:%S")
    if frac % 1_000_000 == 0:
        return f"{base}.{frac // 1_000_000:03d}Z"
    if frac % 1000 == 0:
        return f"{base}.{frac // 1000:06d}Z"
    return f"{base}.{frac:09d}Z"


def parse_duration(text: str | float | int, *, field: str = "duration") -> float:
    """``'90s'``, ``'5min'``, ``'2h'``, ``'1.5d'`` or a number of seconds, as seconds."""
    if isinstance(text, bool):
        raise InputError(f"{field}: expected a duration such as 90s, 5min or 2h, got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        m = _DURATION.match(text.lower())
        if not m or (m.group(2) and m.group(2) not in _UNITS):
            raise InputError(
                f"{field}: expected a duration such as 90s, 5min, 2h or 1d, got {text!r}"
            )
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION_S:
        raise InputError(f"{field}: {text!r} is not a usable duration (finite, at most 100 years)")
    return seconds


def parse_time(text: str, *, now: int | None = None, field: str = "time") -> int:
    """A time a person typed, as UTC ns: ISO 8601 with offset, ``now``, or ``-2h`` (before now)."""
    ref = now_ns() if now is None else now
    s = text.strip()
    if s.lower() == "now":
        return ref
    rel = _RELATIVE.match(s.lower())
    if rel:
        return check_ns(
            ref - round(parse_duration(rel.group(1), field=field) * NS_PER_S), field=field
        )
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{field}: expected ISO 8601 with an offset (2026-03-29T06:00:00+02:00), "
            f"'now' or a relative time like -2h; got {text!r}"
        ) from None
    if dt.tzinfo is None:
        raise InputError(f"{field}: {text!r} has no UTC offset; add Z or +HH:MM")
    return check_ns(to_ns(dt), field=field)
