"""``check_range``: every declared tag of an asset checked over a range read from the historian.

Each tag is read in pages of at most ``PAGE`` samples and fed to a ``TagScan``, so a month of
1 Hz data never sits in memory at once; a flat run is only counted while its machine runs,
which the machine's state-code tag tells (read first, as time spans). Samples stamped in the
future are looked up by index beyond now, whatever the range, since they are wrong whenever
they are found.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from andon.core.clock import MAX_NS, NS_PER_S, iso
from andon.core.errors import InputError, UnknownTagError
from andon.core.machine_state import MachineState
from andon.datahealth import checks
from andon.datahealth.checks import OpenRun, Runs, Spans
from andon.datahealth.findings import Finding, future_finding, never_received, tag_findings
from andon.datahealth.score import days, mean_scores, tag_scores
from andon.datahealth.tagscan import TagRules, TagScan
from andon.historian import Historian
from andon.plant import MachineRef, Plant, Tag

PAGE = 500_000
"""Samples read per query: ~12 MB of columns, small enough for any laptop."""
MAX_RANGE_DAYS = 366
"""The longest range checked at once: a year. Scores are per day, so a longer question is a
year at a time (a 10-year range asks for 3 650 daily rows per tag)."""
SPIKE_FLOOR = 0.01
"""The spike filter's robust standard deviation is at least 1 % of the tag's declared span
(high − low, about the sensor's full scale): a spike must stand more than ``HAMPEL_K`` × 1 %
= 6 % of full scale away from its neighbours. The floor keeps a flat window (MAD 0) from
flagging every change, and a quiet window (21 samples give a noisy MAD) from flagging
ordinary process noise: the virtual plant's motor current and coolant pressure, whose noise
is not Gaussian, otherwise show a "spike" every hour or so at 6 MADs. Without a declared
span the plain Hampel filter applies, and a flat window flags nothing."""


@dataclass(frozen=True)
class Report:
    """Findings (worst first) and scores per tag, machine and line, each ``{day: score}``."""

    asset: str
    start_ns: int
    end_ns: int
    findings: list[Finding]
    tags: dict[str, dict[str, float]] = field(default_factory=dict)
    machines: dict[str, dict[str, float]] = field(default_factory=dict)
    lines: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": self.asset,
            "from": iso(self.start_ns),
            "to": iso(self.end_ns),
            "findings": [f.to_dict() for f in self.findings],
            "scores": {"tags": self.tags, "machines": self.machines, "lines": self.lines},
        }


def machines_at(plant: Plant, asset: str | None) -> list[MachineRef]:
    """The machines at or below ``asset`` (a path or a machine id; None: the whole plant)."""
    refs = plant.machines()
    if asset is None:
        return refs
    asset = asset.strip().strip("/")
    found = [r for r in refs if asset in (r.path, r.machine.id) or r.path.startswith(asset + "/")]
    if found:
        return found
    known = sorted({p for r in refs for p in _ancestors(r.path)} | {r.machine.id for r in refs})
    close = difflib.get_close_matches(asset, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; try {refs[0].path}"
    raise InputError(f"--asset {asset!r}: no machine of the plant is at or below it{hint}")


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def check_input(start_ns: int, end_ns: int) -> None:
    """Refuse a backwards, empty or overlong range, saying what is expected."""
    if end_ns < start_ns:
        raise InputError(
            f"the range runs backwards: --to {iso(end_ns)} is before --from {iso(start_ns)}"
        )
    if end_ns == start_ns:
        raise InputError(f"the range is empty: --from and --to are both {iso(start_ns)}")
    if end_ns - start_ns > MAX_RANGE_DAYS * 86400 * NS_PER_S:
        raise InputError(
            f"the range {iso(start_ns)} to {iso(end_ns)} is longer than {MAX_RANGE_DAYS} days; "
            "check it a year at a time"
        )


def state_tag(ref: MachineRef) -> tuple[str | None, set[int]]:
    """The machine's state-code tag and the codes that mean running (None: not known)."""
    state = ref.machine.state
    if state is not None:
        if state.tag is None:
            return None, set()
        running = {c for c, label in state.codes.items() if label == "running"}
        return state.tag, running or {int(MachineState.RUNNING)}
    for t in ref.machine.tags:
        if t.signal == "state_code":
            return t.name, {int(MachineState.RUNNING)}
    return None, set()


def counter_tag(ref: MachineRef) -> tuple[str | None, int]:
    """The machine's part counter tag and rollover (as state derivation finds it)."""
    if ref.machine.counter is not None:
        return ref.machine.counter.tag, ref.machine.counter.rollover
    for t in ref.machine.tags:
        if t.signal == "part_counter":
            return t.name, 65536
    return None, 65536


def running_spans(
    historian: Historian, path: str, codes: set[int], start_ns: int, end_ns: int, page: int
) -> Spans | None:
    """When the machine ran, from its state-code tag, read page by page (None: never stored)."""
    found: list[Runs] = []
    carry: OpenRun | None = None
    lo = start_ns
    try:
        while True:
            s = historian.range(path, lo, end_ns, limit=page)
            member = np.isin(s.value, list(codes))
            link = np.zeros(len(s), dtype=np.bool_)
            link[1:] = member[1:] & member[:-1]
            if len(s):
                link[0] = carry is not None and bool(member[0])
            last = len(s) < page
            r, carry = checks.runs(s.ts, s.value, member, link, carry, last)
            found.append(r)
            if last:
                break
            lo = int(s.ts[-1]) + 1
    except UnknownTagError:
        return None
    runs = Runs.concat(found)
    return Spans(runs.start_ns, runs.end_ns)


def rules_for(
    tag: Tag,
    first_page_ts: np.ndarray[Any, Any],
    *,
    is_state: bool,
    rollover: int | None,
    running: Spans | None,
) -> TagRules:
    """Which checks apply to ``tag`` and how (see the module docs of ``checks``)."""
    if tag.interval is not None:
        interval: int | None = round(tag.interval * NS_PER_S)
        learned = False
    else:
        interval, regular = checks.learn_interval(first_page_ts)
        interval = interval if regular else None
        learned = True
    stuck_after: int | None = max(checks.STUCK_AFTER_NS, checks.STUCK_INTERVALS * (interval or 0))
    if tag.constant or is_state:
        stuck_after = None
    floor = 0.0
    if tag.low is not None and tag.high is not None:
        floor = SPIKE_FLOOR * (tag.high - tag.low)
    return TagRules(
        interval_ns=interval,
        learned=learned,
        low=tag.low,
        high=tag.high,
        stuck_after_ns=stuck_after,
        running=running,
        spikes=not is_state and rollover is None,
        spike_min_scale=floor,
        rollover=rollover,
    )


def check_range(
    plant: Plant,
    historian: Historian,
    asset: str | None,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    *,
    page: int = PAGE,
) -> Report:
    """Check every declared tag of the machines at or below ``asset`` over ``[start_ns,
    end_ns)``; findings worst first, scores per tag, machine and line per local day."""
    check_input(start_ns, end_ns)
    refs = machines_at(plant, asset)
    names, day_lo, day_hi = days(plant.calendar.timezone, start_ns, end_ns)
    findings: list[Finding] = []
    tag_sc: dict[str, dict[str, float]] = {}
    machine_sc: dict[str, dict[str, float]] = {}
    line_parts: dict[str, list[dict[str, float]]] = {}
    for ref in refs:
        state_name, codes = state_tag(ref)
        running = None
        if state_name is not None:
            running = running_spans(
                historian, ref.tag_path(state_name), codes, start_ns, end_ns, page
            )
        counter_name, rollover = counter_tag(ref)
        parts: list[dict[str, float]] = []
        for tag in ref.machine.tags:
            path = ref.tag_path(tag.name)
            label = f"{tag.name} on {ref.machine.id}"
            try:
                found, scores = _check_tag(
                    historian,
                    tag,
                    path,
                    label,
                    start_ns,
                    end_ns,
                    now_ns,
                    page,
                    day_lo,
                    day_hi,
                    is_state=tag.name == state_name,
                    rollover=rollover if tag.name == counter_name else None,
                    running=running,
                )
            except UnknownTagError:
                found = [never_received(path, label, start_ns, end_ns)]
                scores = np.zeros(len(names))
            findings.extend(found)
            tag_sc[path] = dict(zip(names, (float(s) for s in scores), strict=True))
            parts.append(tag_sc[path])
        machine_sc[ref.path] = mean_scores(parts)
        line_path = ref.path.rsplit("/", 1)[0]
        line_parts.setdefault(line_path, []).append(machine_sc[ref.path])
    findings.sort(key=Finding.sort_key)
    lines = {p: mean_scores(v) for p, v in line_parts.items()}
    return Report(
        refs[0].path if len(refs) == 1 else (asset or plant.root).strip("/"),
        start_ns,
        end_ns,
        findings,
        tag_sc,
        machine_sc,
        lines,
    )


def _check_tag(
    historian: Historian,
    tag: Tag,
    path: str,
    label: str,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    page: int,
    day_lo: np.ndarray[Any, Any],
    day_hi: np.ndarray[Any, Any],
    *,
    is_state: bool,
    rollover: int | None,
    running: Spans | None,
) -> tuple[list[Finding], np.ndarray[Any, Any]]:
    """One tag's findings and daily scores; raises UnknownTagError for a tag never stored."""
    s = historian.range(path, start_ns, end_ns, limit=page)
    rules = rules_for(tag, s.ts, is_state=is_state, rollover=rollover, running=running)
    scan = TagScan(rules, start_ns, end_ns, day_lo)
    while True:
        scan.feed(s.ts, s.value, s.quality)
        if len(s) < page:
            break
        s = historian.range(path, int(s.ts[-1]) + 1, end_ns, limit=page)
    result = scan.finish()
    found = tag_findings(path, label, tag.unit, result)
    ahead = now_ns + checks.MAX_AHEAD_NS + 1
    n_future = historian.count_samples(path, ahead, None) if ahead < MAX_NS else 0
    if n_future:
        first = int(historian.range(path, ahead, MAX_NS, limit=1).ts[0])
        last = historian.latest(path)[0].ts
        found.append(future_finding(path, label, n_future, first, last, now_ns))
    return found, tag_scores(result, day_lo, day_hi, n_future)
