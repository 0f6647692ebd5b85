"""The Pareto of stops: where the planned time went, by the reason of each stop.

A stop's reason is the one an operator gave it (``state.reason``), else the one its signal
carried (the virtual plant's "breakdown", "no work", "changeover to B"), else its state. Stops
are counted inside planned production time only; unplanned stops shorter than the micro-stop
threshold are gathered under "small stops", as in the OEE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from andon.core.machine_state import MachineState
from andon.plant.calendar import Interval
from andon.state.history import NO_DATA, StateHistory

_NOT_STOPS = {int(MachineState.RUNNING), int(MachineState.PLANNED_STOP)}
SMALL_STOPS = "small stops"


@dataclass(frozen=True)
class StopReason:
    reason: str
    seconds: float
    stops: int


def _label(code: int) -> str:
    return "no data" if code == NO_DATA else MachineState(code).label.replace("_", " ")


def stop_reasons(
    history: StateHistory, planned_stops: Sequence[Interval], micro_stop_s: float
) -> list[StopReason]:
    """Stops in planned time by reason, longest total first."""
    starts, ends, states = history.starts, history.ends(), history.states
    # planned time inside each interval: its length minus its overlap with planned stops
    inside = (ends - starts).astype(np.float64)
    for stop in planned_stops:
        overlap = np.minimum(ends, stop.end) - np.maximum(starts, stop.start)
        inside -= np.clip(overlap, 0, None)
    totals: dict[str, list[float]] = {}
    i, n = 0, len(starts)
    while i < n:
        code = int(states[i])
        if code in _NOT_STOPS:
            i += 1
            continue
        j = i  # a stop runs over consecutive stop intervals of one reason
        reason = history.reasons[i] or _label(code)
        while (
            j + 1 < n
            and int(states[j + 1]) not in _NOT_STOPS
            and ((history.reasons[j + 1] or _label(int(states[j + 1]))) == reason)
        ):
            j += 1
        length = float(ends[j] - starts[i]) / 1e9
        seconds = float(inside[i : j + 1].sum()) / 1e9
        short = code in (int(MachineState.MICRO_STOP),) or (
            code != int(MachineState.SETUP) and length < micro_stop_s
        )
        key = SMALL_STOPS if short else reason
        if seconds > 0:
            entry = totals.setdefault(key, [0.0, 0])
            entry[0] += seconds
            entry[1] += 1
        i = j + 1
    return sorted(
        (StopReason(k, v[0], int(v[1])) for k, v in totals.items()), key=lambda r: -r.seconds
    )
