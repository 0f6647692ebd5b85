"""A machine's states over time, derived from its signals as plant.yaml says.

Two ways, both pure functions over numpy columns, no Python object per sample:

- ``states_from_codes``: a state-code tag (a controller's state word). Each sample's code
  holds until the next sample (sample-and-hold), mapped code by code (andon's own codes 1..8
  by default).
- ``states_from_rules``: conditions on signals, first matching rule wins, evaluated at every
  time one of the referenced tags changes, each tag at its newest value.

Where andon cannot know the state, the history says ``NO_DATA`` with the reason: before the
first sample ("no sample"), after a signal went silent for longer than its ``max_gap_s`` (a
dead signal, from the last sample + ``max_gap_s`` on), on a sample of BAD quality ("bad
quality"; UNCERTAIN samples are used), and on a code the mapping does not know ("unknown code
42"). Consecutive intervals of the same state are merged, keeping the first one's reason.

``derive`` reads the signals from the historian (from a little before the range, so the state
at its start is known), with ``max_gap_s`` = max(10 × the tag's declared ``interval``, 60 s)
(a tag without an interval is event-driven and holds until it changes), then applies the
operators' reasons and corrections (``state.reasons``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from andon.core.batch import F64, I64, U8
from andon.core.clock import NS_PER_S
from andon.core.machine_state import MachineState
from andon.core.quality import UNCERTAIN
from andon.historian import Historian
from andon.plant.model import MachineRef, Plant
from andon.plant.production import Condition, StateLabel, StateRule
from andon.state import reading, reasons
from andon.state.history import NO_DATA, Parts, StateHistory

I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]
SeriesColumns = tuple[I64, F64, U8]

NO_SAMPLE = "no sample"
BAD_QUALITY = "bad quality"
NO_VALUE = "no value"
NO_STATE_SIGNAL = "no state signal"
ANDON_CODES: Mapping[int, MachineState] = {int(s): s for s in MachineState}

_OPS: dict[str, Callable[[F64, float], B]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _gap_ns(max_gap_s: float) -> int | None:
    """``max_gap_s`` in ns; None when infinite (an event-driven signal never goes stale)."""
    if max_gap_s <= 0:
        raise ValueError(f"max_gap_s must be positive, got {max_gap_s}")
    return None if math.isinf(max_gap_s) else round(max_gap_s * NS_PER_S)


def _lost(max_gap_s: float) -> str:
    return f"no sample for more than {max_gap_s:g} s"


def _sorted(ts: I64, *cols: npt.NDArray[np.generic]) -> tuple[npt.NDArray[np.generic], ...]:
    """The columns in time order (the historian's are already; hand-made ones may not be)."""
    if len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1])):
        return (ts, *cols)
    order = np.argsort(ts, kind="stable")
    return (ts[order], *(c[order] for c in cols))


def steps_to_history(
    t: I64,
    state: U8,
    reason: I32,
    table: Sequence[str],
    start_ns: int,
    end_ns: int,
    asset: str,
) -> StateHistory:
    """A step function from change points ``(t, state, reason index into table)``.

    The point at or last before ``start_ns`` gives the state at the start (``NO_DATA``, "no
    sample", without one); of points at the same time the last wins; equal neighbours are
    merged keeping the first reason.
    """
    if end_ns <= start_ns:
        raise ValueError("end_ns must be after start_ns")
    order = np.argsort(t, kind="stable")
    t, state, reason = t[order], state[order], reason[order]
    keep = t < end_ns
    t, state, reason = t[keep], state[keep], reason[keep]
    first = int(np.searchsorted(t, start_ns, side="right")) - 1
    table = list(table)
    if first < 0:
        table.append(NO_SAMPLE)
        t = np.concatenate([np.array([start_ns], np.int64), t])
        state = np.concatenate([np.array([NO_DATA], np.uint8), state])
        reason = np.concatenate([np.array([len(table) - 1], np.int32), reason])
    else:
        t, state, reason = t[first:].copy(), state[first:], reason[first:]
        t[0] = start_ns
    last_at_time = np.append(t[1:] != t[:-1], True)
    t, state, reason = t[last_at_time], state[last_at_time], reason[last_at_time]
    change = np.empty(len(t), dtype=np.bool_)
    change[0] = True
    change[1:] = state[1:] != state[:-1]
    return StateHistory(
        asset,
        start_ns,
        end_ns,
        t[change],
        state[change].astype(np.uint8),
        tuple(table[i] for i in reason[change].tolist()),
    )


