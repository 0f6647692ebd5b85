"""Production counts: counters through rollover and resets, parts from events, operator
entries and start-up parts, each against a count worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.historian import Historian, open_historian
from andon.plant import parse_plant
from andon.plant.model import Plant
from andon.state import StateHistory, counter_increments, enter_parts, read_parts
from andon.state.counts import startup_flags

S = NS_PER_S
T0 = 1_772_000_000 * S
NAN = float("nan")


def incs(
    values: Sequence[float],
    rollover: int = 65536,
    max_step: int | None = None,
    quality: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """(sample index, parts) of each reading that shows parts."""
    ts = np.arange(len(values), dtype=np.int64)
    q = None if quality is None else np.array(quality, dtype=np.uint8)
    at, n = counter_increments(
        ts, np.array(values, dtype=np.float64), rollover, max_step=max_step, quality=q
    )
    return list(zip(at.tolist(), n.tolist(), strict=True))


def test_a_16_bit_rollover() -> None:
    # 65520 → 65530: 10; 65530 → 4 wraps at 65536: 4 + 65536 - 65530 = 10; 4 → 10: 6
    assert incs([65520, 65530, 4, 10]) == [(1, 10), (2, 10), (3, 6)]
    # exactly 65535 → 0 is one part
    assert incs([65535, 0]) == [(1, 1)]


def test_a_reset_mid_shift() -> None:
    # 800 → 812: 12; 812 → 0 reset: 0 parts; 0 → 3: 3; 3 → 5: 2
    assert incs([800, 812, 0, 3, 5]) == [(1, 12), (3, 3), (4, 2)]
    # 812 → 3 at once: reset, 3 parts made since
    assert incs([800, 812, 3]) == [(1, 12), (2, 3)]
    # rollover 1000 with max_step 5: 997 → 2 is a rollover (5 parts); 997 → 8 is a reset (8)
    assert incs([997, 2], rollover=1000, max_step=5) == [(1, 5)]
    assert incs([997, 8], rollover=1000, max_step=5) == [(1, 8)]
    # a drop from the middle is a reset even to near 0
    assert incs([30000, 4]) == [(1, 4)]


def test_nan_and_bad_readings_are_skipped_and_a_stuck_counter_counts_nothing() -> None:
    # 10, NaN, 99 (BAD), 12: the 12 is compared with the 10
    assert incs([10, NAN, 99, 12], quality=[192, 192, 0, 192]) == [(3, 2)]
    assert incs([5, 5, 5, 5]) == []
    assert incs([7]) == []
    assert incs([]) == []


def test_startup_flags_after_a_setup() -> None:
    # setup [100, 200) then running; window 60 s: parts at 150 (during the setup: no), 230 and
    # 260 (within 60 s after 200: yes), 261 (no); a setup still on at the end has not ended
    h = StateHistory.of(
        "a/m",
        T0,
        T0 + 400 * S,
        [
            (T0, int(MachineState.RUNNING), ""),
            (T0 + 100 * S, int(MachineState.SETUP), ""),
            (T0 + 200 * S, int(MachineState.RUNNING), ""),
            (T0 + 380 * S, int(MachineState.SETUP), ""),
        ],
    )
    ts = T0 + np.array([150, 230, 260, 261, 390], dtype=np.int64) * S
    assert startup_flags(ts, h, 60.0).tolist() == [False, True, True, False, False]
    assert startup_flags(ts, h, 0.0).tolist() == [False] * 5
    assert startup_flags(ts, None, 60.0).tolist() == [False] * 5


PLANT = """
site: s
calendar: {timezone: UTC}
products: [{id: bracket}, {id: housing}]
areas:
  - id: a
    lines:
      - id: l
        type: flow
        machines:
          - id: mill
            type: mill
            ideal_cycle_time: 30s
            state: {tag: state_code, startup_window: 60s}
            tags:
              - {name: state_code, unit: code, interval: 1s, signal: state_code}
          - id: press
            type: press
            ideal_cycle_time: 10s
            counter: {tag: count, rollover: 100}
            tags:
              - {name: count, unit: parts, interval: 1s, signal: part_counter}
