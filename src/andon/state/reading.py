"""Reading a machine's signals for state derivation and counting: whole ranges in pages, and
the sample just before a range (the state at its start is the value last written before it).

A raw ``Historian.range`` refuses more than a million samples (a month of a 1 Hz tag is
2.6 million), so long ranges are read in pages of ``PAGE`` samples, oldest first, each page
starting one nanosecond after the last sample of the one before (a tag has one sample per
timestamp). The result is three numpy columns; no Python object per sample.
"""

from __future__ import annotations

import math

import numpy as np

from andon.core.batch import F64, I64, U8
from andon.core.clock import NS_PER_S
from andon.core.errors import UnknownTagError
from andon.historian import Historian
from andon.plant.model import MachineRef

PAGE = 500_000
MIN_GAP_S = 60.0
GAP_INTERVALS = 10
BACK_STEPS_S = (3600.0, 86400.0, 7 * 86400.0, 31 * 86400.0, 366 * 86400.0)
"""How far back the sample before a range of an event-driven tag is looked for, step by step."""

Columns = tuple[I64, F64, U8]


def empty() -> Columns:
    return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.uint8)


def max_gap_s(ref: MachineRef, tag: str) -> float:
    """How long a sample of ``tag`` stays believable: 10 × its declared ``interval``, at least
    60 s (a connector that misses a few polls is not a dead signal). A tag without an interval
    is event-driven (written when it changes): its value holds until the next one, however
    long (``inf``), because silence means "unchanged", not "dead"."""
    for t in ref.machine.tags:
        if t.name == tag and t.interval is not None:
            return max(GAP_INTERVALS * t.interval, MIN_GAP_S)
    return math.inf


def read(historian: Historian, tag: str, start_ns: int, end_ns: int) -> Columns:
    """Every sample of ``tag`` in ``[start_ns, end_ns)`` (none for a tag never stored)."""
    parts: list[Columns] = []
    lo = start_ns
    while lo < end_ns:
        try:
            s = historian.range(tag, lo, end_ns, limit=PAGE)
        except UnknownTagError:
            return empty()
        if len(s):
            parts.append((s.ts, s.value, s.quality))
        if len(s) < PAGE:
            break
        lo = int(s.ts[-1]) + 1
    if not parts:
        return empty()
    if len(parts) == 1:
        return parts[0]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def newest_before(historian: Historian, tag: str, t_ns: int) -> Columns:
    """The newest sample of ``tag`` before ``t_ns`` (as one-row columns; none if there is none
    within a year). The historian's ``latest`` answers in one lookup when nothing was written
    since; otherwise windows reaching further back are read until one holds a sample."""
    try:
        latest = historian.latest(tag)
    except UnknownTagError:
        return empty()
    if not latest:
        return empty()
    newest = latest[0]
    if newest.ts < t_ns:
        return (
            np.array([newest.ts], np.int64),
            np.array([newest.value], np.float64),
            np.array([newest.quality], np.uint8),
        )
    hi = t_ns
    for back in BACK_STEPS_S:
        lo = t_ns - round(back * NS_PER_S)
        ts, value, quality = read(historian, tag, lo, hi)
        if len(ts):
            return ts[-1:], value[-1:], quality[-1:]
        hi = lo
    return empty()


def read_with_before(
    historian: Historian, tag: str, start_ns: int, end_ns: int, gap_s: float
) -> Columns:
    """The samples of ``[start_ns, end_ns)`` and the one that sets the value at ``start_ns``.

    A sampled tag is read from ``start_ns - gap_s`` (an older sample would be stale at
    ``start_ns`` anyway); an event-driven tag (``gap_s`` infinite) gets its newest sample
    before ``start_ns`` added when no sample falls exactly on ``start_ns``."""
    if math.isfinite(gap_s):
        return read(historian, tag, start_ns - round(gap_s * NS_PER_S), end_ns)
    ts, value, quality = read(historian, tag, start_ns, end_ns)
    if len(ts) and int(ts[0]) == start_ns:
        return ts, value, quality
    bt, bv, bq = newest_before(historian, tag, start_ns)
    if not len(bt):
        return ts, value, quality
    return np.concatenate([bt, ts]), np.concatenate([bv, value]), np.concatenate([bq, quality])
