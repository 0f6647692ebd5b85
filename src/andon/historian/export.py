"""Export in long form ``ts,tag,value,quality``, to CSV or Parquet, streamed in chunks.

Samples are read tag by tag in pages of ``chunk_rows`` (keyset pagination on ``ts``), and each
page is written before the next is read, so exporting ten years never holds more than one page
in memory. CSV times are ISO 8601 UTC (``Z``) to the millisecond, or finer when a page needs
it; a NaN value is an empty field. Parquet times are ``timestamp[ns, UTC]``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.batch import I64
from andon.core.errors import InputError
from andon.historian.query import check_range
from andon.historian.results import Series
from andon.historian.schema import samples

CHUNK_ROWS = 100_000
PARQUET_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ns", tz="UTC")),
        ("tag", pa.string()),
        ("value", pa.float64()),
        ("quality", pa.uint8()),
    ]
)
_SAMPLE = np.dtype([("ts", "i8"), ("value", "f8"), ("quality", "u1")])


def pages(
    engine: Engine,
    tags: Sequence[tuple[str, int]],
    start_ns: int,
    end_ns: int,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[Series]:
    """The samples of each tag in ``[start_ns, end_ns)``, in pages of at most ``chunk_rows``."""
    check_range(start_ns, end_ns)
    c = samples.c
    q = (
        sa.select(c.ts, c.value, c.quality)
        .where(c.tag_id == sa.bindparam("tid"), c.ts >= sa.bindparam("lo"), c.ts < end_ns)
        .order_by(c.ts)
        .limit(chunk_rows)
    )
    for path, tag_id in tags:
        lo = start_ns
        while True:
            with engine.connect() as conn:
                rows = conn.execute(q, {"tid": tag_id, "lo": lo}).all()
            if not rows:
                break
            arr = np.fromiter(map(tuple, rows), dtype=_SAMPLE, count=len(rows))
            yield Series(path, arr["ts"].copy(), arr["value"].copy(), arr["quality"].copy())
            if len(rows) < chunk_rows:
                break
            lo = int(arr["ts"][-1]) + 1


def iso_column(ts: I64) -> list[str]:
    """ISO 8601 UTC strings, as coarse as the page allows (ms, µs or ns)."""
    unit: Literal["ms", "us", "ns"] = (
        "ms" if not (ts % 1_000_000).any() else "us" if not (ts % 1000).any() else "ns"
    )
    stamps: npt.NDArray[np.datetime64] = ts.astype("datetime64[ns]")
    text: list[str] = np.datetime_as_string(stamps, unit=unit, timezone="UTC").tolist()
    return text


def write_csv(path: Path, series: Iterator[Series]) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(("ts", "tag", "value", "quality"))
        for s in series:
            values = ["" if v != v else repr(v) for v in s.value.tolist()]
            out.writerows(
                zip(iso_column(s.ts), [s.tag] * len(s), values, s.quality.tolist(), strict=True)
            )
            n += len(s)
    return n


def write_parquet(path: Path, series: Iterator[Series]) -> int:
    n = 0
    with pq.ParquetWriter(path, PARQUET_SCHEMA) as writer:
        for s in series:
            table = pa.table(
                [
                    pa.array(s.ts, type=pa.int64()).cast(PARQUET_SCHEMA.field("ts").type),
                    pa.repeat(pa.scalar(s.tag), len(s)),
                    pa.array(s.value, type=pa.float64()),
                    pa.array(s.quality, type=pa.uint8()),
                ],
                schema=PARQUET_SCHEMA,
            )
            writer.write_table(table)
            n += len(s)
    return n


def export(path: str | Path, series: Iterator[Series], fmt: str | None = None) -> int:
    """Write the pages to ``path`` as ``csv`` or ``parquet`` (default: from the suffix)."""
    dest = Path(path)
    kind = (fmt or dest.suffix.lstrip(".")).lower()
    if kind == "csv":
        return write_csv(dest, series)
    if kind in ("parquet", "pq"):
        return write_parquet(dest, series)
    raise InputError(f"export to {dest}: unknown format {kind!r}; use .csv or .parquet")
