"""A line's OEE in bottleneck mode: plant.yaml's ``bottleneck:`` when given, else the machine
with the longest ideal cycle time; every machine's problems stay in the line's."""

from __future__ import annotations

import pytest

from andon.core import NS_PER_S
from andon.core.machine_state import MachineState as M
from andon.kpi.assets import aggregate
from andon.kpi.oee import Oee, oee
from andon.plant import Plant, parse_plant
from andon.state.history import NO_DATA, Parts, StateHistory

H = 3600 * NS_PER_S

PLANT = """\
site: s
calendar: {timezone: UTC}
areas:
  - id: a
    lines:
      - id: press-line
        type: flow
        machines:
          - {id: feeder, type: feeder, ideal_cycle_time: 10s}
          - {id: press, type: press, ideal_cycle_time: 30s}
          - {id: stacker, type: stacker, ideal_cycle_time: 20s}
"""


def line_plant(extra: str = "") -> Plant:
    return parse_plant(PLANT.replace("        type: flow\n", f"        type: flow\n{extra}"))


def results(plant: Plant) -> list[Oee]:
    """One hour each. feeder: 180 parts of 10 s → OEE 0.5. press: 60 parts of 30 s → 0.5 in
    its first half hour, then no state data. stacker: 90 parts of 20 s → 0.5."""
    out = []
    for ref, n, steps in (
        (plant.machine("feeder"), 180, [(0, M.RUNNING)]),
        (plant.machine("press"), 60, [(0, M.RUNNING), (H // 2, NO_DATA)]),
        (plant.machine("stacker"), 90, [(0, M.RUNNING)]),
    ):
        ideal = ref.machine.ideal_cycle_time
        history = StateHistory.of(ref.path, 0, H, [(t, s, "") for t, s in steps])
        made = int(ideal * NS_PER_S)
        parts = Parts.of(ref.path, [(i * made, "part", "good") for i in range(n)])
        out.append(
            oee(history, parts, planned_stops=[], ideal_s=lambda _p, i=ideal: i, micro_stop_s=120)
        )
    return out


def line_of(plant: Plant) -> Oee:
    refs = plant.machines()
    return aggregate(plant, refs, results(plant), "s/a/press-line")


def test_default_bottleneck_is_the_slowest_ideal_cycle_time() -> None:
    r = line_of(line_plant())
    assert r.basis == "bottleneck s/a/press-line/press"
    assert r.asset == "s/a/press-line"
    assert r.oee == pytest.approx(0.5)


def test_configured_bottleneck_is_used() -> None:
    plant = line_plant("        bottleneck: stacker\n")
    assert plant.areas[0].lines[0].bottleneck == "stacker"
    r = line_of(plant)
    assert r.basis == "bottleneck s/a/press-line/stacker"
    assert r.planned_s == 3600 and r.total == 90  # the stacker's figures, not the press's
    # the press's missing state data does not vanish behind the stacker's figure
    assert r.problems == (
        "s/a/press-line/press: no state data for 1800 s of planned production time "
        "(counted as stops)",
    )


def test_weighted_line_ignores_the_bottleneck() -> None:
    r = line_of(line_plant("        oee: weighted\n        bottleneck: stacker\n"))
    assert r.basis == "weighted by planned time"
    assert r.total == 180 + 60 + 90
