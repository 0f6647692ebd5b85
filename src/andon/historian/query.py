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

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.batch import F64, I64
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.historian.results import Buckets, Sample, Series
from andon.historian.schema import ROLLUP_MIN_QUALITY, ROLLUP_NS, rollup_1m, sample_text, samples

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


def read_range(
    engine: Engine,
    tag: str,
    tag_id: int,
    start_ns: int,
    end_ns: int,
    limit: int | None,
    max_points: int = MAX_RAW_POINTS,
) -> Series:
    """The samples of one tag in ``[start_ns, end_ns)``, the first ``limit`` if given."""
    check_range(start_ns, end_ns)
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    c = samples.c
    fetch = limit if limit is not None else max_points + 1
    q = (
        sa.select(c.ts, c.value, c.quality)
        .where(*_in_range(tag_id, start_ns, end_ns))
        .order_by(c.ts)
        .limit(fetch)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
        if limit is None and len(rows) > max_points:
            raise InputError(
                f"{tag}: more than {max_points} samples between {iso(start_ns)} and "
                f"{iso(end_ns)}; use downsample for a trend, or give a limit"
            )
        arr = np.fromiter(map(tuple, rows), dtype=SAMPLE, count=len(rows))
        text = texts_of(conn, tag_id, arr["ts"], arr["value"])
    return Series(tag, arr["ts"].copy(), arr["value"].copy(), arr["quality"].copy(), text)


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
    out = []
    for stamp, text in conn.execute(q):
        row = int(np.searchsorted(ts, stamp))
        if row < len(ts) and ts[row] == stamp:
            out.append((row, str(text)))
    return tuple(out)


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


def _bucket_of(col: sa.ColumnElement[int], every_ns: int) -> sa.ColumnElement[int]:
    """Epoch-aligned bucket start (a floor also for times before 1970)."""
    e = sa.literal(every_ns, sa.BigInteger)
    return col - ((col % e) + e) % e


def finite(col: sa.ColumnElement[float]) -> sa.ColumnElement[bool]:
    """True for a finite value: NULL (SQLite's NaN), PostgreSQL's NaN and +-inf all fail."""
    return col.between(sa.literal(-_FINITE, sa.Double), sa.literal(_FINITE, sa.Double))


def uses_rollup(every_ns: int) -> bool:
    """Whole-minute buckets can be served from ``rollup_1m`` (edge minutes from raw samples)."""
    return every_ns % ROLLUP_NS == 0


_Parts = tuple[I64, I64, F64, F64, F64]


def _fetch(conn: sa.Connection, q: sa.Executable) -> _Parts:
    rows = conn.execute(q).all()
    col = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return (
        np.array(col[0], dtype=np.int64),
        np.array(col[1], dtype=np.int64),
        np.array(col[2], dtype=np.float64),
        np.array(col[3], dtype=np.float64),
        np.array(col[4], dtype=np.float64),
    )


def _raw(conn: sa.Connection, tag_id: int, lo: int, hi: int, every_ns: int) -> _Parts:
    c = samples.c
    b = _bucket_of(c.ts, every_ns).label("b")
    q = sa.select(
        b, sa.func.count(), sa.func.sum(c.value), sa.func.min(c.value), sa.func.max(c.value)
    )
    q = q.where(*_in_range(tag_id, lo, hi), c.quality >= ROLLUP_MIN_QUALITY, finite(c.value))
    return _fetch(conn, q.group_by(b).order_by(b))


def _rolled(conn: sa.Connection, tag_id: int, lo: int, hi: int, every_ns: int) -> _Parts:
    r = rollup_1m.c
    b = _bucket_of(r.bucket, every_ns).label("b")
    q = sa.select(b, sa.func.sum(r.n), sa.func.sum(r.sum), sa.func.min(r.min), sa.func.max(r.max))
    q = q.where(r.tag_id == tag_id, r.bucket >= lo, r.bucket < hi)
    return _fetch(conn, q.group_by(b).order_by(b))


def _merge(parts: list[_Parts]) -> _Parts:
    """Buckets of several sub-ranges combined: counts and sums add, min of mins, max of maxes."""
    if len(parts) == 1:
        return parts[0]
    bucket, n, total, lo, hi = (np.concatenate(col) for col in zip(*parts, strict=True))
    if not len(bucket):
        return bucket, n, total, lo, hi
    order = np.argsort(bucket, kind="stable")
    bucket, n, total, lo, hi = bucket[order], n[order], total[order], lo[order], hi[order]
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

    ``use_rollup`` forces a path (for tests); by default rollups serve whenever they can.
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
    with engine.connect() as conn:
        if not use_rollup or inner_lo >= inner_hi:
            parts = [_raw(conn, tag_id, start_ns, end_ns, every_ns)]
        else:
            parts = [_rolled(conn, tag_id, inner_lo, inner_hi, every_ns)]
            if start_ns < inner_lo:
                parts.append(_raw(conn, tag_id, start_ns, inner_lo, every_ns))
            if inner_hi < end_ns:
                parts.append(_raw(conn, tag_id, inner_hi, end_ns, every_ns))
    return Buckets(tag, every_ns, *_merge(parts))


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
