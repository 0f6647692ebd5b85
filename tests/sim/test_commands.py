"""Written stop/start commands: the virtual plant obeys them as a PLC would."""

from __future__ import annotations

import pytest

from andon.core.clock import NS_PER_S, parse_time
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

MIN = 60 * NS_PER_S
START = parse_time("2026-03-02T07:00:00+01:00")  # Monday, inside the early shift


def _states(events, path):
    return [(e.ts, e.payload["state"]) for e in events if e.kind == "state" and e.asset == path]


def test_stop_then_start_idles_the_machine_and_resumes_it():
    plant = load_plant(example_plant("job_shop"))
    vp = VirtualPlant(plant, seed=3, start_ns=START)
    vp.advance(START + 30 * MIN)
    path = plant.machines()[0].path
    command = vp.command(path, "stop", by="tester")
    assert command.kind == "command" and command.payload == {"command": "stop", "by": "tester"}
    _, events = vp.advance(START + 90 * MIN)
    states = _states(events, path)
    assert "idle" in [s for _, s in states], states
    idle_at = next(t for t, s in states if s == "idle")
    # once idle it stays idle: no part is made and no other state follows while held
    assert [s for t, s in states if t > idle_at] == []
    parts = [e for e in events if e.kind == "part" and e.asset == path and e.ts > idle_at]
    assert parts == []
    vp.command(path, "start")
    _, events = vp.advance(START + 150 * MIN)
    after = [s for _, s in _states(events, path)]
    assert after and after[0] != "idle" and "running" in after


def test_unknown_command_and_machine_are_refused():
    plant = load_plant(example_plant("job_shop"))
    vp = VirtualPlant(plant, seed=3, start_ns=START)
    with pytest.raises(ValueError, match="unknown machine command"):
        vp.command(plant.machines()[0].path, "explode")
    with pytest.raises(KeyError, match="no machine"):
        vp.command("nope", "stop")
