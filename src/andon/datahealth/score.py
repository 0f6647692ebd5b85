"""A data-quality score from 0 to 100 per tag and day; machines and lines by the mean.

A tag starts each day at 100 and loses up to each weight's points for one kind of problem,
in proportion to how much of the day it spoils:

=============  ======  ===================================================================
component      points  lost in proportion to
=============  ======  ===================================================================
completeness   35      the share of expected samples missing (tags with an interval)
gaps           10      the number of gaps, all points at ``GAPS_FOR_ZERO`` or more
stuck          20      the share of the day the value was stuck
values         15      the share of samples out of range, plus each spike and each run
                       out of range (all points at ``INCIDENTS_FOR_ZERO`` of them)
quality        15      the share of BAD samples, plus half the share of UNCERTAIN ones
time           5       counter glitches and samples stamped in the future (all points at
                       ``TIME_FOR_ZERO``)
=============  ======  ===================================================================

Missing and frozen data weigh most: every KPI and model downstream is silently wrong on them,
while a spike or a BAD sample is at least visible. A tag never received scores 0, and so does
a regularly sampled tag that sent nothing in the checked range (a dead sensor). A day is a
calendar day in the plant's time zone, cut to the checked range.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from andon.core.batch import F64, I64
from andon.core.clock import from_ns, to_ns
from andon.datahealth.checks import Spans, completeness, overlap_ns
from andon.datahealth.tagscan import TagResult

COMPLETENESS = 35.0
GAPS = 10.0
STUCK = 20.0
VALUES = 15.0
QUALITY = 15.0
TIME = 5.0
GAPS_FOR_ZERO = 4
INCIDENTS_FOR_ZERO = 10
TIME_FOR_ZERO = 5
assert COMPLETENESS + GAPS + STUCK + VALUES + QUALITY + TIME == 100.0


def days(timezone: str, start_ns: int, end_ns: int) -> tuple[list[str], I64, I64]:
    """The plant's local calendar days touching ``[start_ns, end_ns)``, cut to it: names
    (``2026-03-29``), starts and ends."""
    tz = ZoneInfo(timezone)
    day = from_ns(start_ns).astimezone(tz).date()
    names, lo, hi = [], [], []
    while True:
        begin = to_ns(datetime(day.year, day.month, day.day, tzinfo=tz))
        nxt = day + timedelta(days=1)
        end = to_ns(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz))
        if begin >= end_ns:
            break
        names.append(day.isoformat())
        lo.append(max(begin, start_ns))
        hi.append(min(end, end_ns))
        day = nxt
    return names, np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)


def tag_scores(r: TagResult, lo: I64, hi: I64, future_samples: int = 0) -> F64:
    """The score of one tag on each day ``[lo[i], hi[i])``."""
    span = (hi - lo).astype(np.float64)
    lost = np.zeros(len(lo))
    interval = r.rules.interval_ns
    if interval is not None:
        share = np.array(
            [
                completeness(int(n), int(s), interval) or 0.0
                for n, s in zip(r.day_received, span, strict=True)
            ]
        )
        lost += COMPLETENESS * (1 - share)
        g = r.gaps
        # gaps are sorted and disjoint: those touching a day started before its end, less
        # those that ended by its start (no days × gaps matrix: a year of a flapping tag)
        n_gaps = np.searchsorted(g.start_ns, hi, side="left") - np.searchsorted(
            g.end_ns, lo, side="right"
        )
        lost += GAPS * np.minimum(1.0, n_gaps / GAPS_FOR_ZERO)
    stuck = r.stuck
    stuck_ns = np.array(
        [
            overlap_ns(lo[i : i + 1], hi[i : i + 1], Spans(stuck.start_ns, stuck.end_ns))[0]
            for i in range(len(lo))
        ],
        dtype=np.float64,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        lost += STUCK * np.minimum(1.0, np.where(span > 0, stuck_ns / span, 0.0))
        received = np.maximum(r.day_received, 1)
        runs = np.bincount(
            np.clip(np.searchsorted(lo, r.out_of_range.start_ns, side="right") - 1, 0, None),
            minlength=len(lo),
        )[: len(lo)]
        values = r.day_out_of_range / received + (r.day_spikes + runs) / INCIDENTS_FOR_ZERO
        lost += VALUES * np.minimum(1.0, values)
        lost += QUALITY * np.minimum(1.0, (r.day_bad + 0.5 * r.day_uncertain) / received)
    time_events = r.day_glitches.astype(np.float64)
    if len(time_events):
        time_events[-1] += future_samples
    lost += TIME * np.minimum(1.0, time_events / TIME_FOR_ZERO)
    out: F64 = np.clip(np.round(100.0 - lost, 1), 0.0, 100.0)
    return out


def mean_scores(parts: list[dict[str, float]]) -> dict[str, float]:
    """Per day, the mean of the parts' scores (a machine of its tags, a line of its machines)."""
    by_day: dict[str, list[float]] = {}
    for p in parts:
        for day, s in p.items():
            by_day.setdefault(day, []).append(s)
    return {d: round(sum(v) / len(v), 1) for d, v in by_day.items()}
