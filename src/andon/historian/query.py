"""Reading samples: ranges, latest values, downsampled trends and counts.

Every range is half-open, ``[start_ns, end_ns)``. A raw range without a limit is refused
beyond ``max_points`` (one million by default): a trend over months belongs to ``downsample``.
When buckets are whole minutes, ``downsample`` reads the whole minutes inside the range from
``rollup_1m`` and only the partial minutes at its two edges from raw samples ("the last 24
hours" never starts on a minute boundary, and must not read a day of raw samples for that).
Both paths aggregate the same samples (GOOD quality, finite value), so they give the same
answer.
"""

from __future__ import annotations

import sys
import threading
from contextlib import nullcontext

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPICursor

from andon.core.batch import F64, I64
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.historian import dbapi
from andon.historian.dbapi import Param
from andon.historian.results import Buckets, Sample, Series
from andon.historian.schema import ROLLUP_MIN_QUALITY, ROLLUP_NS, sample_text, samples

MAX_RAW_POINTS = 1_000_000
MAX_EVERY_NS = 2**62
"""Widest bucket: the bucket arithmetic (``(ts % every + every) % every``) stays in int64."""
SAMPLE = np.dtype([("ts", "i8"), ("value", "f8"), ("quality", "u1")])
"""One stored sample as a numpy record, to turn fetched rows into columns in one pass."""
_FINITE = sys.float_info.max


def check_range(start_ns: int, end_ns: int) -> None:
    if start_ns > end_ns:
        raise InputError(
            f"start {iso(start_ns)} is after end {iso(end_ns)}; give the earlier time first"
        )


def _in_range(
    tag_id: int, start_ns: int | None, end_ns: int | None
) -> list[sa.ColumnElement[bool]]:
    c = samples.c
    where = [c.tag_id == tag_id]
    if start_ns is not None:
        where.append(c.ts >= start_ns)
    if end_ns is not None:
        where.append(c.ts < end_ns)
    return where


_RANGE_SQL = (
    "SELECT ts, value, quality FROM samples WHERE tag_id = ? AND ts >= ? AND ts < ? "
    "ORDER BY ts LIMIT ?"
)
_TEXT_SQL = "SELECT ts, text FROM sample_text WHERE tag_id = ? AND ts >= ? AND ts <= ? ORDER BY ts"


_SQLITE_RAW_TURN = threading.Lock()
"""Raw ranges on SQLite take turns. sqlite3 releases the GIL around every row it steps, so
threads fetching big ranges at once hand the GIL back and forth per row: eight concurrent
one-day reads took 2.4 times as long as the same eight one after the other. psycopg fetches
the whole result before converting it, so PostgreSQL reads need no turn."""


def read_range(
    engine: Engine,
    tag: str,
    tag_id: int,
    start_ns: int,
    end_ns: int,
    limit: int | None,
    max_points: int = MAX_RAW_POINTS,
) -> Series:
    """The samples of one tag in ``[start_ns, end_ns)``, the first ``limit`` if given.

    Read on the driver's cursor: the fetched tuples go straight into one numpy record array
    (SQLite's NULL, its NaN, becomes NaN), no SQLAlchemy row per sample.
    """
    check_range(start_ns, end_ns)
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    fetch_n = limit if limit is not None else max_points + 1
    turn = _SQLITE_RAW_TURN if engine.dialect.name == "sqlite" else nullcontext()
    with turn, dbapi.cursor(engine) as cur:
        rows = dbapi.fetch(cur, engine, _RANGE_SQL, (tag_id, start_ns, end_ns, fetch_n))
        if limit is None and len(rows) > max_points:
            raise InputError(
                f"{tag}: more than {max_points} samples between {iso(start_ns)} and "
                f"{iso(end_ns)}; use downsample for a trend, or give a limit"
            )
        arr = np.fromiter(rows, dtype=SAMPLE, count=len(rows))
        del rows
        ts, value = arr["ts"].copy(), arr["value"].copy()
        text = _texts(cur, engine, tag_id, ts, value)
    return Series(tag, ts, value, arr["quality"].copy(), text)


def _texts(
    cur: DBAPICursor, engine: Engine, tag_id: int, ts: I64, value: F64
) -> tuple[tuple[int, str], ...]:
    """``texts_of`` on a driver cursor."""
    if not len(ts) or not np.isnan(value).any():
        return ()
    found = dbapi.fetch(cur, engine, _TEXT_SQL, (tag_id, int(ts[0]), int(ts[-1])))
    return _placed(ts, [(int(stamp), str(text)) for stamp, text in found])


