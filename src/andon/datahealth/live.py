"""``ArrivalCheck``: the time checks only live data can show, as a sink of the pipeline.

A range read back from the historian cannot tell when a sample arrived, in what order, or
that a second value came for a time (the historian keeps the first). This sink sees every
Batch as it arrives, beside the historian, and finds per tag (``checks.batch_time_problems``):

- samples **out of order**: older than the newest of the tag already seen;
- the **same time twice** in one Batch with different values;
- samples stamped **ahead** of their arrival by more than ``checks.MAX_AHEAD_NS`` (a clock
  running fast), or **behind** it by more than ``checks.MAX_BEHIND_NS`` (a clock far behind,
  or a device replaying an old buffer).

A problem is seldom alone (a skewed clock skews every sample), so they are gathered per tag
and problem and written every ``every_ns`` (a minute) and at the end as one
``datahealth.found`` event each, stamped when they arrived: check ``arrival``, the problem,
how many samples, their first and last stamp and the worst offset. ``check_range`` reads
these events back, so ``andon data check`` and the dashboard name them beside the
historian's own findings.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from andon.core.batch import Batch
from andon.core.clock import NS_PER_MIN, NS_PER_S, iso, now_ns, parse_time
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.stream import Item
from andon.datahealth import checks
from andon.datahealth.findings import FOUND, Finding, duration
from andon.historian import Historian

log = logging.getLogger("andon.datahealth.live")

SOURCE = "datahealth.arrival"
CHECK = "arrival"
EVERY_NS = NS_PER_MIN
PROBLEMS = ("out_of_order", "duplicate", "ahead", "behind")


@dataclass
class _Tally:
    """One tag's samples with one problem since the last flush."""

    samples: int = 0
    first_ns: int = 0
    last_ns: int = 0
    """The earliest and latest stamp of those samples."""
    arrived_ns: int = 0
    until_ns: int = 0
    """When the first and the last of them arrived: the finding's interval (a sample stamped
    two days back is news now)."""
    worst_s: float = 0.0
    """The largest offset from arrival (ahead, behind) or from the newest seen (out of
    order), in seconds."""


def sentence(tag: str, problem: str, t: _Tally) -> str:
    """What a technician reads about one tag's problem."""
    n = f"{t.samples} sample{'s' if t.samples != 1 else ''}"
    span = f" stamped {iso(t.first_ns)}"
    if t.last_ns > t.first_ns:
        span += f" to {iso(t.last_ns)}"
    worst = duration(round(t.worst_s * NS_PER_S))
    if problem == "out_of_order":
        return (
            f"{tag} sent {n}{span}, older than one it had already sent (up to {worst} "
            "earlier): out of order"
        )
    if problem == "duplicate":
        return (
            f"{tag} sent {n}{span} for a time it sent in the same message with another "
            "value: the historian kept the first"
        )
    if problem == "ahead":
        return f"{tag} sent {n}{span}, up to {worst} after they arrived: its clock runs ahead"
    return (
        f"{tag} sent {n}{span}, up to {worst} before they arrived: a clock far behind, or an "
        "old buffer replayed"
    )


