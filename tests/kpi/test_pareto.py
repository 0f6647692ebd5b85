"""The Pareto of stops, on a hand-made history (times in minutes from 06:00)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.core.clock import NS_PER_S
from andon.core.machine_state import MachineState as S
from andon.kpi.pareto import (
    SMALL_STOPS,
    Crossing,
    ReasonLoss,
    StopReason,
    add_stops,
    stop_reasons,
    stops_in_periods,
)
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


def test_a_stop_across_a_shift_change_is_counted_once_and_measured_whole():
    history = StateHistory.of(
        "s/a/l/m1",
        at(0),
        at(120),
        [
            (at(0), S.RUNNING, ""),
            (at(59), S.DOWN, "spindle jam"),  # 3 min: 1 before the change, 2 after
            (at(62), S.RUNNING, ""),
            (at(119), S.IDLE, ""),
        ],
    )
    spans = [(at(0), at(60)), (at(60), at(120))]
    early, late = stops_in_periods(history, [], 2.0 * 60, spans)
    # a 1-minute piece of a 3-minute stop is no small stop: the stop is measured whole
    assert early.reasons == (ReasonLoss("spindle jam", 60.0, 1),)
    assert early.tail == Crossing("spindle jam", 0.0, through=False, counted=True)
    assert late.head == Crossing("spindle jam", 120.0)
    assert late.reasons[0] == ReasonLoss("spindle jam", 120.0, 0)
    assert add_stops([[early, late]])[0] == StopReason("spindle jam", 180.0, 1)
    assert add_stops([[late]])[0] == StopReason("spindle jam", 120.0, 1)  # under way at its start


def test_a_stop_is_counted_where_it_first_loses_planned_time() -> None:
    day = 24 * 60
    history = StateHistory.of(
        "s/a/l/m1",
        at(0),
        at(3 * day),
        [
            (at(0), S.RUNNING, ""),
            (at(5 * 60), S.DOWN, "hydraulics"),  # day 0 05:00 to day 2 12:00
            (at(2 * day + 12 * 60), S.RUNNING, ""),
        ],
    )
    shutdown = [Interval(at(6 * 60), at(2 * day + 6 * 60), "shutdown")]  # no planned time
    days = [(at(k * day), at((k + 1) * day)) for k in range(3)]
    d0, d1, d2 = stops_in_periods(history, shutdown, 120.0, days)
    assert d1.head == Crossing("hydraulics", 0.0) and d1.reasons == ()
    # days 1 and 2: under way at the range's start, it first loses time on day 2
    assert add_stops([[d1, d2]]) == [StopReason("hydraulics", 6 * 3600.0, 1)]
    assert add_stops([[d0, d1, d2]]) == [StopReason("hydraulics", 7 * 3600.0, 1)]
    # a stop that begins in planned time lost nowhere else: counted where it begins
    brk = [Interval(at(day - 30), at(day + 30), "night")]
    late = StateHistory.of(
        "s/a/l/m1",
        at(0),
        at(2 * day),
        [(at(0), S.RUNNING, ""), (at(day - 40), S.IDLE, ""), (at(day + 40), S.RUNNING, "")],
    )
    first, second = stops_in_periods(late, brk, 120.0, days[:2])
    assert first.tail == Crossing("idle", 0.0, through=False, counted=True)
    assert add_stops([[first, second]]) == [StopReason("idle", 20 * 60.0, 1)]


@st.composite
def histories(draw: st.DrawFn) -> tuple[StateHistory, list[Interval], list[tuple[int, int]]]:
    steps = draw(
        st.lists(
            st.tuples(st.integers(1, 600), st.sampled_from(list(S)), st.sampled_from("xy")),
            min_size=1,
            max_size=40,
        )
    )
    rows, t = [], 0
    for length, state, reason in steps:
        rows.append((at(t / 60), state, reason if state not in (S.RUNNING,) else ""))
        t += length
    history = StateHistory.of("s/a/l/m1", at(0), at(t / 60), rows)
    breaks = [
        Interval(at(a / 60), at((a + n) / 60), "break")
        for a, n in draw(st.lists(st.tuples(st.integers(0, t), st.integers(1, 300)), max_size=4))
    ]
    cuts = sorted(set(draw(st.lists(st.integers(1, max(t - 1, 1)), max_size=8))) - {0, t})
    edges = [0, *cuts, t]
    spans = [(at(a / 60), at(b / 60)) for a, b in itertools.pairwise(edges) if b > a]
    return history, breaks, spans


@given(histories(), st.sampled_from([0.5, 2.0, 30.0]))
@settings(max_examples=200, deadline=None)
def test_a_ranges_pareto_is_its_periods_added_up(case, micro_min):
    history, breaks, spans = case
    whole = stop_reasons(history, breaks, micro_min * 60)
    split = add_stops([stops_in_periods(history, breaks, micro_min * 60, spans)])
    assert [(r.reason, r.stops) for r in split] == [(r.reason, r.stops) for r in whole]
    assert [r.seconds for r in split] == pytest.approx([r.seconds for r in whole])
