"""The virtual plant: determinism, chunking, sampling, states, counts, calendar, degradation."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import andon.sim
from andon.core.batch import Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.plant import PlantCalendar, example_plant, load_plant, parse_plant
from andon.plant.model import Plant
from andon.sim import VirtualPlant
from andon.sim.defaults import resolve
from andon.sim.physics import Window, part_counter
from andon.sim.timeline import Timeline

H = 3600 * NS_PER_S
JOB_START = parse_time("2026-03-02T06:00:00+01:00")  # Monday, early shift, Berlin
FLOW_START = parse_time("2026-03-02T06:00:00-06:00")  # Monday, first shift, Chicago


def _text(name: str) -> str:
    return Path(example_plant(name)).read_text()


@pytest.fixture(scope="module")
def job_shop() -> Plant:
    return load_plant(example_plant("job_shop"))


@pytest.fixture(scope="module")
def assembly() -> Plant:
    return load_plant(example_plant("assembly_line"))


@pytest.fixture(scope="module")
def shop_run(job_shop: Plant) -> tuple[VirtualPlant, Batch, list[Event]]:
    vp = VirtualPlant(job_shop, seed=0, start_ns=JOB_START)
    batch, events = vp.advance(JOB_START + 4 * H)
    return vp, batch, events


@pytest.fixture(scope="module")
def line_run(assembly: Plant) -> tuple[VirtualPlant, Batch, list[Event]]:
    vp = VirtualPlant(assembly, seed=0, start_ns=FLOW_START)
    batch, events = vp.advance(FLOW_START + 8 * H)
    return vp, batch, events


def _series(batch: Batch, tag: str) -> tuple[np.ndarray, np.ndarray]:
    i = batch.tags.index(tag)
    sel = batch.select(batch.tag_id == i)
    order = np.argsort(sel.ts, kind="stable")
    return sel.ts[order], sel.value[order]


def _same(a: Batch, b: Batch) -> bool:
    a, b = a.sorted(), b.sorted()
    return (
        a.tags == b.tags
        and np.array_equal(a.ts, b.ts)
        and np.array_equal(a.tag_id, b.tag_id)
        and np.array_equal(a.value, b.value)
        and np.array_equal(a.quality, b.quality)
    )


def test_public_names() -> None:
    exported = {n for n in vars(andon.sim) if not n.startswith("_") and n[0].isupper()}
    assert exported == set(andon.sim.__all__)


def test_same_seed_same_data_other_seed_other_data(job_shop: Plant) -> None:
    runs = []
    for seed in (3, 3, 4):
        vp = VirtualPlant(job_shop, seed=seed, start_ns=JOB_START)
        runs.append(vp.advance(JOB_START + H))
    (b1, e1), (b2, e2), (b3, e3) = runs
    assert _same(b1, b2) and e1 == e2
    assert not _same(b1, b3) and e1 != e3


def test_chunked_advance_equals_one_shot(job_shop: Plant) -> None:
    one = VirtualPlant(job_shop, seed=1, start_ns=JOB_START)
    whole, whole_events = one.advance(JOB_START + H)
    many = VirtualPlant(job_shop, seed=1, start_ns=JOB_START)
    steps = [1, 7 * NS_PER_S // 3, 13 * NS_PER_S, 10 * 60 * NS_PER_S, 999_999_999, 17 * NS_PER_S]
    batches, events = [], []
    t, k = JOB_START, 0
    while t < JOB_START + H:
        t = min(t + steps[k % len(steps)], JOB_START + H)
        k += 1
        b, ev = many.advance(t)
        batches.append(b)
        events.extend(ev)
    assert k > 10
    assert _same(Batch.concat(batches), whole)
    assert events == whole_events
    assert many.now_ns == one.now_ns == JOB_START + H


def test_every_tag_sampled_exactly_at_its_interval(job_shop: Plant) -> None:
    vp = VirtualPlant(job_shop, seed=0, start_ns=JOB_START + 123_456)  # start off the grid
    batch, events = vp.advance(JOB_START + 123_456 + H)
    counts = Counter(batch.tag_paths())
    parts = Counter(e.asset for e in events if e.kind == "part")
    configured = {
        ref.tag_path(t.name): (t, ref.path) for ref in job_shop.machines() for t in ref.machine.tags
    }
    assert set(vp.tags) == set(configured) and vp.unsimulated == ()
    for path, (tag, machine) in configured.items():
        if tag.signal == "measurement":
            assert counts[path] == parts[machine], path
        else:
            assert tag.interval is not None
            assert counts[path] == round(3600 / tag.interval), path
            ts, _ = _series(batch, path)
            assert np.all(ts % round(tag.interval * NS_PER_S) == 0)
            assert np.all(np.diff(ts) == round(tag.interval * NS_PER_S))
    assert np.all(batch.quality == 192)
    assert batch.ts.min() >= JOB_START + 123_456 and batch.ts.max() < JOB_START + 123_456 + H


def test_job_shop_shows_every_kind_of_state(
    shop_run: tuple[VirtualPlant, Batch, list[Event]],
) -> None:
    vp, _, events = shop_run
    states = {e.payload["state"] for e in events if e.kind == "state"}
    assert {"running", "starved", "setup", "down", "planned_stop", "micro_stop"} <= states
    reasons = {e.payload["reason"] for e in events if e.kind == "state"}
    assert {"tool change", "breakdown", "no work", "micro-stop"} <= reasons
    assert any(r.startswith("changeover to ") for r in reasons)
    assert any(e.kind == "order.released" for e in events)
    mill = vp.plant.machine("mill-1").path
    failures = [e for e in events if e.kind == "truth.failure" and e.asset == mill]
    assert [f.payload["cause"] for f in failures].count("bearing failure") == 1
    down = [
        e for e in events if e.kind == "state" and e.asset == mill and e.payload["state"] == "down"
    ]
    assert any(e.payload["reason"] == "bearing failure" for e in down)
    assert any(e.kind == "truth.failure" for e in vp.ground_truth)


def test_flow_line_blocks_and_starves(line_run: tuple[VirtualPlant, Batch, list[Event]]) -> None:
    _, _, events = line_run
    by_machine: dict[str, set[str]] = {}
    for e in events:
        if e.kind == "state":
            by_machine.setdefault(e.asset.rsplit("/", 1)[1], set()).add(e.payload["state"])
    assert "starved" not in by_machine["op10"]  # the first station has endless supply
    assert "blocked" in by_machine["op10"]
    assert "blocked" not in by_machine["op50"]  # parts leave after the last station
    assert "starved" in by_machine["op50"]
    assert any("blocked" in s and "starved" in s for s in by_machine.values())
    made = Counter(e.asset.rsplit("/", 1)[1] for e in events if e.kind == "part")
    assert made["op10"] > 300 and made["op50"] > 300


def test_part_counts_and_counter(shop_run: tuple[VirtualPlant, Batch, list[Event]]) -> None:
    vp, batch, events = shop_run
    for status in vp.machines():
        parts = [e for e in events if e.kind == "part" and e.asset == status.path]
        results = Counter(e.payload["result"] for e in parts)
        assert (status.good, status.scrap, status.rework) == (
            results["good"],
            results["scrap"],
            results["rework"],
        )
        assert [e.payload["count"] for e in parts] == list(range(1, len(parts) + 1))
        ts, counter = _series(batch, f"{status.path}/part_count")
        assert np.all((counter >= 0) & (counter < 65536))
        made_by = np.searchsorted(np.array([e.ts for e in parts]), ts, side="right")
        assert np.array_equal((counter - counter[0]) % 65536, made_by - made_by[0])
        assert abs(sum(status.seconds.values()) - 4 * 3600) < 1e-6
        assert status.samples == sum(
            1 for p in batch.tag_paths() if p.startswith(status.path + "/")
        )


def test_counter_rolls_over_at_16_bits() -> None:
    tl = Timeline(900.0)
    tl.segment(0, int(MachineState.RUNNING), 0.5, 0.0, 40.0)
    for i, value in enumerate([65534, 65535, 65536, 65537]):
        tl.count(i * 10, value)
    params = resolve(load_plant(example_plant("job_shop")).machine("mill-1").machine)
    w = Window.at(tl.view(), params, np.array([0, 15, 25, 35], dtype=np.int64))
    assert part_counter(w, np.zeros(4)).tolist() == [65534, 65535, 0, 1]


def test_no_running_in_planned_stops(shop_run: tuple[VirtualPlant, Batch, list[Event]]) -> None:
    vp, batch, _ = shop_run
    stops = PlantCalendar(vp.plant.calendar).planned_stops(JOB_START, JOB_START + 4 * H)
    assert stops, "the 4 h window must contain a break"
    for ref in vp.plant.machines():
        ts, code = _series(batch, ref.tag_path("state_code"))
        for stop in stops:
            inside = (ts >= stop.start) & (ts < stop.end)
            assert inside.any()
            assert not np.any(code[inside] == MachineState.RUNNING), (ref.path, stop)
            spindle = _series(batch, ref.tag_path("spindle_speed"))[1]
            assert np.all(spindle[inside] == 0)


def test_assembly_line_stands_still_outside_shifts(assembly: Plant) -> None:
    start = parse_time("2026-03-02T22:00:00-06:00")  # second shift ends at 23:00
    vp = VirtualPlant(assembly, seed=0, start_ns=start)
    batch, _ = vp.advance(start + 3 * H)
    ts, code = _series(batch, "acme/riverside/assembly/line-1/op50/state_code")
    night = ts >= parse_time("2026-03-02T23:00:00-06:00")
    assert np.all(code[night] == MachineState.PLANNED_STOP)


def test_vibration_rises_before_the_bearing_failure(
    shop_run: tuple[VirtualPlant, Batch, list[Event]],
) -> None:
    vp, batch, events = shop_run
    mill = vp.plant.machine("mill-1").path
    failed = next(
        e.ts
        for e in events
        if e.kind == "truth.failure" and e.asset == mill and e.payload["cause"] == "bearing failure"
    )
    ts, vib = _series(batch, f"{mill}/spindle_vibration")
    _, code = _series(batch, f"{mill}/state_code")
    running = code == MachineState.RUNNING
    early = vib[running & (ts < JOB_START + H // 2)]
    late = vib[running & (ts < failed) & (ts >= failed - 10 * 60 * NS_PER_S)]
    assert len(early) > 300 and len(late) > 60
    assert np.median(early) < 2.0  # healthy-ish: ISO 10816 zone A/B
    assert np.median(late) > 5.0 and late.max() > 7.1  # zone D just before the failure
    temp_ts, temp = _series(batch, f"{mill}/bearing_temperature")
    before = (temp_ts < failed) & (temp_ts >= failed - 2 * H)
    assert temp[before].max() > temp[temp_ts < JOB_START + H].max() + 5  # friction heat
    health = [e for e in events if e.kind == "truth.health" and e.asset == mill]
    values = [e.payload["bearing_health"] for e in health if e.ts < failed]
    assert len(health) == 24 and values[0] > 0.8 and values[-1] < values[0]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_power_follows_state(line_run: tuple[VirtualPlant, Batch, list[Event]]) -> None:
    vp, batch, _ = line_run
    for ref in vp.plant.machines():
        _, code = _series(batch, ref.tag_path("state_code"))
        _, power = _series(batch, ref.tag_path("power"))
        sim = ref.machine.simulation
        run = power[code == MachineState.RUNNING].mean()
        idle = power[np.isin(code, [MachineState.STARVED, MachineState.BLOCKED])]
        stopped = power[code == MachineState.PLANNED_STOP].mean()
        assert sim.idle_power_kw is not None and sim.rated_power_kw is not None
        assert sim.idle_power_kw < run < sim.rated_power_kw
        if len(idle):
            assert abs(idle.mean() - sim.idle_power_kw) < 0.05 * sim.idle_power_kw
        assert stopped < 0.2 * sim.idle_power_kw


def test_current_is_power_over_three_phase_voltage(
    shop_run: tuple[VirtualPlant, Batch, list[Event]],
) -> None:
    vp, batch, _ = shop_run
    mill = vp.plant.machine("mill-2").path
    _, code = _series(batch, f"{mill}/state_code")
    _, amps = _series(batch, f"{mill}/motor_current")
    _, kw = _series(batch, f"{mill}/power")
    running = code == MachineState.RUNNING
    ratio = amps[running].mean() / kw[running].mean()
    assert ratio == pytest.approx(1000 / (3**0.5 * 400 * 0.85), rel=0.02)


def test_worn_tool_makes_more_scrap(job_shop: Plant) -> None:
    vp = VirtualPlant(job_shop, seed=0, start_ns=JOB_START)
    _, events = vp.advance(JOB_START + 24 * H)
    lathe = vp.plant.machine("lathe-1").path
    parts = [e for e in events if e.kind == "part" and e.asset == lathe]
    nominal, tol = 30.0, 0.02
    worn = [p for p in parts if p.payload["measurement"] - nominal > 0.4 * tol]
    fresh = [p for p in parts if p.payload["measurement"] - nominal < 0.2 * tol]
    rate = lambda ps: sum(p.payload["result"] == "scrap" for p in ps) / max(len(ps), 1)  # noqa: E731
    assert rate(worn) > 3 * rate(fresh)
    _, wear = _series(vp.advance(vp.now_ns + H)[0], f"{lathe}/tool_wear")
    assert np.all((wear >= 0) & (wear <= 100))


def test_unknown_signal_is_listed_not_fatal() -> None:
    text = _text("job_shop").replace(
        "            tags: &mill_tags\n",
        "            tags: &mill_tags\n"
        '              - {name: oil_level, unit: "%", interval: 1s, signal: oil_level}\n'
        '              - {name: door, unit: "-", interval: 1s}\n'
        "              - {name: opc_temp, unit: degC, interval: 1s, source: opcua,"
        " signal: power}\n",
    )
    plant = parse_plant(text, "job_shop.yaml")
    vp = VirtualPlant(plant, seed=0, start_ns=JOB_START)
    batch, _ = vp.advance(JOB_START + 60 * NS_PER_S)
    assert "springfield/machining/cell-1/mill-1/oil_level" in vp.unsimulated
    assert "springfield/machining/cell-1/mill-2/door" in vp.unsimulated
    assert not any(t.endswith("/opc_temp") for t in (*vp.tags, *vp.unsimulated))
    assert not any(t in vp.tags for t in vp.unsimulated)
    # the extra tags change no machine's behaviour: noise and states have their own streams
    ref = VirtualPlant(load_plant(example_plant("job_shop")), seed=0, start_ns=JOB_START)
    base, _ = ref.advance(JOB_START + 60 * NS_PER_S)
    tag = "springfield/machining/cell-1/mill-1/spindle_vibration"
    assert np.array_equal(_series(batch, tag)[1], _series(base, tag)[1])


def test_adding_a_tag_keeps_the_state_sequence(job_shop: Plant) -> None:
    text = _text("job_shop").replace(
        "            tags: &mill_tags\n",
        "            tags: &mill_tags\n"
        "              - {name: power_2, unit: kW, interval: 2s, signal: power}\n",
    )
    more = VirtualPlant(parse_plant(text, "job_shop.yaml"), seed=5, start_ns=JOB_START)
    base = VirtualPlant(job_shop, seed=5, start_ns=JOB_START)
    assert more.advance(JOB_START + 2 * H)[1] == base.advance(JOB_START + 2 * H)[1]


def test_advance_edges(job_shop: Plant) -> None:
    vp = VirtualPlant(job_shop, seed=0, start_ns=JOB_START)
    assert all(m.state == MachineState.IDLE for m in vp.machines())
    batch, events = vp.advance(JOB_START)
    assert len(batch) == 0 and events == []
    vp.advance(JOB_START + 10 * NS_PER_S)
    with pytest.raises(ValueError):
        vp.advance(JOB_START)
    statuses = vp.machines()
    assert [m.id for m in statuses] == ["mill-1", "mill-2", "lathe-1", "grinder-1"]
    assert all(m.last_event for m in statuses)
