"""Historian write throughput beside the raw engine doing the same idempotent insert.

    python bench/historian_write.py [--pg URL] [--rows N] [--repeat K] [--no-pg]

The load is a live plant: 40 tags at 1 Hz, written in batches of 10,000 samples (250 s of
every tag). Every run starts from fresh tables. Baselines use no andon code:

* SQLite: ``sqlite3`` executemany ``INSERT OR IGNORE`` into an identical WITHOUT ROWID table,
  one transaction per batch, parameter rows prepared before timing.
* PostgreSQL: psycopg binary COPY into a temp staging table, then ``INSERT ... ON CONFLICT DO
  NOTHING`` into an identical table, one transaction per batch, COPY buffers prepared before
  timing.

andon does more than the baselines: it maps tag ids, deduplicates in numpy and keeps
``rollup_1m`` up to date in the same transaction. Reported: median samples/s over the repeats
and the ratio andon/raw.
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

import numpy as np
import psycopg

from andon.core import Batch
from andon.historian import open_historian

TAGS = tuple(f"acme/plant/line-1/m{i // 8:02d}/sig{i % 8}" for i in range(40))
T0 = 1_767_225_600 * 1_000_000_000
BATCH = 10_000
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

SQLITE_TABLE = (
    "CREATE TABLE samples (tag_id INTEGER NOT NULL, ts BIGINT NOT NULL, value DOUBLE, "
    "quality SMALLINT NOT NULL, PRIMARY KEY (tag_id, ts)) WITHOUT ROWID"
)
PG_TABLE = (
    "CREATE TABLE samples (tag_id integer NOT NULL, ts bigint NOT NULL, "
    "value double precision, quality smallint NOT NULL, PRIMARY KEY (tag_id, ts))"
)


def batches(rows: int) -> list[Batch]:
    """``rows`` samples of 40 tags at 1 Hz, in chunks of 10,000, time-ordered as live data."""
    rng = np.random.default_rng(1)
    per = BATCH // len(TAGS)
    out = []
    for k in range(rows // BATCH):
        secs = np.repeat(np.arange(k * per, (k + 1) * per), len(TAGS))
        ids = np.tile(np.arange(len(TAGS), dtype=np.int32), per)
        value = rng.normal(50.0, 5.0, len(secs))
        quality = np.where(rng.random(len(secs)) < 0.01, 0, 192)
        out.append(Batch.build(TAGS, T0 + secs * 1_000_000_000, ids, value, quality))
    return out


def timed(fn: Callable[[], int]) -> float:
    t0 = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t0)


# -- SQLite ---------------------------------------------------------------------------------


def sqlite_andon(data: list[Batch], tmp: Path) -> float:
    with open_historian(str(tmp / f"andon-{uuid.uuid4().hex}.db")) as h:
        h.ensure_tags([(t, None, "", "bench") for t in TAGS])
        return timed(lambda: sum(h.write(b) for b in data))


def sqlite_raw(data: list[Batch], tmp: Path) -> float:
    conn = sqlite3.connect(tmp / f"raw-{uuid.uuid4().hex}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(SQLITE_TABLE)
    params = [
        list(
            zip(
                (b.tag_id + 1).tolist(),
                b.ts.tolist(),
                b.value.tolist(),
                b.quality.tolist(),
                strict=True,
            )
        )
        for b in data
    ]

    def run() -> int:
        for p in params:
            conn.execute("BEGIN")
            conn.executemany("INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?)", p)
            conn.execute("COMMIT")
        return sum(len(p) for p in params)

    rate = timed(run)
    conn.close()
    return rate


# -- PostgreSQL -----------------------------------------------------------------------------


def pg_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Schema:
    """A fresh schema for one run, dropped afterwards."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"bench_{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> str:
        with psycopg.connect(pg_conninfo(self.url), autocommit=True) as c:
            c.execute(f"CREATE SCHEMA {self.name}")
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options=-csearch_path%3D{self.name}"

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(pg_conninfo(self.url), autocommit=True) as c:
            c.execute(f"DROP SCHEMA {self.name} CASCADE")


def pg_andon(data: list[Batch], url: str) -> float:
    with Schema(url) as schema_url, open_historian(schema_url) as h:
        h.ensure_tags([(t, None, "", "bench") for t in TAGS])
        return timed(lambda: sum(h.write(b) for b in data))


RECORD = np.dtype(
    [
        ("n", ">i2"),
        ("l1", ">i4"),
        ("tag_id", ">i4"),
        ("l2", ">i4"),
        ("ts", ">i8"),
        ("l3", ">i4"),
        ("value", ">f8"),
        ("l4", ">i4"),
        ("quality", ">i2"),
    ]
)


def raw_copy_buffer(b: Batch) -> bytes:
    rec = np.zeros(len(b), dtype=RECORD)
    rec["n"], rec["l1"], rec["l2"], rec["l3"], rec["l4"] = 4, 4, 8, 8, 2
    rec["tag_id"], rec["ts"], rec["value"], rec["quality"] = b.tag_id + 1, b.ts, b.value, b.quality
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    return header + rec.tobytes() + b"\xff\xff"


def pg_raw(data: list[Batch], url: str) -> float:
    schema = Schema(url)
    with schema, psycopg.connect(pg_conninfo(url), options=f"-csearch_path={schema.name}") as conn:
        conn.execute(PG_TABLE)
        conn.execute(
            "CREATE TEMP TABLE staging (tag_id integer, ts bigint, value double precision, "
            "quality smallint) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        buffers = [raw_copy_buffer(b) for b in data]

        def run() -> int:
            with conn.cursor() as cur:
                for buf in buffers:
                    with cur.copy("COPY staging FROM STDIN (FORMAT BINARY)") as cp:
                        cp.write(buf)
                    cur.execute("INSERT INTO samples SELECT * FROM staging ON CONFLICT DO NOTHING")
                    conn.commit()
            return sum(len(b) for b in data)

        return timed(run)


# -- report ---------------------------------------------------------------------------------


def measure(
    raw: Callable[[], float], andon: Callable[[], float], repeat: int
) -> tuple[float, float]:
    """Median rates of both, runs interleaved so drift in machine load hits both alike."""
    raws, andons = [], []
    for _ in range(repeat):
        raws.append(raw())
        andons.append(andon())
    for name, rates in (("raw", raws), ("andon", andons)):
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"  {name:<6} median {statistics.median(rates):>11,.0f} samples/s   runs: {runs}")
    return statistics.median(andons), statistics.median(raws)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg", default=os.environ.get("ANDON_TEST_PG", PG_DEFAULT))
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    data = batches(args.rows)
    n = sum(len(b) for b in data)
    print(
        f"{n:,} samples, 40 tags at 1 Hz, batches of {BATCH:,}; {args.repeat} runs each; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print("SQLite (file, WAL, synchronous=NORMAL)")
        andon, raw = measure(
            lambda: sqlite_raw(data, tmp), lambda: sqlite_andon(data, tmp), args.repeat
        )
        results.append(("SQLite", andon, raw))
    if not args.no_pg:
        with psycopg.connect(pg_conninfo(args.pg)) as c:
            version = c.execute("SHOW server_version").fetchone()
        print(f"PostgreSQL {version[0] if version else '?'}")
        andon, raw = measure(
            lambda: pg_raw(data, args.pg), lambda: pg_andon(data, args.pg), args.repeat
        )
        results.append(("PostgreSQL", andon, raw))
    print("\n| engine | andon samples/s | raw samples/s | andon/raw |\n|---|---:|---:|---:|")
    for engine, a, r in results:
        print(f"| {engine} | {a:,.0f} | {r:,.0f} | {a / r:.0%} |")


if __name__ == "__main__":
    main()
