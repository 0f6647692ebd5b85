"""The Pareto of stops, on a hand-made history (times in minutes from 06:00)."""

from __future__ import annotations

from andon.core.clock import NS_PER_S
from andon.core.machine_state import MachineState as S
from andon.kpi.pareto import SMALL_STOPS, stop_reasons
from andon.plant.calendar import Interval
from andon.state.history import StateHistory

M = 60 * NS_PER_S
T0 = 1_767_250_800 * NS_PER_S  # any whole second


def at(minutes: float) -> int:
    return T0 + round(minutes * M)


def test_stops_by_reason_inside_planned_time_longest_first():
    history = StateHistory.of(
        "s/a/l/m1",
        at(0),
        at(120),
        [
            (at(0), S.RUNNING, ""),
            (at(10), S.DOWN, "spindle jam"),  # 20 min, 5 of them in the break below
            (at(30), S.RUNNING, ""),
            (at(40), S.STARVED, "no work"),  # 15 min
            (at(55), S.RUNNING, ""),
            (at(60), S.IDLE, ""),  # 1 min: below the 2 min threshold, a small stop
            (at(61), S.RUNNING, ""),
            (at(70), S.SETUP, "changeover to B"),  # 10 min
            (at(80), S.RUNNING, ""),
            (at(90), S.DOWN, "spindle jam"),  # 10 min more of the same reason
            (at(100), S.RUNNING, ""),
        ],
    )
    brk = [Interval(at(25), at(35), "break")]
    found = {r.reason: (r.seconds / 60, r.stops) for r in stop_reasons(history, brk, 120.0)}
    assert found == {
        "spindle jam": (15 + 10, 2),
        "no work": (15, 1),
        "changeover to B": (10, 1),
        SMALL_STOPS: (1, 1),
    }
    order = [r.reason for r in stop_reasons(history, brk, 120.0)]
    assert order[0] == "spindle jam"
