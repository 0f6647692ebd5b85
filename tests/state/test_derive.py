"""Machine state derivation: state codes and rules to a step function, hand-computed, and
``derive`` on a real historian against the virtual plant's own time per state."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from andon.core.batch import F64, I64, U8, Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.historian import Historian, open_historian
from andon.plant import example_plant, load_plant, parse_plant
from andon.plant.model import Plant
from andon.plant.production import StateRule
from andon.sim import VirtualPlant
from andon.state import (
    NO_DATA,
    Parts,
    StateHistory,
    apply,
    changeovers,
    correct,
    derive,
    set_reason,
    states_from_codes,
    states_from_rules,
)

S = NS_PER_S
T0 = 1_772_000_000 * S  # a whole second, so hand-made offsets stay exact
R, ID, SETUP, DOWN = (
    int(MachineState.RUNNING),
    int(MachineState.IDLE),
    int(MachineState.SETUP),
    int(MachineState.DOWN),
)
GOODQ, BADQ = 192, 0
START = parse_time("2026-03-02T06:00:00-06:00")  # Monday, first shift, Chicago
HOURS = 8
END = START + HOURS * 3600 * S


def steps(h: StateHistory) -> list[tuple[float, int, str]]:
    """The history as (seconds after T0, state, reason) rows, to compare with hand results."""
    return [
        ((t - T0) / S, s, r)
        for t, s, r in zip(h.starts.tolist(), h.states.tolist(), h.reasons, strict=True)
    ]


Row = tuple[float, float] | tuple[float, float, int]
Cols = tuple[I64, F64, U8]


def codes(rows: Sequence[Row]) -> Cols:
    ts = np.array([T0 + round(r[0] * S) for r in rows], dtype=np.int64)
    values = np.array([r[1] for r in rows], dtype=np.float64)
    quality = np.array([r[2] if len(r) > 2 else GOODQ for r in rows], dtype=np.uint8)
    return ts, values, quality


def from_codes(
    rows: Sequence[Row],
    end_s: float,
    *,
    gap: float = 60.0,
    mapping: dict[int, MachineState] | None = None,
) -> StateHistory:
    ts, v, q = codes(rows)
    return states_from_codes(
        ts, v, q, mapping, T0, T0 + round(end_s * S), asset="a/m", max_gap_s=gap
    )


# ------------------------------------------------------------------ state codes


def test_codes_merge_and_no_data_before_the_first_sample() -> None:
    # samples at 10 s (1), 11 (1), 12 (2), 13 (2), 20 (1); range [0, 30):
    # [0, 10) no sample, [10, 12) running (10 and 11 merged), [12, 20) idle, [20, 30) running
    h = from_codes([(10, 1), (11, 1), (12, 2), (13, 2), (20, 1)], 30)
    assert steps(h) == [(0, NO_DATA, "no sample"), (10, R, ""), (12, ID, ""), (20, R, "")]
    assert h.end_ns == T0 + 30 * S


def test_a_gap_longer_than_max_gap_is_no_data() -> None:
    # 0 s running, 100 s idle, max gap 60 s, range [0, 200):
    # running holds to 0 + 60, silence until 100, idle holds to 100 + 60, then silence to 200
    h = from_codes([(0, 1), (100, 2)], 200)
    lost = "no sample for more than 60 s"
    assert steps(h) == [(0, R, ""), (60, NO_DATA, lost), (100, ID, ""), (160, NO_DATA, lost)]
    # a gap of exactly max_gap is not a dead signal
    assert steps(from_codes([(0, 1), (60, 2)], 100)) == [(0, R, ""), (60, ID, "")]
    # an event-driven signal (infinite max gap) holds until it changes
    assert steps(from_codes([(0, 1), (100, 2)], 200, gap=math.inf)) == [
        (0, R, ""),
        (100, ID, ""),
    ]


def test_unknown_codes_and_bad_quality_are_no_data() -> None:
    # 0 running, 5 and 10 code 42, 15 down but BAD, 20 down, 25 code 43; NO_DATA from 5 to 20
    # is one interval keeping its first reason; 43 is NO_DATA like 42 so it would merge too,
    # but down lies between
    h = from_codes([(0, 1), (5, 42), (10, 42), (15, 6, BADQ), (20, 6), (25, 43)], 30)
    assert steps(h) == [
        (0, R, ""),
        (5, NO_DATA, "unknown code 42"),
        (20, DOWN, ""),
        (25, NO_DATA, "unknown code 43"),
    ]
    h = from_codes([(0, 6, BADQ), (4, float("nan")), (8, 2)], 10)
    assert steps(h) == [(0, NO_DATA, "bad quality"), (8, ID, "")]


def test_a_controller_mapping_and_the_sample_before_the_range() -> None:
    mapping = {100: MachineState.RUNNING, 200: MachineState.SETUP}
    # -5 s (before the range) setup, 3 s running, 7 s code 1: andon's running, not this PLC's
    h = from_codes([(-5, 200), (3, 100), (7, 1)], 10, mapping=mapping)
    assert steps(h) == [(0, SETUP, ""), (3, R, ""), (7, NO_DATA, "unknown code 1")]
    # several samples before the range: the last of them sets the start
    assert steps(from_codes([(-9, 1), (-2, 2), (4, 1)], 10)) == [(0, ID, ""), (4, R, "")]
    # a sample exactly at the start wins over the one before it
    assert steps(from_codes([(-2, 2), (0, 6)], 10)) == [(0, DOWN, "")]
    # nothing at all
    assert steps(from_codes([], 10)) == [(0, NO_DATA, "no sample")]


# ------------------------------------------------------------------ rules

RUNNING_RULE = StateRule.model_validate(
    {
        "state": "running",
        "all": [
            {"tag": "spindle_speed", "op": ">", "value": 0},
            {"tag": "power", "op": ">", "value": 2},
        ],
    }
)
SETUP_RULE = StateRule.model_validate(
    {
        "state": "setup",
        "any": [{"tag": "mode", "op": "==", "value": 2}, {"tag": "mode", "op": "==", "value": 3}],
    }
)


def series(rows: Sequence[Row]) -> Cols:
    return codes(rows)


def test_rules_running_when_spindle_turns_and_power_above_2kw() -> None:
    # spindle 0 s: 0, 10 s: 1000, 30 s: 0; power 0 s: 1.0, 5 s: 3.0, 40 s: 1.5
    # evaluated at 0, 5, 10, 30, 40: idle, idle (spindle still 0), running, idle, idle
    data = {
        "spindle_speed": series([(0, 0), (10, 1000), (30, 0)]),
        "power": series([(0, 1.0), (5, 3.0), (40, 1.5)]),
    }
    h = states_from_rules(
        data, [RUNNING_RULE], "idle", T0, T0 + 60 * S, asset="a/m", max_gap_s=100.0
    )
    assert steps(h) == [(0, ID, ""), (10, R, ""), (30, ID, "")]


def test_rules_a_stale_tag_or_none_yet_is_no_data() -> None:
    # power max gap 20 s: its sample at 5 s is stale from 25 s until the next at 40 s, which
    # is stale from 60 s; spindle (gap 100 s) has no value until 3 s
    data = {
        "spindle_speed": series([(3, 0), (10, 1000), (30, 0)]),
        "power": series([(0, 1.0), (5, 3.0), (40, 1.5)]),
    }
    h = states_from_rules(
        data,
        [RUNNING_RULE],
        "idle",
        T0,
        T0 + 70 * S,
        asset="a/m",
        max_gap_s={"spindle_speed": 100.0, "power": 20.0},
    )
    assert steps(h) == [
        (0, NO_DATA, "spindle_speed: no sample"),
        (3, ID, ""),
        (10, R, ""),
        (25, NO_DATA, "power: no sample for more than 20 s"),
        (40, ID, ""),
        (60, NO_DATA, "power: no sample for more than 20 s"),
    ]


def test_rules_first_match_wins_and_any() -> None:
    # mode 0 s: 1, 10 s: 2 (setup), 20 s: 3 (setup), 30 s: 1; spindle and power make running
    # from 15 s on: running is the first rule, so it wins over setup; power's sample at 20 s
    # is BAD: unknown until the good one at 25 s
    power = series([(0, 5.0), (20, 5.0), (25, 5.0)])
    power[2][1] = BADQ
    data = {
        "spindle_speed": series([(0, 0), (15, 900)]),
        "power": power,
        "mode": series([(0, 1), (10, 2), (20, 3), (30, 1)]),
    }
    h = states_from_rules(
        data,
        [RUNNING_RULE, SETUP_RULE],
        "idle",
        T0,
        T0 + 40 * S,
        asset="a/m",
        max_gap_s=math.inf,
    )
    assert steps(h) == [
        (0, ID, ""),
        (10, SETUP, ""),
        (15, R, ""),
        (20, NO_DATA, "power: bad quality"),
        (25, R, ""),
    ]


# ------------------------------------------------------------------ reasons and corrections


def ev(kind: str, written: int, **payload: object) -> Event:
    return Event(T0, "a/m", kind, {**payload, "written": written}, "operator")


def test_apply_reasons_and_corrections_in_writing_order() -> None:
    # running [0, 100), down [100, 200) "breakdown", running [200, 300)
    h = StateHistory.of(
        "a/m", T0, T0 + 300 * S, [(T0, R, ""), (T0 + 100 * S, DOWN, "x"), (T0 + 200 * S, R, "")]
    )
    reason = ev("state.reason", 1, start=T0 + 150 * S, reason="spindle drive", by="ann")
    # the operator says [120, 150) was a setup: the stop splits in three
    fix = ev(
        "state.correction",
        2,
        start=T0 + 120 * S,
        end=T0 + 150 * S,
        state="setup",
        reason="tool change",
        by="bob",
    )
    # the reason (written first) names the whole stop; the correction (written second)
    # carves [120, 150) out of it: both remaining pieces keep the reason
    out = apply(h, [fix, reason])  # listed out of order: the written time orders them
    assert steps(out) == [
        (0, R, ""),
        (100, DOWN, "spindle drive"),
        (120, SETUP, "tool change"),
        (150, DOWN, "spindle drive"),
        (200, R, ""),
    ]
    # written after the correction, the reason reaches only the piece that covers 150 s
    late_reason = ev("state.reason", 3, start=T0 + 150 * S, reason="spindle drive", by="ann")
    assert steps(apply(h, [fix, late_reason])) == [
        (0, R, ""),
        (100, DOWN, "x"),
        (120, SETUP, "tool change"),
        (150, DOWN, "spindle drive"),
        (200, R, ""),
    ]
    # a later correction over the whole stop wins, and merges with nothing of another reason
    later = ev(
        "state.correction",
        3,
        start=T0 + 90 * S,
        end=T0 + 210 * S,
        state="down",
        reason="belt",
        by="cy",
    )
    assert steps(apply(h, [fix, reason, later])) == [
        (0, R, ""),
        (90, DOWN, "belt"),
        (210, R, ""),
    ]
    # a correction reaching past the history is clipped to it
    edge = ev(
        "state.correction", 4, start=T0 - 50 * S, end=T0 + 10 * S, state="idle", reason="", by="d"
    )
    assert steps(apply(h, [edge]))[:2] == [(0, ID, ""), (10, R, "")]


def test_correct_refuses_bad_input(tmp_path: object) -> None:
    with open_historian(f"sqlite:///{tmp_path}/h.db") as h:
        with pytest.raises(InputError, match=r"^end:"):
            correct(h, "a/m", T0, T0, "down", "", by="ann")
        with pytest.raises(InputError, match=r"^state:.*unknown machine state"):
            correct(h, "a/m", T0, T0 + S, "broken", "", by="ann")
        with pytest.raises(InputError, match=r"^reason: at most 200"):
            correct(h, "a/m", T0, T0 + S, "down", "x" * 201, by="ann")
        with pytest.raises(InputError, match=r"^reason: at most 200"):
            set_reason(h, "a/m", T0, "x" * 201, by="ann")
        assert h.events("a/m", limit=None) == []


def test_changeovers() -> None:
    parts = Parts.of(
        "a/m",
        [(1, "a", "good"), (2, "a", "scrap"), (3, "b", "good"), (4, "b", "good"), (5, "a", "good")],
    )
    assert changeovers(parts) == [(3, "a", "b"), (5, "b", "a")]
    assert changeovers(Parts.of("a/m", [(1, "a", "good")])) == []


# ------------------------------------------------------------------ against the virtual plant


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_plant(example_plant("assembly_line"))


@pytest.fixture(scope="module")
def run(plant: Plant) -> tuple[VirtualPlant, Batch, list[Event]]:
    vp = VirtualPlant(plant, seed=0, start_ns=START)
    batch, events = vp.advance(END)
    wanted = np.array([t.endswith(("/state_code", "/part_count")) for t in batch.tags])
    return vp, batch.select(wanted[batch.tag_id]), events


@pytest.fixture
def filled(db_url: str, run: tuple[VirtualPlant, Batch, list[Event]]) -> Iterator[Historian]:
    _, batch, events = run
    with open_historian(db_url) as h:
        h.write(batch)
        h.write_events(events)
        yield h


def seconds_per_state(h: StateHistory) -> dict[int, float]:
    out: dict[int, float] = {}
    for s, d in zip(h.states.tolist(), ((h.ends() - h.starts) / S).tolist(), strict=True):
        out[s] = out.get(s, 0.0) + d
    return out


def test_derive_matches_the_virtual_plants_time_per_state(
    plant: Plant, run: tuple[VirtualPlant, Batch, list[Event]], filled: Historian
) -> None:
    vp = run[0]
    for ref, truth in zip(plant.machines(), vp.machines(), strict=True):
        h = derive(plant, ref, filled, START, END)
        assert h.start_ns == START and h.end_ns == END
        got = seconds_per_state(h)
        assert got.get(NO_DATA, 0.0) == 0.0, ref.path
        for label, seconds in truth.seconds.items():
            code = int(MachineState.from_label(label))
            # state_code is sampled each second: within 1 s per state per hour
            assert abs(got.get(code, 0.0) - seconds) <= HOURS, (ref.path, label)
        assert set(got) <= {int(MachineState.from_label(k)) for k, v in truth.seconds.items() if v}
    # a sub-range starts in the state the machine was in (read from before it)
    ref = plant.machines()[0]
    whole = derive(plant, ref, filled, START, END)
    mid = START + 3 * 3600 * S + 7 * S
    part = derive(plant, ref, filled, mid, END)
    assert part.states.tolist() == whole.clip(mid, END).states.tolist()
    assert part.starts.tolist() == whole.clip(mid, END).starts.tolist()


def test_derive_applies_stored_reasons_and_corrections(plant: Plant, filled: Historian) -> None:
    ref = plant.machines()[0]
    h = derive(plant, ref, filled, START, END)
    stops = [i for i, s in enumerate(h.states.tolist()) if s == DOWN]
    assert stops, "the run has a breakdown on op10"
    i = stops[0]
    s0, s1 = int(h.starts[i]), int(h.ends()[i])
    set_reason(filled, ref.path, s0, "hydraulic leak", by="ann", now_ns=1)
    mid = (s0 + s1) // 2
    correct(filled, ref.path, mid, s1, "setup", "die change", by="bob", now_ns=2)
    after = derive(plant, ref, filled, START, END)
    j = after.starts.tolist().index(s0)
    assert after.states[j] == DOWN and after.reasons[j] == "hydraulic leak"
    assert int(after.starts[j + 1]) == mid
    assert after.states[j + 1] == SETUP and after.reasons[j + 1] == "die change"
    assert int(after.starts[j + 2]) == s1
    # a range starting inside the stop still gets the stop's reason
    inside = derive(plant, ref, filled, s0 + 5 * S, END)
    assert inside.states[0] == DOWN and inside.reasons[0] == "hydraulic leak"


def test_derive_without_a_state_signal_and_with_rules(filled: Historian) -> None:
    text = """
