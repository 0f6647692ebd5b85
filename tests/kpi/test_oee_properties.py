"""Invariants of the OEE model on random state histories, planned stops and parts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.core import NS_PER_S
from andon.core.machine_state import MachineState as M
from andon.kpi import LOSSES, combine, oee, oee_periods
from andon.plant.calendar import Interval
from andon.state.history import Parts, StateHistory

S = NS_PER_S
DAY = 86400
IDEAL = {"A": 20.0, "B": 45.0}


@st.composite
def cases(draw: st.DrawFn) -> tuple[StateHistory, Parts, list[Interval], float, int]:
    steps = draw(
        st.lists(st.tuples(st.integers(1, 7200), st.integers(0, 8)), min_size=1, max_size=60)
    )
    starts, states, t = [], [], 0
    for length, state in steps:
        if t >= DAY:
            break
        starts.append(t)
        states.append(state)
        t += length
    history = StateHistory.of(
        "m", 0, DAY * S, [(s * S, st_, "") for s, st_ in zip(starts, states, strict=True)]
    )
    stops = [
        Interval(a * S, (a + n) * S, "stop")
        for a, n in draw(
            st.lists(st.tuples(st.integers(0, DAY - 1), st.integers(1, 14400)), max_size=6)
        )
    ]
    micro = draw(st.sampled_from([1.0, 30.0, 120.0, 299.5, 600.0]))
    # Sane parts: only while RUNNING inside planned time, never faster than the ideal.
    per_s = np.zeros(DAY, dtype=np.int8)
    ends = [*starts[1:], DAY]
    for a, b, state in zip(starts, ends, states, strict=True):
        per_s[a:b] = state
    ok = per_s == M.RUNNING
    for iv in stops:
        ok[iv.start // S : iv.end // S] = False
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    rows: list[tuple[int, str, str, bool]] = []
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        ts = int(a)
        while True:
            product = draw(st.sampled_from("AB"))
            if ts + IDEAL[product] > b or len(rows) > 300:
                break
            result = draw(st.sampled_from(["good", "good", "scrap", "rework"]))
            rows.append((ts * S, product, result, draw(st.booleans())))
            ts += int(np.ceil(IDEAL[product])) + draw(st.integers(0, 100))
    split = draw(st.integers(1, DAY - 1))
    return history, Parts.of("m", rows), stops, micro, split


@settings(max_examples=150, deadline=None)
@given(cases())
def test_losses_add_up_and_ratios_stay_in_range(
    case: tuple[StateHistory, Parts, list[Interval], float, int],
) -> None:
    history, parts, stops, micro, split = case
    kw = {"planned_stops": stops, "ideal_s": IDEAL.__getitem__, "micro_stop_s": micro}
    r = oee(history, parts, **kw)  # type: ignore[arg-type]
    # the six losses and fully productive time add up to planned production time
    assert sum(r.losses[k] for k in LOSSES) + r.fully_productive_s == pytest.approx(
        r.planned_s, abs=1e-6
    )
    assert r.stops_by_state and sum(r.stops_by_state.values()) == pytest.approx(
        r.losses["breakdowns"], abs=1e-6
    )
    # planned time by brute force, second by second
    per_s = np.zeros(DAY, dtype=bool)
    ends = [*(int(x) // S for x in history.starts[1:]), DAY]
    for a, b, state in zip(
        (int(x) // S for x in history.starts), ends, history.states, strict=True
    ):
        per_s[a:b] = state != M.PLANNED_STOP
    for iv in stops:
        per_s[iv.start // S : iv.end // S] = False
    assert r.planned_s == int(per_s.sum())
    assert r.total == len(parts)  # sane data: every part counted
    assert r.problems == () or all("no state data" in p for p in r.problems)
    for name in ("availability", "performance", "quality", "oee", "utilization", "teep"):
        value = getattr(r, name)
        assert value is None or -1e-12 <= value <= 1 + 1e-12, name
    assert min(r.losses.values()) >= -1e-6
    if r.planned_s:
        assert r.oee == pytest.approx(r.fully_productive_s / r.planned_s)
        assert r.teep == pytest.approx(r.oee * r.utilization)  # type: ignore[operator]
    else:
        assert r.oee is None and r.availability is None
        assert r.teep == 0.0
    # split anywhere: the two halves add up to the whole
    halves = oee_periods(history, parts, [(0, split * S), (split * S, DAY * S)], **kw)  # type: ignore[arg-type]
    both = combine(halves)
    assert both.planned_s == r.planned_s
    assert both.fully_productive_s == pytest.approx(r.fully_productive_s, abs=1e-6)
    for k in LOSSES:
        assert both.losses[k] == pytest.approx(r.losses[k], abs=1e-6), k
