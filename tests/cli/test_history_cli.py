"""``andon history``: query, tags, events and export against a real SQLite historian."""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from andon.cli.app import app
from andon.core import NS_PER_S, Batch, Event, parse_time
from andon.historian import open_historian

runner = CliRunner()
TAG = "s/a/l/m/power"
T0 = parse_time("2026-11-24T06:00:00Z")


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    ts = T0 + np.arange(600, dtype=np.int64) * NS_PER_S  # 10 minutes at 1 Hz
    with open_historian(url) as h:
        h.ensure_tags([(TAG, "kW", "spindle power", "sim")])
        h.write(Batch.build([TAG], ts, np.zeros(600), np.arange(600) % 60))
        h.write_events([Event(T0 + 5 * NS_PER_S, "s/a/l/m", "state", {"state": "down"})])
    return url


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_query_raw_as_json(db):
    r = invoke(
        "history",
        "query",
        TAG,
        "--from",
        "2026-11-24T06:00:00Z",
        "--to",
        "2026-11-24T06:00:03Z",
        "--format",
        "json",
        "--db",
        db,
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [
        {"ts": "2026-11-24T06:00:00.000Z", "value": 0.0, "quality": 192},
        {"ts": "2026-11-24T06:00:01.000Z", "value": 1.0, "quality": 192},
        {"ts": "2026-11-24T06:00:02.000Z", "value": 2.0, "quality": 192},
    ]


def test_query_downsampled_as_csv(db):
    r = invoke(
        "history",
        "query",
        TAG,
        "--from",
        "2026-11-24T06:00:00Z",
        "--to",
        "2026-11-24T06:10:00Z",
        "--every",
        "5min",
        "--agg",
        "max",
        "--format",
        "csv",
        "--db",
        db,
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(r.output.splitlines()))
    assert rows == [
        {"bucket": "2026-11-24T06:00:00.000Z", "max": "59.0", "count": "300"},
        {"bucket": "2026-11-24T06:05:00.000Z", "max": "59.0", "count": "300"},
    ]


def test_query_table_default(db):
    r = invoke(
        "history",
        "query",
        TAG,
        "--from",
        "2026-11-24T06:00:00Z",
        "--to",
        "2026-11-24T06:00:02Z",
        "--db",
        db,
    )
    assert r.exit_code == 0 and "2026-11-24T06:00:01.000Z" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s/a/l/m/nothing"], "unknown tag 's/a/l/m/nothing'"),
        ([TAG, "--from", "2026-11-24T07:00:00Z", "--to", "2026-11-24T06:00:00Z"], "is after end"),
        ([TAG, "--from", "yesterday"], "--from: expected ISO 8601"),
        ([TAG, "--every", "soon"], "--every: expected a duration"),
        ([TAG, "--every", "0s"], "--every: must be longer than zero"),
    ],
)
def test_bad_queries_give_one_clear_line(db, args, message):
    r = invoke("history", "query", *args, "--db", db)
    assert r.exit_code == 1
    assert message in r.output
    assert "Traceback" not in r.output


def test_tags_lists_unit_and_span(db):
    r = invoke("history", "tags", "--counts", "--format", "json", "--db", db)
    assert r.exit_code == 0, r.output
    (tag,) = json.loads(r.output)
    assert tag["tag"] == TAG and tag["unit"] == "kW" and tag["samples"] == 600
    assert tag["first"] == "2026-11-24T06:00:00.000Z"


def test_events(db):
    r = invoke(
        "history",
        "events",
        "--asset",
        "s/a/l/m",
        "--from",
        "2026-11-24T00:00:00Z",
        "--to",
        "2026-11-25T00:00:00Z",
        "--format",
        "json",
        "--db",
        db,
    )
    assert r.exit_code == 0, r.output
    (ev,) = json.loads(r.output)
    assert ev["kind"] == "state" and json.loads(ev["payload"]) == {"state": "down"}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export(db, tmp_path, suffix):
    out = tmp_path / f"out.{suffix}"
    r = invoke(
        "history",
        "export",
        str(out),
        "--tags",
        "s/#",
        "--from",
        "2026-11-24T06:00:00Z",
        "--to",
        "2026-11-24T07:00:00Z",
        "--db",
        db,
    )
    assert r.exit_code == 0, r.output
    assert "wrote 600 samples" in r.output
    assert out.stat().st_size > 0


def test_export_refuses_unknown_format(db, tmp_path):
    r = invoke("history", "export", str(tmp_path / "out.xlsx"), "--db", db)
    assert r.exit_code == 1 and "expected a file name ending in .csv or .parquet" in r.output


def test_a_mistyped_database_is_reported_not_created(tmp_path):
    missing = tmp_path / "typo.db"
    r = invoke("history", "tags", "--db", f"sqlite:///{missing}")
    assert r.exit_code == 1
    assert "no database at" in r.output
    assert not missing.exists()


@pytest.mark.parametrize("where", ["missing-dir/out.csv", "."])
def test_export_to_an_unwritable_place_is_one_clear_line(db, tmp_path, where):
    r = invoke(
        "history", "export", str(tmp_path / where) if where != "." else str(tmp_path), "--db", db
    )
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert ("cannot write" in r.output) or ("expected a file name ending" in r.output)


def test_query_with_a_pattern_says_to_use_tags(db):
    r = invoke("history", "query", "s/a/l/+/power", "--db", db)
    assert r.exit_code == 1 and "takes one tag, not a pattern" in r.output


def test_exported_csv_reads_back(db, tmp_path):
    out = tmp_path / "out.csv"
    r = invoke(
        "history",
        "export",
        str(out),
        "--tags",
        "s/#",
        "--from",
        "2026-11-24T06:00:00Z",
        "--to",
        "2026-11-24T06:00:05Z",
        "--db",
        db,
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [(row["ts"], row["tag"], row["value"]) for row in rows] == [
        (f"2026-11-24T06:00:0{i}.000Z", TAG, f"{float(i)}") for i in range(5)
    ]
