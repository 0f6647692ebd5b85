"""What operators add to a machine's derived history: a reason for a stop, a correction of a
span, and production they counted by hand. All three are historian events on the machine's
asset, so they are stored once, travel with the data, and are read back with it.

- ``state.reason`` ``{start, reason, by, written}``: the interval that covers ``start`` gets
  the reason (an operator names the stop they see, by its start).
- ``state.correction`` ``{start, end, state, reason, by, written}``: ``[start, end)`` is that
  state with that reason, splitting whatever intervals it cuts.
- ``production.entry`` ``{ts, product, result, count, by, written}``: parts judged by a person
  (see ``counts.read_parts`` for how they combine with counted parts).

An event's time is the time it is *about* (the stop's start, the correction's start, the
entry's time), so a range query finds it with the historian's index; ``written`` (ns UTC) is
when it was written, and orders them: a later correction wins over an earlier one. A
correction spans at most ``MAX_SPAN_S`` (a week): a range reads the events that start up to
that long before it. Who may write them, and the audit record, are the caller's (API, CLI).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np

from andon.core.clock import NS_PER_S, iso
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.historian import Historian
from andon.state.history import NO_DATA, RESULTS, StateHistory

REASON = "state.reason"
CORRECTION = "state.correction"
ENTRY = "production.entry"
MAX_REASON = 200
MAX_SPAN_S = 7 * 86400
MAX_SPAN_NS = MAX_SPAN_S * NS_PER_S
MAX_COUNT = 1_000_000


def _reason(reason: str) -> str:
    if not isinstance(reason, str):
        raise InputError("reason: expected text")
    if len(reason) > MAX_REASON:
        raise InputError(f"reason: at most {MAX_REASON} characters, got {len(reason)}")
    return reason


def _by(by: str) -> str:
    if not isinstance(by, str) or not by.strip():
        raise InputError("by: say who (a user name)")
    return by


def _asset(asset: str) -> str:
    if not isinstance(asset, str) or not asset.strip("/"):
        raise InputError("asset: expected a machine's asset path")
    return asset


def _time(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{field}: expected a time in ns since the epoch")
    return value


def _written(now_ns: int | None) -> int:
    return time.time_ns() if now_ns is None else now_ns


def set_reason(
    historian: Historian,
    asset: str,
    at_ns: int,
    reason: str,
    *,
    by: str,
    now_ns: int | None = None,
) -> Event:
    """Give the stop of ``asset`` that covers ``at_ns`` a reason code; returns the stored event."""
    payload = {
        "start": _time(at_ns, "start"),
        "reason": _reason(reason),
        "by": _by(by),
        "written": _written(now_ns),
    }
    event = Event(at_ns, _asset(asset), REASON, payload, "operator")
    historian.write_events([event])
    return event


def correct(
    historian: Historian,
    asset: str,
    start_ns: int,
    end_ns: int,
    state: str | MachineState,
    reason: str,
    *,
    by: str,
    now_ns: int | None = None,
) -> Event:
    """Set ``[start_ns, end_ns)`` of ``asset`` to ``state`` (a label such as ``down``) with a
    reason, splitting the intervals it cuts; returns the stored event."""
    _time(start_ns, "start")
    _time(end_ns, "end")
    if end_ns <= start_ns:
        raise InputError(f"end: {iso(end_ns)} is not after start {iso(start_ns)}")
    if end_ns - start_ns > MAX_SPAN_NS:
        raise InputError(
            f"end: a correction spans at most {MAX_SPAN_S // 86400} days; split a longer one"
        )
    label = _state_label(state)
    payload = {
        "start": start_ns,
        "end": end_ns,
        "state": label,
        "reason": _reason(reason),
        "by": _by(by),
        "written": _written(now_ns),
    }
    event = Event(start_ns, _asset(asset), CORRECTION, payload, "operator")
    historian.write_events([event])
    return event


def _state_label(state: str | MachineState) -> str:
    if isinstance(state, MachineState):
        return state.label
    if state == "no_data":
        return state
    try:
        return MachineState.from_label(str(state)).label
    except ValueError as err:
        raise InputError(f"state: {err}") from None


def enter_parts(
    historian: Historian,
    asset: str,
    ts_ns: int,
    product: str,
    result: str,
    count: int,
    *,
    by: str,
    now_ns: int | None = None,
) -> Event:
    """Record ``count`` parts of ``product`` judged ``result`` (good, scrap, rework) by a
    person at ``ts_ns``; returns the stored event."""
    _time(ts_ns, "ts")
    if not isinstance(product, str) or not product.strip() or len(product) > MAX_REASON:
        raise InputError(f"product: expected a product id of 1 to {MAX_REASON} characters")
    if result not in RESULTS:
        raise InputError(f"result: expected one of {', '.join(RESULTS)}, got {result!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise InputError(f"count: expected a whole number from 1 to {MAX_COUNT}")
    payload = {
        "ts": ts_ns,
        "product": product,
        "result": result,
        "count": count,
        "by": _by(by),
        "written": _written(now_ns),
    }
    event = Event(ts_ns, _asset(asset), ENTRY, payload, "operator")
    historian.write_events([event])
    return event


def own(events: Iterable[Event], asset: str, kind: str) -> list[Event]:
    """The events of exactly ``asset`` and ``kind`` (a historian query also returns the
    asset's children and the kind's dotted sub-kinds)."""
    return [e for e in events if e.asset == asset and e.kind == kind]


def stored(historian: Historian, asset: str, start_ns: int, end_ns: int) -> list[Event]:
    """The reasons and corrections that can touch ``[start_ns, end_ns)`` of ``asset``."""
    lo = start_ns - MAX_SPAN_NS
    out: list[Event] = []
    for kind in (REASON, CORRECTION):
        found = historian.events(asset, kind, lo, end_ns, limit=None)
        out.extend(own(found, asset, kind))
    return out


def reach_back(events: Iterable[Event], start_ns: int) -> int:
    """How far before ``start_ns`` a history must be derived so the reasons given to a stop
    that began earlier still find it: the earliest such reason's start."""
    lo = start_ns
    for e in events:
        if e.kind == REASON:
            lo = min(lo, int(e.payload["start"]))
    return lo