def _placed(ts: I64, found: list[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """``(row, text)`` for each ``(stamp, text)`` whose stamp is one of the fetched ``ts``."""
    if not found:
        return ()
    stamps = np.fromiter((s for s, _ in found), dtype=np.int64, count=len(found))
    rows = np.minimum(np.searchsorted(ts, stamps), len(ts) - 1)
    hit = np.flatnonzero(ts[rows] == stamps).tolist()
    return tuple((int(rows[i]), found[i][1]) for i in hit)


def texts_of(conn: sa.Connection, tag_id: int, ts: I64, value: F64) -> tuple[tuple[int, str], ...]:
    """The string values among fetched samples, as ``(row, text)``.

    A string-valued sample has a NaN value, so a page without NaN needs no second query.
    """
    if not len(ts) or not np.isnan(value).any():
        return ()
    t = sample_text.c
    q = (
        sa.select(t.ts, t.text)
        .where(t.tag_id == tag_id, t.ts >= int(ts[0]), t.ts <= int(ts[-1]))
        .order_by(t.ts)
    )
    return _placed(ts, [(int(stamp), str(text)) for stamp, text in conn.execute(q)])


def latest(engine: Engine, tags: list[tuple[str, int]]) -> list[Sample]:
    """The newest sample of each tag (tags without samples are left out)."""
    c = samples.c
    tid = sa.bindparam("tid", type_=sa.Integer)
    q = sa.select(c.ts, c.value, c.quality).where(c.tag_id == tid).order_by(c.ts.desc()).limit(1)
    out = []
    with engine.connect() as conn:
        for path, tag_id in tags:
            row = conn.execute(q, {"tid": tag_id}).first()
            if row is not None:
                value = float("nan") if row.value is None else float(row.value)
                out.append(Sample(path, int(row.ts), value, int(row.quality)))
    return out


def uses_rollup(every_ns: int) -> bool:
    """Whole-minute buckets can be served from ``rollup_1m`` (edge minutes from raw samples)."""
    return every_ns % ROLLUP_NS == 0


_Parts = tuple[I64, I64, F64, F64, F64]
BUCKET_ROW = np.dtype(
    [("part", "i8"), ("b", "i8"), ("n", "i8"), ("sum", "f8"), ("min", "f8"), ("max", "f8")]
)
"""One fetched bucket of one sub-range (``part``: 0 rollups, 1 the first edge, 2 the last)."""

# Epoch-aligned bucket start, ``x - ((x % e) + e) % e``: a floor also for times before 1970.
# Only GOOD samples with a finite value count: NULL (SQLite's NaN), PostgreSQL's NaN and
# +-inf all fail the BETWEEN.
_RAW_SQL = (
    "SELECT ? AS part, ts - ((ts % ?) + ?) % ? AS b, count(*) AS n, sum(value), min(value), "
    "max(value) FROM samples WHERE tag_id = ? AND ts >= ? AND ts < ? AND quality >= ? "
    "AND value BETWEEN ? AND ? GROUP BY b"
)
_ROLLED_SQL = (
    "SELECT 0 AS part, bucket - ((bucket % ?) + ?) % ? AS b, CAST(sum(n) AS BIGINT), "
    "sum(sum), min(min), max(max) FROM rollup_1m WHERE tag_id = ? AND bucket >= ? "
    "AND bucket < ? GROUP BY b"
)
_MINUTES_SQL = (  # one-minute buckets are the rollup rows themselves: nothing to group
    "SELECT 0 AS part, bucket AS b, n, sum, min, max FROM rollup_1m "
    "WHERE tag_id = ? AND bucket >= ? AND bucket < ?"
)


def _raw_part(part: int, tag_id: int, lo: int, hi: int, every_ns: int) -> tuple[str, list[Param]]:
    params: list[Param] = [part, every_ns, every_ns, every_ns, tag_id, lo, hi]
    return _RAW_SQL, [*params, ROLLUP_MIN_QUALITY, -_FINITE, _FINITE]


def _rolled_part(tag_id: int, lo: int, hi: int, every_ns: int) -> tuple[str, list[Param]]:
    if every_ns == ROLLUP_NS:
        return _MINUTES_SQL, [tag_id, lo, hi]
    return _ROLLED_SQL, [every_ns, every_ns, every_ns, tag_id, lo, hi]


def _merge(rows: npt.NDArray[np.void]) -> _Parts:
    """Buckets of the sub-ranges combined: counts and sums add, min of mins, max of maxes.

    ``rows`` are ordered by bucket, then sub-range (rollups first), so a bucket's partial
    sums add in the same order whatever the engine.
    """
    bucket, n, total = rows["b"].copy(), rows["n"].copy(), rows["sum"].copy()
    lo, hi = rows["min"].copy(), rows["max"].copy()
    if len(bucket) < 2 or bool((bucket[1:] != bucket[:-1]).all()):
        return bucket, n, total, lo, hi
    start = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    return (
        bucket[start],
        np.add.reduceat(n, start),
        np.add.reduceat(total, start),
        np.minimum.reduceat(lo, start),
        np.maximum.reduceat(hi, start),
    )


def downsample(
    engine: Engine,
    tag: str,
    tag_id: int,
    start_ns: int,
    end_ns: int,
    every_ns: int,
    *,
    use_rollup: bool | None = None,
    max_buckets: int = MAX_RAW_POINTS,
) -> Buckets:
    """Count, sum, min and max of the good samples per ``every_ns`` bucket in the range.

    ``use_rollup`` forces a path (for tests); by default rollups serve whenever they can. The
    rollups of the whole minutes and the raw samples of the two edge minutes are read in one
    statement (``UNION ALL``), on the driver's cursor.
    """
    check_range(start_ns, end_ns)
    if not 0 < every_ns <= MAX_EVERY_NS:
        raise InputError(
            f"bucket width must be positive and at most {MAX_EVERY_NS} ns, got {every_ns} ns"
        )
    if (end_ns - start_ns) // every_ns > max_buckets:
        raise InputError(
            f"{tag}: more than {max_buckets} buckets of {every_ns} ns in the range; "
            "use wider buckets"
        )
    if use_rollup is None:
        use_rollup = uses_rollup(every_ns)
    elif use_rollup and not uses_rollup(every_ns):
        raise InputError("rollups serve only whole-minute buckets")
    # the whole minutes inside the range; every bucket holds whole minutes, so an edge minute
    # and the rollups next to it always land in the same bucket
    inner_lo = start_ns - start_ns % ROLLUP_NS + (ROLLUP_NS if start_ns % ROLLUP_NS else 0)
    inner_hi = end_ns - end_ns % ROLLUP_NS
    if not use_rollup or inner_lo >= inner_hi:
        parts = [_raw_part(1, tag_id, start_ns, end_ns, every_ns)]
    else:
        parts = [_rolled_part(tag_id, inner_lo, inner_hi, every_ns)]
        if start_ns < inner_lo:
            parts.append(_raw_part(1, tag_id, start_ns, inner_lo, every_ns))
        if inner_hi < end_ns:
            parts.append(_raw_part(2, tag_id, inner_hi, end_ns, every_ns))
    sql = " UNION ALL ".join(p[0] for p in parts) + " ORDER BY 2, 1"
    params = [x for p in parts for x in p[1]]
    with dbapi.cursor(engine) as cur:
        fetched = dbapi.fetch(cur, engine, sql, params)
        rows = np.fromiter(fetched, dtype=BUCKET_ROW, count=len(fetched))
    return Buckets(tag, every_ns, *_merge(rows))


def count_samples(
    engine: Engine, tag_id: int | None, start_ns: int | None = None, end_ns: int | None = None
) -> int:
    """How many samples are stored (of one tag, or of all when ``tag_id`` is None)."""
    c = samples.c
    q = sa.select(sa.func.count()).select_from(samples)
    if tag_id is not None:
        q = q.where(*_in_range(tag_id, start_ns, end_ns))
    else:
        if start_ns is not None:
            q = q.where(c.ts >= start_ns)
        if end_ns is not None:
            q = q.where(c.ts < end_ns)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def first_last(engine: Engine, tag_ids: list[int]) -> dict[int, tuple[int, int]]:
    """First and last sample time per tag, two index lookups each (tags without samples absent)."""
    c = samples.c
    tid = sa.bindparam("tid", type_=sa.Integer)
    first = sa.select(c.ts).where(c.tag_id == tid).order_by(c.ts).limit(1)
    last = sa.select(c.ts).where(c.tag_id == tid).order_by(c.ts.desc()).limit(1)
    out = {}
    with engine.connect() as conn:
        for t in tag_ids:
            lo = conn.execute(first, {"tid": t}).scalar()
            if lo is not None:
                out[t] = (int(lo), int(conn.execute(last, {"tid": t}).scalar_one()))
    return out
