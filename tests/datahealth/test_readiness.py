"""Readiness: which ISO 22400 KPIs and analyses each machine's data supports today, and exactly
what the others lack, on hand-made plants whose data is written into a real historian."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_S, now_ns
from andon.core.event import Event
from andon.datahealth import readiness
from andon.datahealth.readiness import (
    ANALYSES,
    KPI_NEEDS,
    NO_BEARING,
    NO_ENERGY,
    NO_IDEAL,
    NO_MAINTENANCE,
    NO_ORDERS,
    NO_PARTS,
    NO_PERSONNEL,
    NO_QUALITY,
    NO_STATE,
    OEE,
    MachineReadiness,
)
from andon.historian import Historian, open_historian
from andon.kpi.iso22400 import KpiInputs, iso22400
from andon.plant import Plant
from andon.plant.loader import parse_plant

LINE = "t/a/l"
BEARING = "{rolling_elements: 9, element_diameter_mm: 7.9, pitch_diameter_mm: 39.0}"
PLANT = f"""
site: t
calendar: {{timezone: UTC}}
areas:
  - id: a
    lines:
      - id: l
        type: flow
        machines:
          - id: full
            type: mill
            ideal_cycle_time: 30s
            bearing: {BEARING}
            tags:
              - {{name: state_code, unit: code, interval: 1s, signal: state_code}}
              - {{name: part_count, unit: parts, interval: 1s, signal: part_counter}}
              - {{name: power, unit: kW, interval: 1s, signal: power}}
              - {{name: speed, unit: rpm, interval: 1s, high: 3000}}
              - {{name: vibration, unit: mm/s, interval: 0.0001}}
              - {{name: bore, unit: mm, signal: measurement}}
          - id: no-state
            type: mill
            ideal_cycle_time: 30s
            tags:
              - {{name: part_count, unit: parts, interval: 1s, signal: part_counter}}
              - {{name: power, unit: kW, interval: 1s, signal: power}}
          - id: no-counter
            type: mill
            ideal_cycle_time: 30s
            tags:
              - {{name: state_code, unit: code, interval: 1s, signal: state_code}}
          - id: slow-vibration
            type: mill
            ideal_cycle_time: 30s
            bearing: {BEARING}
            tags:
              - {{name: state_code, unit: code, interval: 1s, signal: state_code}}
              - {{name: speed, unit: rpm, interval: 1s, high: 3000}}
              - {{name: vibration, unit: mm/s, interval: 1s, signal: vibration_rms}}
          - id: silent
            type: mill
            ideal_cycle_time: 30s
            tags:
              - {{name: state_code, unit: code, interval: 1s, signal: state_code}}
              - {{name: part_count, unit: parts, interval: 1s, signal: part_counter}}
              - {{name: power, unit: kW, interval: 1s, signal: power}}
              - {{name: vibration, unit: mm/s, interval: 1s}}
