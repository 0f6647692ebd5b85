"""Export in long form ``ts,tag,value,quality,text``, to CSV or Parquet, streamed in chunks.

Samples are read tag by tag in pages of ``chunk_rows`` (keyset pagination on ``ts``), and each
page is written before the next is read, so exporting ten years never holds more than one page
in memory. CSV times are ISO 8601 UTC (``Z``) to the millisecond, or finer when a page needs
it; a NaN value is an empty field. Parquet times are ``timestamp[ns, UTC]``. ``text`` holds a
string-valued sample's text: empty in CSV, null in Parquet, for every other sample.

The file is written under a temporary name beside the destination and renamed over it only
when complete, so a failure (a full disk, a lost database) never leaves a truncated export
that looks whole. A destination that cannot be written is an InputError naming the reason.
"""

from __future__ import annotations

import contextlib
import csv
import uuid
from collections.abc import Callable, Iterator, Sequence
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
from andon.historian.query import SAMPLE, check_range, texts_of
from andon.historian.results import Series
from andon.historian.schema import samples

CHUNK_ROWS = 100_000
PARQUET_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ns", tz="UTC")),
        ("tag", pa.string()),
        ("value", pa.float64()),
        ("quality", pa.uint8()),
        ("text", pa.string()),
    ]
)


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
                arr = np.fromiter(map(tuple, rows), dtype=SAMPLE, count=len(rows))
                text = texts_of(conn, tag_id, arr["ts"], arr["value"])
            if not rows:
                break
            yield Series(path, arr["ts"].copy(), arr["value"].copy(), arr["quality"].copy(), text)
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


def text_column(s: Series, empty: str | None) -> list[str | None]:
    """The ``text`` of every row of a page, ``empty`` where the sample is a number."""
    out: list[str | None] = [empty] * len(s)
    for row, text in s.text:
        out[row] = text
    return out


def write_csv(path: Path, series: Iterator[Series]) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(("ts", "tag", "value", "quality", "text"))
        for s in series:
            values = ["" if v != v else repr(v) for v in s.value.tolist()]
            out.writerows(
                zip(
                    iso_column(s.ts),
                    [s.tag] * len(s),
                    values,
                    s.quality.tolist(),
                    text_column(s, ""),
                    strict=True,
                )
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
                    pa.array(text_column(s, None), type=pa.string()),
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
    writer: Callable[[Path, Iterator[Series]], int]
    if kind == "csv":
        writer = write_csv
    elif kind in ("parquet", "pq"):
        writer = write_parquet
    else:
        raise InputError(f"export to {dest}: unknown format {kind!r}; use .csv or .parquet")
    if dest.is_dir():
        raise InputError(f"cannot write {dest}: it is a directory")
    if not dest.parent.is_dir():
        problem = "is not a directory" if dest.parent.exists() else "does not exist"
        raise InputError(f"cannot write {dest}: {dest.parent} {problem}")
    # created by the writer itself, so the file gets the usual permissions (umask)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        n = writer(tmp, series)
        tmp.replace(dest)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"cannot write {dest}: {_reason(err)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return n


def _reason(err: BaseException) -> str:
    """An OS or Arrow error as a short reason ("No such file or directory")."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0] if str(err) else type(err).__name__