def states_from_codes(
    ts: I64,
    values: F64,
    quality: U8,
    codes: Mapping[int, MachineState] | None,
    start_ns: int,
    end_ns: int,
    *,
    asset: str,
    max_gap_s: float,
) -> StateHistory:
    """A state-code series as a step function (see the module); ``codes=None``: andon's."""
    ts, values, quality = _sorted(  # type: ignore[assignment]
        np.asarray(ts, np.int64), np.asarray(values, np.float64), np.asarray(quality, np.uint8)
    )
    mapping = ANDON_CODES if codes is None else codes
    keys = np.array(sorted(mapping), dtype=np.float64)
    mapped = np.array([int(mapping[int(k)]) for k in keys.tolist()], dtype=np.uint8)
    finite = np.isfinite(values)
    pos = np.minimum(np.searchsorted(keys, values), max(len(keys) - 1, 0))
    known = finite & (keys[pos] == values) if len(keys) else np.zeros(len(values), np.bool_)
    bad = quality < UNCERTAIN
    state = np.where(known & ~bad, mapped[pos] if len(keys) else 0, NO_DATA).astype(np.uint8)

    table = ["", BAD_QUALITY, NO_VALUE, _lost(max_gap_s)]
    reason = np.zeros(len(ts), dtype=np.int32)
    unknown = finite & ~known & ~bad
    if unknown.any():
        odd, inverse = np.unique(values[unknown], return_inverse=True)
        reason[unknown] = len(table) + inverse.astype(np.int32)
        table.extend(f"unknown code {_number(v)}" for v in odd.tolist())
    reason[~finite & ~bad] = 2
    reason[bad] = 1

    gap = _gap_ns(max_gap_s)
    dead = np.zeros(len(ts), dtype=np.bool_)
    if gap is not None and len(ts):
        following = np.append(ts[1:], np.int64(end_ns))
        dead = following - ts > gap
    # only the samples that change something matter from here on (a month of 1 Hz is a few
    # thousand changes): a new state or reason, or the first sample after a dead signal
    keep = np.ones(len(ts), dtype=np.bool_)
    keep[1:] = (state[1:] != state[:-1]) | (reason[1:] != reason[:-1]) | dead[:-1]
    first = int(np.searchsorted(ts, start_ns, side="right")) - 1
    if first >= 0:
        keep[first] = True  # the sample that sets the state at the start
    lost = ts[dead] + (gap or 0)
    ts = np.concatenate([ts[keep], lost])
    state = np.concatenate([state[keep], np.full(len(lost), NO_DATA, np.uint8)])
    reason = np.concatenate([reason[keep], np.full(len(lost), 3, np.int32)])
    return steps_to_history(ts, state, reason, table, start_ns, end_ns, asset)


def _number(v: float) -> str:
    return str(int(v)) if v.is_integer() else f"{v:g}"


def _tags_of(rules: Sequence[StateRule]) -> list[str]:
    seen: dict[str, None] = {}
    for rule in rules:
        for c in (*rule.all, *rule.any):
            seen.setdefault(c.tag, None)
    return list(seen)


def _code(state: StateLabel | MachineState) -> int:
    return int(state) if isinstance(state, MachineState) else int(MachineState.from_label(state))


def states_from_rules(
    series: Mapping[str, SeriesColumns],
    rules: Sequence[StateRule],
    otherwise: StateLabel | MachineState,
    start_ns: int,
    end_ns: int,
    *,
    asset: str,
    max_gap_s: float | Mapping[str, float],
) -> StateHistory:
    """States from conditions on signals, first matching rule wins (``otherwise`` when none
    does): a rule matches when all of its ``all`` conditions hold and, if it has ``any``, at
    least one of those. Evaluated at every time a referenced tag has a sample or goes stale,
    each tag at its newest value (sample-and-hold). ``NO_DATA`` while a referenced tag has no
    value yet, is stale (no sample for ``max_gap_s``, per tag when a mapping) or its newest
    sample is BAD or not a number; the reason names the first such tag."""
    tags = _tags_of(rules)
    cols: dict[str, SeriesColumns] = {}
    stale_points: list[I64] = [np.array([start_ns], np.int64)]
    gaps: dict[str, int | None] = {}
    for tag in tags:
        ts, value, quality = series.get(tag, reading.empty())
        ts, value, quality = _sorted(  # type: ignore[assignment]
            np.asarray(ts, np.int64), np.asarray(value, np.float64), np.asarray(quality, np.uint8)
        )
        cols[tag] = (ts, value, quality)
        g = max_gap_s.get(tag, math.inf) if isinstance(max_gap_s, Mapping) else max_gap_s
        gap_ns = gaps[tag] = _gap_ns(g)
        stale_points.append(ts)
        if gap_ns is not None:
            stale_points.append(ts + gap_ns)
    t = np.unique(np.concatenate(stale_points))
    t = t[(t >= start_ns) & (t < end_ns)]

    table = [""]
    reason = np.zeros(len(t), dtype=np.int32)
    unknown = np.zeros(len(t), dtype=np.bool_)
    values: dict[str, F64] = {}
    for tag in reversed(tags):  # the first tag's reason is written last, so it wins
        ts, value, quality = cols[tag]
        idx = np.searchsorted(ts, t, side="right") - 1
        has = idx >= 0
        at = np.maximum(idx, 0)
        if len(ts):
            v, q, age = value[at], quality[at], t - ts[at]
        else:
            v, q, age = np.full(len(t), np.nan), np.zeros(len(t), np.uint8), np.zeros_like(t)
        gap = gaps[tag]
        stale = has & (age >= gap) if gap is not None else np.zeros(len(t), np.bool_)
        bad = has & ~stale & ((q < UNCERTAIN) | ~np.isfinite(v))
        g = max_gap_s.get(tag, math.inf) if isinstance(max_gap_s, Mapping) else max_gap_s
        for mask, text in (
            (bad, f"{tag}: {BAD_QUALITY}"),
            (stale, f"{tag}: {_lost(g)}"),
            (~has, f"{tag}: {NO_SAMPLE}"),
        ):
            if mask.any():
                table.append(text)
                reason[mask] = len(table) - 1
        unknown |= ~has | stale | bad
        values[tag] = v

    def holds(c: Condition) -> B:
        return _OPS[c.op](values[c.tag], c.value)

    state = np.full(len(t), _code(otherwise), dtype=np.uint8)
    for rule in reversed(rules):  # the first rule is applied last, so it wins
        match = np.ones(len(t), dtype=np.bool_)
        for c in rule.all:
            match &= holds(c)
        if rule.any:
            either = np.zeros(len(t), dtype=np.bool_)
            for c in rule.any:
                either |= holds(c)
            match &= either
        state[match] = _code(rule.state)
    state[unknown] = NO_DATA
    reason[~unknown] = 0
    return steps_to_history(t, state, reason, table, start_ns, end_ns, asset)


