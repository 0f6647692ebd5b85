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

from andon.core.batch import I64
from andon.core.clock import MAX_NS, NS_PER_S, iso
from andon.core.errors import InputError, UnknownTagError
from andon.core.machine_state import MachineState
from andon.datahealth import checks
from andon.datahealth.checks import Spans
from andon.datahealth.findings import (
    Finding,
    future_finding,
    never_received,
    silent_in_range,
    tag_findings,
)
from andon.datahealth.live import arrival_findings
from andon.datahealth.score import days, mean_scores, tag_scores
from andon.datahealth.tagscan import TagRules, TagScan
from andon.historian import Historian, Series
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
is not Gaussian, otherwise show a "spike" every hour or so at 6 MADs."""
SPIKE_NOISE = 1.0
"""Without a declared span the floor is the tag's own noise: ``SPIKE_NOISE`` × its robust
sample-to-sample sigma over the range's first page (``checks.noise_sigma``). A 21-sample MAD
is itself noisy and often well under the true sigma, so plain Gaussian noise at 1 Hz would
otherwise give 10-26 "spikes" a day at 6 MADs; with the floor a spike must stand 6 noise
sigmas from its window's median (one sample in 500 million of Gaussian noise), while an
isolated 10-sigma spike is still found. A flat or stepped signal has noise 0: no floor, and
a flat window flags nothing."""
PER_PART = "measurement"
"""The ``signal`` of a tag sent once per part (a bore diameter): it has no rate to expect."""
LOOK_BACK_S = (3600, 86400, 7 * 86400, 31 * 86400, 366 * 86400)
"""How far back the samples before a range are looked for, step by step."""


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


def newest_before(historian: Historian, path: str, t_ns: int, n: int) -> Series:
    """The newest ``n`` samples of ``path`` before ``t_ns`` (fewer when there are fewer within
    a year; raises UnknownTagError for a tag never stored). The historian reads oldest first,
    so windows reaching further back are read until one holds enough: more than
    ``LEARN_MIN``, or one when ``n`` is 1."""
    enough = min(n, checks.LEARN_MIN + 1)
    latest = historian.latest(path)
    if latest and latest[0].ts < t_ns:
        if n == 1:
            x = latest[0]
            return Series(path, _i64([x.ts]), np.asarray([x.value], np.float64), _u8(x.quality))
        t_ns = latest[0].ts + 1  # nothing since: read back from the newest
    found = Series(path, _i64([]), np.empty(0, np.float64), np.empty(0, np.uint8))
    for back in LOOK_BACK_S:
        found = _last(historian, path, t_ns - back * NS_PER_S, t_ns, n)
        if len(found) >= enough:
            break
    return found


def _last(historian: Historian, path: str, lo: int, hi: int, n: int) -> Series:
    """The last ``n`` samples of ``[lo, hi)``, read forward a page at a time."""
    s = historian.range(path, lo, hi, limit=PAGE)
    kept = _tail(s, s, n)
    while len(s) == PAGE:
        s = historian.range(path, int(s.ts[-1]) + 1, hi, limit=PAGE)
        kept = _tail(kept, s, n)
    return kept


def _tail(a: Series, b: Series, n: int) -> Series:
    if a is b:  # the first page
        return Series(a.tag, a.ts[-n:], a.value[-n:], a.quality[-n:])
    return Series(
        a.tag,
        np.concatenate((a.ts, b.ts))[-n:],
        np.concatenate((a.value, b.value))[-n:],
        np.concatenate((a.quality, b.quality))[-n:],
    )


def _i64(x: list[int]) -> I64:
    return np.asarray(x, dtype=np.int64)


def _u8(q: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.asarray([q], dtype=np.uint8)


def running_spans(
    historian: Historian, path: str, codes: set[int], start_ns: int, end_ns: int, page: int
) -> Spans | None:
    """When the machine ran, from its state-code tag, read page by page (None: not known).

    Each state holds until the next state sample (sample and hold, as the state room reads
    it): a controller that sends its state only on change (OPC UA, Sparkplug) is running from
    the sample that says so to the one that says otherwise, and the state at ``start_ns`` is
    the newest sample before it, so a state tag silent through the range still tells it. None
    when the tag was never stored or no state sample is known at or before any of the range."""
    try:
        before = newest_before(historian, path, start_ns, 1)
        was = bool(len(before)) and bool(np.isin(before.value[-1], list(codes)))
        known = bool(len(before))
        opens: list[I64] = [np.asarray([start_ns] if was else [], dtype=np.int64)]
        closes: list[I64] = []
        lo = start_ns
        while True:
            s = historian.range(path, lo, end_ns, limit=page)
            if len(s):
                known = True
                run = np.isin(s.value, list(codes))
                prev = np.concatenate(([was], run[:-1]))
                opens.append(s.ts[run & ~prev])
                closes.append(s.ts[~run & prev])
                was = bool(run[-1])
            if len(s) < page:
                break
            lo = int(s.ts[-1]) + 1
    except UnknownTagError:
        return None
    if not known:
        return None
    if was:
        closes.append(np.asarray([end_ns], dtype=np.int64))
    start = np.concatenate(opens)
    end = np.concatenate(closes) if closes else np.empty(0, np.int64)
    return Spans(start, end)


def rules_for(
    tag: Tag,
    first_page_ts: np.ndarray[Any, Any],
    *,
    is_state: bool,
    rollover: int | None,
    running: Spans | None,
    first_page_value: np.ndarray[Any, Any] | None = None,
    before_ts: np.ndarray[Any, Any] | None = None,
    settle_ns: int = 0,
) -> TagRules:
    """Which checks apply to ``tag`` and how (see the module docs of ``checks``).

    An undeclared interval is learned from the range's first page, or from ``before_ts`` (the
    samples just before the range) when the range holds too few to learn from: a sensor that
    died before the range must still be expected to send. ``first_page_value`` sets the spike
    filter's floor on a tag without declared limits (``SPIKE_NOISE``)."""
    if tag.interval is not None:
        interval: int | None = round(tag.interval * NS_PER_S)
        learned = False
    elif tag.signal == PER_PART:
        # sent once per part: silent whenever the machine makes none, however regular its
        # samples look over a window of steady running (no interval is learned)
        interval, learned = None, False
    else:
        learn_from = first_page_ts
        if len(first_page_ts) <= checks.LEARN_MIN and before_ts is not None:
            learn_from = before_ts
        interval, regular = checks.learn_interval(learn_from)
        interval = interval if regular else None
        learned = True
    stuck_after: int | None = max(checks.STUCK_AFTER_NS, checks.STUCK_INTERVALS * (interval or 0))
    if tag.constant or is_state:
        stuck_after = None
    floor = 0.0
    if tag.low is not None and tag.high is not None:
        floor = SPIKE_FLOOR * (tag.high - tag.low)
    elif first_page_value is not None:
        floor = SPIKE_NOISE * checks.noise_sigma(first_page_value)
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
        settle_ns=settle_ns,
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
    settle_ns: int = checks.SETTLE_NS,
) -> Report:
    """Check every declared tag of the machines at or below ``asset`` over ``[start_ns,
    end_ns)``; findings worst first, scores per tag, machine and line per local day.

    When the range ends within ``settle_ns`` of now (the default ``--to now``), a silence at
    its end is a gap only once longer than ``settle_ns``, counted to now: the last samples
    may still be on their way."""
    check_input(start_ns, end_ns)
    settle = 0
    if end_ns >= now_ns - settle_ns:
        # the trailing silence runs to the range's end; only the part up to now may settle
        settle = settle_ns + max(end_ns - now_ns, 0)
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
                    settle_ns=settle,
                )
            except UnknownTagError:
                found = [never_received(path, label, start_ns, end_ns)]
                scores = np.zeros(len(names))
            findings.extend(found)
            tag_sc[path] = dict(zip(names, (float(s) for s in scores), strict=True))
            parts.append(tag_sc[path])
        declared = {ref.tag_path(t.name) for t in ref.machine.tags}
        findings.extend(arrival_findings(historian, ref.path, declared, start_ns, end_ns))
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
    settle_ns: int = 0,
) -> tuple[list[Finding], np.ndarray[Any, Any]]:
    """One tag's findings and daily scores; raises UnknownTagError for a tag never stored.

    A regularly sampled tag that sent nothing in the range (a dead sensor) gets one gap
    finding saying when it last sent, and scores 0 like a tag never received. A tag without
    an expected interval (a measurement per part, a state sent on change) may rightly be
    silent for a while: it gets no such finding."""
    s = historian.range(path, start_ns, end_ns, limit=page)
    before = None
    if tag.interval is None and len(s) <= checks.LEARN_MIN:
        before = newest_before(historian, path, start_ns, page)
    rules = rules_for(
        tag,
        s.ts,
        is_state=is_state,
        rollover=rollover,
        running=running,
        first_page_value=s.value,
        before_ts=None if before is None else before.ts,
        settle_ns=settle_ns,
    )
    scan = TagScan(rules, start_ns, end_ns, day_lo)
    while True:
        scan.feed(s.ts, s.value, s.quality)
        if len(s) < page:
            break
        s = historian.range(path, int(s.ts[-1]) + 1, end_ns, limit=page)
    result = scan.finish()
    found = tag_findings(path, label, tag.unit, result)
    dead = result.received == 0 and rules.interval_ns is not None and len(result.gaps) > 0
    if dead:
        if before is None:
            before = newest_before(historian, path, start_ns, 1)
        last = int(before.ts[-1]) if len(before) else None
        found = [f for f in found if f.check != "gap"]
        found.insert(0, silent_in_range(path, label, start_ns, end_ns, last))
    ahead = now_ns + checks.MAX_AHEAD_NS + 1
    n_future = historian.count_samples(path, ahead, None) if ahead < MAX_NS else 0
    if n_future:
        first = int(historian.range(path, ahead, MAX_NS, limit=1).ts[0])
        last = historian.latest(path)[0].ts
        found.append(future_finding(path, label, n_future, first, last, now_ns))
    if dead:
        return found, np.zeros(len(day_lo))
    return found, tag_scores(result, day_lo, day_hi, n_future)
