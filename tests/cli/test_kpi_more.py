"""``andon kpi iso22400 | energy | compare`` on a historian the virtual plant filled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from andon.audit import AuditLog
from andon.cli.app import app
from andon.core.clock import NS_PER_S, iso, parse_time
from andon.historian import open_historian
from andon.historian.kept import Kept
from andon.kpi.report import AssetReport, asset_report
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

runner = CliRunner()
START = parse_time("2026-11-23T05:00:00Z")
END = START + 8 * 3600 * NS_PER_S


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('kpi2') / 'andon.db'}"
    vp = VirtualPlant(load_plant(example_plant("job_shop")), seed=4, start_ns=START)
    with open_historian(url) as h:
        batch, events = vp.advance(END)
        h.write(batch)
        h.write_events(events)
    return url


def _run(*args: str) -> str:
    r = runner.invoke(app, ["kpi", *args])
    assert r.exit_code == 0, r.output
    return r.output


def test_iso22400_names_every_kpi_and_what_is_missing(filled: str) -> None:
    out = _run(
        "iso22400",
        "--db",
        filled,
        "--asset",
        "mill-1",
        "--from",
        iso(START),
        "--to",
        iso(END),
        "--json",
    )
    kpis = {k["name"]: k for k in json.loads(out)}
    assert len(kpis) == 21
    oee = json.loads(
        _run(
            "oee",
            "--db",
            filled,
            "--asset",
            "mill-1",
            "--from",
            iso(START),
            "--to",
            iso(END),
            "--json",
        )
    )[0]
    # A × effectiveness × Q = PRI·PQ·GQ / (PBT·PQ): the OEE, up to the product mix
    assert kpis["Overall equipment effectiveness index (OEE)"]["value"] == pytest.approx(
        oee["oee"], abs=0.01
    )
    assert kpis["Quality ratio"]["value"] == pytest.approx(oee["good"] / oee["total"])
    worker = next(k for k in kpis.values() if k["name"].startswith("Worker efficiency"))
    assert worker["value"] is None and worker["missing"]
    energy = next(k for k in kpis.values() if k["name"].startswith("Comprehensive energy"))
    assert energy["value"] is not None and energy["value"] > 0


def test_energy_per_unit_and_per_state(filled: str) -> None:
    reports = json.loads(
        _run("energy", "--db", filled, "--from", iso(START), "--to", iso(END), "--json")
    )
    assert len(reports) == 4
    for r in reports:
        assert r["kwh"] > 0 and r["kwh_per_good"] > 0
        assert sum(r["by_state"].values()) == pytest.approx(r["kwh"], rel=1e-6)
        assert r["kg_co2e"] is None or r["kg_co2e"] > 0


def test_compare_two_periods_with_deltas_and_roi(filled: str) -> None:
    mid = START + 4 * 3600 * NS_PER_S
    out = json.loads(
        _run(
            "compare",
            "--db",
            filled,
            "--baseline",
            f"{iso(START)}..{iso(mid)}",
            "--pilot",
            f"{iso(mid)}..{iso(END)}",
            "--json",
        )
    )
    oee = next(d for d in out["deltas"] if d["name"] == "oee")
    assert oee["delta"] == pytest.approx(oee["pilot"] - oee["baseline"])
    assert "assumptions" in out["roi"] and out["roi"]["assumptions"]
    r = runner.invoke(
        app, ["kpi", "compare", "--db", filled, "--baseline", "yesterday", "--pilot", "-1h..now"]
    )
    assert r.exit_code == 1 and "expected FROM..TO" in r.output


def test_compare_refuses_the_roi_of_a_period_without_data(filled: str) -> None:
    # 15:00-16:00 in Berlin, an hour of the late shift after the virtual plant stopped writing:
    # planned, but without any state data. Its OEE would read 0 %: no ROI from that.
    hour = 3600 * NS_PER_S
    args = [
        "compare",
        "--db",
        filled,
        "--baseline",
        f"{iso(START)}..{iso(START + 4 * hour)}",
        "--pilot",
        f"{iso(END + hour)}..{iso(END + 2 * hour)}",
    ]
    out = json.loads(_run(*args, "--json"))
    assert out["roi"] is None
    first = out["problems"][0]
    assert first.startswith(f"no ROI estimate: the pilot ({iso(END + hour)}")
    assert "no state data for any of its 1.00 planned hours" in first
    assert any(p.startswith("pilot: ") and "no state data" in p for p in out["problems"])
    deltas = {d["name"]: d for d in out["deltas"]}
    assert deltas["oee"]["baseline"] is not None  # what is defined is still shown
    assert deltas["Scrap ratio"]["baseline"] is not None and deltas["Scrap ratio"]["pilot"] is None
    text = _run(*args)
    assert "no ROI estimate: the pilot" in text
    assert "saved over the pilot period" not in text


def test_forget_drops_the_kept_results_and_is_audited(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/andon.db"
    with open_historian(url) as h:
        h.keep(
            [
                Kept("s/a/l/m", "oee", 0, 10, "f", 1, "{}"),
                Kept("s/a/l2/m", "oee", 0, 10, "f", 1, "{}"),
            ]
        )
    r = runner.invoke(app, ["kpi", "forget", "--asset", "s/a/l", "--db", url])
    assert r.exit_code == 0, r.output
    assert "dropped 1 kept result" in r.output
    with open_historian(url, create=False) as h:
        assert [k.asset for k in h.kept("oee", ["s/a/l/m", "s/a/l2/m"], 0, 10)] == ["s/a/l2/m"]
        (entry,) = [e for e in AuditLog(h.engine).entries() if e.action == "forget_kept"]
        assert entry.target == "s/a/l" and entry.details == {"dropped": 1}


def test_a_bottleneck_lines_iso22400_ratios_are_its_bottlenecks(filled: str) -> None:
    """The job shop's cell is counted from its bottleneck: its order times and failures are
    the bottleneck's too, so the line's allocation ratio is the bottleneck's own (it was one
    machine's busy time over four machines' order time)."""
    plant = load_plant(example_plant("job_shop"))
    line = "springfield/machining/cell-1"
    with open_historian(filled, create=False) as h:
        whole = asset_report(plant, h, line, START, END)
        assert whole.oee.basis.startswith("bottleneck ")
        bottleneck = whole.oee.basis.removeprefix("bottleneck ")
        alone = asset_report(plant, h, bottleneck, START, END)

    def kpi(report: AssetReport, name: str) -> float | None:
        (value,) = [k.value for k in report.kpis if k.name == name]
        return value

    for name in (
        "Allocation ratio",
        "Mean operating time between failures (MTBF)",
        "Mean time to repair (MTTR)",
    ):
        assert kpi(alone, name) is not None, name
        assert kpi(whole, name) == kpi(alone, name), name
    assert whole.kwh is not None and alone.kwh is not None and whole.kwh > alone.kwh
