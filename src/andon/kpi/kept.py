"""Each closed period's OEE, stops and energy per machine, computed once and kept.

A month of 100 machines by shift is 9,000 results, each from 28,800 one-second state samples;
recomputing them on every question takes minutes. Three kinds are kept, each under its own
name: the OEE (``KeptOee``), the stops by reason for the Pareto (``KeptStops``, also stale
after an operator's late reason) and the energy (``KeptEnergy``, also stale after a late
sample of the power signal, and fingerprinted with the costs and the grid factor).

A period is *closed* once its end plus the machine's *margin* lies
``historian.kept.LATE_AFTER_NS`` in the past. The margin is how far past a period its data
still matter: the micro-stop threshold (a stop running over the end is
classified by whether it reaches it) or the start-up window, whichever is longer. Whatever
arrives about a closed period later is a late write, and the historian notes it. The result
is kept in the historian with

- a **fingerprint** of everything the arithmetic read from plant.yaml (the machine, the
  calendar, the products), of the formulas (``formula`` per kind) and of andon's version: change an
  ideal cycle time, or upgrade andon, and the machine's kept results are recomputed;
- the time its computation **began**, by the database's clock. It is stale, and recomputed
  on the next question, if after that time

  - a late sample of one of the machine's OEE tags (its state inputs, its part counter) was
    noted in the period or before it, as far back as a sample still sets the state at the
    period's start (a sampled tag's staleness limit; a year for an event-driven tag);
  - a late ``part`` event of the machine was noted within ``state.counts.ENTRY_REACH_S`` of
    the period, or an operator's correction up to ``state.reasons.MAX_SPAN_S`` before it;
  - an operator entered judged parts (``production.entry``, late or not: it re-judges parts
    made before it) within ``ENTRY_REACH_S`` of the period.

Periods still open, and periods clipped by the range asked for, are computed afresh every
time. Keeping is best effort: a database that refuses the write (read-only, a replica) gets
its answers computed, not an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import orjson

from andon import __version__
from andon.core.clock import NS_PER_S, now_ns
from andon.core.errors import StorageError
from andon.historian import Historian
from andon.historian.kept import (
    BUCKET_NS,
    LATE_AFTER_NS,
    Kept,
    event_key,
    sample_key,
)
from andon.kpi.energy import POWER_GAP_NS, EnergyReport, power_tag
from andon.kpi.oee import Oee
from andon.kpi.pareto import Crossing, PeriodStops, ReasonLoss
from andon.kpi.periods import Period
from andon.plant import MachineRef, Plant
from andon.state import reading
from andon.state.counts import ENTRY_REACH_NS, PART, counter_of
from andon.state.derive import state_inputs
from andon.state.reasons import CORRECTION, ENTRY, MAX_SPAN_NS, REASON

log = logging.getLogger("andon.kpi.kept")

KIND = "oee"
FORMULA = 2
"""Raise when the OEE arithmetic changes: every kept result is then recomputed."""
YEAR_NS = round(max(reading.BACK_STEPS_S) * NS_PER_S)
T = TypeVar("T")


def margin_ns(ref: MachineRef, micro_stop_s: float) -> int:
    """How far past a period its data matter (see the module)."""
    state = ref.machine.state
    window = state.startup_window if state is not None else 0.0
    return round(max(micro_stop_s, window) * NS_PER_S)


def _hash(inputs: dict[str, Any]) -> str:
    """The fingerprint of what a kept result is computed from (see the module)."""
    text = json.dumps(inputs, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def oee_tags(ref: MachineRef) -> list[str]:
    """The machine's tags its OEE is computed from: its state inputs and its part counter."""
    counter = counter_of(ref)
    return [*state_inputs(ref), *([counter[0]] if counter is not None else [])]


def sample_reach_ns(ref: MachineRef) -> int:
    """How far before the history's start a sample still sets its first state or count: a
    sampled tag's staleness limit, a year for an event-driven tag (it holds until it
    changes, and is looked for that far back)."""
    reach = max((reading.max_gap_s(ref, tag) for tag in oee_tags(ref)), default=0.0)
    return YEAR_NS if not math.isfinite(reach) else round(reach * NS_PER_S)


@dataclass(frozen=True, slots=True)
class Reach:
    """The journal keys of one machine's OEE inputs, each with how far before and after a
    period its late writes still touch it."""

    path: str
    keys: dict[str, tuple[int, int]]

    @classmethod
    def of(cls, ref: MachineRef, margin: int) -> Reach:
        samples = (margin + sample_reach_ns(ref), margin)
        parts = (margin + ENTRY_REACH_NS, margin + ENTRY_REACH_NS)
        keys = {sample_key(ref.tag_path(t)): samples for t in oee_tags(ref)}
        keys[event_key(PART, ref.path)] = parts
        keys[event_key(CORRECTION, ref.path)] = (margin + MAX_SPAN_NS, margin)
        return cls(ref.path, keys)


