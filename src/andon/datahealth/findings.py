"""Findings: what a check found on a tag, said so a technician understands it.

A ``Finding`` names the tag, the check, the interval and the evidence (numbers), with one
plain sentence ("spindle_vibration on mill-2 read exactly 3.20 mm/s for 47 minutes while the
machine was running"). ``tag_findings`` turns one tag's ``TagResult`` into findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from andon.core.clock import NS_PER_S, iso
from andon.datahealth.tagscan import TagResult

CHECKS = (
    "gap",
    "stuck",
    "out_of_range",
    "counter",
    "future",
    "arrival",
    "bad_quality",
    "uncertain_quality",
    "spike",
)
"""Every check, worst first: a silent or frozen sensor hides everything else it should say; a
lone spike costs least. Findings are sorted by this order, then longest first."""
FOUND = "datahealth.found"
"""The kind of the event of a finding seen once (a spike, a counter glitch, an arrival)."""
MAX_PER_CHECK = 50
"""At most this many findings per tag and check are listed (the longest); the score counts
them all."""


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one tag's data over ``[start_ns, end_ns]``."""

    tag: str
    check: str
    start_ns: int
    end_ns: int
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "check": self.check,
            "start": iso(self.start_ns),
            "end": iso(self.end_ns),
            "detail": self.detail,
            "evidence": self.evidence,
        }

    def sort_key(self) -> tuple[int, int, str, int]:
        """Worst first: by check, then longest, then by tag and time."""
        return (CHECKS.index(self.check), self.start_ns - self.end_ns, self.tag, self.start_ns)


def duration(ns: int) -> str:
    """A duration as a person says it: 47 minutes, 3.5 hours, 12 seconds."""
    s = ns / NS_PER_S
    if s < 120:
        return f"{s:.0f} seconds" if s != 1 else "1 second"
    if s < 2 * 3600:
        return f"{s / 60:.0f} minutes"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} hours"
    return f"{s / 86400:.1f} days"


def number(v: float) -> str:
    """A reading with as many digits as it needs (3.20, 9005.9, 1e-05)."""
    if not np.isfinite(v):
        return str(v)
    a = abs(v)
    if a != 0 and (a < 0.01 or a >= 1e6):
        return f"{v:.3g}"
    return f"{v:.2f}" if a < 100 else f"{v:.1f}"


def never_received(tag: str, label: str, start_ns: int, end_ns: int) -> Finding:
    """A configured tag the historian has never stored."""
    return Finding(
        tag,
        "gap",
        start_ns,
        end_ns,
        f"{label} has never been received: the historian holds no sample of it",
        {"samples": 0, "never_received": True},
    )


def silent_in_range(tag: str, label: str, start_ns: int, end_ns: int, last: int | None) -> Finding:
    """A stored tag that sent nothing in the range (``last``: its newest sample before it)."""
    when = f"; last sample at {iso(last)}" if last is not None else ""
    return Finding(
        tag,
        "gap",
        start_ns,
        end_ns,
        f"{label} sent nothing in the range{when}",
        {
            "samples": 0,
            "gap_s": (end_ns - start_ns) / NS_PER_S,
            "last_sample": iso(last) if last is not None else None,
        },
    )


def future_finding(tag: str, label: str, count: int, first: int, last: int, now: int) -> Finding:
    return Finding(
        tag,
        "future",
        first,
        last,
        f"{label} has {count} sample{'s' if count != 1 else ''} stamped in the future, up to "
        f"{duration(last - now)} ahead of now: its clock runs fast",
        {"samples": count, "ahead_s": (last - now) / NS_PER_S},
    )


def _top(order_by: np.ndarray[Any, Any]) -> list[int]:
    """Indices of the ``MAX_PER_CHECK`` largest, in time order."""
    idx = np.argsort(-order_by, kind="stable")[:MAX_PER_CHECK]
    return sorted(int(i) for i in idx)