site: s
calendar: {timezone: UTC}
areas:
  - id: a
    lines:
      - id: l
        type: flow
        machines:
          - id: quiet
            type: press
            ideal_cycle_time: 10s
            tags: [{name: power, unit: kW, interval: 1s, signal: power}]
          - id: ruled
            type: press
            ideal_cycle_time: 10s
            state:
              rules: [{state: running, all: [{tag: power, op: ">", value: 2}]}]
              otherwise: idle
            tags: [{name: power, unit: kW, interval: 1s, signal: power}]
"""
    p = parse_plant(text)
    quiet, ruled = p.machines()
    h = derive(p, quiet, filled, T0, T0 + 100 * S)
    assert steps(h) == [(0, NO_DATA, "no state signal")]
    # power of "ruled": 1 s samples; 5 kW from 0 to 9 s, then 1 kW to 19 s, then silence
    ts = T0 + np.arange(20, dtype=np.int64) * S
    power = np.where(np.arange(20) < 10, 5.0, 1.0)
    filled.write(Batch.build((ruled.tag_path("power"),), ts, np.zeros(20, np.int32), power))
    h = derive(p, ruled, filled, T0, T0 + 100 * S)
    # stale 60 s (max(10 × 1 s, 60 s)) after the last sample at 19 s
    assert steps(h) == [
        (0, R, ""),
        (10, ID, ""),
        (79, NO_DATA, "power: no sample for more than 60 s"),
    ]
