"""Advancing the virtual plant in many steps gives what one step gives, wherever the steps fall:
on a part's completion, on a state change, on a sample, a nanosecond apart."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.core.event import Event
from andon.plant import example_plant, parse_plant
from andon.plant.model import Plant
from andon.sim import MachineStatus, VirtualPlant
from andon.sim.timeline import Timeline

H = 3600 * NS_PER_S
STARTS = {
    "job_shop": parse_time("2026-03-02T06:00:00+01:00"),
    "assembly_line": parse_time("2026-03-02T06:00:00-06:00"),
}
EVENT_DRIVEN_TAGS = (
    "- {name: state_ev, unit: code, signal: state_code}",
    "- {name: count_ev, unit: parts, signal: part_counter}",
    '- {name: wear_ev, unit: "%", signal: tool_wear}',
)

Run = tuple[Batch, list[Event], list[MachineStatus], np.ndarray]


def _with_event_driven_tags(name: str) -> Plant:
    """The example plant with event-driven tags (no interval) next to every part counter."""
    text = Path(example_plant(name)).read_text()

    def add(m: re.Match[str]) -> str:
        indent = m.group(1)
        return m.group(0) + "".join(f"{indent}{tag}\n" for tag in EVENT_DRIVEN_TAGS)

    text, n = re.subn(r"^( +)- \{name: part_count, .*\n", add, text, flags=re.MULTILINE)
    assert n > 0
    return parse_plant(text, f"{name}.yaml")


def _run(plant: Plant, start: int, cuts: list[int]) -> Run:
    """Advance through ``cuts`` (in order; the last is the end), concatenating the output."""
    vp = VirtualPlant(plant, seed=0, start_ns=start)
    batches, events = [], []
    for t in cuts:
        b, e = vp.advance(t)
        batches.append(b)
        events.extend(e)
    first = vp.machines()[0].id
    return Batch.concat(batches), events, vp.machines(), vp.waveform(first, seconds=0.01)


def _assert_same(got: Run, want: Run) -> None:
    (b1, e1, m1, w1), (b2, e2, m2, w2) = got, want
    b1, b2 = b1.sorted(), b2.sorted()
    assert b1.tags == b2.tags
    assert len(b1) == len(b2)
    assert np.array_equal(b1.ts, b2.ts) and np.array_equal(b1.tag_id, b2.tag_id)
    assert np.array_equal(b1.value, b2.value) and np.array_equal(b1.quality, b2.quality)
    assert e1 == e2
    assert m1 == m2  # counts, states and the time per state, to the nanosecond
    assert np.array_equal(w1, w2)


def _edges(events: list[Event], start: int, end: int) -> list[int]:
    """Times where something happened: parts, state changes, tool changes, failures."""
    return sorted({e.ts for e in events if start < e.ts < end})


@pytest.fixture(scope="module", params=sorted(STARTS))
def reference(request: pytest.FixtureRequest) -> tuple[Plant, int, int, Run]:
    name: str = request.param
    plant = _with_event_driven_tags(name)
    start = STARTS[name] + 123_456_789  # off every sampling grid
    end = start + H
    return plant, start, end, _run(plant, start, [end])


def test_event_driven_tags_are_written_on_change(
    reference: tuple[Plant, int, int, Run],
) -> None:
    plant, start, _, (batch, events, _, _) = reference
    parts = [e for e in events if e.kind == "part"]
    assert parts
    for ref in plant.machines():
        ts, count = _series(batch, ref.tag_path("count_ev"))
        mine = [e for e in parts if e.asset == ref.path]
        assert ts.tolist() == [e.ts for e in mine]  # one sample per part, none at the start
        assert np.all(np.diff(count) % 65536 == 1)
        ts, code = _series(batch, ref.tag_path("state_ev"))
        changes = [e.ts for e in events if e.kind == "state" and e.asset == ref.path]
        assert ts[0] == start and ts.tolist() == changes  # the first state, then every change
        assert np.all(code[1:] != code[:-1])


def test_cutting_exactly_on_events_changes_nothing(
    reference: tuple[Plant, int, int, Run],
) -> None:
    plant, start, end, whole = reference
    edges = _edges(whole[1], start, end)
    parts = sorted({e.ts for e in whole[1] if e.kind == "part"})
    assert len(edges) > 50 and parts
    # every edge a cut, and a window of one nanosecond right on some of them
    cuts = sorted({*edges, *(t + 1 for t in edges[::7]), *(t - 1 for t in parts[::5]), end})
    _assert_same(_run(plant, start, cuts), whole)


def test_cutting_on_the_sampling_grid_changes_nothing(
    reference: tuple[Plant, int, int, Run],
) -> None:
    plant, start, end, whole = reference
    second = -(-start // NS_PER_S) * NS_PER_S
    cuts = [
        *range(second, end, 17 * NS_PER_S),
        *range(second + 600 * NS_PER_S, end, 600 * NS_PER_S),
    ]
    _assert_same(_run(plant, start, sorted({*cuts, end})), whole)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2**31), st.integers(-1, 1)), max_size=12))
def test_any_chunking_gives_the_one_shot_data(
    reference: tuple[Plant, int, int, Run], picks: list[tuple[bool, int, int]]
) -> None:
    """Cuts anywhere, often exactly on (or a nanosecond beside) something that happened."""
    plant, start, end, whole = reference
    edges = _edges(whole[1], start, end)
    cuts = set()
    for on_edge, k, nudge in picks:
        t = edges[k % len(edges)] + nudge if on_edge else start + 1 + k % (end - start - 1)
        cuts.add(min(max(t, start), end))
    _assert_same(_run(plant, start, sorted({*cuts, end})), whole)


def test_waveform_at_a_state_change_is_the_same_however_we_got_there(
    reference: tuple[Plant, int, int, Run],
) -> None:
    """``now_ns`` exactly on a state change: the waveform already shows the new state."""
    plant, start, _, (_, events, _, _) = reference
    machine = plant.machines()[0]
    changes = [e for e in events if e.kind == "state" and e.asset == machine.path]
    changes = [e for k, e in enumerate(changes) if e.ts > changes[k - 1].ts + 1 and k][:4]
    stepped = VirtualPlant(plant, seed=0, start_ns=start)
    for change in changes:
        stepped.advance(change.ts - 1)
        stepped.advance(change.ts)
        direct = VirtualPlant(plant, seed=0, start_ns=start)
        direct.advance(change.ts)
        got = stepped.waveform(machine.machine.id, seconds=0.05)
        assert np.array_equal(got, direct.waveform(machine.machine.id, seconds=0.05))
        spinning = np.abs(np.fft.rfft(got))[1:].max() > 120  # shaft harmonics, not noise (~45)
        assert spinning == (change.payload["state"] == "running"), change


def test_prune_keeps_every_point_at_the_cut() -> None:
    tl = Timeline(900.0)
    for t, state in [(0, 1), (10, 2), (20, 3), (20, 4), (30, 1)]:
        tl.segment(t, state, 0.0, 0.0, 22.0)
        tl.count(t, float(t))
    tl.prune(20)
    assert tl.seg_t == [20, 20, 30] and tl.seg_state == [3, 4, 1]
    assert tl.count_t == [20, 20, 30]
    tl.prune(25)  # nothing at the cut: keep the point in force there
    assert tl.seg_t == [20, 30] and tl.seg_state == [4, 1] and tl.count_t == [20, 30]


def _series(batch: Batch, tag: str) -> tuple[np.ndarray, np.ndarray]:
    sel = batch.select(batch.tag_id == batch.tags.index(tag))
    order = np.argsort(sel.ts, kind="stable")
    return sel.ts[order], sel.value[order]