class Keeper(ABC, Generic[T]):
    """Reads and keeps one kind of result of a plant's machines for closed calendar periods.

    A kind says what it is computed from (``inputs``, hashed into the fingerprint), which late
    writes make it stale (``reach``) and how a result is stored (``encode``/``decode``)."""

    kind: ClassVar[str]
    formula: ClassVar[int]

    def __init__(self, plant: Plant, historian: Historian, now: int | None = None) -> None:
        self.plant, self.historian = plant, historian
        self.now_ns = now_ns() if now is None else now
        self._prints: dict[str, str] = {}
        self._refused = False

    def inputs(self, ref: MachineRef) -> dict[str, Any]:
        """What the kind is computed from in plant.yaml, beside the machine itself."""
        return {
            "calendar": self.plant.calendar.model_dump(mode="json"),
            "products": [p.model_dump(mode="json") for p in self.plant.products],
        }

    def reach(self, ref: MachineRef, margin: int) -> Reach:
        return Reach.of(ref, margin)

    @abstractmethod
    def encode(self, result: T) -> Any:
        """A result as JSON-ready data."""

    @abstractmethod
    def decode(self, body: Any) -> T:
        """A result back from ``encode``'s data."""

    def _print(self, ref: MachineRef) -> str:
        found = self._prints.get(ref.path)
        if found is None:
            found = self._prints[ref.path] = _hash(
                {
                    "kind": self.kind,
                    "formula": self.formula,
                    "andon": __version__,
                    "machine": ref.machine.model_dump(mode="json"),
                    **self.inputs(ref),
                }
            )
        return found

    def closed(self, period: Period, margin: int) -> bool:
        """Whether ``period`` is over for good: its end plus ``margin`` settled in the past."""
        return period.end_ns + margin <= self.now_ns - LATE_AFTER_NS

    def lookup(
        self, refs: Sequence[MachineRef], spans: Sequence[Period], margins: Sequence[int]
    ) -> dict[str, dict[int, T]]:
        """``{machine path: {index of the span: kept result}}`` for the closed spans whose
        kept result is current."""
        if not spans or not refs:
            return {}
        lo, hi = spans[0].start_ns, spans[-1].end_ns
        index = {(p.start_ns, p.end_ns): i for i, p in enumerate(spans)}
        by_path = {ref.path: (ref, m) for ref, m in zip(refs, margins, strict=True)}
        found: dict[str, dict[int, Kept]] = {}
        for row in self.historian.kept(self.kind, list(by_path), lo, hi):
            i = index.get((row.start_ns, row.end_ns))
            if i is None or row.asset not in by_path:
                continue
            ref, margin = by_path[row.asset]
            if row.fingerprint == self._print(ref) and self.closed(spans[i], margin):
                found.setdefault(row.asset, {})[i] = row
        if found:
            self._drop_stale(found, by_path, lo, hi)
        return {
            path: {i: self.decode(orjson.loads(row.body)) for i, row in kept.items()}
            for path, kept in found.items()
            if kept
        }

    def _drop_stale(
        self,
        found: dict[str, dict[int, Kept]],
        by_path: dict[str, tuple[MachineRef, int]],
        lo: int,
        hi: int,
    ) -> None:
        """Remove kept results that a late write, or an operator's entry, made after their
        computation touches (see the module)."""
        since = min(row.computed_ns for kept in found.values() for row in kept.values())
        reaches = [self.reach(*by_path[path]) for path in found]
        owner = {
            key: (r.path, before, after) for r in reaches for key, (before, after) in r.keys.items()
        }
        before = max(b for _, b, _ in owner.values())
        after = max(a for _, _, a in owner.values())
        # machine path -> (start, end, reach before, reach after, written) of each write
        touched: dict[str, list[tuple[int, int, int, int, int]]] = {}
        for key, hour, written in self.historian.late_since(
            list(owner), lo - before, hi + after, since
        ):
            path, b, a = owner[key]
            touched.setdefault(path, []).append((hour, hour + BUCKET_NS, b, a, written))
        for e in self.historian.events(None, ENTRY, lo - ENTRY_REACH_NS, hi + ENTRY_REACH_NS, None):
            entered = e.payload.get("written")
            if e.asset in found and isinstance(entered, int) and entered >= since:
                reach = ENTRY_REACH_NS + by_path[e.asset][1]
                touched.setdefault(e.asset, []).append((e.ts, e.ts + 1, reach, reach, entered))
        for path, writes in touched.items():
            _drop(found[path], np.array(writes, dtype=np.int64))

    def keep(
        self, ref: MachineRef, results: Sequence[tuple[Period, T]], began_ns: int, margin: int
    ) -> int:
        """Keep the results of closed periods computed from data read after ``began_ns``;
        returns how many were kept (none if the database refuses to store them)."""
        rows = [
            Kept(
                ref.path,
                self.kind,
                p.start_ns,
                p.end_ns,
                self._print(ref),
                began_ns,
                orjson.dumps(self.encode(r)).decode(),
            )
            for p, r in results
            if self.closed(p, margin)
        ]
        if not rows or self._refused:
            return 0
        try:
            self.historian.keep(rows)
        except StorageError as exc:
            self._refused = True
            log.warning("%s results not kept (computed on every question): %s", self.kind, exc)
            return 0
        return len(rows)


