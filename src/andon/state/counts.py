"""A machine's production: every part it made, with product and result, from its part events
or, without those, from its part counter; operators' entries correct both.

**Counters.** A counter tag counts up; between two readings the parts made are the increase.
Counters also go down, for two reasons that must be told apart:

- **rollover**: a 16-bit counter goes 65535 → 0. A drop counts as a rollover when it goes
  from within ``max_step`` of the top (``rollover - previous <= max_step``) to within
  ``max_step`` of 0 (``current <= max_step``); the parts are ``current + rollover -
  previous`` (65530 → 4 at 65536: 10 parts). ``max_step`` defaults to 10 % of ``rollover``:
  no machine makes that many parts between two readings.
- **reset**: any other drop (a counter zeroed at shift change or by a PLC restart): the
  counter started again from 0, so the parts since the reset are ``current`` (812 → 0: none;
  812 → 3: 3).

NaN readings and readings of BAD quality are skipped (the next good reading is compared with
the last good one). A counter cannot tell scrap from good: counted parts are good unless an
operator's entry says otherwise.

**Operator entries** (``production.entry``, see ``state.reasons``): a *good* entry adds that
many good parts (parts the signals did not see); a *scrap* or *rework* entry re-judges that
many of the newest good parts made at or before its time and at most ``ENTRY_REACH_S`` (a
shift) before it (of its product, if the machine made that product, else of any), since
those were counted already — only when there are not enough are the rest added as new parts.
So that a range's parts do not depend on where the range was cut, parts and entries are read
from ``ENTRY_REACH_S`` before the range to ``ENTRY_REACH_S`` after it (an entry made after
the range may re-judge parts inside it), and only the range's parts are returned.

**Start-up parts**: parts made within ``state.startup_window`` seconds after the end of a SETUP
interval of the machine's history are flagged ``startup`` (their rejects are start-up rejects).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from andon.core.batch import F64, I64, U8
from andon.core.clock import NS_PER_S
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.core.quality import UNCERTAIN
from andon.historian import Historian
from andon.plant.model import MachineRef, Plant
from andon.state import reading
from andon.state.history import GOOD, RESULTS, Parts, StateHistory
from andon.state.reasons import ENTRY, own

B = npt.NDArray[np.bool_]
PART = "part"
DEFAULT_ROLLOVER = 65536
ENTRY_REACH_S = 8 * 3600
ENTRY_REACH_NS = ENTRY_REACH_S * NS_PER_S


def counter_increments(
    ts: I64,
    values: F64,
    rollover: int,
    *,
    max_step: int | None = None,
    quality: U8 | None = None,
) -> tuple[I64, I64]:
    """Parts counted between readings of a counter: ``(ts of the reading, parts)`` for each
    reading that shows parts (rollover and resets as in the module; NaN and BAD skipped).
    The first good reading is the baseline: it counts nothing."""
    if rollover < 2:
        raise ValueError(f"rollover must be at least 2, got {rollover}")
    step = max(rollover // 10, 1) if max_step is None else max_step
    ts = np.asarray(ts, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values) & (values >= 0)
    if quality is not None:
        ok &= np.asarray(quality) >= UNCERTAIN
    t, v = ts[ok], np.rint(values[ok]).astype(np.int64)
    if len(v) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    prev, cur = v[:-1], v[1:]
    rolled = (cur < prev) & (rollover - prev <= step) & (cur <= step)
    parts = np.where(cur >= prev, cur - prev, np.where(rolled, cur + rollover - prev, cur))
    shows = parts > 0
    return t[1:][shows], parts[shows].astype(np.int64)


def counter_of(ref: MachineRef) -> tuple[str, int] | None:
    """The machine's part counter tag and rollover: ``counter:``, else its ``signal:
    part_counter`` tag (16-bit)."""
    if ref.machine.counter is not None:
        return ref.machine.counter.tag, ref.machine.counter.rollover
    for t in ref.machine.tags:
        if t.signal == "part_counter":
            return t.name, DEFAULT_ROLLOVER
    return None


def default_product(plant: Plant, ref: MachineRef) -> str:
    """What a counted part is: the first product the machine makes (routed through it, or any
    product without a routing), else ``part``."""
    for p in plant.products:
        if not p.routing or ref.machine.id in p.routing:
            return p.id
    return PART


def startup_flags(ts: I64, history: StateHistory | None, window_s: float) -> B:
    """Whether each part time lies within ``window_s`` after the end of a SETUP interval
    (a setup still going on at the history's end has not ended)."""
    flags = np.zeros(len(ts), dtype=np.bool_)
    if history is None or window_s <= 0 or not len(ts):
        return flags
    ends = history.ends()
    setup_ends = ends[(history.states == int(MachineState.SETUP)) & (ends < history.end_ns)]
    if not len(setup_ends):
        return flags
    i = np.searchsorted(setup_ends, ts, side="right") - 1
    since: I64 = ts - setup_ends[np.maximum(i, 0)]
    window: B = since <= round(window_s * NS_PER_S)
    return (i >= 0) & window


Columns = tuple[I64, npt.NDArray[np.int32], U8]


def _from_events(events: list[Event]) -> tuple[dict[str, int], Columns]:
    products: dict[str, int] = {}
    prod: list[int] = []
    res: list[int] = []
    for e in events:
        product = str(e.payload.get("product") or PART)
        result = str(e.payload.get("result", "good"))
        res.append(RESULTS.index(result) if result in RESULTS else GOOD)
        prod.append(products.setdefault(product, len(products)))
    return products, (
        np.array([e.ts for e in events], dtype=np.int64),
        np.array(prod, dtype=np.int32),
        np.array(res, dtype=np.uint8),
    )


def _with_entries(products: dict[str, int], parts: Columns, entries: list[Event]) -> Columns:
    """Parts with the operators' entries applied (module docstring), in time order."""
    ts, prod, res = parts[0], parts[1], parts[2].copy()
    add_ts: list[int] = []
    add_prod: list[int] = []
    add_res: list[int] = []
    for e in sorted(entries, key=lambda e: e.ts):
        p = e.payload
        result = RESULTS.index(str(p["result"]))
        count = int(p["count"])
        code = products.setdefault(str(p["product"]), len(products))
        if result != GOOD:
            pick = (res == GOOD) & (ts <= e.ts) & (ts >= e.ts - ENTRY_REACH_NS)
            if bool((pick & (prod == code)).any()):
                pick &= prod == code
            chosen = np.flatnonzero(pick)[-count:] if count > 0 else np.empty(0, np.int64)
            res[chosen] = result
            count -= len(chosen)
        add_ts += [e.ts] * count
        add_prod += [code] * count
        add_res += [result] * count
    ts = np.concatenate([ts, np.array(add_ts, dtype=np.int64)])
    order = np.argsort(ts, kind="stable")
    return (
        ts[order],
        np.concatenate([prod, np.array(add_prod, dtype=np.int32)])[order],
        np.concatenate([res, np.array(add_res, dtype=np.uint8)])[order],
    )


def read_parts(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    start_ns: int,
    end_ns: int,
    *,
    history: StateHistory | None = None,
) -> Parts:
    """Every part machine ``ref`` made in ``[start_ns, end_ns)``: from its ``part`` events
    (``product``, ``result``); without any in the range, from its counter (each counted part
    good, of ``default_product``); with the operators' entries applied and start-up parts
    flagged when ``history`` (its states) is given."""
    asset = ref.path
    lo, hi = start_ns, end_ns
    entries = own(
        historian.events(asset, ENTRY, lo - ENTRY_REACH_NS, hi + ENTRY_REACH_NS, limit=None),
        asset,
        ENTRY,
    )
    if entries:  # read around the range, so entries judge the parts they would in any range
        lo, hi = lo - ENTRY_REACH_NS, hi + ENTRY_REACH_NS
    found = historian.events(asset, PART, lo, hi, limit=None)
    products, parts = _from_events(own(found, asset, PART))
    if not len(parts[0]):
        parts = _counted(plant, ref, historian, lo, hi, products)
    if entries:
        parts = _with_entries(products, parts, entries)
        ts = parts[0]
        keep = (ts >= start_ns) & (ts < end_ns)
        parts = (ts[keep], parts[1][keep], parts[2][keep])
    cfg = ref.machine.state
    window = cfg.startup_window if cfg is not None else 0.0
    ts, prod, res = parts
    return Parts(asset, tuple(products), ts, prod, res, startup_flags(ts, history, window))


def _counted(
    plant: Plant,
    ref: MachineRef,
    historian: Historian,
    start_ns: int,
    end_ns: int,
    products: dict[str, int],
) -> Columns:
    """Parts from the machine's counter (none without one): each good, of the default product."""
    counter = counter_of(ref)
    none: Columns = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.uint8))
    if counter is None:
        return none
    tag, rollover = counter
    gap = reading.max_gap_s(ref, tag)
    ts, value, quality = reading.read_with_before(
        historian, ref.tag_path(tag), start_ns, end_ns, gap
    )
    at, n = counter_increments(ts, value, rollover, quality=quality)
    keep = at >= start_ns
    at = np.repeat(at[keep], n[keep])
    if not len(at):
        return none
    code = products.setdefault(default_product(plant, ref), len(products))
    return at, np.full(len(at), code, np.int32), np.full(len(at), GOOD, np.uint8)
