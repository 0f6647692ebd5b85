"""``andon kpi``: OEE and losses from the historian, checked against the plant's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core.clock import NS_PER_S, iso, parse_time
from andon.historian import open_historian
from andon.kpi.assets import micro_stop_s
from andon.kpi.oee import ideal_for, oee
from andon.kpi.periods import planned_stops_for
from andon.plant import PlantCalendar, example_plant, load_plant
from andon.sim import VirtualPlant
from andon.sim.truth import true_history
from andon.state.counts import read_parts

runner = CliRunner()
START = parse_time("2026-11-23T05:00:00Z")  # Monday 06:00 in Berlin: the early shift
END = START + 16 * 3600 * NS_PER_S  # early and late shifts


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Sixteen hours of the job shop, written as the demo writes them."""
    db = tmp_path_factory.mktemp("kpi") / "andon.db"
    url = f"sqlite:///{db}"
    plant = load_plant(example_plant("job_shop"))
    vp = VirtualPlant(plant, seed=5, start_ns=START)
    with open_historian(url) as h:
        t = START
        while t < END:
            t = min(t + 3600 * NS_PER_S, END)
            batch, events = vp.advance(t)
            h.write(batch)
            h.write_events(events)
    return url


def _truth(url: str, start: int, end: int) -> dict[str, float]:
    """Each machine's OEE from the plant's own state changes (exact), not from its signals."""
    plant = load_plant(example_plant("job_shop"))
    calendar = PlantCalendar(plant.calendar)
    out = {}
    with open_historian(url, create=False) as h:
        for ref in plant.machines():
            history = true_history(
                h.events(ref.path, "state", None, None, None), ref.path, start, end
            )
            parts = read_parts(plant, ref, h, start, end, history=history)
            result = oee(
                history,
                parts,
                planned_stops=planned_stops_for(calendar, start, end),
                ideal_s=ideal_for(ref.machine),
                micro_stop_s=micro_stop_s(ref),
            )
            assert result.oee is not None
            out[ref.path] = result.oee
    return out


def test_oee_per_machine_and_shift_matches_the_ground_truth(filled: str) -> None:
    r = runner.invoke(
        app,
        [
            "kpi",
            "oee",
            "--db",
            filled,
            "--from",
            iso(START),
            "--to",
            iso(END),
            "--by",
            "shift",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["period"].split()[-1] for row in rows] == ["early", "late"]
    for row in rows:
        start, end = parse_time(row["from"]), parse_time(row["to"])
        truth = _truth(filled, start, end)
        assert len(row["machines"]) == 4
        for m in row["machines"]:
            # the bar: within 0.5 percentage points of the plant's own ground truth
            assert abs(m["oee"] - truth[m["asset"]]) < 0.005, (row["period"], m["asset"])
            losses = sum(m["losses"].values()) + m["fully_productive_s"]
            assert losses == pytest.approx(m["planned_s"], abs=1e-3)
        assert row["basis"].startswith("bottleneck ")


def test_losses_print_the_waterfall(filled: str) -> None:
    r = runner.invoke(
        app,
        [
            "kpi",
            "losses",
            "--db",
            filled,
            "--asset",
            "mill-1",
            "--from",
            iso(START),
            "--to",
            iso(END),
        ],
    )
    assert r.exit_code == 0, r.output
    for label in (
        "planned production time",
        "breakdowns and unplanned stops",
        "setup and adjustments",
        "small stops",
        "reduced speed",
        "start-up rejects",
        "production rejects",
        "fully productive time",
    ):
        assert label in r.output, label


def test_an_unknown_asset_and_a_backwards_range_are_clear(filled: str) -> None:
    r = runner.invoke(app, ["kpi", "oee", "--db", filled, "--asset", "nope"])
    assert r.exit_code == 1 and "asset 'nope'" in r.output
    r = runner.invoke(app, ["kpi", "oee", "--db", filled, "--from", iso(END), "--to", iso(START)])
    assert r.exit_code == 1 and "end must be after its start" in r.output


def test_a_range_without_planned_time_is_undefined_not_zero(filled: str, tmp_path: Path) -> None:
    lunch = parse_time("2026-11-23T10:30:00Z")  # 11:30-12:00 in Berlin: the early shift's lunch
    r = runner.invoke(
        app,
        [
            "kpi",
            "oee",
            "--db",
            filled,
            "--asset",
            "mill-1",
            "--from",
            iso(lunch),
            "--to",
            iso(lunch + 1800 * NS_PER_S),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["planned_s"] == 0 and row["oee"] is None and row["availability"] is None


def test_a_line_keeps_every_machines_problems(filled: str) -> None:
    # The last hour of data and the hour after it: every machine lacks state data for the
    # second hour. The cell's OEE is its bottleneck's, but no machine's problem is dropped.
    hour = 3600 * NS_PER_S
    args = ["kpi", "oee", "--db", filled, "--from", iso(END - hour), "--to", iso(END + hour)]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert row["basis"].startswith("bottleneck ")
    assert len(row["machines"]) == 4
    for m in row["machines"]:
        assert any("no state data" in p for p in m["problems"]), m["asset"]
        for p in m["problems"]:
            assert p.startswith(m["asset"] + ": ")
            assert p in row["problems"]
    # the table prints each of them once (the line's hold the machines')
    text = runner.invoke(app, args).output
    assert text.count("note:") == len(row["problems"])
