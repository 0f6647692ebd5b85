"""The checks find every kind of fault the virtual plant injects, on its own sensor and in its
own window, and nothing on the sensors left alone."""

from __future__ import annotations

import pytest

from andon.core.clock import NS_PER_H, NS_PER_S, parse_time
from andon.core.event import Event
from andon.datahealth import Finding, check_range
from andon.historian import open_historian
from andon.plant import example_plant, load_plant
from andon.plant.model import PlantSimulation
from andon.sim import VirtualPlant
from andon.sim.faults import TRUTH_KIND, demo_faults

START = parse_time("2025-03-03T05:00:00Z")
END = START + 2 * NS_PER_H
CHECK_OF = {
    "dropout": "gap",
    "stuck": "stuck",
    "spike": "spike",
    "drift": "out_of_range",
    "clock_skew": "future",
    "counter_glitch": "counter",
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Finding], list[Event]]:
    """Two hours of the job shop with one fault of every kind (``andon demo --faults``),
    written in 10-minute windows and checked at the simulated end (the fast clock's stamps
    are then still ahead of now, as they are when the demo ends)."""
    base = load_plant(example_plant("job_shop"))
    plant = base.model_copy(
        update={"simulation": PlantSimulation(faults=demo_faults(base, (END - START) / NS_PER_S))}
    )
    vp = VirtualPlant(plant, seed=0, start_ns=START)
    url = f"sqlite:///{tmp_path_factory.mktemp('injected') / 'andon.db'}"
    with open_historian(url) as h:
        while vp.now_ns < END:
            batch, events = vp.advance(min(vp.now_ns + 600 * NS_PER_S, END))
            h.write(batch)
            h.write_events(events)
        report = check_range(plant, h, None, START, END, END)
        stored = h.events(kind=TRUTH_KIND)
    truth = [e for e in vp.ground_truth if e.kind == TRUTH_KIND]
    assert sorted(e.payload["fault"] for e in stored) == list(range(6))  # kept in the historian
    return report.findings, truth


def _window(e: Event) -> tuple[int, int]:
    p = e.payload
    if p["kind"] == "clock_skew":
        return int(p["stamped_start_ns"]), int(p["stamped_end_ns"])
    return int(p["start_ns"]), int(p["end_ns"])


@pytest.mark.parametrize("kind", list(CHECK_OF))
def test_each_injected_fault_is_found(
    checked: tuple[list[Finding], list[Event]], kind: str
) -> None:
    findings, truth = checked
    (fault,) = [e for e in truth if e.payload["kind"] == kind]
    a, b = _window(fault)
    tolerance = 60 * NS_PER_S
    assert [
        f
        for f in findings
        if f.tag == fault.payload["tag"]
        and f.check == CHECK_OF[kind]
        and f.start_ns <= b + tolerance
        and f.end_ns >= a - tolerance
    ], f"no {CHECK_OF[kind]} finding for {fault.payload}"


def test_nothing_is_found_on_sensors_left_alone(
    checked: tuple[list[Finding], list[Event]],
) -> None:
    """Every finding is on a faulty sensor; the one beside its own kind's is the hole a clock
    leaves when it jumps ahead (no sample is stamped in its first ``offset``)."""
    findings, truth = checked
    faulty = {str(e.payload["tag"]): e for e in truth}
    assert {f.tag for f in findings} == set(faulty)
    extra = [f for f in findings if f.check != CHECK_OF[str(faulty[f.tag].payload["kind"])]]
    assert [(f.check, faulty[f.tag].payload["kind"]) for f in extra] == [("gap", "clock_skew")]
    skew = faulty[extra[0].tag].payload
    assert extra[0].start_ns < skew["start_ns"] + skew["offset_ns"] <= extra[0].end_ns
