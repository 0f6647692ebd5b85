"""Export: long-form CSV and Parquet round trips, streamed in pages."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from andon.core import BAD, GOOD, Batch, InputError
from andon.historian import Historian

S = 1_000_000_000
MIN = 60 * S
T0 = 1_767_225_600 * S
A = "acme/plant/line-1/press/force"
B = "acme/plant/line-1/press/temp"


@pytest.fixture
def written(hist: Historian) -> Batch:
    n = 250
    ts = np.concatenate([T0 + np.arange(n) * S + 123_456_789, T0 + np.arange(n) * 2 * S])
    ids = np.repeat([0, 1], n)
    values = np.linspace(-3.5, 1e6, 2 * n)
    values[7] = np.nan
    q = np.where(np.arange(2 * n) % 11 == 0, BAD, GOOD)
    batch = Batch.build((A, B), ts, ids, values, q).sorted()
    hist.write(batch)
    return batch


def test_parquet_round_trip(hist: Historian, written: Batch, tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    assert hist.export(out, "acme/#", T0, T0 + 10_000 * S, chunk_rows=64) == len(written)
    table = pq.read_table(out)
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert table.column("ts").cast(pa.int64()).to_numpy().tolist() == written.ts.tolist()
    assert table.column("tag").to_pylist() == written.tag_paths()
    np.testing.assert_array_equal(table.column("value").to_numpy(), written.value)
    assert table.column("quality").to_pylist() == written.quality.tolist()


def test_csv_round_trip(hist: Historian, written: Batch, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert hist.export(out, [B, A], T0, T0 + 10_000 * S, chunk_rows=100) == len(written)
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["ts"] == "2026-01-01T00:00:00.123456789Z"
    assert all(r["ts"].endswith("Z") for r in rows)
    back_ts = [int(np.datetime64(r["ts"][:-1], "ns").astype(np.int64)) for r in rows]
    assert back_ts == written.ts.tolist()
    assert [r["tag"] for r in rows] == written.tag_paths()
    values = [float(r["value"]) if r["value"] else np.nan for r in rows]
    np.testing.assert_array_equal(values, written.value)
    assert [int(r["quality"]) for r in rows] == written.quality.tolist()


def test_export_range_and_format(hist: Historian, written: Batch, tmp_path: Path) -> None:
    assert hist.export(tmp_path / "part.csv", A, T0, T0 + 10 * S) == 10
    with pytest.raises(InputError, match="unknown format"):
        hist.export(tmp_path / "x.xlsx", A, T0, T0 + S)
    with pytest.raises(InputError, match="after end"):
        hist.export(tmp_path / "x.csv", A, T0 + S, T0)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_to_a_bad_path_is_an_input_error(
    hist: Historian, written: Batch, tmp_path: Path, suffix: str
) -> None:
    tmp_path = tmp_path / "out"  # apart from the SQLite database file
    tmp_path.mkdir()
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    (tmp_path / f"dir.{suffix}").mkdir()
    bad = [
        (tmp_path / "missing" / f"x.{suffix}", "does not exist"),
        (tmp_path / f"dir.{suffix}", "directory"),
        (blocker / f"x.{suffix}", "is not a directory"),
    ]
    for dest, reason in bad:
        with pytest.raises(InputError, match=reason) as err:
            hist.export(dest, A, T0, T0 + 10 * S)
        assert str(err.value).startswith(f"cannot write {dest}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"dir.{suffix}", "plain-file"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_failed_export_leaves_no_truncated_file(tmp_path: Path, suffix: str) -> None:
    from andon.core import StorageError
    from andon.historian import Series
    from andon.historian.export import export

    dest = tmp_path / f"out.{suffix}"
    dest.write_text("the previous export\n")

    def failing() -> Iterator[Series]:
        one = np.ones(3)
        yield Series(A, np.arange(3, dtype=np.int64), one, np.full(3, GOOD, np.uint8))
        raise StorageError("database unavailable: lost the connection")

    with pytest.raises(StorageError):
        export(dest, failing())
    assert dest.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]


def test_string_values_are_exported(hist: Historian, tmp_path: Path) -> None:
    ts = T0 + np.arange(3) * S
    batch = Batch(
        (A,),
        ts,
        np.zeros(3, np.int32),
        np.array([np.nan, 1.5, np.nan]),
        np.full(3, GOOD, np.uint8),
        ((0, "idle, waiting"), (2, "")),
    )
    hist.write(batch)
    hist.export(tmp_path / "t.csv", A, T0, T0 + MIN, chunk_rows=2)
    with (tmp_path / "t.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == ["idle, waiting", "", ""]
    assert [r["value"] for r in rows] == ["", "1.5", ""]
    hist.export(tmp_path / "t.parquet", A, T0, T0 + MIN, chunk_rows=2)
    assert pq.read_table(tmp_path / "t.parquet").column("text").to_pylist() == [
        "idle, waiting",
        None,
        "",
    ]
