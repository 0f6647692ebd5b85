"""The OEE page's figures: the whole range is its shifts added up, and the closed shifts'
stops and energy are kept like their OEE and recomputed when late data touch them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shop_history import END, START, H, fill, fresh_copy

from andon.core import Batch
from andon.core.clock import NS_PER_S, parse_time
from andon.core.machine_state import MachineState
from andon.historian import Historian, open_historian
from andon.kpi.assets import asset_oee, asset_stop_reasons, margin_ns, micro_stop_s
from andon.kpi.energy import power_tag
from andon.kpi.overview import overview
from andon.kpi.pareto import add_stops, stops_in_periods
from andon.kpi.periods import planned_stops_for
from andon.kpi.report import asset_report
from andon.plant import Plant, PlantCalendar, example_plant, load_plant
from andon.state.derive import derive
from andon.state.reasons import set_reason


def plant() -> Plant:
    return load_plant(example_plant("job_shop"))


NUMBERS = ("planned_s", "run_s", "net_run_s", "fully_productive_s", "all_time_s")


def test_the_whole_range_is_what_one_computation_over_it_gives(db: str) -> None:
    p = plant()
    with open_historian(db) as h:
        found = overview(p, h, p.root, START, END, "shift")
        once = asset_oee(p, h, p.root, START, END, None)[0]
        assert len(found.rows) == 2
        pairs = zip(found.machines, once.machines, strict=True)
        for whole, direct in [(found.whole, once.result), *pairs]:
            assert whole.asset == direct.asset
            for key in NUMBERS:
                assert getattr(whole, key) == pytest.approx(getattr(direct, key), abs=1e-6)
            assert whole.losses == pytest.approx(direct.losses, abs=1e-6)
            assert (whole.total, whole.good, whole.scrap) == (
                direct.total,
                direct.good,
                direct.scrap,
            )
            assert whole.oee == pytest.approx(direct.oee)


def test_the_pareto_of_a_range_is_its_shifts_added_up(db: str) -> None:
    p = plant()
    ref = p.machines()[0]
    with open_historian(db) as h:
        margin = margin_ns(ref, micro_stop_s(ref))
        history = derive(p, ref, h, START - margin, END + margin)
        planned = planned_stops_for(PlantCalendar(p.calendar), START - margin, END + margin)
        spans = [(START, END)]
        once = add_stops([stops_in_periods(history, planned, micro_stop_s(ref), spans)])
        found = asset_stop_reasons(p, h, ref.path, START, END)  # from its two shifts
        assert [(r.reason, r.stops) for r in found] == [(r.reason, r.stops) for r in once]
        assert [r.seconds for r in found] == pytest.approx([r.seconds for r in once])
        assert found, "the virtual plant's machines stop"


def test_the_energy_of_a_range_is_what_the_energy_report_says(db: str) -> None:
    p = plant()
    with open_historian(db) as h:
        found = {e.asset: e for e in overview(p, h, p.root, START, END, "shift").energy}
        direct = {e.asset: e for e in asset_report(p, h, p.root, START, END).energy}
        assert set(found) == set(direct) and found
        for asset, e in found.items():
            d = direct[asset]
            # the report reads the power inside the range only: a second at each edge differs
            assert e.kwh == pytest.approx(d.kwh, abs=0.05)
            assert e.cost.cost == pytest.approx(d.cost.cost, abs=0.05)
            assert e.kwh_per_good == pytest.approx(d.kwh_per_good, rel=1e-2)
            for state, kwh in d.by_state.items():
                assert e.by_state[state] == pytest.approx(kwh, abs=0.05)


def kept_rows(h: Historian, kind: str, p: Plant) -> list:
    return h.kept(kind, [m.path for m in p.machines()], START, END)


def tamper(h: Historian, kind: str, asset: str, start: int, change) -> None:
    (row,) = [r for r in h.kept(kind, [asset], START, END) if r.start_ns == start]
    h.keep([replace(row, body=json.dumps(change(json.loads(row.body))))])


def marked(reason: str, seconds: float):
    """A kept stops body with one more reason (only a read of what was kept shows it)."""
    return lambda b: {**b, "reasons": [*b["reasons"], [reason, seconds, 1]]}


def test_closed_shifts_stops_and_energy_are_kept_and_read_back(db: str) -> None:
    p = plant()
    ref = p.machines()[0]
    with open_historian(db) as h:
        first = overview(p, h, p.root, START, END, "shift")
        assert len(kept_rows(h, "stops", p)) == 2 * len(p.machines())
        powered = [m for m in p.machines() if power_tag(m) is not None]
        assert len(kept_rows(h, "energy", p)) == 2 * len(powered)
        again = overview(p, h, p.root, START, END, "shift")
        assert again.stops == first.stops
        assert [e.to_dict() for e in again.energy] == [e.to_dict() for e in first.energy]
        # only a read of what was kept can return what was written there
        tamper(
            h,
            "stops",
            ref.path,
            START,
            marked("kept marker", 3600.0),
        )
        tamper(h, "energy", ref.path, START, lambda b: {**b, "kwh": b["kwh"] + 1000.0})
        third = overview(p, h, p.root, START, END, "shift")
        assert ("kept marker", 3600.0, 1) in [(r.reason, r.seconds, r.stops) for r in third.stops]
        mine = next(e for e in third.energy if e.asset == ref.path)
        before = next(e for e in first.energy if e.asset == ref.path)
        assert mine.kwh == pytest.approx(before.kwh + 1000.0)


def test_an_operators_late_reason_makes_its_shifts_stops_be_recomputed(db: str) -> None:
    p = plant()
    ref = p.machines()[1]
    with open_historian(db) as h:
        overview(p, h, ref.path, START, END, "shift")
        tamper(
            h,
            "stops",
            ref.path,
            START,
            marked("kept marker", 3600.0),
        )
        tamper(
            h,
            "stops",
            ref.path,
            START + 8 * H,
            marked("late marker", 60.0),
        )
        history = derive(p, ref, h, START, START + 8 * H)
        ends = history.ends()
        stop = next(  # a stop of the early shift long enough not to be a small stop
            int(history.starts[i])
            for i, code in enumerate(history.states)
            if code not in (MachineState.RUNNING, MachineState.PLANNED_STOP)
            and ends[i] - history.starts[i] > 5 * 60 * NS_PER_S
        )
        set_reason(h, ref.path, stop, "hydraulic leak", by="ann")
        found = overview(p, h, ref.path, START, END, "shift").stops
        reasons = [r.reason for r in found]
        assert "kept marker" not in reasons  # the early shift was recomputed
        assert "hydraulic leak" in reasons
        # and so was the late shift: a stop may run on into it, and the reason with it
        assert "late marker" not in reasons


def test_a_late_power_sample_makes_its_shifts_energy_be_recomputed(db: str) -> None:
    p = plant()
    ref = next(m for m in p.machines() if power_tag(m) is not None)
    with open_historian(db) as h:
        first = overview(p, h, ref.path, START, END, "shift").energy[0]
        tamper(h, "energy", ref.path, START, lambda b: {**b, "kwh": b["kwh"] + 1000.0})
        tag = ref.tag_path(power_tag(ref) or "")
        at = START + H + np.arange(600, dtype=np.int64) * NS_PER_S + NS_PER_S // 2
        h.write(Batch.build((tag,), at, np.zeros(600, np.int32), np.full(600, 500.0)))
        again = overview(p, h, ref.path, START, END, "shift").energy[0]
        # recomputed from what is stored now: ten minutes of 500 kW more, not the tampered 1000
        assert again.kwh > first.kwh + 20.0
        assert again.kwh < first.kwh + 1000.0


FRIDAY = parse_time("2026-11-28T02:00:00Z")  # Friday 20:00 in Chicago: the second shift
AFTER = FRIDAY + 24 * H  # Saturday's first shift; none in the evening, none on Sunday


@pytest.fixture(scope="module")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("assembly") / "andon.db"
    fill(db, plant_name="assembly_line", start=FRIDAY, end=AFTER)
    return db


def test_shifts_that_leave_time_between_them_still_add_up_the_whole_range(
    assembly: Path, tmp_path: Path
) -> None:
    p = load_plant(example_plant("assembly_line"))
    with open_historian(fresh_copy(assembly, tmp_path / "andon.db")) as h:
        found = overview(p, h, p.root, FRIDAY, AFTER, "shift")
        once = asset_oee(p, h, p.root, FRIDAY, AFTER, None)[0].result
        assert sum(r.period.end_ns - r.period.start_ns for r in found.rows) < 24 * H
        # the night between the shifts is in the range's all time, TEEP and energy
        assert found.whole.all_time_s == pytest.approx(once.all_time_s) == 86400.0
        assert found.whole.teep == pytest.approx(once.teep)
        assert found.whole.total == once.total
        direct = {e.asset: e.kwh for e in asset_report(p, h, p.root, FRIDAY, AFTER).energy}
        assert {e.asset: e.kwh for e in found.energy} == pytest.approx(direct, abs=0.05)
        # a range without a shift has no rows, and still its whole range
        sunday = AFTER + 24 * H
        quiet = overview(p, h, p.root, sunday, sunday + 3 * H, "shift")
        assert quiet.rows == [] and quiet.whole.planned_s == 0.0 and quiet.whole.oee is None


def test_energy_over_more_power_samples_than_one_read_returns(db: str) -> None:
    p = plant()
    with open_historian(db) as h:
        whole = {e.asset: e.kwh for e in asset_report(p, h, p.root, START, END).energy}
        h.max_raw_points = 40_000  # fewer than the 57,600 samples of 16 h at 1 Hz
        read = {e.asset: e.kwh for e in asset_report(p, h, p.root, START, END).energy}
        paged = {e.asset: e.kwh for e in overview(p, h, p.root, START, END, "shift").energy}
    assert read == pytest.approx(whole) and paged == pytest.approx(whole, abs=0.05)
