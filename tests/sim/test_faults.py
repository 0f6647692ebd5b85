"""Data faults injected into the virtual plant: each kind changes exactly the samples it should,
each is recorded as ground truth, the same seed gives the same lies however the run is cut,
and a bad ``simulation: faults:`` entry is reported at its line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S, parse_time
from andon.core.errors import ConfigError, InputError
from andon.plant import Plant, example_plant, load_plant, parse_plant
from andon.plant.model import DataFault, PlantSimulation
from andon.sim import VirtualPlant
from andon.sim.faults import TRUTH_KIND, demo_faults

START = parse_time("2025-03-03T05:00:00Z")
END = START + NS_PER_H
CELL = "springfield/machining/cell-1"


@pytest.fixture(scope="module")
def job_shop() -> Plant:
    return load_plant(example_plant("job_shop"))


@pytest.fixture(scope="module")
def clean(job_shop: Plant) -> Batch:
    batch, _ = VirtualPlant(job_shop, seed=3, start_ns=START).advance(END)
    return batch


def _run(plant: Plant, *faults: dict[str, Any]) -> VirtualPlant:
    with_faults = plant.model_copy(
        update={"simulation": PlantSimulation(faults=[DataFault.model_validate(f) for f in faults])}
    )
    return VirtualPlant(with_faults, seed=3, start_ns=START)


def _advance(vp: VirtualPlant, step_ns: int | None = None) -> Batch:
    parts = []
    while vp.now_ns < END:
        batch, _ = vp.advance(min(vp.now_ns + (step_ns or END - START), END))
        parts.append(batch)
    return Batch.concat(parts)


def _tag(b: Batch, tag: str) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(b.tag_id == b.tags.index(f"{CELL}/{tag}"))
    return b.ts[rows], b.value[rows]


def _others_unchanged(faulty: Batch, clean: Batch, tag: str) -> None:
    """Every tag but ``tag`` is exactly as without the fault."""
    faulty, clean = faulty.sorted(), clean.sorted()
    keep_f = faulty.tag_id != faulty.tags.index(f"{CELL}/{tag}")
    keep_c = clean.tag_id != clean.tags.index(f"{CELL}/{tag}")
    np.testing.assert_array_equal(faulty.ts[keep_f], clean.ts[keep_c])
    np.testing.assert_array_equal(faulty.value[keep_f], clean.value[keep_c])


AT = 20 * 60  # seconds after the start
T0, T1 = START + AT * NS_PER_S, START + (AT + 600) * NS_PER_S


def test_dropout_removes_the_window_only(job_shop: Plant, clean: Batch) -> None:
    f = {"kind": "dropout", "machine": "mill-1", "tag": "power", "at": "20min", "duration": 600}
    faulty = _advance(_run(job_shop, f))
    ts_f, v_f = _tag(faulty, "mill-1/power")
    ts_c, v_c = _tag(clean, "mill-1/power")
    outside = (ts_c < T0) | (ts_c >= T1)
    np.testing.assert_array_equal(ts_f, ts_c[outside])
    np.testing.assert_array_equal(v_f, v_c[outside])
    assert len(ts_c) - len(ts_f) == 600
    _others_unchanged(faulty, clean, "mill-1/power")


def test_stuck_repeats_the_value_at_its_start(job_shop: Plant, clean: Batch) -> None:
    f = {"kind": "stuck", "machine": "lathe-1", "tag": "spindle_vibration", "at": AT}
    f["duration"] = "10min"
    faulty = _advance(_run(job_shop, f), step_ns=7 * NS_PER_MIN)  # a window starts mid-fault
    ts_f, v_f = _tag(faulty, "lathe-1/spindle_vibration")
    ts_c, v_c = _tag(clean, "lathe-1/spindle_vibration")
    np.testing.assert_array_equal(ts_f, ts_c)
    inside = (ts_c >= T0) & (ts_c < T1)
    assert np.all(v_f[inside] == v_c[inside][0])
    np.testing.assert_array_equal(v_f[~inside], v_c[~inside])
    assert len(np.unique(v_c[inside])) > 100  # the clean sensor was alive
    _others_unchanged(faulty, clean, "lathe-1/spindle_vibration")


def test_spikes_replace_isolated_samples_within_the_limits(job_shop: Plant, clean: Batch) -> None:
    f = {"kind": "spike", "machine": "mill-2", "tag": "spindle_speed", "at": AT}
    f |= {"duration": 600, "size": "20%", "count": 3}
    vp = _run(job_shop, f)
    faulty = _advance(vp)
    ts_f, v_f = _tag(faulty, "mill-2/spindle_speed")
    v_c = _tag(clean, "mill-2/spindle_speed")[1]
    changed = np.flatnonzero(v_f != v_c)
    assert len(changed) == 3
    assert np.all(np.diff(changed) > 21)  # isolated: more than a Hampel window apart
    np.testing.assert_allclose(np.abs(v_f[changed] - v_c[changed]), 0.2 * 15000)
    assert np.all((v_f[changed] >= 0) & (v_f[changed] <= 15000))
    assert np.all((ts_f[changed] >= T0) & (ts_f[changed] < T1))
    (truth,) = [e for e in vp.ground_truth if e.kind == TRUTH_KIND]
    assert truth.payload["spike_ns"] == ts_f[changed].tolist()
    _others_unchanged(faulty, clean, "mill-2/spindle_speed")


def test_drift_adds_rate_times_elapsed(job_shop: Plant, clean: Batch) -> None:
    f = {"kind": "drift", "machine": "grinder-1", "tag": "bearing_temperature", "at": AT}
    f |= {"duration": 600, "rate": 60.0}
    faulty = _advance(_run(job_shop, f))
    ts_f, v_f = _tag(faulty, "grinder-1/bearing_temperature")
    _, v_c = _tag(clean, "grinder-1/bearing_temperature")
    inside = (ts_f >= T0) & (ts_f < T1)
    np.testing.assert_allclose(v_f[inside] - v_c[inside], 60.0 * (ts_f[inside] - T0) / NS_PER_H)
    np.testing.assert_array_equal(v_f[~inside], v_c[~inside])


def test_clock_skew_moves_the_stamps_not_the_values(job_shop: Plant, clean: Batch) -> None:
    f = {"kind": "clock_skew", "machine": "mill-1", "tag": "motor_current", "at": AT}
    f |= {"duration": 600, "offset": "+10min"}
    vp = _run(job_shop, f)
    faulty = _advance(vp)
    ts_f, v_f = _tag(faulty, "mill-1/motor_current")
    ts_c, v_c = _tag(clean, "mill-1/motor_current")
    inside = (ts_c >= T0) & (ts_c < T1)
    np.testing.assert_array_equal(ts_f[inside], ts_c[inside] + 10 * NS_PER_MIN)
    np.testing.assert_array_equal(ts_f[~inside], ts_c[~inside])
    np.testing.assert_array_equal(v_f, v_c)
    (truth,) = [e for e in vp.ground_truth if e.kind == TRUTH_KIND]
    assert truth.payload["offset_ns"] == 10 * NS_PER_MIN
    assert truth.payload["stamped_start_ns"] == T0 + 10 * NS_PER_MIN


def test_counter_glitch_goes_back_once(job_shop: Plant, clean: Batch) -> None:
    f = {"kind": "counter_glitch", "machine": "mill-1", "tag": "part_count", "at": AT, "drop": 7}
    faulty = _advance(_run(job_shop, f))
    ts_f, v_f = _tag(faulty, "mill-1/part_count")
    _, v_c = _tag(clean, "mill-1/part_count")
    (changed,) = np.flatnonzero(v_f != v_c)
    assert ts_f[changed] == T0
    assert v_c[changed] - v_f[changed] == 7 or v_f[changed] - v_c[changed] == 65536 - 7


def test_ground_truth_and_determinism(job_shop: Plant) -> None:
    """Each fault is one ``truth.data_fault`` event on its machine, in true time; the same
    seed gives the same samples whether the hour runs in one step or in many."""
    faults = demo_faults(job_shop, 3600.0)
    assert {f.kind for f in faults} == {
        "dropout",
        "stuck",
        "spike",
        "drift",
        "clock_skew",
        "counter_glitch",
    }
    assert len({(f.machine, f.tag) for f in faults}) == len(faults)
    raw = [f.model_dump() for f in faults]
    one = _run(job_shop, *raw)
    a = _advance(one).sorted()
    many = _run(job_shop, *raw)
    b = _advance(many, step_ns=7 * NS_PER_MIN + 3).sorted()
    np.testing.assert_array_equal(a.ts, b.ts)
    np.testing.assert_array_equal(a.value, b.value)
    truth = [e for e in one.ground_truth if e.kind == TRUTH_KIND]
    assert truth == [e for e in many.ground_truth if e.kind == TRUTH_KIND]
    assert [e.payload["kind"] for e in sorted(truth, key=lambda e: e.payload["fault"])] == [
        f.kind for f in faults
    ]
    for e, f in zip(sorted(truth, key=lambda e: e.payload["fault"]), faults, strict=True):
        assert e.asset == f.machine and e.payload["tag"] == f"{f.machine}/{f.tag}"
        assert e.ts == e.payload["start_ns"] == START + round(float(f.at) * NS_PER_S)  # type: ignore[arg-type]
        assert e.payload["end_ns"] > e.payload["start_ns"]


def test_a_short_demo_run_cannot_show_a_stuck_sensor(job_shop: Plant) -> None:
    with pytest.raises(InputError, match="at least 60 simulated minutes"):
        demo_faults(job_shop, 1800.0)


# ---------------------------------------------------------------- plant.yaml

BASE = """\
site: s
calendar: {timezone: UTC}
areas:
  - id: a
    lines:
      - id: l
        type: flow
        machines:
          - id: m1
            type: mill
            ideal_cycle_time: 60s
            tags:
              - {name: power, unit: kW, interval: 1s, signal: power, low: 0, high: 60}
              - {name: count, unit: parts, interval: 1s, signal: part_counter}
              - {name: temp, unit: degC, interval: 1s, signal: bearing_temperature}