class KeptOee(Keeper[Oee]):
    """Each closed period's OEE of a machine."""

    kind = KIND
    formula = FORMULA

    def encode(self, result: Oee) -> Any:
        return result.to_dict()

    def decode(self, body: Any) -> Oee:
        return Oee.from_dict(body)


class KeptStops(Keeper[PeriodStops]):
    """Each closed period's stops of a machine by reason, and the stops crossing its edges:
    the OEE's inputs and the reasons operators give."""

    kind = "stops"
    formula = 2

    def reach(self, ref: MachineRef, margin: int) -> Reach:
        own = Reach.of(ref, margin)
        reasons = {event_key(REASON, ref.path): (margin + MAX_SPAN_NS, margin)}
        return Reach(ref.path, {**own.keys, **reasons})

    def encode(self, result: PeriodStops) -> Any:
        h, t = result.head, result.tail
        return {
            "reasons": [[r.reason, r.seconds, r.begun] for r in result.reasons],
            "head": None if h is None else [h.reason, h.seconds],
            "tail": None if t is None else [t.reason, t.through, t.counted],
        }

    def decode(self, body: Any) -> PeriodStops:
        h, t = body["head"], body["tail"]
        return PeriodStops(
            tuple(ReasonLoss(str(r), float(s), int(b)) for r, s, b in body["reasons"]),
            None if h is None else Crossing(str(h[0]), float(h[1])),
            None if t is None else Crossing(str(t[0]), 0.0, bool(t[1]), bool(t[2])),
        )


class KeptEnergy(Keeper[EnergyReport | None]):
    """Each closed period's energy of a machine: its power signal, its states (kWh per
    state), the tariffs, costs and grid factor. ``None`` for a period without power data."""

    kind = "energy"
    formula = 1

    def inputs(self, ref: MachineRef) -> dict[str, Any]:
        return {
            "calendar": self.plant.calendar.model_dump(mode="json"),
            "costs": self.plant.costs.model_dump(mode="json"),
            "carbon": None if self.plant.carbon is None else self.plant.carbon.model_dump(),
        }

    def reach(self, ref: MachineRef, margin: int) -> Reach:
        own = Reach.of(ref, margin)
        keys = dict(own.keys)
        tag = power_tag(ref)
        if tag is not None:
            pad = margin + POWER_GAP_NS
            keys[sample_key(ref.tag_path(tag))] = (pad, pad)
        return Reach(ref.path, keys)

    def closed(self, period: Period, margin: int) -> bool:
        """Over for good once the power samples that integrate its end (up to a gap's
        length after it) have settled too."""
        return super().closed(period, margin + POWER_GAP_NS)

    def encode(self, result: EnergyReport | None) -> Any:
        return None if result is None else result.to_dict()

    def decode(self, body: Any) -> EnergyReport | None:
        return None if body is None else EnergyReport.from_dict(body)


def _drop(kept: dict[int, Kept], writes: np.ndarray) -> None:
    """Remove from ``kept`` the results that any write touches after they were computed;
    ``writes`` rows: (start, end, reach before, reach after, written)."""
    if not kept or not len(writes):
        return
    ids = list(kept)
    start = np.array([kept[i].start_ns for i in ids], dtype=np.int64)[:, None]
    end = np.array([kept[i].end_ns for i in ids], dtype=np.int64)[:, None]
    computed = np.array([kept[i].computed_ns for i in ids], dtype=np.int64)[:, None]
    w_start, w_end, before, after, written = (writes[:, k][None, :] for k in range(5))
    hit = ((written >= computed) & (w_start < end + after) & (w_end > start - before)).any(axis=1)
    for i, stale in zip(ids, hit.tolist(), strict=True):
        if stale:
            del kept[i]


__all__ = [
    "FORMULA",
    "KIND",
    "Keeper",
    "KeptEnergy",
    "KeptOee",
    "KeptStops",
    "Reach",
    "margin_ns",
    "oee_tags",
    "sample_reach_ns",
]
