"""The virtual plant's ground truth as the KPIs read it: its own state changes, exactly.

andon derives a machine's state from its signals (a state-code tag sampled every second);
the virtual plant also records every state change as a ``state`` event at the exact
nanosecond. Built into a ``StateHistory``, those events give the OEE the plant *really* had,
against which the derived one is checked (``andon demo`` prints both).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.state.history import NO_DATA, StateHistory


def true_history(events: Sequence[Event], asset: str, start_ns: int, end_ns: int) -> StateHistory:
    """The machine's states in ``[start_ns, end_ns)`` from its ``state`` events (time order);
    before the first event the state is unknown (NO_DATA)."""
    starts = [start_ns]
    states = [NO_DATA]
    reasons = [""]
    for e in events:
        if e.kind != "state" or e.asset != asset or e.ts >= end_ns:
            continue
        code = int(MachineState.from_label(str(e.payload["state"])))
        reason = str(e.payload.get("reason", ""))
        if e.ts <= starts[-1]:  # before the range, or two changes in one nanosecond
            states[-1], reasons[-1] = code, reason
            continue
        if code == states[-1]:
            continue
        starts.append(e.ts)
        states.append(code)
        reasons.append(reason)
    return StateHistory(
        asset,
        start_ns,
        end_ns,
        np.array(starts, dtype=np.int64),
        np.array(states, dtype=np.uint8),
        tuple(reasons),
    )
