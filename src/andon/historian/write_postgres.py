"""Batch writes on PostgreSQL: binary COPY into a staging table, then one statement.

The statement inserts the staged rows with ``ON CONFLICT DO NOTHING`` and feeds the rows it
really inserted (``RETURNING``) into the additive rollup upsert. A row another writer inserts
concurrently is not returned here, so rollups stay exact with several writer processes.

The weekly partitions of ``samples`` the rows need are created first (``partitions``).

Rows are inserted, and rollups upserted, in key order, so two writers with overlapping
batches wait for each other instead of deadlocking; should the server still pick a deadlock
victim, the write is retried.

String values (rare) are staged with executemany in a second temp table, and the same
statement stores those whose sample it really inserted in ``sample_text``.

The COPY buffer is built in numpy with a big-endian structured dtype, one record per row
(PostgreSQL's binary COPY format: a header, per row a field count and length-prefixed fields,
a trailer), so no Python object is made per sample.
"""

from __future__ import annotations

import sys
import weakref
from typing import cast

import numpy as np
import psycopg
from psycopg.errors import TransactionRollback
from sqlalchemy.engine import Engine

from andon.historian.columns import Rows
from andon.historian.partitions import ensure_weeks
from andon.historian.schema import ROLLUP_MIN_QUALITY, ROLLUP_NS

_CREATE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS andon_staging "
    "(tag_id integer, ts bigint, value double precision, quality smallint) ON COMMIT DELETE ROWS"
)
_COPY = "COPY andon_staging (tag_id, ts, value, quality) FROM STDIN (FORMAT BINARY)"
_CREATE_STAGING_TEXT = (
    "CREATE TEMP TABLE IF NOT EXISTS andon_staging_text "
    "(tag_id integer, ts bigint, text text) ON COMMIT DELETE ROWS"
)
_STAGE_TEXT = "INSERT INTO andon_staging_text (tag_id, ts, text) VALUES (%s, %s, %s)"
_TEXT_CTE = """, texts AS (
    INSERT INTO sample_text (tag_id, ts, text)
    SELECT s.tag_id, s.ts, s.text FROM andon_staging_text s JOIN ins USING (tag_id, ts)
    ORDER BY s.tag_id, s.ts
    ON CONFLICT (tag_id, ts) DO NOTHING
)"""
# A finite value lies between the largest finite doubles; NaN sorts above +inf in PostgreSQL.
_MERGE = """
WITH ins AS (
    INSERT INTO samples (tag_id, ts, value, quality)
    SELECT tag_id, ts, value, quality FROM andon_staging ORDER BY tag_id, ts
    ON CONFLICT (tag_id, ts) DO NOTHING
    RETURNING tag_id, ts, value, quality
), ok AS (
    SELECT tag_id, ts - ((ts %% %(w)s) + %(w)s) %% %(w)s AS bucket, value FROM ins
    WHERE quality >= %(q)s AND value BETWEEN -%(f)s::float8 AND %(f)s::float8
), counted AS (SELECT count(*) AS n FROM ins), rolled AS (
    INSERT INTO rollup_1m AS r (tag_id, bucket, n, sum, min, max)
    SELECT tag_id, bucket, count(*), sum(value), min(value), max(value)
    FROM ok GROUP BY tag_id, bucket ORDER BY tag_id, bucket
    ON CONFLICT (tag_id, bucket) DO UPDATE SET
        n = r.n + excluded.n, sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)
)%(text)s
SELECT n FROM counted
"""
_MERGE_NUMBERS = _MERGE.replace("%(text)s", "")
_MERGE_TEXT = _MERGE.replace("%(text)s", _TEXT_CTE)
_PARAMS = {"w": ROLLUP_NS, "q": ROLLUP_MIN_QUALITY, "f": sys.float_info.max}

_ATTEMPTS = 3
_STAGED: weakref.WeakSet[psycopg.Connection[tuple[object, ...]]] = weakref.WeakSet()
"""Driver connections whose session already has the temp staging table."""

_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes()
_TRAILER = np.array([-1], dtype=">i2").tobytes()
_RECORD = np.dtype(
    [
        ("fields", ">i2"),
        ("len_tag", ">i4"),
        ("tag_id", ">i4"),
        ("len_ts", ">i4"),
        ("ts", ">i8"),
        ("len_value", ">i4"),
        ("value", ">f8"),
        ("len_quality", ">i4"),
        ("quality", ">i2"),
    ]
)


def copy_buffer(rows: Rows) -> bytes:
    """The rows in PostgreSQL's binary COPY format, built without a per-row Python loop."""
    rec = np.empty(len(rows), dtype=_RECORD)
    rec["fields"] = 4
    rec["len_tag"] = 4
    rec["tag_id"] = rows.tag_id
    rec["len_ts"] = 8
    rec["ts"] = rows.ts
    rec["len_value"] = 8
    rec["value"] = rows.value
    rec["len_quality"] = 2
    rec["quality"] = rows.quality
    return _HEADER + rec.tobytes() + _TRAILER


def write_rows(engine: Engine, rows: Rows) -> int:
    """Store the rows not stored yet and add them to the rollups; returns how many were new."""
    if not len(rows):
        return 0
    ensure_weeks(engine, rows.ts)
    buf = copy_buffer(rows)
    text = rows.text_rows()
    for attempt in range(_ATTEMPTS):
        try:
            return _write_once(engine, buf, text)
        except TransactionRollback:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _write_once(engine: Engine, buf: bytes, text: list[tuple[int, int, str]]) -> int:
    proxy = engine.raw_connection()
    try:
        conn = cast(psycopg.Connection[tuple[object, ...]], proxy.driver_connection)
        try:
            with conn.cursor() as cur:
                if conn not in _STAGED:
                    cur.execute(_CREATE_STAGING)
                with cur.copy(_COPY) as copy:
                    copy.write(buf)
                if text:
                    cur.execute(_CREATE_STAGING_TEXT)
                    cur.executemany(_STAGE_TEXT, text)
                cur.execute(_MERGE_TEXT if text else _MERGE_NUMBERS, _PARAMS)
                row = cur.fetchone()
            conn.commit()
            _STAGED.add(conn)
        except BaseException:
            if conn.broken or conn.closed:
                # the server went away mid-write: drop this connection from the pool (a
                # rollback on it would fail and log a traceback at every outage)
                proxy.invalidate()
            else:
                conn.rollback()
            raise
        return int(cast(int, row[0])) if row else 0
    finally:
        proxy.close()
