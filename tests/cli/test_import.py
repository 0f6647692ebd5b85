"""``andon import``: long-form CSV and Parquet files into a real SQLite historian."""

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from andon.cli import importer
from andon.core import parse_time
from andon.core.quality import GOOD
from andon.historian import open_historian

runner = CliRunner()
app = typer.Typer()
app.command("import")(importer.import_file)
app.command("version")(lambda: None)  # two commands, so `import` is a subcommand as in andon

POWER = "s/a/l/m/power"
STATE = "s/a/l/m/state"
T0 = parse_time("2026-03-29T06:00:00Z")
NS = 1_000_000_000


def invoke(*args: str):
    return runner.invoke(app, ["import", *map(str, args)])


def _db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'h.db'}"


GOOD_CSV = """ts,tag,value,quality
2026-03-29T06:00:00Z,s/a/l/m/power,1.5,192
2026-03-29T08:00:01.250+02:00,s/a/l/m/power,2.5,
1774764002000,s/a/l/m/power,3.5,64
2026-03-29T06:00:03Z,s/a/l/m/state,running,192
2026-03-29T06:00:04Z,s/a/l/m/power,,0
"""


def test_csv_import_stores_every_row(tmp_path):
    f = tmp_path / "data.csv"
    f.write_text(GOOD_CSV)
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 0, r.output
    assert "5 rows read, 5 stored (5 new to the historian" in r.output
    assert "0 rejected" in r.output
    assert not (tmp_path / "data.rejects.csv").exists()
    with open_historian(_db(tmp_path)) as h:
        power = h.range(POWER, T0, T0 + 10 * NS)
        assert power.ts.tolist() == [T0, T0 + 1_250_000_000, T0 + 2 * NS, T0 + 4 * NS]
        assert power.value[:3].tolist() == [1.5, 2.5, 3.5]
        assert np.isnan(power.value[3])
        assert power.quality.tolist() == [GOOD, GOOD, 64, 0]
        state = h.range(STATE, T0, T0 + 10 * NS)
        assert state.text == ((0, "running"),)
    again = invoke(f, "--db", _db(tmp_path))  # idempotent: nothing new the second time
    assert "5 stored (0 new to the historian, 5 already there)" in again.output


BAD_CSV = """ts,tag,value,quality
2026-03-29T06:00:00Z,s/a/l/m/power,1,192
2026-03-29T06:00:01,s/a/l/m/power,2,192
2026-03-29T06:00:02Z,S/A/l/m/power,3,192
2026-03-29T06:00:03Z,s/a/l/m/power,nan,192
2026-03-29T06:00:04Z,s/a/l/m/power,4,300

2026-03-29T06:00:05Z,s/a/l/m/power,5
not a time,s/a/l/m/power,6,192
2026-03-29T06:00:07Z,s/a/l/m/power,7,192
,s/a/l/m/power,8,192
2026-03-29T06:00:09Z,s/a/l/m/power,inf,192
2026-03-29T06:00:10Z,s/a/l/m/power,10,x
1969-12-31T23:59:59Z,s/a/l/m/power,11,192
2026-03-29T06:00:12Z,s/a/l/m/power,,192
2026-03-29T06:00:13Z,s/a/l/m/power,13,192
"""
EXPECTED_REJECTS = {
    3: ("ts", "no UTC offset"),
    4: ("tag", "segment 'S'"),
    5: ("value", "NaN; expected a finite number"),
    6: ("quality", "300 is out of range"),
    8: ("row", "3 field(s); expected 4"),
    9: ("ts", "is not a time"),
    11: ("ts", "missing"),
    12: ("value", "not a finite number"),
    13: ("quality", "'x' is not an integer"),
    14: ("ts", "before 1970"),
    15: ("value", "missing"),
}


@pytest.mark.parametrize("chunk_rows", [100_000, 3])
def test_bad_rows_are_reported_with_line_numbers_and_good_rows_stored(tmp_path, chunk_rows):
    f = tmp_path / "bad.csv"
    f.write_text(BAD_CSV)
    rejects = tmp_path / "out" / "rej.csv"
    rejects.parent.mkdir()
    r = invoke(f, "--db", _db(tmp_path), "--rejects", rejects, "--chunk-rows", chunk_rows)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert f"{len(EXPECTED_REJECTS)} rejected" in r.output
    assert "line 3: ts:" in r.output
    with rejects.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    got = {int(row["line"]): (row["field"], row["problem"]) for row in rows}
    assert set(got) == set(EXPECTED_REJECTS)
    for line, (field, words) in EXPECTED_REJECTS.items():
        assert got[line][0] == field, (line, got[line])
        assert words in got[line][1], (line, got[line])
    assert next(r for r in rows if r["line"] == "9")["row"] == "not a time,s/a/l/m/power,6,192"
    with open_historian(_db(tmp_path)) as h:
        stored = h.range(POWER, T0, T0 + 20 * NS)
        assert stored.value.tolist() == [1.0, 7.0, 13.0]