def _order(events: Iterable[Event]) -> list[Event]:
    """Reasons and corrections in the order they were written."""
    listed = [e for e in events if e.kind in (REASON, CORRECTION)]
    return [e for _, e in sorted(enumerate(listed), key=lambda p: (_written_of(p[1]), p[0]))]


def _written_of(e: Event) -> int:
    value = e.payload.get("written", e.ts)
    return int(value) if isinstance(value, int | float) else e.ts


def apply(history: StateHistory, events: Sequence[Event]) -> StateHistory:
    """``history`` with the operators' reasons and corrections applied, in the order they
    were written (a later one wins where they overlap). Events of other kinds are ignored.

    Neighbours that end up with the same state *and* reason are merged; a corrected span next
    to an interval of the same state keeps its own reason, so it stays an interval of its own.
    """
    ordered = _order(events)
    if not ordered:
        return history
    starts = history.starts.tolist()
    states = history.states.tolist()
    reasons = list(history.reasons)
    lo, hi = history.start_ns, history.end_ns
    for e in ordered:
        p = e.payload
        if e.kind == REASON:
            at = int(p["start"])
            if lo <= at < hi:
                i = _covering(starts, at)
                reasons[i] = str(p["reason"])
            continue
        s, t = max(int(p["start"]), lo), min(int(p["end"]), hi)
        if s >= t:
            continue
        label = str(p["state"])
        code = NO_DATA if label == "no_data" else int(MachineState.from_label(label))
        tail: list[tuple[int, int, str]] = []
        if t < hi:
            k = _covering(starts, t)
            tail = [(t, states[k], reasons[k])]
        steps = [
            *[(starts[m], states[m], reasons[m]) for m in range(len(starts)) if starts[m] < s],
            (s, code, str(p["reason"])),
            *tail,
            *[(starts[m], states[m], reasons[m]) for m in range(len(starts)) if starts[m] > t],
        ]
        starts = [r[0] for r in steps]
        states = [r[1] for r in steps]
        reasons = [r[2] for r in steps]
    keep = [0] + [
        m
        for m in range(1, len(starts))
        if (states[m], reasons[m]) != (states[m - 1], reasons[m - 1])
    ]
    return StateHistory(
        history.asset,
        lo,
        hi,
        np.array([starts[m] for m in keep], dtype=np.int64),
        np.array([states[m] for m in keep], dtype=np.uint8),
        tuple(reasons[m] for m in keep),
    )


def _covering(starts: list[int], t: int) -> int:
    """Index of the interval that covers ``t`` (``starts`` ascending, ``starts[0] <= t``)."""
    return int(np.searchsorted(np.asarray(starts, dtype=np.int64), t, side="right")) - 1