simulation:
  faults:
    - kind: dropout
      machine: m1
      tag: power
      at: 1h
      duration: 10min
"""
FAULT_LINE = BASE.splitlines().index("    - kind: dropout") + 1


def _problems(fault: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as exc:
        parse_plant(BASE + fault)
    return [(p.line, p.field, p.message) for p in exc.value.problems]


def test_a_good_fault_list_loads() -> None:
    plant = parse_plant(BASE)
    (fault,) = plant.simulation.faults
    assert (fault.kind, fault.at, fault.duration) == ("dropout", 3600.0, 600.0)


@pytest.mark.parametrize(
    ("fault", "line", "field", "message"),
    [
        (
            "    - {kind: wobble, machine: m1, tag: power, at: 1h, duration: 1min}\n",
            0,
            "kind",
            "Input should be 'dropout'",
        ),
        (
            "    - {kind: stuck, machine: m2, tag: power, at: 1h, duration: 1min}\n",
            0,
            "machine",
            "no machine 'm2' in the plant",
        ),
        (
            "    - {kind: stuck, machine: m1, tag: pwr, at: 1h, duration: 1min}\n",
            0,
            "tag",
            "does not declare tag 'pwr'",
        ),
        (
            "    - kind: stuck\n      machine: m1\n      tag: power\n      at: 1h\n"
            "      duration: -5\n",
            4,
            "duration",
            "must be greater than zero",
        ),
        (
            "    - kind: stuck\n      machine: m1\n      tag: power\n"
            "      at: 2025-03-03T10:00:00Z\n      until: 2025-03-03T09:00:00Z\n",
            4,
            "until",
            "ends before it starts",
        ),
        (
            "    - {kind: spike, machine: m1, tag: power, at: 1h, size: 5, rate: 2}\n",
            0,
            "rate",
            "'rate' does not apply to a spike fault",
        ),
        (
            "    - {kind: drift, machine: m1, tag: power, at: 1h, duration: 1min}\n",
            0,
            "kind",
            "a drift fault needs 'rate'",
        ),
        (
            "    - {kind: dropout, machine: m1, tag: power, at: 1h}\n",
            0,
            "kind",
            "give its duration",
        ),
        (
            "    - {kind: counter_glitch, machine: m1, tag: power, at: 1h, drop: 3}\n",
            0,
            "tag",
            "needs a part counter",
        ),
        (
            "    - {kind: spike, machine: m1, tag: temp, at: 1h, size: 20%}\n",
            0,
            "size",
            "needs the tag's low and high limits",
        ),
        (
            "    - {kind: clock_skew, machine: m1, tag: power, at: 1h, duration: 1h, "
            "offset: soon}\n",
            0,
            "offset",
            "expected a signed duration such as +10min",
        ),
        (
            "    - {kind: stuck, machine: m1, tag: power, at: yesterday, duration: 1h}\n",
            0,
            "at",
            "expected an offset from the simulation's start",
        ),
    ],
)
def test_a_bad_fault_is_reported_at_its_line(
    fault: str, line: int, field: str, message: str
) -> None:
    """The second fault (after the good one) is wrong; the problem names its line and field."""
    (problem,) = _problems(fault)
    first = len(BASE.splitlines()) + 1
    assert problem[0] == first + line
    assert problem[1] == f"simulation.faults[1].{field}"
    assert message in problem[2]


def test_faults_that_only_the_start_makes_wrong_are_refused(job_shop: Plant) -> None:
    f = {"kind": "stuck", "machine": "mill-1", "tag": "power", "at": "2h"}
    f["until"] = "2025-03-03T07:30:00Z"  # after 05:00 + 2h: fine
    _run(job_shop, f)
    f["until"] = "2025-03-03T06:00:00Z"
    with pytest.raises(InputError, match=r"faults\[0\].*ends .* before it starts"):
        _run(job_shop, f)
