"""Data-quality checks over one tag's samples: pure numpy, vectorised, chunk by chunk.

Each check takes one tag's columns (``ts`` int64 ns UTC ascending, ``value`` float64,
``quality`` uint8) and returns what it found as arrays (intervals, indices) together with the
numbers that are its evidence; no check loops over samples in Python.

**Chunks.** The historian scan reads a long range in pages, so a check that needs context
across a page boundary takes a small carried-over state (``carry``) and returns the new one.
A run (stuck, out of range, bad quality) still open at the end of a chunk is held in the carry,
not reported, until a later chunk closes it or ``final=True`` closes it at the range's end.
Carry rather than overlapping reads, because a run may be longer than any overlap (a sensor
frozen for a week is 600 000 samples at 1 Hz). The spike filter is the one check whose carry is
samples themselves: the last ``2·half_window + 2`` of them, so every window is whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from andon.core.batch import F64, I64, Batch
from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S
from andon.core.quality import UNCERTAIN

Mask = npt.NDArray[np.bool_]

GAP_MULTIPLE = 3.0
"""A silence longer than this many expected intervals is a gap (one or two lost samples are
not worth a technician's time; three in a row are a dropout)."""
SETTLE_NS = 30 * NS_PER_S
"""Samples of the last 30 s may still be on their way (a connector's batch, store-and-forward):
when a range ends within this of now, a silence at its end is a gap only once it is longer
than this (and than ``GAP_MULTIPLE`` intervals, as any gap). ``watch`` opens gaps by the same
rule."""
STUCK_AFTER_NS = 10 * NS_PER_MIN
STUCK_INTERVALS = 60
"""A value held for longer than ``max(10 min, 60 intervals)`` is stuck: ten minutes is long
for a live 1 s signal, and 60 intervals keeps a slow (1 min) signal from being judged on a
handful of samples."""
STUCK_MIN_SAMPLES = 3
"""A flat run needs at least this many samples: two equal readings far apart are a gap, not a
frozen value."""
HAMPEL_HALF_WINDOW = 10
HAMPEL_K = 6.0
"""The spike filter compares each sample with the median of the 21 samples centred on it and
flags it when it lies more than 6 robust standard deviations (1.4826·MAD) away. 3 is the
textbook choice for cleaning a signal; a finding should be a sensor fault, not a Gaussian tail
(at 3, one sample in 370 of plain noise is flagged; at 6, one in 500 million)."""
MAD_TO_SIGMA = 1.4826
LEARN_MIN = 10
BAD_BELOW = UNCERTAIN
GOOD_FROM = 192
"""OPC UA's quality bands: below 64 BAD, below 192 UNCERTAIN, from 192 GOOD."""
"""Quality codes below 64 are BAD, 64-191 UNCERTAIN, 192 and up GOOD (OPC DA classes)."""
ROLLOVER_NEAR = 0.1
"""A drop is a rollover when it goes from within 10 % of the top to within 10 % of 0 (as in
``state.counts``)."""
RESET_MAX = 10.0
"""A drop to at most 10 is a reset (a counter zeroed at shift change or by a PLC restart may
count a few parts before its next sample is taken); any other drop is a glitch."""
MAX_AHEAD_NS = 5 * NS_PER_S
"""A sample stamped more than 5 s after it arrived (or after now) comes from a clock that runs
fast; smaller offsets are ordinary clock jitter between a PLC and the server."""
MAX_BEHIND_NS = 24 * NS_PER_H
"""A sample arriving more than a day after its time is suspicious even for store-and-forward."""


# ---------------------------------------------------------------- runs of samples


@dataclass(frozen=True, eq=False)
class Runs:
    """Runs of consecutive samples: first and last sample time, count, lowest and highest value."""

    start_ns: I64
    end_ns: I64
    samples: I64
    low: F64
    high: F64

    def __len__(self) -> int:
        return len(self.start_ns)

    @property
    def duration_ns(self) -> I64:
        return self.end_ns - self.start_ns

    def select(self, keep: Mask) -> Runs:
        return Runs(
            self.start_ns[keep],
            self.end_ns[keep],
            self.samples[keep],
            self.low[keep],
            self.high[keep],
        )

    @staticmethod
    def empty() -> Runs:
        return Runs(_i64([]), _i64([]), _i64([]), _f64([]), _f64([]))

    @staticmethod
    def concat(parts: list[Runs]) -> Runs:
        if not parts:
            return Runs.empty()
        return Runs(
            np.concatenate([p.start_ns for p in parts]),
            np.concatenate([p.end_ns for p in parts]),
            np.concatenate([p.samples for p in parts]),
            np.concatenate([p.low for p in parts]),
            np.concatenate([p.high for p in parts]),
        )


@dataclass(frozen=True)
class OpenRun:
    """A run still open at the end of a chunk: carried into the next one."""

    start_ns: int
    end_ns: int
    samples: int
    low: float
    high: float
    last: float

    def closed(self) -> Runs:
        return Runs(
            _i64([self.start_ns]),
            _i64([self.end_ns]),
            _i64([self.samples]),
            _f64([self.low]),
            _f64([self.high]),
        )


def _i64(x: object) -> I64:
    return np.asarray(x, dtype=np.int64)


def _f64(x: object) -> F64:
    return np.asarray(x, dtype=np.float64)


def runs(
    ts: I64, value: F64, member: Mask, link: Mask, carry: OpenRun | None, final: bool
) -> tuple[Runs, OpenRun | None]:
    """Runs of ``member`` samples; ``link[i]``: sample ``i`` continues the run of sample ``i-1``
    (for ``i = 0``: the carried run). Returns the runs closed here and the one left open."""
    n = len(ts)
    link = link & member
    if n == 0:
        if carry is not None and final:
            return carry.closed(), None
        return Runs.empty(), carry
    head = carry is not None and bool(link[0])
    starts = np.flatnonzero(member & ~link)
    if head:
        starts = np.concatenate(([0], starts))
    brk = ~np.append(link[1:], False)
    ends = np.flatnonzero(member & brk)
    bounds = np.empty(2 * len(starts), dtype=np.intp)
    bounds[0::2], bounds[1::2] = starts, ends + 1
    padded = np.append(value, np.nan)
    low = np.fmin.reduceat(padded, bounds)[0::2] if len(starts) else _f64([])
    high = np.fmax.reduceat(padded, bounds)[0::2] if len(starts) else _f64([])
    found = Runs(ts[starts], ts[ends], (ends - starts + 1).astype(np.int64), low, high)
    if head:
        assert carry is not None
        found.start_ns[0] = carry.start_ns
        found.samples[0] += carry.samples
        found.low[0] = np.fmin(found.low[0], carry.low)
        found.high[0] = np.fmax(found.high[0], carry.high)
    elif carry is not None:
        found = Runs.concat([carry.closed(), found])
    if len(ends) and not final and int(ends[-1]) == n - 1:
        last = len(found) - 1
        left = OpenRun(
            int(found.start_ns[last]),
            int(found.end_ns[last]),
            int(found.samples[last]),
            float(found.low[last]),
            float(found.high[last]),
            float(value[-1]),
        )
        return found.select(np.arange(len(found)) < last), left
    return found, None


# ---------------------------------------------------------------- spans of time


@dataclass(frozen=True, eq=False)
class Spans:
    """Intervals of time ``[start_ns, end_ns]``, sorted and disjoint."""

    start_ns: I64
    end_ns: I64

    def __len__(self) -> int:
        return len(self.start_ns)

    @staticmethod
    def empty() -> Spans:
        return Spans(_i64([]), _i64([]))


def overlap_ns(start_ns: I64, end_ns: I64, spans: Spans) -> I64:
    """How much of each ``[start, end]`` lies within ``spans`` (vectorised: cumulative span
    time before a point, read with one ``searchsorted`` per end)."""
    if not len(spans):
        return np.zeros(len(start_ns), dtype=np.int64)
    length = spans.end_ns - spans.start_ns
    cum = np.concatenate(([0], np.cumsum(length)))

    def before(t: I64) -> I64:
        i = np.searchsorted(spans.start_ns, t, side="right")
        prev = np.maximum(i - 1, 0)
        part = np.clip(t - spans.start_ns[prev], 0, length[prev])
        out: I64 = np.where(i > 0, cum[prev] + part, 0)
        return out

    return before(end_ns) - before(start_ns)


# ---------------------------------------------------------------- completeness and gaps


def learn_interval(ts: I64) -> tuple[int | None, bool]:
    """The median interval between samples, and whether the tag is sampled regularly: at least
    ``LEARN_MIN`` intervals, 99 % of them within 0.5-1.5× the median. An irregular tag (a
    measurement per part, whose intervals follow the machine) has no expected rate and gets
    no gap findings; declare ``interval:`` to have a tag's gaps checked whatever it does."""
    d = np.diff(ts)
    d = d[d > 0]
    if not len(d):
        return None, False
    med = int(np.median(d))
    near = np.count_nonzero((d >= 0.5 * med) & (d <= 1.5 * med))
    return med, bool(len(d) >= LEARN_MIN and near >= 0.99 * len(d))


def completeness(received: int, span_ns: int, interval_ns: int | None) -> float | None:
    """Share of the expected samples received over a span (capped at 1); None without an
    expected interval."""
    if interval_ns is None or interval_ns <= 0:
        return None
    expected = span_ns / interval_ns
    if expected < 1:
        return 1.0 if received or span_ns == 0 else 0.0
    return min(1.0, received / expected)


def gaps(
    ts: I64,
    interval_ns: int,
    *,
    after_ns: int,
    before_ns: int | None = None,
    gap_multiple: float = GAP_MULTIPLE,
) -> Spans:
    """Silences longer than ``gap_multiple × interval``: from the sample (or ``after_ns``: the
    range's start, or the previous chunk's last sample) before to the one after (or
    ``before_ns``: the range's end, given with the last chunk)."""
    tail = [before_ns] if before_ns is not None else []
    edges = np.concatenate((_i64([after_ns]), ts, _i64(tail)))
    long = np.diff(edges) > gap_multiple * interval_ns
    return Spans(edges[:-1][long], edges[1:][long])


# ---------------------------------------------------------------- stuck, range, quality


def stuck(
    ts: I64,
    value: F64,
    *,
    stuck_after_ns: int = STUCK_AFTER_NS,
    resolution: float = 0.0,
    min_samples: int = STUCK_MIN_SAMPLES,
    running: Spans | None = None,
    max_gap_ns: int | None = None,
    carry: OpenRun | None = None,
    final: bool = True,
) -> tuple[Runs, OpenRun | None]:
    """Runs that change by no more than ``resolution`` from sample to sample for longer than
    ``stuck_after_ns`` (counted only while the machine runs, when ``running`` is given: a
    stopped spindle reads 0 rpm for an hour and is right to). NaN breaks a run, and so does
    a gap longer than ``max_gap_ns`` (the same reading on both sides of a dropout is two
    readings, not a sensor frozen through it)."""
    n = len(ts)
    link = np.zeros(n, dtype=np.bool_)
    if n:
        link[1:] = np.abs(np.diff(value)) <= resolution
        link[0] = carry is not None and abs(float(value[0]) - carry.last) <= resolution
        if max_gap_ns is not None:
            link[1:] &= np.diff(ts) <= max_gap_ns
            link[0] &= carry is not None and int(ts[0]) - carry.end_ns <= max_gap_ns
    found, left = runs(ts, value, np.ones(n, dtype=np.bool_), link, carry, final)
    held = (
        found.duration_ns if running is None else overlap_ns(found.start_ns, found.end_ns, running)
    )
    return found.select((held >= stuck_after_ns) & (found.samples >= min_samples)), left


def out_of_range(
    ts: I64,
    value: F64,
    low: float | None,
    high: float | None,
    *,
    carry: OpenRun | None = None,
    final: bool = True,
) -> tuple[Runs, OpenRun | None]:
    """Runs of consecutive samples below ``low`` or above ``high`` (NaN is neither)."""
    member = np.zeros(len(ts), dtype=np.bool_)
    if low is not None:
        member |= value < low
    if high is not None:
        member |= value > high
    return runs(ts, value, member, _linked(member, carry), carry, final)


def bad_quality(
    ts: I64, quality: npt.NDArray[np.uint8], *, carry: OpenRun | None = None, final: bool = True
) -> tuple[Runs, OpenRun | None]:
    """Runs of consecutive BAD samples (low/high of a run: its quality codes)."""
    member = quality < BAD_BELOW
    return runs(ts, quality.astype(np.float64), member, _linked(member, carry), carry, final)


def uncertain_quality(
    ts: I64, quality: npt.NDArray[np.uint8], *, carry: OpenRun | None = None, final: bool = True
) -> tuple[Runs, OpenRun | None]:
    """Runs of consecutive UNCERTAIN samples (a stale value after its source died, a sensor
    out of calibration): neither BAD nor GOOD."""
    member = (quality >= BAD_BELOW) & (quality < GOOD_FROM)
    return runs(ts, quality.astype(np.float64), member, _linked(member, carry), carry, final)


def quality_counts(quality: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """How many samples are BAD and how many UNCERTAIN."""
    bad = int(np.count_nonzero(quality < BAD_BELOW))
    return bad, int(np.count_nonzero(quality < GOOD_FROM)) - bad


def _linked(member: Mask, carry: OpenRun | None) -> Mask:
    link = np.zeros(len(member), dtype=np.bool_)
    if len(member):
        link[1:] = member[1:] & member[:-1]
        link[0] = carry is not None and bool(member[0])
    return link


# ---------------------------------------------------------------- spikes


@dataclass(frozen=True, eq=False)
class Spikes:
    """Isolated samples far from their neighbours: time, value, the window's median and the
    robust standard deviation (1.4826·MAD, or the floor) it was judged by."""

    ts: I64
    value: F64
    median: F64
    scale: F64

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def deviations(self) -> F64:
        """How many robust standard deviations each spike lies from its window's median."""
        out: F64 = np.abs(self.value - self.median) / self.scale
        return out


@dataclass(frozen=True, eq=False)
class Tail:
    """The last samples of a chunk, so the next chunk's first windows are whole."""

    ts: I64
    value: F64


def noise_sigma(value: F64) -> float:
    """A robust estimate of a signal's sample-to-sample noise (its standard deviation for
    Gaussian noise): 1.4826·MAD of the first differences / √2. Differences ignore slow trends
    and steps (a machine starting), so the estimate is of the noise alone; 0 for a flat or
    stepped signal, and for fewer than 3 finite values."""
    v = value[np.isfinite(value)]
    if len(v) < 3:
        return 0.0
    d = np.diff(v)
    return float(MAD_TO_SIGMA * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def spikes(
    ts: I64,
    value: F64,
    *,
    half_window: int = HAMPEL_HALF_WINDOW,
    k: float = HAMPEL_K,
    min_scale: float = 0.0,
    carry: Tail | None = None,
) -> tuple[Spikes, Tail]:
    """Hampel filter: a sample more than ``k`` robust standard deviations from the median of
    the ``2·half_window + 1`` samples centred on it, whose neighbours are not (an isolated
    point; a step or a burst is no spike). A window with MAD 0 (a flat signal) judges by
    ``min_scale`` instead, and flags nothing when that is 0. The first and last
    ``half_window + 1`` samples of a range have no whole window and are not judged. Give
    finite values only (``TagScan`` drops NaN first)."""
    x_ts = ts if carry is None else np.concatenate((carry.ts, ts))
    x = value if carry is None else np.concatenate((carry.value, value))
    w = 2 * half_window + 1
    keep = w + 1
    tail = Tail(x_ts[-keep:].copy(), x[-keep:].copy())
    if len(x) < w + 2:
        return Spikes(_i64([]), _f64([]), _f64([]), _f64([])), Tail(x_ts, x)
    win = sliding_window_view(x, w)
    # the window is odd: its median is the middle element after a partial sort (np.partition
    # is about twice as fast as np.median here)
    med = np.partition(win, half_window, axis=1)[:, half_window]
    spread = np.partition(np.abs(win - med[:, None]), half_window, axis=1)[:, half_window]
    scale = np.maximum(MAD_TO_SIGMA * spread, min_scale)
    centre = x[half_window : len(x) - half_window]
    with np.errstate(invalid="ignore"):
        flag = (scale > 0) & (np.abs(centre - med) > k * scale)
    # a spike comes back: it lies beyond both neighbours, on its own side, by half the
    # threshold (a sample caught mid-way through a step lies between them)
    side = np.sign(centre[1:-1] - med[1:-1])
    gap = 0.5 * k * scale[1:-1]
    with np.errstate(invalid="ignore"):
        back = (side * (centre[1:-1] - centre[:-2]) > gap) & (
            side * (centre[1:-1] - centre[2:]) > gap
        )
    alone = np.flatnonzero(flag[1:-1] & ~flag[:-2] & ~flag[2:] & back) + 1
    pos = alone + half_window
    return Spikes(x_ts[pos], x[pos], med[alone], scale[alone]), tail


# ---------------------------------------------------------------- counters


@dataclass(frozen=True, eq=False)
class Glitches:
    """Counter drops that are neither a rollover nor a reset: time, value before and after."""

    ts: I64
    before: F64
    after: F64

    def __len__(self) -> int:
        return len(self.ts)


def counter_glitches(
    ts: I64,
    value: F64,
    *,
    rollover: float = 65536,
    reset_max: float = RESET_MAX,
    near: float = ROLLOVER_NEAR,
    carry: float | None = None,
) -> tuple[Glitches, float | None]:
    """Drops of a counter that are neither a rollover (from within ``near·rollover`` of the top
    to within it of 0) nor a reset (to at most ``reset_max``), and drops across zero: a jump
    from near 0 to near the top is the counter going back past 0 (just after a rollover), not
    a machine making most of a counter's range between two readings. NaN samples are
    skipped; the carry is the last finite value."""
    ok = np.isfinite(value)
    t, v = ts[ok], value[ok]
    if not len(v):
        return Glitches(_i64([]), _f64([]), _f64([])), carry
    prev = np.concatenate(([carry if carry is not None else v[0]], v[:-1]))
    rolled = (prev >= rollover * (1 - near)) & (v <= rollover * near)
    back_past_zero = (prev <= rollover * near) & (v >= rollover * (1 - near))
    glitch = ((v < prev) & ~rolled & (v > reset_max)) | back_past_zero
    return Glitches(t[glitch], prev[glitch], v[glitch]), float(v[-1])


# ---------------------------------------------------------------- time


def future(ts: I64, now_ns: int, *, max_ahead_ns: int = MAX_AHEAD_NS) -> npt.NDArray[np.intp]:
    """Indices of samples stamped more than ``max_ahead_ns`` after ``now_ns``."""
    return np.flatnonzero(ts > now_ns + max_ahead_ns)


@dataclass(frozen=True)
class TimeProblems:
    """One tag's time problems in one live Batch: row indices into the Batch."""

    out_of_order: tuple[int, ...] = ()
    duplicates: tuple[int, ...] = ()
    ahead: tuple[int, ...] = ()
    behind: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.out_of_order or self.duplicates or self.ahead or self.behind)


@dataclass(frozen=True)
class BatchTime:
    """Time problems per tag path, and the newest time seen per tag after this Batch (the
    ``last_ts_by_tag`` to pass with the next one)."""

    problems: dict[str, TimeProblems]
    newest: dict[str, int]


def batch_time_problems(
    batch: Batch,
    arrival_ns: int,
    last_ts_by_tag: dict[str, int],
    *,
    max_ahead_ns: int = MAX_AHEAD_NS,
    max_behind_ns: int = MAX_BEHIND_NS,
) -> BatchTime:
    """Time problems visible only on live data: per tag, samples older than the newest already
    seen (before or earlier in this Batch: out of order), the same time arriving again within
    the Batch with a value other than its first's, and samples stamped more than
    ``max_ahead_ns`` after or ``max_behind_ns`` before their arrival. ``last_ts_by_tag`` is not
    changed."""
    newest = dict(last_ts_by_tag)
    problems: dict[str, TimeProblems] = {}
    n = len(batch)
    if not n:
        return BatchTime(problems, newest)
    # vectorised over the whole Batch, never a loop turn per sample or per tag: a live
    # stream of small Batches must cost little beside the historian's write
    tid = batch.tag_id.astype(np.int64)
    order = np.argsort(tid, kind="stable")  # by tag, arrival order within each tag
    g, ts = tid[order], batch.ts[order]
    first = np.ones(n, dtype=np.bool_)
    first[1:] = g[1:] != g[:-1]
    starts = np.flatnonzero(first)
    # the newest time seen before each sample: within its tag (a running max, restarted per
    # tag through ranks offset by tag) and before this Batch (``last_ts_by_tag``)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(ts, kind="stable")] = np.arange(n)
    key = g * n + rank
    run = np.maximum.accumulate(key)
    seen_before = np.full(n, -1, dtype=np.int64)
    inner = ~first
    seen_before[inner] = run[:-1][inner[1:]] - g[inner] * n
    by_rank = np.sort(ts)
    floor = np.iinfo(np.int64).min
    prior_by_tag = np.array([last_ts_by_tag.get(t, floor) for t in batch.tags], dtype=np.int64)
    prior = prior_by_tag[g]
    newest_in = np.where(seen_before >= 0, by_rank[np.clip(seen_before, 0, None)], floor)
    late = ts < np.maximum(newest_in, prior)
    # the same time again within a tag with a value other than its first's, the one the
    # historian keeps (NaN equals NaN here)
    by_time = np.lexsort((np.arange(n), ts, g))
    gt, tt, vt = g[by_time], ts[by_time], batch.value[order][by_time]
    opens = np.ones(n, dtype=np.bool_)
    opens[1:] = (gt[1:] != gt[:-1]) | (tt[1:] != tt[:-1])
    head = np.maximum.accumulate(np.where(opens, np.arange(n), 0))
    vf = vt[head]
    differ = (vt != vf) & ~(np.isnan(vt) & np.isnan(vf))
    dup = np.zeros(n, dtype=np.bool_)
    dup[by_time[differ]] = True
    ahead = ts > arrival_ns + max_ahead_ns
    behind = ts < arrival_ns - max_behind_ns
    bad = late | dup | ahead | behind
    if bool(bad.any()):
        rows = order[bad]
        for k in np.unique(g[bad]).tolist():
            mine = g[bad] == k
            r = rows[mine]
            problems[batch.tags[k]] = TimeProblems(
                out_of_order=tuple(r[late[bad][mine]].tolist()),
                duplicates=tuple(r[dup[bad][mine]].tolist()),
                ahead=tuple(r[ahead[bad][mine]].tolist()),
                behind=tuple(r[behind[bad][mine]].tolist()),
            )
    top = np.maximum.reduceat(ts, starts)
    for k, t in zip(g[starts].tolist(), top.tolist(), strict=True):
        path = batch.tags[k]
        newest[path] = max(t, last_ts_by_tag.get(path, t))
    return BatchTime(problems, newest)