"""


@pytest.fixture(scope="module")
def plant() -> Plant:
    return parse_plant(PLANT)


@pytest.fixture
def historian(db_url: str) -> Iterator[Historian]:
    with open_historian(db_url) as h:
        yield h


def rows(parts: object) -> list[tuple[float, str, int, bool]]:
    from andon.state import Parts

    assert isinstance(parts, Parts)
    return [
        ((t - T0) / S, parts.products[p], r, s)
        for t, p, r, s in zip(
            parts.ts.tolist(),
            parts.product.tolist(),
            parts.result.tolist(),
            parts.startup.tolist(),
            strict=True,
        )
    ]


def test_parts_from_events_with_products_results_and_startup(
    plant: Plant, historian: Historian
) -> None:
    mill = plant.machines()[0]
    made = [
        (10, "bracket", "good"),
        (40, "bracket", "scrap"),
        (250, "housing", "rework"),  # 50 s after the setup ends at 200: a start-up part
        (300, "housing", "good"),
        (500, "housing", "good"),  # outside the range
    ]
    historian.write_events(
        [
            Event(T0 + t * S, mill.path, "part", {"product": p, "result": r, "count": i}, "sim")
            for i, (t, p, r) in enumerate(made)
        ]
        + [Event(T0 + 20 * S, mill.path + "/child", "part", {"product": "x"}, "sim")]
    )
    h = StateHistory.of(
        mill.path,
        T0,
        T0 + 400 * S,
        [(T0, 1, ""), (T0 + 100 * S, int(MachineState.SETUP), ""), (T0 + 200 * S, 1, "")],
    )
    parts = read_parts(plant, mill, historian, T0, T0 + 400 * S, history=h)
    assert rows(parts) == [
        (10, "bracket", 0, False),
        (40, "bracket", 1, False),
        (250, "housing", 2, True),
        (300, "housing", 0, False),
    ]
    # the QA inspector scraps one housing at 310 s: the newest good housing before it
    enter_parts(historian, mill.path, T0 + 310 * S, "housing", "scrap", 1, by="qa")
    # and a good bracket was made by hand at 320 s
    enter_parts(historian, mill.path, T0 + 320 * S, "bracket", "good", 1, by="qa")
    parts = read_parts(plant, mill, historian, T0, T0 + 400 * S)
    assert rows(parts) == [
        (10, "bracket", 0, False),
        (40, "bracket", 1, False),
        (250, "housing", 2, False),
        (300, "housing", 1, False),
        (320, "bracket", 0, False),
    ]


def test_parts_from_a_counter(plant: Plant, historian: Historian) -> None:
    press = plant.machines()[1]
    # 1 s readings from -5 s: 95 until 2 s, 98 at 3 s, 2 at 4 s (rollover at 100: 4 parts),
    # 2 at 5..7 s (stuck), reset to 0 at 8 s, 3 at 9 s; range [0, 10): 3 + 4 + 3 = 10 parts
    values = [95] * 8 + [98, 2, 2, 2, 2, 0, 3]
    ts = T0 + np.arange(-5, 10, dtype=np.int64) * S
    historian.write(
        Batch.build(
            (press.tag_path("count"),),
            ts,
            np.zeros(len(ts), np.int32),
            np.array(values, np.float64),
        )
    )
    parts = read_parts(plant, press, historian, T0, T0 + 10 * S)
    assert (
        rows(parts)
        == [(3, "bracket", 0, False)] * 3
        + [(4, "bracket", 0, False)] * 4
        + [(9, "bracket", 0, False)] * 3
    )
    # two of them were scrap, says the operator at 5 s: the newest two good before 5 s
    enter_parts(historian, press.path, T0 + 5 * S, "bracket", "scrap", 2, by="op")
    parts = read_parts(plant, press, historian, T0, T0 + 10 * S)
    assert parts.result.tolist() == [0] * 5 + [1, 1] + [0] * 3
    # a range that starts mid-run reads its baseline from before it: 4 s..10 s = 4 + 3
    assert len(read_parts(plant, press, historian, T0 + 4 * S, T0 + 10 * S)) == 7