def tag_findings(tag: str, label: str, unit: str, r: TagResult) -> list[Finding]:
    """Every finding of one tag's checks (``label``: "spindle_vibration on mill-2")."""
    out: list[Finding] = []
    rules = r.rules
    if rules.interval_ns is not None:
        for i in _top(r.gaps.end_ns - r.gaps.start_ns):
            a, b = int(r.gaps.start_ns[i]), int(r.gaps.end_ns[i])
            missed = max(int((b - a) // rules.interval_ns) - 1, 0)
            how = "learned" if rules.learned else "declared"
            out.append(
                Finding(
                    tag,
                    "gap",
                    a,
                    b,
                    f"{label} sent nothing for {duration(b - a)} (about {missed} samples "
                    f"missing at its {how} {duration(rules.interval_ns)} interval)",
                    {
                        "gap_s": (b - a) / NS_PER_S,
                        "interval_s": rules.interval_ns / NS_PER_S,
                        "missing_samples": missed,
                    },
                )
            )
    for i in _top(r.stuck.duration_ns):
        a, b = int(r.stuck.start_ns[i]), int(r.stuck.end_ns[i])
        lo, hi = float(r.stuck.low[i]), float(r.stuck.high[i])
        exact = "exactly " if lo == hi else "about "
        running = " while the machine was running" if rules.running is not None else ""
        out.append(
            Finding(
                tag,
                "stuck",
                a,
                b,
                f"{label} read {exact}{number(lo)} {unit} for {duration(b - a)}{running}: "
                "a frozen sensor or a dead PLC value",
                {
                    "value": lo,
                    "spread": hi - lo,
                    "duration_s": (b - a) / NS_PER_S,
                    "samples": int(r.stuck.samples[i]),
                },
            )
        )
    for i in _top(r.out_of_range.samples.astype(np.float64)):
        a, b = int(r.out_of_range.start_ns[i]), int(r.out_of_range.end_ns[i])
        lo, hi = float(r.out_of_range.low[i]), float(r.out_of_range.high[i])
        worst = hi if rules.high is not None and hi > rules.high else lo
        n = int(r.out_of_range.samples[i])
        if rules.low is not None and rules.high is not None:
            limits = f"outside its physical limits {number(rules.low)}..{number(rules.high)} {unit}"
        elif rules.low is not None:
            limits = f"below its lower limit {number(rules.low)} {unit}"
        else:
            assert rules.high is not None
            limits = f"above its upper limit {number(rules.high)} {unit}"
        span = f" over {duration(b - a)}" if b > a else ""
        out.append(
            Finding(
                tag,
                "out_of_range",
                a,
                b,
                f"{label} read {number(worst)} {unit}, {limits} "
                f"({n} sample{'s' if n != 1 else ''}{span})",
                {"worst": worst, "low": rules.low, "high": rules.high, "samples": n},
            )
        )
    g = r.glitches
    for i in _top(g.before - g.after):
        t = int(g.ts[i])
        out.append(
            Finding(
                tag,
                "counter",
                t,
                t,
                f"{label} went back from {g.before[i]:.0f} to {g.after[i]:.0f}"
                + (
                    " (back past 0, just after a rollover)"
                    if g.after[i] > g.before[i]
                    else ": neither a reset to 0 nor a rollover"
                ),
                {"before": float(g.before[i]), "after": float(g.after[i])},
            )
        )
    bq = r.bad_quality
    for i in _top(bq.duration_ns):
        a, b = int(bq.start_ns[i]), int(bq.end_ns[i])
        n = int(bq.samples[i])
        out.append(
            Finding(
                tag,
                "bad_quality",
                a,
                b,
                f"{label} sent {n} sample{'s' if n != 1 else ''} marked BAD by its source"
                + (f" over {duration(b - a)}" if b > a else ""),
                {"samples": n, "duration_s": (b - a) / NS_PER_S},
            )
        )
    uq = r.uncertain_quality
    for i in _top(uq.duration_ns):
        a, b = int(uq.start_ns[i]), int(uq.end_ns[i])
        n = int(uq.samples[i])
        share = n / r.received if r.received else 0.0
        out.append(
            Finding(
                tag,
                "uncertain_quality",
                a,
                b,
                f"{label} sent {n} sample{'s' if n != 1 else ''} marked UNCERTAIN by its source"
                + (f" over {duration(b - a)}" if b > a else "")
                + f" ({100 * share:.1f} % of its samples in the range): a stale value or a "
                "sensor its source doubts",
                {"samples": n, "duration_s": (b - a) / NS_PER_S, "share": share},
            )
        )
    sp = r.spikes
    dev = sp.deviations
    for i in _top(dev):
        t = int(sp.ts[i])
        out.append(
            Finding(
                tag,
                "spike",
                t,
                t,
                f"{label} jumped to {number(float(sp.value[i]))} {unit} for one sample while its "
                f"neighbours read about {number(float(sp.median[i]))} {unit}",
                {
                    "value": float(sp.value[i]),
                    "median": float(sp.median[i]),
                    "robust_sigma": float(sp.scale[i]),
                    "deviations": float(dev[i]),
                },
            )
        )
    return out
