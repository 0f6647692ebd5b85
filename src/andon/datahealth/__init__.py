"""Data health: which of a plant's data can be trusted, tag by tag, and why.

Checks per tag (gaps, stuck values, out of range, spikes, time, quality codes, counters) run
chunk by chunk over the historian; each finding names the tag, the check, the interval and
its evidence in a sentence a technician understands, and each tag, machine and line gets a
score from 0 to 100 per day. ``HealthWatch`` writes findings as events when they open and
when they close.
"""

from andon.datahealth.findings import Finding
from andon.datahealth.readiness import MachineReadiness, Missing, readiness
from andon.datahealth.scan import MAX_RANGE_DAYS, PAGE, Report, check_range
from andon.datahealth.watch import HealthWatch, OpenFinding, describe

__all__ = [
    "MAX_RANGE_DAYS",
    "PAGE",
    "Finding",
    "HealthWatch",
    "MachineReadiness",
    "Missing",
    "OpenFinding",
    "Report",
    "check_range",
    "describe",
    "readiness",
]