def no_signal(
    asset: str, start_ns: int, end_ns: int, reason: str = NO_STATE_SIGNAL
) -> StateHistory:
    """``NO_DATA`` throughout, with the reason."""
    return StateHistory.of(asset, start_ns, end_ns, [(start_ns, NO_DATA, reason)])


def state_tag(ref: MachineRef) -> str | None:
    """The machine's state-code tag: ``state.tag``, else its ``signal: state_code`` tag."""
    cfg = ref.machine.state
    if cfg is not None:
        return cfg.tag
    for t in ref.machine.tags:
        if t.signal == "state_code":
            return t.name
    return None


def state_inputs(ref: MachineRef) -> list[str]:
    """The tags (names on the machine) its states are derived from."""
    tag = state_tag(ref)
    if tag is not None:
        return [tag]
    cfg = ref.machine.state
    return _tags_of(cfg.rules) if cfg is not None and cfg.rules else []


def _raw(ref: MachineRef, historian: Historian, start_ns: int, end_ns: int) -> StateHistory:
    cfg = ref.machine.state
    tag = state_tag(ref)
    if tag is not None:
        codes = None
        if cfg is not None and cfg.codes:
            codes = {k: MachineState.from_label(v) for k, v in cfg.codes.items()}
        gap = reading.max_gap_s(ref, tag)
        ts, value, quality = reading.read_with_before(
            historian, ref.tag_path(tag), start_ns, end_ns, gap
        )
        return states_from_codes(
            ts, value, quality, codes, start_ns, end_ns, asset=ref.path, max_gap_s=gap
        )
    if cfg is not None and cfg.rules:
        gaps = {tag: reading.max_gap_s(ref, tag) for tag in _tags_of(cfg.rules)}
        series = {
            tag: reading.read_with_before(historian, ref.tag_path(tag), start_ns, end_ns, g)
            for tag, g in gaps.items()
        }
        return states_from_rules(
            series, cfg.rules, cfg.otherwise, start_ns, end_ns, asset=ref.path, max_gap_s=gaps
        )
    return no_signal(ref.path, start_ns, end_ns)


def derive(
    plant: Plant, ref: MachineRef, historian: Historian, start_ns: int, end_ns: int
) -> StateHistory:
    """The states of machine ``ref`` over ``[start_ns, end_ns)``, from its signals in the
    historian as its ``state:`` section says (its ``signal: state_code`` tag with andon's
    codes without one; ``NO_DATA`` "no state signal" with neither), with the operators'
    reasons and corrections applied.

    A reason given to a stop that began before ``start_ns`` (up to ``reasons.MAX_SPAN_S``
    before) still reaches it: the history is then derived from that stop's start and clipped.
    ``plant`` is the whole plant (the machine's place in it; kept for what later needs it).
    """
    del plant  # the machine's configuration travels in ``ref``
    if end_ns <= start_ns:
        raise ValueError("end_ns must be after start_ns")
    events = reasons.stored(historian, ref.path, start_ns, end_ns)
    lo = reasons.reach_back(events, start_ns)
    history = reasons.apply(_raw(ref, historian, lo, end_ns), events)
    return history if lo == start_ns else history.clip(start_ns, end_ns)


def changeovers(parts: Parts) -> list[tuple[int, str, str]]:
    """Product changes among a machine's parts: ``(ts of the first part of the new product,
    previous product, new product)``, in time order."""
    if len(parts) < 2:
        return []
    at = np.flatnonzero(parts.product[1:] != parts.product[:-1]) + 1
    return [
        (
            int(parts.ts[i]),
            parts.products[int(parts.product[i - 1])],
            parts.products[int(parts.product[i])],
        )
        for i in at.tolist()
    ]
