"""File import speed: rows/s of `andon import` for a 1-million-row CSV and Parquet file.

    python bench/import_file.py [--rows 1000000] [--repeat 3] [--pg [URL]]

Generates a long-form file (20 tags, ISO 8601 times to the millisecond in CSV, timestamp[ms,
UTC] in Parquet, float values, quality) and measures, in the same run:

- raw reader: pyarrow alone reading the file (``pyarrow.csv.read_csv`` / ``parquet.read_table``);
- andon reader: ``andon.connect.files.read_long`` (parse, validate, build Batches), no database;
- import: ``read_long`` into a fresh historian, as ``andon import`` does (SQLite; PostgreSQL
  with ``--pg``, in a schema of its own that is dropped afterwards).

Each figure is the median over ``--repeat`` runs; the ratio is rows/s against the raw reader.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from andon.connect.files import read_long
from andon.historian import open_historian

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def generate(directory: Path, rows: int) -> tuple[Path, Path]:
    tags = np.array([f"bench/area/line/m{i:02d}/power" for i in range(20)])
    ms = T0_MS + np.arange(rows, dtype=np.int64) * 50
    table = pa.table(
        {
            "ts": pa.array(ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "tag": pa.array(tags[np.arange(rows) % 20]),
            "value": pa.array(np.round(np.random.default_rng(1).normal(50, 10, rows), 3)),
            "quality": pa.array(np.full(rows, 192, dtype=np.uint8)),
        }
    )
    csv_path = directory / "long.csv"
    iso = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC")
    pacsv.write_csv(
        table.set_column(0, "ts", pa.array(iso)),
        csv_path,
        pacsv.WriteOptions(quoting_style="none"),
    )
    parquet_path = directory / "long.parquet"
    pq.write_table(table, parquet_path, row_group_size=100_000)
    return csv_path, parquet_path


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    seconds = []
    n = 0
    for _ in range(repeat):
        began = time.perf_counter()
        n = fn()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), n


def raw_reader(path: Path) -> int:
    if path.suffix == ".csv":
        return int(pacsv.read_csv(path).num_rows)
    return int(pq.read_table(path).num_rows)


def andon_reader(path: Path) -> int:
    n = 0
    for chunk in read_long(path):
        assert not chunk.problems, chunk.problems[:3]
        n += len(chunk.batch)
    return n


def importer(path: Path, url_for: Callable[[], str]) -> Callable[[], int]:
    def run() -> int:
        n = 0
        with open_historian(url_for()) as historian:
            for chunk in read_long(path):
                n += historian.write(chunk.batch)
        return n

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", nargs="?", const=PG_DEFAULT, default=None, help="PostgreSQL URL")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        csv_path, parquet_path = generate(directory, args.rows)
        print(
            f"# {args.rows:,} rows; CSV {csv_path.stat().st_size / 1e6:.0f} MB, Parquet "
            f"{parquet_path.stat().st_size / 1e6:.0f} MB; median of {args.repeat}; "
            f"Python {platform.python_version()}, pyarrow {pa.__version__}"
        )
        print(f"{'file':8} {'path':22} {'seconds':>8} {'rows/s':>11} {'vs raw':>7}")
        schemas: list[str] = []
        admin = sa.create_engine(args.pg) if args.pg else None

        def sqlite_url() -> str:
            return f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}"

        def pg_url() -> str:
            assert args.pg and admin is not None
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            schemas.append(schema)
            url = make_url(args.pg).update_query_dict({"options": f"-csearch_path={schema}"})
            return url.render_as_string(hide_password=False)

        try:
            for path in (csv_path, parquet_path):
                kind = path.suffix.lstrip(".")
                raw_s, n = timed(lambda p=path: raw_reader(p), args.repeat)
                runs: list[tuple[str, Callable[[], int]]] = [
                    ("raw reader (pyarrow)", lambda p=path: raw_reader(p)),
                    ("andon reader", lambda p=path: andon_reader(p)),
                    ("import into SQLite", importer(path, sqlite_url)),
                ]
                if args.pg:
                    runs.append(("import into PostgreSQL", importer(path, pg_url)))
                for label, fn in runs:
                    seconds, stored = (
                        (raw_s, n) if label.startswith("raw") else timed(fn, args.repeat)
                    )
                    assert stored == args.rows, (label, stored)
                    print(
                        f"{kind:8} {label:22} {seconds:8.2f} {args.rows / seconds:11,.0f} "
                        f"{raw_s / seconds:7.2f}"
                    )
        finally:
            if admin is not None:
                with admin.begin() as conn:
                    for schema in schemas:
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
