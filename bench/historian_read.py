"""Historian read latency (one day of one tag) beside the raw driver doing the same query.

    python bench/historian_read.py [--repeat K] [--pg URL] [--no-pg]

One tag at 1 Hz for one day (86,400 samples, minute rollups kept at write time) is written to
a fresh SQLite file and, unless ``--no-pg``, to a fresh schema on PostgreSQL. Each operation
is run ``K`` times (default 30) after one warm-up, alternating with its baseline; the
median is reported in milliseconds.

* ``range``: ``Historian.range`` of the whole day, into numpy columns;
* ``downsample 1m``: ``Historian.downsample`` with 1-minute buckets, minute-aligned range (all
  1,440 buckets read from ``rollup_1m``);
* ``downsample 1m, unaligned``: the same, shifted by 30 s, so both edge minutes come from raw
  samples (what "the last 24 hours" asks for);
* ``downsample 15m``: 15-minute buckets (96), aggregated from the rollups.

The baselines use no andon code: ``sqlite3`` / ``psycopg`` on an open connection, the same
SQL, ``fetchall()``, then ``np.fromiter(rows, dtype=...)``. They skip what the historian does on
top (pool checkout, tag lookup, the string-value check, the edge-minute merge).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from andon.core import Batch
from andon.historian import Historian, open_historian

TAG = "bench/area/line/press-1/force"
DAY_S = 86_400
NS = 1_000_000_000
MIN = 60 * NS
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

SAMPLE = np.dtype([("ts", "i8"), ("value", "f8"), ("quality", "u1")])
BUCKET = np.dtype([("b", "i8"), ("n", "i8"), ("sum", "f8"), ("min", "f8"), ("max", "f8")])
RANGE_SQL = (
    "SELECT ts, value, quality FROM samples WHERE tag_id = ? AND ts >= ? AND ts < ? ORDER BY ts"
)
ROLLUP_SQL = (
    "SELECT bucket, n, sum, min, max FROM rollup_1m "
    "WHERE tag_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket"
)
GROUPED_SQL = (
    "SELECT bucket - (bucket % ?) AS b, sum(n), sum(sum), min(min), max(max) FROM rollup_1m "
    "WHERE tag_id = ? AND bucket >= ? AND bucket < ? GROUP BY b ORDER BY b"
)


def fill(h: Historian) -> None:
    ts = T0 + np.arange(DAY_S, dtype=np.int64) * NS
    value = 50 + 10 * np.sin(np.arange(DAY_S) / 600.0)
    h.write(Batch.build([TAG], ts, np.zeros(DAY_S), value))


def paired_ms(andon: Callable[[], Any], raw: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median ms of each, the two run alternately (a shared machine's load hits both alike)."""
    andon(), raw()  # warm-up: caches, pool, page cache
    a, r = [], []
    for _ in range(repeat):
        for fn, out in ((andon, a), (raw, r)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(a) * 1000, statistics.median(r) * 1000


def andon_ops(h: Historian) -> dict[str, Callable[[], Any]]:
    end = T0 + DAY_S * NS
    return {
        "range (86,400 rows)": lambda: h.range(TAG, T0, end),
        "downsample 1m (1,440)": lambda: h.downsample(TAG, T0, end, MIN),
        "downsample 1m, unaligned": lambda: h.downsample(TAG, T0 + 30 * NS, end + 30 * NS, MIN),
        "downsample 15m (96)": lambda: h.downsample(TAG, T0, end, 15 * MIN),
    }


def raw_ops(cur: Any, tag_id: int, mark: str) -> dict[str, Callable[[], Any]]:
    """The same reads on a bare driver cursor (``mark``: the driver's placeholder)."""
    end = T0 + DAY_S * NS

    def q(sql: str, params: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
        cur.execute(sql.replace("%", "%%" if mark == "%s" else "%").replace("?", mark), params)
        rows = cur.fetchall()
        return np.fromiter(rows, dtype=dtype, count=len(rows))

    return {
        "range (86,400 rows)": lambda: q(RANGE_SQL, (tag_id, T0, end), SAMPLE),
        "downsample 1m (1,440)": lambda: q(ROLLUP_SQL, (tag_id, T0, end), BUCKET),
        "downsample 1m, unaligned": lambda: q(ROLLUP_SQL, (tag_id, T0 + MIN, end), BUCKET),
        "downsample 15m (96)": lambda: q(GROUPED_SQL, (15 * MIN, tag_id, T0, end), BUCKET),
    }


def report(engine: str, h: Historian, cur: Any, mark: str, repeat: int) -> None:
    raw = raw_ops(cur, h._catalog.id_of(TAG), mark)
    for name, fn in andon_ops(h).items():
        ms, raw_ms = paired_ms(fn, raw[name], repeat)
        print(f"| {engine} | {name} | {ms:.2f} | {raw_ms:.2f} | {ms / raw_ms:.2f} |")


def run_sqlite(repeat: int, tmp: Path) -> None:
    db = tmp / "read.db"
    with open_historian(str(db)) as h:
        fill(h)
        conn = sqlite3.connect(db)
        try:
            report("SQLite", h, conn.cursor(), "?", repeat)
        finally:
            conn.close()


def run_pg(repeat: int, url: str) -> None:
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        with open_historian(scoped.render_as_string(hide_password=False)) as h:
            fill(h)
            scoped_conn = psycopg.connect(conninfo, options=f"-csearch_path={schema}")
            with scoped_conn as conn, conn.cursor() as cur:
                report("PostgreSQL", h, cur, "%s", repeat)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pg", default=os.environ.get("ANDON_TEST_PG", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = ap.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"median of {args.repeat} in ms"
    )
    print("| engine | read (one day, one tag) | andon ms | raw driver ms | andon/raw |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="andon-read-") as tmp:
        run_sqlite(args.repeat, Path(tmp))
    if not args.no_pg:
        run_pg(args.repeat, args.pg)


if __name__ == "__main__":
    main()
