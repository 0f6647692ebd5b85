"""Batch writes on SQLite: one ``BEGIN IMMEDIATE`` transaction of executemany.

Writers serialise on the database's write lock, so checking which keys already exist and then
inserting the rest is exact. For live data, which arrives in order, the existence check is one
empty index range scan per tag; only a backfill or a repeated write finds rows, and those are
dropped in numpy before any insert. Rollup deltas of the rows really inserted are then added
to ``rollup_1m``: a repeated or overlapping write therefore never counts a sample twice.

The range scan reads every stored time between a tag's first and last time in the batch, which
for a sparse backfill (two samples a year apart on a 1 Hz tag) would be millions of rows. So it
reads at most a few times the batch's own rows for that tag; beyond that it looks the batch's
keys up one by one (``ts IN (...)`` in chunks), which costs an index probe per key.

String values go to ``sample_text`` in the same transaction, for the rows really inserted.
"""

from __future__ import annotations

import sqlite3
from typing import cast

import numpy as np
from sqlalchemy.engine import Engine

from andon.core.batch import I64
from andon.historian.columns import Rows, rollup_delta

_EXISTING = "SELECT ts FROM samples WHERE tag_id = ? AND ts BETWEEN ? AND ? LIMIT ?"
_INSERT = "INSERT INTO samples (tag_id, ts, value, quality) VALUES (?, ?, ?, ?)"
_INSERT_TEXT = "INSERT INTO sample_text (tag_id, ts, text) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
SCAN_FACTOR = 4
"""The range scan may read this many times the batch's rows of a tag (plus SCAN_SLACK)."""
SCAN_SLACK = 64
_KEYS_PER_PROBE = 500  # well below SQLITE_MAX_VARIABLE_NUMBER on every version
_ROLLUP = (
    "INSERT INTO rollup_1m (tag_id, bucket, n, sum, min, max) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tag_id, bucket) DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum, "
    "min = min(min, excluded.min), max = max(max, excluded.max)"
)


def _stored(cur: sqlite3.Cursor, tag: int, ts: I64) -> list[tuple[int]]:
    """The stored times among ``ts`` (ascending, unique) of one tag: bounded work either way."""
    cap = SCAN_FACTOR * len(ts) + SCAN_SLACK
    cur.execute(_EXISTING, (tag, int(ts[0]), int(ts[-1]), cap + 1))
    found: list[tuple[int]] = cur.fetchall()
    if len(found) <= cap:
        return found  # the whole span: the common case, one (usually empty) range scan
    found = []
    keys = ts.tolist()
    for i in range(0, len(keys), _KEYS_PER_PROBE):
        chunk = keys[i : i + _KEYS_PER_PROBE]
        marks = ",".join("?" * len(chunk))  # only placeholders are formatted into the SQL
        probe = f"SELECT ts FROM samples WHERE tag_id = ? AND ts IN ({marks})"  # noqa: S608
        cur.execute(probe, (tag, *chunk))
        found.extend(cur.fetchall())
    return found


def _new_only(cur: sqlite3.Cursor, rows: Rows) -> Rows:
    """Drop the rows whose key is already stored (must run inside the write transaction)."""
    drop: list[np.ndarray] = []
    for tag, lo, hi in rows.tag_spans():
        ts = rows.ts[lo:hi]
        found = _stored(cur, tag, ts)
        if found:
            stored = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
            drop.append(lo + np.flatnonzero(np.isin(ts, stored)))
    if not drop:
        return rows
    keep = np.ones(len(rows), dtype=np.bool_)
    keep[np.concatenate(drop)] = False
    return rows.take(keep)


def write_rows(engine: Engine, rows: Rows) -> int:
    """Store the rows not stored yet and add them to the rollups; returns how many were new."""
    if not len(rows):
        return 0
    proxy = engine.raw_connection()
    try:
        conn = cast(sqlite3.Connection, proxy.driver_connection)
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            new = _new_only(cur, rows)
            cur.executemany(
                _INSERT,
                zip(
                    new.tag_id.tolist(),
                    new.ts.tolist(),
                    new.value.tolist(),
                    new.quality.tolist(),
                    strict=True,
                ),
            )
            if new.text:
                cur.executemany(_INSERT_TEXT, new.text_rows())
            d = rollup_delta(new)
            cur.executemany(
                _ROLLUP,
                zip(
                    d.tag_id.tolist(),
                    d.bucket.tolist(),
                    d.n.tolist(),
                    d.sum.tolist(),
                    d.min.tolist(),
                    d.max.tolist(),
                    strict=True,
                ),
            )
            cur.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        return len(new)
    finally:
        proxy.close()