def test_parquet_import_with_text_and_bad_rows(tmp_path):
    f = tmp_path / "data.parquet"
    ts = pa.array([T0, T0 + NS, None, T0 + 3 * NS, T0 + 4 * NS, T0 + 5 * NS], pa.int64())
    table = pa.table(
        {
            "ts": ts.cast(pa.timestamp("ns", tz="UTC")),
            "tag": [POWER, POWER, POWER, "bad", STATE, POWER],
            "value": pa.array([1.0, float("inf"), 3.0, 4.0, None, 6.0]),
            "quality": pa.array([192, 192, 192, 192, 192, 7], pa.uint8()),
            "text": [None, None, None, None, "idle", None],
        }
    )
    pq.write_table(table, f)
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 0, r.output
    assert "6 rows read, 3 stored" in r.output and "3 rejected" in r.output
    with (tmp_path / "data.rejects.csv").open(newline="") as fh:
        got = {(int(r["line"]), r["field"]) for r in csv.DictReader(fh)}
    assert got == {(2, "value"), (3, "ts"), (4, "tag")}
    with open_historian(_db(tmp_path)) as h:
        power = h.range(POWER, T0, T0 + 10 * NS)
        assert power.ts.tolist() == [T0, T0 + 5 * NS]
        assert power.quality.tolist() == [GOOD, 7]
        assert h.range(STATE, T0, T0 + 10 * NS).text == ((0, "idle"),)


def test_an_export_imports_back_unchanged(tmp_path):
    src = tmp_path / "data.csv"
    src.write_text(GOOD_CSV)
    assert invoke(src, "--db", _db(tmp_path)).exit_code == 0
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"export.{suffix}"
        with open_historian(_db(tmp_path)) as h:
            h.export(out, "#", T0, T0 + 10 * NS)
        other = f"sqlite:///{tmp_path / f'copy-{suffix}.db'}"
        r = invoke(out, "--db", other)
        assert r.exit_code == 0, r.output
        assert "5 stored (5 new" in r.output and "0 rejected" in r.output


def test_missing_file_and_bad_extension_are_clear_errors(tmp_path):
    r = invoke(tmp_path / "nope.csv", "--db", _db(tmp_path))
    assert r.exit_code == 1
    assert "no such file" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "h.db").exists()  # nothing opened for a mistake
    f = tmp_path / "data.xlsx"
    f.write_text("x")
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 1
    assert "unsupported file type '.xlsx'" in r.output and "expected .csv or .parquet" in r.output


def test_wrong_header_is_named(tmp_path):
    f = tmp_path / "wide.csv"
    f.write_text("time,machine,power\n2026-03-29T06:00:00Z,m,1\n")
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 1
    assert "missing ts, tag, value" in r.output and "unknown 'time'" in r.output
    naive = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table({"ts": pa.array([T0], pa.timestamp("ns")), "tag": [POWER], "value": [1.0]}),
        naive,
    )
    r = invoke(naive, "--db", _db(tmp_path))
    assert r.exit_code == 1 and "without a time zone" in r.output


def test_not_a_parquet_file(tmp_path):
    f = tmp_path / "fake.parquet"
    f.write_text("ts,tag,value\n")
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 1 and "cannot read as Parquet" in r.output


SECONDS = "epoch seconds sent as milliseconds?"
T0_MS = T0 // 1_000_000


@pytest.mark.parametrize(
    "rows",
    [
        # every ts an epoch number: the vectorised path
        [f"{T0_MS},{POWER},1", f"{T0 // NS},{POWER},2", f"{T0_MS + 2000},{POWER},3"],
        # mixed with ISO times: the row-by-row path
        [f"{T0_MS},{POWER},1", f"{T0 // NS}.5,{POWER},2", f"2026-03-29T06:00:02Z,{POWER},3"],
    ],
)
def test_epoch_seconds_are_refused_not_stored_in_1970(tmp_path, rows):
    """1774764000 (seconds) read as milliseconds would be 1970-01-21, silently."""
    f = tmp_path / "seconds.csv"
    f.write_text("ts,tag,value\n" + "\n".join(rows) + "\n")
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 0, r.output
    assert "3 rows read, 2 stored" in r.output and "1 rejected" in r.output
    with (tmp_path / "seconds.rejects.csv").open(newline="") as fh:
        (reject,) = list(csv.DictReader(fh))
    assert (reject["line"], reject["field"]) == ("3", "ts")
    assert SECONDS in reject["problem"] and "before 1973" in reject["problem"]
    with open_historian(_db(tmp_path)) as h:
        assert h.count_samples(POWER) == 2  # nothing near 1970


def test_epoch_seconds_in_a_parquet_integer_column_are_refused(tmp_path):
    f = tmp_path / "seconds.parquet"
    ts = pa.array([T0_MS, T0 // NS, None, 99_999_999_999, 100_000_000_000], pa.int64())
    pq.write_table(pa.table({"ts": ts, "tag": [POWER] * 5, "value": [1.0] * 5}), f)
    r = invoke(f, "--db", _db(tmp_path))
    assert r.exit_code == 0, r.output
    with (tmp_path / "seconds.rejects.csv").open(newline="") as fh:
        got = {int(r["line"]): r["problem"] for r in csv.DictReader(fh)}
    assert set(got) == {2, 3, 4}
    assert SECONDS in got[2] and SECONDS in got[4] and "missing" in got[3]
    # 1e11 ms (1973-03-03) is the first time taken as milliseconds
    with open_historian(_db(tmp_path)) as h:
        assert h.count_samples(POWER) == 2
