"""``HealthWatch`` and ``andon data watch``: a finding is written once when it opens and once
when it closes, however often the watch runs, and a restarted watch remembers what is open."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core.clock import NS_PER_H, NS_PER_MIN, now_ns, parse_time
from andon.core.event import Event
from andon.datahealth import HealthWatch
from andon.datahealth.watch import CLOSED, FOUND, KIND, OPENED
from andon.historian import Historian, open_historian
from andon.plant import Plant, example_plant, load_plant
from andon.plant.model import DataFault, PlantSimulation
from andon.sim import VirtualPlant

START = parse_time("2025-03-03T05:00:00Z")
CELL = "springfield/machining/cell-1"
STUCK = f"{CELL}/mill-2/spindle_vibration"
SPIKED = f"{CELL}/mill-1/bearing_temperature"
STUCK_FROM, STUCK_TO = START + NS_PER_H, START + NS_PER_H + 45 * NS_PER_MIN
RESTART = START + NS_PER_H + 25 * NS_PER_MIN
"""The watch is replaced by a fresh one here, while the stuck value still lasts."""
STEP = 5 * NS_PER_MIN


def _faulty(faults: list[DataFault]) -> Plant:
    base = load_plant(example_plant("job_shop"))
    return base.model_copy(update={"simulation": PlantSimulation(faults=faults)})


@dataclass
class Run:
    steps: list[tuple[int, list[Event]]]
    repeated: list[Event]
    restarted_first: list[Event]
    restarted_open: set[tuple[str, str]]
    stored: list[Event]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The job shop with mill-2's spindle vibration stuck for 45 minutes and one spike on
    mill-1's bearing temperature, written as it happens and watched every 5 minutes; the watch
    is restarted (a fresh object over the same historian) while the value is still stuck."""
    plant = _faulty(
        [
            DataFault(
                kind="stuck", machine="mill-2", tag="spindle_vibration", at=3600, duration=2700
            ),
            DataFault(
                kind="spike",
                machine="mill-1",
                tag="bearing_temperature",
                at=5400,
                duration=600,
                size="25%",
            ),
        ]
    )
    vp = VirtualPlant(plant, seed=0, start_ns=START)
    url = f"sqlite:///{tmp_path_factory.mktemp('watch') / 'andon.db'}"
    steps: list[tuple[int, list[Event]]] = []
    with open_historian(url) as h:
        watch = HealthWatch(plant, h)
        now = START + NS_PER_H
        repeated: list[Event] = []
        restarted_first: list[Event] = []
        restarted_open: set[tuple[str, str]] = set()
        while now <= START + 2 * NS_PER_H:
            batch, events = vp.advance(now)
            h.write(batch)
            h.write_events(events)
            if now == RESTART:
                watch = HealthWatch(plant, h)
                restarted_first = watch.step(now)
                restarted_open = set(watch.open_findings)
                steps.append((now, restarted_first))
            else:
                steps.append((now, watch.step(now)))
            repeated += watch.step(now)  # the same now again: nothing new
            now += STEP
        stored = h.events(kind=KIND, limit=None)
    return Run(steps, repeated, restarted_first, restarted_open, stored)


def _all(run: Run) -> list[Event]:
    return [e for _, found in run.steps for e in found]


def test_a_stuck_sensor_is_opened_once_and_closed_once(run: Run) -> None:
    stuck = [e for e in _all(run) if e.payload["tag"] == STUCK and e.payload["check"] == "stuck"]
    assert [e.kind for e in stuck] == [OPENED, CLOSED]
    opened, closed = stuck
    # opened at the step that first sees 10 minutes of it, from the stuck value's start
    (when,) = [t for t, found in run.steps if opened in found]
    assert STUCK_FROM + 10 * NS_PER_MIN <= when <= STUCK_FROM + 10 * NS_PER_MIN + STEP
    assert abs(opened.ts - STUCK_FROM) <= 5 * 10**9
    assert opened.asset == f"{CELL}/mill-2"
    assert "read exactly" in opened.payload["detail"]
    assert {"tag", "check", "detail", "evidence", "start", "opened_at"} <= set(opened.payload)
    # closed at the step after it ended, at the time it ended, with its duration
    (when,) = [t for t, found in run.steps if closed in found]
    assert STUCK_TO <= when <= STUCK_TO + STEP
    assert abs(closed.ts - STUCK_TO) <= 5 * 10**9
    assert abs(closed.payload["duration_s"] - 2700) <= 10
    assert closed.payload["duration"] == "45 minutes"


def test_a_spike_is_found_once(run: Run) -> None:
    spikes = [e for e in _all(run) if e.payload["tag"] == SPIKED]
    assert [(e.kind, e.payload["check"]) for e in spikes] == [(FOUND, "spike")]


def test_repeated_steps_write_nothing_new(run: Run) -> None:
    assert run.repeated == []
    assert Counter((e.ts, e.asset, e.kind) for e in run.stored) == Counter(
        (e.ts, e.asset, e.kind) for e in _all(run)
    )


def test_a_restarted_watch_does_not_open_again_what_is_open(run: Run) -> None:
    assert STUCK_FROM + 10 * NS_PER_MIN < RESTART < STUCK_TO
    assert (STUCK, "stuck") in run.restarted_open
    assert [e for e in run.restarted_first if e.kind == OPENED] == []


def test_every_key_alternates_opened_and_closed(run: Run) -> None:
    """Whatever else the checks find in this data, a (tag, check) never opens twice in a row
    nor closes what is not open."""
    state: dict[tuple[str, str], bool] = {}
    for e in _all(run):
        key = (str(e.payload["tag"]), str(e.payload["check"]))
        if e.kind == OPENED:
            assert not state.get(key), f"opened twice: {key}"
            state[key] = True
        elif e.kind == CLOSED:
            assert state.get(key), f"closed while not open: {key}"
            state[key] = False


def test_a_bad_window_is_refused(tmp_path: Path) -> None:
    from andon.core.errors import InputError

    with open_historian(f"sqlite:///{tmp_path / 'a.db'}") as h:
        plant = load_plant(example_plant("job_shop"))
        with pytest.raises(InputError, match="--window"):
            HealthWatch(plant, h, window_ns=0)
        with pytest.raises(InputError, match="--asset"):
            HealthWatch(plant, h, asset="no-such-mill")


def _live_dropout(h: Historian) -> None:
    """The last 30 minutes of the job shop up to now, mill-1's power silent for the last 8."""
    end = now_ns()
    plant = _faulty(
        [DataFault(kind="dropout", machine="mill-1", tag="power", at=22 * 60, duration=3600)]
    )
    vp = VirtualPlant(plant, seed=2, start_ns=end - 30 * NS_PER_MIN)
    batch, events = vp.advance(end)
    h.write(batch)
    h.write_events(events)


def test_the_cli_once_prints_one_line_per_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'andon.db'}"
    with open_historian(url) as h:
        _live_dropout(h)
    runner = CliRunner()
    args = ["data", "watch", "--once", "--window", "10min", "--asset", "mill-1", "--db", url]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "opened gap power on mill-1 since " in r.output
    assert "sent nothing for" in r.output
    again = runner.invoke(app, args)  # a second run (cron) remembers it from the historian
    assert again.exit_code == 0 and "opened gap power" not in again.output
    bad = runner.invoke(app, ["data", "watch", "--once", "--every", "soon", "--db", url])
    assert bad.exit_code == 1 and "--every" in bad.output and "Traceback" not in bad.output
