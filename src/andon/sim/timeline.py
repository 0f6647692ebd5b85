"""What a virtual machine did, as the physics reads it: segments of constant behaviour and
the step series of its counters.

The machine process (``sim.machine``) appends as it decides; ``view()`` turns the record into
numpy arrays, from which every sensor is computed for a whole window at once (one
``np.searchsorted`` per tag, never a Python loop per sample). A segment starts at each state
change and at each new cycle, and carries what is constant within it: the state, the cutting
load, the bearing wear at its start (wear then grows linearly while running) and the thermal
state (temperature at its start and the temperature it heads for), so temperature has a
closed form within a segment. ``prune`` drops what lies before the next window.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from andon.core.clock import NS_PER_S

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TimelineView:
    """The record as arrays; segment ``k`` lasts from ``seg_t[k]`` to ``seg_t[k + 1]``."""

    seg_t: I64
    seg_state: npt.NDArray[np.int8]
    seg_load: F64
    seg_wear: F64
    seg_temp0: F64
    seg_target: F64
    count_t: I64
    count_v: F64
    tool_t: I64
    tool_v: F64
    meas_t: I64
    meas_v: F64

    def segment_at(self, ts: I64) -> npt.NDArray[np.intp]:
        """Index of the segment covering each timestamp (the last one starting at or before)."""
        return np.maximum(np.searchsorted(self.seg_t, ts, side="right") - 1, 0)


def step_values(times: I64, values: F64, ts: I64) -> F64:
    """Value of a step series (last point at or before each ``ts``)."""
    idx = np.maximum(np.searchsorted(times, ts, side="right") - 1, 0)
    return values[idx]


class Timeline:
    """Append-only record of one machine (pruned behind the window already emitted)."""

    def __init__(self, tau_s: float) -> None:
        self.tau_s = tau_s
        self.seg_t: list[int] = []
        self.seg_state: list[int] = []
        self.seg_load: list[float] = []
        self.seg_wear: list[float] = []
        self.seg_temp0: list[float] = []
        self.seg_target: list[float] = []
        self.count_t: list[int] = []
        self.count_v: list[float] = []
        self.tool_t: list[int] = []
        self.tool_v: list[float] = []
        self.meas_t: list[int] = []
        self.meas_v: list[float] = []

    def segment(self, t: int, state: int, load: float, wear: float, target: float) -> None:
        """Start a segment at ``t`` ns; its start temperature follows from the one before."""
        if self.seg_t:
            dt = (t - self.seg_t[-1]) / NS_PER_S
            prev_target = self.seg_target[-1]
            temp0 = prev_target + (self.seg_temp0[-1] - prev_target) * math.exp(-dt / self.tau_s)
        else:
            temp0 = target  # the machine was already in this state: start in equilibrium
        self.seg_t.append(t)
        self.seg_state.append(state)
        self.seg_load.append(load)
        self.seg_wear.append(wear)
        self.seg_temp0.append(temp0)
        self.seg_target.append(target)

    def count(self, t: int, value: float) -> None:
        self.count_t.append(t)
        self.count_v.append(value)

    def tool(self, t: int, value: float) -> None:
        self.tool_t.append(t)
        self.tool_v.append(value)

    def measurement(self, t: int, value: float) -> None:
        self.meas_t.append(t)
        self.meas_v.append(value)

    def view(self) -> TimelineView:
        return TimelineView(
            seg_t=np.array(self.seg_t, dtype=np.int64),
            seg_state=np.array(self.seg_state, dtype=np.int8),
            seg_load=np.array(self.seg_load, dtype=np.float64),
            seg_wear=np.array(self.seg_wear, dtype=np.float64),
            seg_temp0=np.array(self.seg_temp0, dtype=np.float64),
            seg_target=np.array(self.seg_target, dtype=np.float64),
            count_t=np.array(self.count_t, dtype=np.int64),
            count_v=np.array(self.count_v, dtype=np.float64),
            tool_t=np.array(self.tool_t, dtype=np.int64),
            tool_v=np.array(self.tool_v, dtype=np.float64),
            meas_t=np.array(self.meas_t, dtype=np.int64),
            meas_v=np.array(self.meas_v, dtype=np.float64),
        )

    def prune(self, before: int) -> None:
        """Forget what no window starting at ``before`` can need: keep every point from
        ``before`` on (all of them, even several at ``before``, so none goes unwritten) and the
        one in force at ``before``."""
        k = _first_needed(self.seg_t, before)
        if k > 0:
            for lst in (
                self.seg_t,
                self.seg_state,
                self.seg_load,
                self.seg_wear,
                self.seg_temp0,
                self.seg_target,
            ):
                del lst[:k]
        for times, values in ((self.count_t, self.count_v), (self.tool_t, self.tool_v)):
            k = _first_needed(times, before)
            if k > 0:
                del times[:k]
                del values[:k]
        k = bisect.bisect_left(self.meas_t, before)
        del self.meas_t[:k]
        del self.meas_v[:k]


def _first_needed(times: list[int], t: int) -> int:
    """Index of the first entry at ``t``, else of the last one before it (0 if none)."""
    k = bisect.bisect_left(times, t)
    if k == len(times) or times[k] > t:
        k -= 1
    return max(k, 0)