"""
RECEIVED = {
    "full": ["state_code", "part_count", "power", "speed", "vibration", "bore"],
    "no-state": ["part_count", "power"],
    "no-counter": ["state_code"],
    "slow-vibration": ["state_code", "speed", "vibration"],
    "silent": [],
}
NEVER_RECORDED = {
    "Worker efficiency": [NO_PERSONNEL],
    "Corrective maintenance ratio": [NO_MAINTENANCE],
}


def _write(h: Historian, tags: list[str], at: int) -> None:
    ts = at + np.arange(10) * NS_PER_S
    paths = [f"{LINE}/{t}" for t in tags]
    ids = np.repeat(np.arange(len(paths), dtype=np.int32), len(ts))
    h.write(Batch.build(paths, np.tile(ts, len(paths)), ids, np.ones(len(ids))))


@pytest.fixture
def plant() -> Plant:
    return parse_plant(PLANT)


@pytest.fixture
def historian(tmp_path: Path, plant: Plant):
    h = open_historian(f"sqlite:///{tmp_path / 'andon.db'}")
    at = now_ns() - NS_PER_H
    _write(h, [f"{m}/{t}" for m, tags in RECEIVED.items() for t in tags], at)
    h.write_events(
        [
            Event(at, f"{LINE}/full", "part", {"result": "good", "order": "o-1"}),
            Event(at + NS_PER_S, f"{LINE}/full", "part", {"result": "scrap", "order": "o-1"}),
        ]
    )
    yield h
    h.close()


def _by_id(found: list[MachineReadiness]) -> dict[str, MachineReadiness]:
    return {r.name: r for r in found}


def _missing(r: MachineReadiness) -> dict[str, list[str]]:
    return {m.kpi: m.needs for m in r.missing}


def test_the_kpi_names_mirror_the_kpi_room():
    x = KpiInputs("m", 1.0, 1.0, 0.0, 0.0, 0.0, 1, 1, 0, 0, 1.0)
    assert list(KPI_NEEDS) == [k.name for k in iso22400(x)]
    assert OEE in KPI_NEEDS


def test_a_machine_with_everything_is_ready_for_all_but_what_andon_never_records(plant, historian):
    full = _by_id(readiness(plant, historian, now_ns(), scored=False))["full"]
    assert _missing(full) == NEVER_RECORDED
    assert full.ready == [k for k in (*KPI_NEEDS, *ANALYSES) if k not in NEVER_RECORDED]
    assert full.verdict == "OEE today: yes"
    assert full.to_dict()["oee_today"] is True


def test_without_a_state_signal(plant, historian):
    r = _by_id(readiness(plant, historian, now_ns(), scored=False))["no-state"]
    missing = _missing(r)
    for kpi in (
        "Availability",
        "Setup rate",
        "Mean operating time between failures (MTBF)",
        "Stop reasons (Pareto)",
    ):
        assert missing[kpi] == [NO_STATE]
    # parts come from its counter, but nothing says which are scrap
    assert missing[OEE] == [NO_STATE, NO_QUALITY]
    assert missing["Effectiveness"] == [NO_STATE]
    assert "Comprehensive energy consumption" in r.ready
    assert r.verdict == f"OEE today: no ({NO_STATE}; {NO_QUALITY})"


def test_without_a_part_counter_or_part_events(plant, historian):
    r = _by_id(readiness(plant, historian, now_ns(), scored=False))["no-counter"]
    missing = _missing(r)
    assert missing["Effectiveness"] == [NO_PARTS]
    assert missing[OEE] == [NO_PARTS, NO_QUALITY]
    assert missing["Throughput rate"] == [NO_PARTS, NO_ORDERS]
    assert missing["Comprehensive energy consumption"] == [NO_ENERGY, NO_PARTS]
    assert missing["Bearing defect frequencies (envelope analysis)"][0] == NO_BEARING
    assert {"Availability", "Mean time to repair (MTTR)", "Stop reasons (Pareto)"} <= set(r.ready)


def test_vibration_sampled_too_slowly_for_the_bearing(plant, historian):
    found = _by_id(readiness(plant, historian, now_ns(), scored=False))
    r = found["slow-vibration"]
    bearing = plant.machine("slow-vibration").machine.bearing
    assert bearing is not None
    bpfi = bearing.bpfi(3000 / 60)
    assert _missing(r)["Bearing defect frequencies (envelope analysis)"] == [
        f"vibration sampled fast enough: vibration is sampled at 1 Hz (every 1 s), but BPFI is "
        f"{bpfi:.1f} Hz at 3000 rpm (speed high:), so at least {2 * bpfi:.0f} Hz is needed"
    ]
    assert "Vibration trend (ISO 10816-3 zones)" in r.ready
    # the same bearing and speed with a vibration tag at 10 kHz is fine
    assert "Bearing defect frequencies (envelope analysis)" in found["full"].ready


def test_tags_declared_but_never_received(plant, historian):
    r = _by_id(readiness(plant, historian, now_ns(), scored=False))["silent"]
    missing = _missing(r)
    assert missing["Availability"] == ["data from state_code (declared, never received)"]
    assert missing["Effectiveness"] == [
        "data from state_code (declared, never received)",
        "data from part_count (declared, never received)",
    ]
    assert missing["Comprehensive energy consumption"] == [
        "data from power (declared, never received)",
        "data from part_count (declared, never received)",
    ]
    assert missing["Vibration trend (ISO 10816-3 zones)"] == [
        "data from vibration (declared, never received)"
    ]
    assert r.ready == []


def test_data_older_than_a_day_is_not_there_today(plant, historian):
    later = now_ns() + 2 * 86400 * NS_PER_S
    r = _by_id(readiness(plant, historian, later, scored=False))["no-counter"]
    (need,) = _missing(r)["Availability"]
    assert need.startswith("recent data from state_code (last sample ")
    assert need.endswith(", none in the last day)")


def test_an_ideal_cycle_time_missing_is_named(plant, historian):
    ref = plant.machines()[0]
    bare = ref.machine.model_copy(update={"ideal_cycle_time": None})
    line = ref.line.model_copy(update={"machines": [bare]})
    area = ref.area.model_copy(update={"lines": [line]})
    one = plant.model_copy(update={"areas": [area]})
    (r,) = readiness(one, historian, now_ns(), scored=False)
    assert _missing(r)[OEE] == [NO_IDEAL]
    assert _missing(r)["Effectiveness"] == [NO_IDEAL]


def test_ranked_oee_first_then_data_score(plant, historian):
    found = readiness(plant, historian, now_ns())
    assert found[0].name == "full" and found[0].oee_today
    assert all(not r.oee_today for r in found[1:])
    assert found[-1].name == "silent" and found[-1].score == 0.0
    scores = [r.score for r in found[1:]]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)


def test_the_cli_prints_the_same_as_json(tmp_path: Path, plant, historian):
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(PLANT)
    url = historian.url
    runner = CliRunner()
    r = runner.invoke(app, ["data", "readiness", "--plant", str(plant_file), "--db", url, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["name"] == "full"
    assert rows[0]["verdict"] == "OEE today: yes"
    silent = next(row for row in rows if row["name"] == "silent")
    never = "data from state_code (declared, never received)"
    assert {"kpi": "Availability", "needs": [never]} in silent["missing"]
    table = runner.invoke(app, ["data", "readiness", "--plant", str(plant_file), "--db", url])
    assert table.exit_code == 0, table.output
    assert "OEE today: no" in table.stdout and "never received" in table.stdout
