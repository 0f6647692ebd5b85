"""``HealthWatch``: findings written as events when they open and when they close.

``step(now)`` checks the last ``window`` (an hour) and compares with what it holds open, so a
tag that goes bad and recovers is seen once each way, however often it runs:

- a run finding (gap, stuck, out of range, bad quality) that is *still going on* is open,
  keyed by (tag, check): ``datahealth.opened`` when the key opens, ``datahealth.closed`` when
  it is open no more (at the run's end if the window shows it, else at now);
- a run that opened and closed between two steps gives both, so nothing is missed;
- a point finding (spike, counter) gives ``datahealth.found`` once;
- a fast clock (``future``) has no end in the window (its samples sit ahead of now): it is
  open while found, opened and closed at the step that sees it come and go.

"Still going on" is read from the data, not from a time tolerance: a gap reaches the end of
the window (and is longer than ``settle``: a few seconds of silence at the end may be data
still on its way), and any other run has no usable sample after it in the window. A tolerance
would misjudge a per-part measurement, which may be silent for minutes while it is still
stuck.

The open set survives a restart: the first step rebuilds it from the newest
``datahealth.opened``/``closed`` per key over ``look_back`` (7 days), and remembers the runs
and points already written, so a restarted watch writes no second ``opened``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import numpy as np

from andon.core.clock import NS_PER_H, NS_PER_S, from_ns, iso
from andon.core.errors import InputError, UnknownTagError
from andon.core.event import Event
from andon.datahealth import checks
from andon.datahealth.checks import BAD_BELOW
from andon.datahealth.findings import FOUND, Finding, duration
from andon.datahealth.scan import check_range, machines_at
from andon.historian import Historian
from andon.plant import Plant

OPENED = "datahealth.opened"
CLOSED = "datahealth.closed"
KIND = "datahealth"
"""The parent kind: ``historian.events(kind=KIND)`` finds all three."""
SOURCE = "datahealth.watch"
WINDOW_NS = NS_PER_H
LOOK_BACK_NS = 7 * 24 * NS_PER_H
"""How far back the first step looks for what is open; a run open for longer is opened
again (from the window's start)."""
SETTLE_NS = checks.SETTLE_NS
"""A silence at the window's end shorter than this is not opened yet: samples of the last
seconds may still be on their way (a connector's batch, store-and-forward). The same constant
``check_range`` settles a range ending at now by, and the watch passes its own to it."""
RUN_CHECKS = frozenset({"gap", "stuck", "out_of_range", "bad_quality", "uncertain_quality"})
POINT_CHECKS = frozenset({"spike", "counter"})

Key = tuple[str, str]


@dataclass(frozen=True)
class OpenFinding:
    """A (tag, check) held open: since when, the last time seen still going, its sentence."""

    tag: str
    check: str
    since_ns: int
    last_ns: int
    detail: str


def _asset_of(tag: str) -> str:
    return tag.rsplit("/", 1)[0]


def _opened(f: Finding, ts: int, now_ns: int) -> Event:
    return Event(
        ts,
        _asset_of(f.tag),
        OPENED,
        {
            "tag": f.tag,
            "check": f.check,
            "detail": f.detail,
            "evidence": f.evidence,
            "start": iso(f.start_ns),
            "opened_at": iso(now_ns),
        },
        SOURCE,
    )


def _closed(o: OpenFinding, ts: int, detail: str) -> Event:
    took = max(ts - o.since_ns, 0)
    return Event(
        ts,
        _asset_of(o.tag),
        CLOSED,
        {
            "tag": o.tag,
            "check": o.check,
            "start": iso(o.since_ns),
            "end": iso(ts),
            "duration_s": took / NS_PER_S,
            "duration": duration(took),
            "detail": detail,
        },
        SOURCE,
    )


def _found(f: Finding) -> Event:
    """Deterministic for the same finding: a repeated write stores nothing."""
    return Event(
        f.start_ns,
        _asset_of(f.tag),
        FOUND,
        {
            "tag": f.tag,
            "check": f.check,
            "detail": f.detail,
            "evidence": f.evidence,
            "start": iso(f.start_ns),
        },
        SOURCE,
    )


_ORDER = {CLOSED: 0, OPENED: 1, FOUND: 2}
"""At the same time a run closes before the next one opens, so the newest per key is right."""


class HealthWatch:
    """Checks ``[now - window, now)`` at each ``step`` and writes what opened and closed.

    ``asset`` is a machine, line, area or site path, or a machine id (None: the whole plant).
    """

    def __init__(
        self,
        plant: Plant,
        historian: Historian,
        *,
        window_ns: int = WINDOW_NS,
        asset: str | None = None,
        look_back_ns: int = LOOK_BACK_NS,
        settle_ns: int = SETTLE_NS,
    ) -> None:
        if window_ns <= 0:
            raise InputError(f"--window must be longer than 0, got {window_ns / NS_PER_S:g} s")
        self.plant = plant
        self.historian = historian
        self.window_ns = window_ns
        self.asset = asset
        self.look_back_ns = look_back_ns
        self.settle_ns = settle_ns
        self._machines = {r.path for r in machines_at(plant, asset)}
        self._open: dict[Key, OpenFinding] | None = None
        self._ended: set[tuple[str, str, int]] = set()
        """Runs whose end was written (tag, check, end): an end does not move as the window
        slides, a start cut by the window's start does."""
        self._points: set[tuple[str, str, int]] = set()

    @property
    def open_findings(self) -> dict[Key, OpenFinding]:
        """What is open now (empty before the first step)."""
        return dict(self._open or {})

    def _mine(self, tag: str) -> bool:
        return _asset_of(tag) in self._machines

    def _restore(self, now_ns: int) -> dict[Key, OpenFinding]:
        """The open set, runs ended and points found, from the events already written."""
        opened: dict[Key, OpenFinding] = {}
        for e in self.historian.events(
            self.plant.root, KIND, now_ns - self.look_back_ns, now_ns + 1, limit=None
        ):
            tag, check = str(e.payload.get("tag", "")), str(e.payload.get("check", ""))
            if not self._mine(tag):
                continue
            key = (tag, check)
            if e.kind == OPENED:
                detail = str(e.payload.get("detail", ""))
                opened[key] = OpenFinding(tag, check, e.ts, e.ts, detail)
            elif e.kind == CLOSED:
                opened.pop(key, None)
                self._ended.add((tag, check, e.ts))
            elif e.kind == FOUND:
                self._points.add((tag, check, e.ts))
        return opened

    # -- reading the data -------------------------------------------------------------------

    def _going_on(self, f: Finding, now_ns: int) -> bool | None:
        """Is the run still going on at ``now``? None: too early to tell (a short silence)."""
        if f.check == "gap":
            if f.end_ns < now_ns:
                return False
            long = f.end_ns - f.start_ns >= self.settle_ns or f.evidence.get("never_received")
            return True if long else None
        try:
            after = self.historian.range(f.tag, f.end_ns + 1, now_ns, limit=100)
        except UnknownTagError:
            return True
        if f.check in ("bad_quality", "uncertain_quality"):
            return len(after) == 0
        # stuck and out of range look only at usable samples; a BAD one does not end them
        return not bool(np.any(after.quality >= BAD_BELOW))

    def _from_window_start(self, f: Finding, window_start: int) -> bool:
        """Does the run reach back to the window's start (no sample of the tag before it)?"""
        if f.start_ns <= window_start:
            return True
        if f.check == "gap":
            return False
        try:
            return len(self.historian.range(f.tag, window_start, f.start_ns, limit=1)) == 0
        except UnknownTagError:
            return True

    def _continues(self, f: Finding, o: OpenFinding, window_start: int) -> bool:
        """Is ``f`` the run ``o`` held open (it holds the last sample seen of it, or reaches
        back past the window's start)?"""
        return f.start_ns <= o.last_ns or self._from_window_start(f, window_start)

    # -- one step ---------------------------------------------------------------------------

    def step(self, now_ns: int) -> list[Event]:
        """Check the window ending at ``now``; write and return the events of what changed."""
        start = now_ns - self.window_ns
        if self._open is None:
            self._open = self._restore(now_ns)
        report = check_range(
            self.plant,
            self.historian,
            self.asset,
            start,
            now_ns,
            now_ns,
            settle_ns=self.settle_ns,
        )
        out: list[Event] = []
        runs: dict[Key, list[Finding]] = {}
        for f in report.findings:
            if f.check == "arrival":  # written as events already, by the live check
                continue
            if f.check in POINT_CHECKS:
                point = (f.tag, f.check, f.start_ns)
                if point not in self._points:
                    self._points.add(point)
                    out.append(_found(f))
            else:
                runs.setdefault((f.tag, f.check), []).append(f)
        for key in sorted(set(self._open) | set(runs)):
            out.extend(self._step_key(key, runs.get(key, []), start, now_ns))
        out.sort(key=lambda e: (e.ts, _ORDER[e.kind], str(e.payload["tag"])))
        self.historian.write_events(out)
        return out

    def _step_key(self, key: Key, found: list[Finding], start: int, now_ns: int) -> list[Event]:
        assert self._open is not None
        tag, check = key
        going: Finding | None = None
        ended: list[Finding] = []
        for f in sorted(found, key=lambda f: (f.start_ns, f.end_ns)):
            state = True if check == "future" else self._going_on(f, now_ns)
            if state:
                going = f
            elif state is False and (tag, check, f.end_ns) not in self._ended:
                ended.append(f)
        out: list[Event] = []
        held = self._open.get(key)
        if (
            held is not None
            and going is not None
            and (check == "future" or self._continues(going, held, start))
        ):
            self._open[key] = OpenFinding(tag, check, held.since_ns, going.end_ns, going.detail)
            going = None
        elif held is not None:
            mine = [f for f in ended if self._continues(f, held, start)]
            last = max(mine, key=lambda f: f.end_ns) if mine else None
            if last is not None:
                ended.remove(last)
                self._ended.add((tag, check, last.end_ns))
                out.append(_closed(held, last.end_ns, last.detail))
            else:
                out.append(_closed(held, now_ns, held.detail))
            del self._open[key]
        for f in ended:  # opened and closed between two steps
            self._ended.add((tag, check, f.end_ns))
            out.append(_opened(f, f.start_ns, now_ns))
            out.append(
                _closed(OpenFinding(tag, check, f.start_ns, f.end_ns, f.detail), f.end_ns, f.detail)
            )
        if going is not None:
            # a fast clock's samples sit ahead of now: it is opened when seen
            since = now_ns if check == "future" else going.start_ns
            self._open[key] = OpenFinding(tag, check, since, going.end_ns, going.detail)
            out.append(_opened(going, since, now_ns))
        return out


def describe(e: Event, tz: tzinfo) -> str:
    """One line a technician reads: "opened stuck spindle_vibration on mill-2 since 09:14:
    read exactly 3.20 mm/s for 47 minutes ..." (times in the plant's time zone)."""
    p: dict[str, Any] = dict(e.payload)
    tag = str(p.get("tag", ""))
    parts = tag.split("/")
    label = f"{parts[-1]} on {parts[-2]}" if len(parts) >= 2 else tag
    detail = str(p.get("detail", ""))
    if detail.startswith(label + " "):
        detail = detail[len(label) + 1 :]
    at = from_ns(e.ts).astimezone(tz).strftime("%H:%M")
    check = p.get("check", "")
    if e.kind == OPENED:
        return f"opened {check} {label} since {at}: {detail}"
    if e.kind == CLOSED:
        return f"closed {check} {label} at {at} after {p.get('duration', '?')}"
    return f"found {check} {label} at {at}: {detail}"
