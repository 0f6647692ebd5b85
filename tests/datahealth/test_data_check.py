"""``check_range`` over a historian and ``andon data check``: faults injected into the virtual
plant are named, each with its check, and nothing on the clean tags; bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S, iso, parse_time
from andon.core.errors import InputError
from andon.datahealth import check_range
from andon.historian import open_historian
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

runner = CliRunner()
START = parse_time("2025-03-03T05:00:00Z")
END = START + 2 * NS_PER_H
NOW = END + NS_PER_H
CELL = "springfield/machining/cell-1"


def _rows(b: Batch, tag: str) -> np.ndarray:
    return np.flatnonzero(b.tag_id == b.tags.index(f"{CELL}/{tag}"))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, set[tuple[str, str]]]:
    """Two hours of the job shop with five faults written into it; returns the URL and the
    (tag, check) pairs injected."""
    plant = load_plant(example_plant("job_shop"))
    vp = VirtualPlant(plant, seed=5, start_ns=START)
    b, events = vp.advance(END)
    value = b.value.copy()
    # stuck: the vibration of the machine with the longest running stretch, frozen through it
    best = (0, "", 0, 0)
    for m in ("mill-1", "mill-2", "lathe-1", "grinder-1"):
        rows = _rows(b, f"{m}/state_code")
        running = np.concatenate(([0], (value[rows] == 1).astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(running))
        starts, ends = edges[0::2], edges[1::2] - 1
        i = int(np.argmax(ends - starts))
        length = int(b.ts[rows[ends[i]]] - b.ts[rows[starts[i]]])
        if length > best[0]:
            best = (length, m, int(b.ts[rows[starts[i]]]), int(b.ts[rows[ends[i]]]))
    assert best[0] > 15 * NS_PER_MIN
    _, stuck_machine, a, z = best
    rows = _rows(b, f"{stuck_machine}/spindle_vibration")
    value[rows[(b.ts[rows] >= a) & (b.ts[rows] <= z)]] = 3.2
    # a spike on a bearing temperature
    rows = _rows(b, "mill-1/bearing_temperature")
    value[rows[300]] = 140.0
    # coolant pressure over its 80 bar limit for five samples (25 s)
    rows = _rows(b, "lathe-1/coolant_pressure")
    value[rows[700:705]] = 95.0
    # a part counter jumping back by 100 for one sample
    rows = _rows(b, "grinder-1/part_count")
    value[rows[4000]] -= 100.0
    # grinder-1's power silent from 30 to 50 minutes
    rows = _rows(b, "grinder-1/power")
    drop = rows[(b.ts[rows] >= START + 30 * NS_PER_MIN) & (b.ts[rows] < START + 50 * NS_PER_MIN)]
    keep = np.ones(len(b), dtype=bool)
    keep[drop] = False
    faulty = Batch(b.tags, b.ts, b.tag_id, value, b.quality).select(keep)
    url = f"sqlite:///{tmp_path_factory.mktemp('datahealth') / 'andon.db'}"
    with open_historian(url) as h:
        h.write(faulty)
        h.write_events(events)
    injected = {
        (f"{CELL}/{stuck_machine}/spindle_vibration", "stuck"),
        (f"{CELL}/mill-1/bearing_temperature", "spike"),
        (f"{CELL}/lathe-1/coolant_pressure", "out_of_range"),
        (f"{CELL}/grinder-1/part_count", "counter"),
        (f"{CELL}/grinder-1/power", "gap"),
    }
    return url, injected


def _check(url: str, *args: str) -> dict[str, object]:
    r = runner.invoke(
        app,
        ["data", "check", "--db", url, "--from", iso(START), "--to", iso(END), "--json", *args],
    )
    assert r.exit_code == 0, r.output
    out: dict[str, object] = json.loads(r.stdout)
    return out


def test_data_check_names_exactly_the_injected_faults(
    faulty: tuple[str, set[tuple[str, str]]],
) -> None:
    url, injected = faulty
    out = _check(url)
    findings = out["findings"]
    assert isinstance(findings, list)
    assert {(f["tag"], f["check"]) for f in findings} == injected
    assert len(findings) == len(injected)
    gap = next(f for f in findings if f["check"] == "gap")
    assert gap["evidence"]["gap_s"] == pytest.approx(20 * 60 + 1, abs=1)
    stuck = next(f for f in findings if f["check"] == "stuck")
    assert (
        "read exactly 3.20 mm/s" in stuck["detail"]
        and "while the machine was running" in (stuck["detail"])
    )
    scores = out["scores"]
    assert isinstance(scores, dict)
    day = "2025-03-03"
    clean = f"{CELL}/mill-2/bearing_temperature"
    assert scores["tags"][clean] == {day: 100.0}
    assert scores["tags"][f"{CELL}/grinder-1/power"][day] < 100.0
    assert set(scores["lines"]) == {CELL}


def test_data_check_table_and_asset(faulty: tuple[str, set[tuple[str, str]]]) -> None:
    url, _ = faulty
    r = runner.invoke(
        app,
        [
            "data",
            "check",
            "--db",
            url,
            "--from",
            iso(START),
            "--to",
            iso(END),
            "--asset",
            "lathe-1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "out_of_range lathe-1/coolant_pressure" in r.stdout and "read 95.00 bar" in r.stdout
    # the coolant tag loses 15 × (5/1440 + 1/10) = 1.55 points: 98.4; lathe-1, the mean of its
    # ten tags, (9 × 100 + 98.4) / 10 = 99.84
    assert "lathe-1                    │       99.8" in r.stdout
    assert "grinder-1" not in r.stdout


def test_chunked_historian_scan_equals_one_pass(faulty: tuple[str, set[tuple[str, str]]]) -> None:
    url, _ = faulty
    plant = load_plant(example_plant("job_shop"))
    with open_historian(url, create=False) as h:
        whole = check_range(plant, h, "grinder-1", START, END, NOW)
        paged = check_range(plant, h, "grinder-1", START, END, NOW, page=997)
    assert [f.to_dict() for f in paged.findings] == [f.to_dict() for f in whole.findings]
    assert paged.tags == whole.tags and paged.machines == whole.machines


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START, START, "the range is empty"),
        (END, START, "runs backwards"),
        (START, START + 10 * 366 * 86400 * NS_PER_S, "longer than 366 days"),
    ],
)
def test_bad_ranges_are_refused(
    faulty: tuple[str, set[tuple[str, str]]], start: int, end: int, message: str
) -> None:
    plant = load_plant(example_plant("job_shop"))
    with open_historian(faulty[0], create=False) as h, pytest.raises(InputError, match=message):
        check_range(plant, h, None, start, end, NOW)


def test_unknown_asset_names_close_matches(faulty: tuple[str, set[tuple[str, str]]]) -> None:
    r = runner.invoke(
        app, ["data", "check", "--db", faulty[0], "--asset", "springfield/machining/cell1"]
    )
    assert r.exit_code == 1
    assert "no machine of the plant is at or below it" in r.stderr
    assert "springfield/machining/cell-1" in r.stderr
    r = runner.invoke(app, ["data", "check", "--db", faulty[0], "--asset", "mill-3"])
    assert r.exit_code == 1 and "mill-1" in r.stderr and "Traceback" not in r.output


def test_never_received_and_single_sample_tags(tmp_path: Path) -> None:
    plant = load_plant(example_plant("job_shop"))
    url = f"sqlite:///{tmp_path / 'one.db'}"
    path = f"{CELL}/mill-1/spindle_speed"
    with open_historian(url) as h:
        h.write(Batch.build([path], [START + 60 * NS_PER_S], [0], [1200.0]))
        report = check_range(plant, h, "mill-1", START, START + NS_PER_H, NOW)
    by_tag = {(f.tag, f.check): f for f in report.findings}
    never = by_tag[(f"{CELL}/mill-1/power", "gap")]
    assert never.evidence["never_received"] is True and "never been received" in never.detail
    # one sample in an hour: silent from the start to 60 s and from there to the end
    gaps = sorted((f.start_ns, f.end_ns) for f in report.findings if f.tag == path)
    assert gaps == [(START, START + 60 * NS_PER_S), (START + 60 * NS_PER_S, START + NS_PER_H)]
    # completeness 1/3600 loses nearly all 35 points, two gaps 10 × 2/4 = 5
    assert report.tags[path]["2025-03-03"] == pytest.approx(100 - 35 * (1 - 1 / 3600) - 5, abs=0.1)
    assert report.tags[f"{CELL}/mill-1/power"]["2025-03-03"] == 0.0


def test_future_samples_are_found_beyond_the_range(tmp_path: Path) -> None:
    plant = load_plant(example_plant("job_shop"))
    url = f"sqlite:///{tmp_path / 'future.db'}"
    path = f"{CELL}/mill-1/bearing_temperature"
    ts = START + np.arange(0, 3600, 10) * NS_PER_S
    with open_historian(url) as h:
        h.write(Batch.build([path], ts, np.zeros(len(ts)), np.full(len(ts), 40.0) + ts % 7))
        h.write(Batch.build([path], [NOW + NS_PER_H], [0], [41.0]))
        report = check_range(plant, h, "mill-1", START, START + NS_PER_H, NOW)
    fut = [f for f in report.findings if f.check == "future"]
    assert len(fut) == 1 and fut[0].tag == path and fut[0].evidence["samples"] == 1
    assert fut[0].evidence["ahead_s"] == 3600.0
