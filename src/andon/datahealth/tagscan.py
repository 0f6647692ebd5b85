"""One tag's checks, fed chunk by chunk: the carries of ``checks`` threaded through a range.

``TagScan.feed`` takes the next chunk of samples (in time order), ``finish`` closes the runs
still open at the range's end. Feeding a range in one chunk or in many gives the same result,
which ``tests/datahealth/test_chunks.py`` holds it to. Besides the findings' arrays it keeps
per-day counts (samples, bad, out of range...) for the score, so nothing grows with the range
but the findings themselves.

Value checks (stuck, out of range, spikes, counter) look only at samples whose source did not
mark them BAD: those are the quality check's to report, and a BAD sample's value is often a
placeholder (0, the last good value) that would show up twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from andon.core.batch import F64, I64, U8
from andon.datahealth import checks
from andon.datahealth.checks import Glitches, OpenRun, Runs, Spans, Spikes, Tail


@dataclass(frozen=True)
class TagRules:
    """Which checks apply to a tag and with what settings (see ``scan.rules_for``)."""

    interval_ns: int | None = None
    """The expected interval (declared, or learned from a regular tag); None: no gap check."""
    learned: bool = False
    low: float | None = None
    high: float | None = None
    stuck_after_ns: int | None = checks.STUCK_AFTER_NS
    """None: no stuck check (a declared constant, or the machine's own state word)."""
    resolution: float = 0.0
    running: Spans | None = None
    """When the machine ran; a flat run counts only while it did. None: not known."""
    spikes: bool = True
    spike_min_scale: float = 0.0
    rollover: float | None = None
    """Set for a part counter: its glitches are looked for."""
    gap_multiple: float = checks.GAP_MULTIPLE
    settle_ns: int = 0
    """A silence at the range's end no longer than this is no gap: set when the range ends
    near now, where the last samples may still be on their way (see ``checks.SETTLE_NS``)."""


@dataclass(frozen=True, eq=False)
class TagResult:
    """What the checks found on one tag over a range, and its per-day counts."""

    rules: TagRules
    received: int
    gaps: Spans
    stuck: Runs
    out_of_range: Runs
    bad_quality: Runs
    uncertain_quality: Runs
    spikes: Spikes
    glitches: Glitches
    day_received: I64
    day_bad: I64
    day_uncertain: I64
    day_out_of_range: I64
    day_spikes: I64
    day_glitches: I64
    first_ns: int | None
    last_ns: int | None


@dataclass
class TagScan:
    """Runs the checks of one tag over ``[start_ns, end_ns)`` chunk by chunk; ``days`` are the
    starts of the score's days (the first at or before ``start_ns``)."""

    rules: TagRules
    start_ns: int
    end_ns: int
    days: I64
    _received: int = 0
    _prev_ts: int | None = None
    _first: int | None = None
    _gaps: list[Spans] = field(default_factory=list)
    _stuck: list[Runs] = field(default_factory=list)
    _range: list[Runs] = field(default_factory=list)
    _bad: list[Runs] = field(default_factory=list)
    _uncertain: list[Runs] = field(default_factory=list)
    _spikes: list[Spikes] = field(default_factory=list)
    _glitches: list[Glitches] = field(default_factory=list)
    _stuck_carry: OpenRun | None = None
    _range_carry: OpenRun | None = None
    _bad_carry: OpenRun | None = None
    _uncertain_carry: OpenRun | None = None
    _spike_carry: Tail | None = None
    _counter_carry: float | None = None
    _day: dict[str, I64] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("received", "bad", "uncertain", "out_of_range", "spikes", "glitches"):
            self._day[key] = np.zeros(len(self.days), dtype=np.int64)

    def _count(self, key: str, ts: I64) -> None:
        if len(ts):
            i = np.searchsorted(self.days, ts, side="right") - 1
            self._day[key] += np.bincount(np.maximum(i, 0), minlength=len(self.days))

    def feed(self, ts: I64, value: F64, quality: U8, *, final: bool = False) -> None:
        """The next chunk of samples, after every sample fed before."""
        r = self.rules
        if self._first is None and len(ts):
            self._first = int(ts[0])
        self._received += len(ts)
        self._count("received", ts)
        if r.interval_ns is not None:
            after = self.start_ns if self._prev_ts is None else self._prev_ts
            before = self.end_ns if final else None
            if before is not None and before - after <= r.settle_ns:
                before = None  # samples may still be on their way
            self._gaps.append(
                checks.gaps(
                    ts, r.interval_ns, after_ns=after, before_ns=before, gap_multiple=r.gap_multiple
                )
            )
        if len(ts):
            self._prev_ts = int(ts[-1])
        bad_runs, self._bad_carry = checks.bad_quality(
            ts, quality, carry=self._bad_carry, final=final
        )
        self._bad.append(bad_runs)
        uncertain_runs, self._uncertain_carry = checks.uncertain_quality(
            ts, quality, carry=self._uncertain_carry, final=final
        )
        self._uncertain.append(uncertain_runs)
        bad = quality < checks.BAD_BELOW
        self._count("bad", ts[bad])
        self._count("uncertain", ts[~bad & (quality < checks.GOOD_FROM)])

        usable = ~bad
        t, v = ts[usable], value[usable]
        if r.stuck_after_ns is not None:
            found, self._stuck_carry = checks.stuck(
                t,
                v,
                stuck_after_ns=r.stuck_after_ns,
                resolution=r.resolution,
                running=r.running,
                max_gap_ns=(
                    None if r.interval_ns is None else round(r.interval_ns * r.gap_multiple)
                ),
                carry=self._stuck_carry,
                final=final,
            )
            self._stuck.append(found)
        if r.low is not None or r.high is not None:
            found, self._range_carry = checks.out_of_range(
                t, v, r.low, r.high, carry=self._range_carry, final=final
            )
            self._range.append(found)
            with np.errstate(invalid="ignore"):
                outside = np.zeros(len(v), dtype=np.bool_)
                if r.low is not None:
                    outside |= v < r.low
                if r.high is not None:
                    outside |= v > r.high
            self._count("out_of_range", t[outside])
        if r.spikes:
            finite = np.isfinite(v)
            sp, self._spike_carry = checks.spikes(
                t[finite], v[finite], min_scale=r.spike_min_scale, carry=self._spike_carry
            )
            self._spikes.append(sp)
            self._count("spikes", sp.ts)
        if r.rollover is not None:
            gl, self._counter_carry = checks.counter_glitches(
                t, v, rollover=r.rollover, carry=self._counter_carry
            )
            self._glitches.append(gl)
            self._count("glitches", gl.ts)

    def finish(self) -> TagResult:
        """Close the range: a run still open ends with it."""
        self.feed(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.uint8), final=True)
        sp = self._spikes
        gl = self._glitches
        return TagResult(
            rules=self.rules,
            received=self._received,
            gaps=Spans(
                np.concatenate([g.start_ns for g in self._gaps] or [np.empty(0, np.int64)]),
                np.concatenate([g.end_ns for g in self._gaps] or [np.empty(0, np.int64)]),
            ),
            stuck=Runs.concat(self._stuck),
            out_of_range=Runs.concat(self._range),
            bad_quality=Runs.concat(self._bad),
            uncertain_quality=Runs.concat(self._uncertain),
            spikes=Spikes(
                *(
                    np.concatenate([getattr(s, f) for s in sp] or [np.empty(0, dt)])
                    for f, dt in (
                        ("ts", np.int64),
                        ("value", np.float64),
                        ("median", np.float64),
                        ("scale", np.float64),
                    )
                )
            ),
            glitches=Glitches(
                *(
                    np.concatenate([getattr(g, f) for g in gl] or [np.empty(0, dt)])
                    for f, dt in (("ts", np.int64), ("before", np.float64), ("after", np.float64))
                )
            ),
            day_received=self._day["received"],
            day_bad=self._day["bad"],
            day_uncertain=self._day["uncertain"],
            day_out_of_range=self._day["out_of_range"],
            day_spikes=self._day["spikes"],
            day_glitches=self._day["glitches"],
            first_ns=self._first,
            last_ns=self._prev_ts,
        )