@dataclass
class ArrivalCheck:
    """A pipeline sink that checks each Batch's times against its arrival (see the module)."""

    historian: Historian
    every_ns: int = EVERY_NS
    clock: Any = now_ns
    name: str = "datahealth"
    durable = False
    newest: dict[str, int] = field(default_factory=dict)
    """The newest time seen per tag (one entry per tag: bounded by the plant's tags)."""
    tallies: dict[tuple[str, str], _Tally] = field(default_factory=dict)
    found: int = 0
    """Samples with a problem, since the start."""
    _flushed_ns: int | None = None
    _writing: asyncio.Task[None] | None = None

    def check(self, batch: Batch, arrival_ns: int) -> None:
        """Tally the problems of one Batch that arrived at ``arrival_ns``."""
        before = self.newest
        result = checks.batch_time_problems(batch, arrival_ns, before)
        self.newest = result.newest
        for tag, p in result.problems.items():
            for problem, rows in zip(
                PROBLEMS, (p.out_of_order, p.duplicates, p.ahead, p.behind), strict=True
            ):
                if not rows:
                    continue
                ts = batch.ts[list(rows)]
                if problem == "ahead":
                    # Python ints: an absurd stamp must not wrap around int64
                    worst = (int(ts.max()) - arrival_ns) / NS_PER_S
                elif problem == "behind":
                    worst = (arrival_ns - int(ts.min())) / NS_PER_S
                elif problem == "out_of_order":
                    newest = max(result.newest[tag], before.get(tag, result.newest[tag]))
                    worst = (newest - int(ts.min())) / NS_PER_S
                else:
                    worst = 0.0
                t = self.tallies.get((tag, problem))
                lo, hi = int(ts.min()), int(ts.max())
                if t is None:
                    t = _Tally(len(rows), lo, hi, arrival_ns, arrival_ns, worst)
                    self.tallies[(tag, problem)] = t
                else:
                    t.samples += len(rows)
                    t.first_ns, t.last_ns = min(t.first_ns, lo), max(t.last_ns, hi)
                    t.until_ns = arrival_ns
                    t.worst_s = max(t.worst_s, worst)
                self.found += len(rows)

    def events(self) -> list[Event]:
        """The tallies as events, and forget them."""
        out = []
        for (tag, problem), t in sorted(self.tallies.items()):
            evidence = {
                "problem": problem,
                "samples": t.samples,
                "first_stamp": iso(t.first_ns),
                "last_stamp": iso(t.last_ns),
                "last_arrival": iso(t.until_ns),
                "worst_s": t.worst_s,
            }
            out.append(
                Event(
                    t.arrived_ns,
                    tag.rsplit("/", 1)[0],
                    FOUND,
                    {
                        "tag": tag,
                        "check": CHECK,
                        "detail": sentence(tag, problem, t),
                        "evidence": evidence,
                        "start": iso(t.arrived_ns),
                        "end": iso(t.until_ns),
                    },
                    SOURCE,
                )
            )
        self.tallies.clear()
        return out

    async def write(self, item: Item) -> None:
        if not isinstance(item, Batch):
            return
        now = self.clock()
        self.check(item, now)
        if self._flushed_ns is None:
            self._flushed_ns = now
        if now - self._flushed_ns >= self.every_ns:
            await self.flush(now)

    async def flush(self, now: int | None = None) -> None:
        """Write what was tallied, beside the data path: the write runs as a task of its own
        (one at a time), so a slow or absent database never holds the pipeline back; a
        failed write is logged, not raised."""
        self._flushed_ns = self.clock() if now is None else now
        if self._writing is not None and not self._writing.done():
            return  # the last minute's write is still on its way: gather on
        found = self.events()
        if found:
            self._writing = asyncio.create_task(self._write(found), name="arrival-findings")

    async def _write(self, found: list[Event]) -> None:
        try:
            await asyncio.to_thread(self.historian.write_events, found)
        except Exception as exc:  # the historian's own errors; the data path goes on
            log.warning("arrival check: %d findings not written: %s", len(found), exc)

    async def written(self) -> None:
        """Wait for the write of findings in flight, if any."""
        task, self._writing = self._writing, None
        if task is not None:
            await task

    async def close(self) -> None:
        await self.written()
        await self.flush()
        await self.written()


def arrival_finding(e: Event) -> Finding | None:
    """A stored ``arrival`` event as a ``Finding`` (None for any other event)."""
    p = e.payload
    if p.get("check") != CHECK or not isinstance(p.get("tag"), str):
        return None
    evidence = p.get("evidence")
    evidence = evidence if isinstance(evidence, dict) else {}
    last = evidence.get("last_arrival")
    try:
        end = parse_time(str(last), field="last_arrival") if last else e.ts
    except InputError:
        end = e.ts
    return Finding(str(p["tag"]), CHECK, e.ts, max(end, e.ts), str(p.get("detail", "")), evidence)


def arrival_findings(
    historian: Historian, asset: str, tags: set[str], start_ns: int, end_ns: int
) -> list[Finding]:
    """The arrival findings written live for ``tags`` of ``asset`` in ``[start_ns, end_ns)``."""
    out = []
    for e in historian.events(asset, FOUND, start_ns, end_ns, None):
        f = arrival_finding(e) if e.source == SOURCE else None
        if f is not None and f.tag in tags:
            out.append(f)
    return out


__all__ = [
    "CHECK",
    "EVERY_NS",
    "PROBLEMS",
    "ArrivalCheck",
    "arrival_finding",
    "arrival_findings",
    "sentence",
]
