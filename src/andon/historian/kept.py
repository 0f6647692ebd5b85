"""Results kept for closed periods, and the journal of late writes that says when one is stale.

A month of a machine's OEE by shift is 90 results, each computed from 28,800 one-second state
samples; computing them afresh on every question costs seconds per machine. Rooms above keep
each closed period's result here (``keep``), with a *fingerprint* of the configuration it was
computed under and the time the computation *began* (``computed_ns``), and read them back
(``kept``).

A kept result is stale when data about its period arrived after it was computed. Data that
arrives on time (stamped less than ``NOTE_AFTER_NS`` before the wall clock) concerns periods
still open, which are never kept; anything older - a connector's store-and-forward replay
after an outage, an import, an operator's correction of yesterday - is noted in
``late_writes`` per tag (or event kind and asset) and hour, after the write committed,
judged late by the clock after the commit (a write that waited for a lock is judged by when
it landed) and stamped by the database's clock (``db_now_ns``). A result whose computation
began (by the same clock) before such a note of one of its inputs is stale
(``late_since``), whatever the order in which reader and writer ran: a write that committed
after the computation read is noted later still.

If the process dies between a write's commit and its note, the note is missing until the
write is retried (a retried write notes again, even when it stores nothing new); ``forget``
drops kept results so the next question recomputes them (``andon kpi forget``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.batch import Batch
from andon.core.clock import NS_PER_H, NS_PER_MIN
from andon.core.event import Event
from andon.historian.engine import IMMEDIATE, insert
from andon.historian.schema import kept_results, late_writes

LATE_AFTER_NS = 15 * NS_PER_MIN
"""A period is over for good (its results may be kept) this long after its data ends."""
NOTE_AFTER_NS = 10 * NS_PER_MIN
"""Data stamped at least this long before it is written is late, and noted. Five minutes less
than ``LATE_AFTER_NS``: a writer whose clock is up to five minutes behind a reader's still
notes what the reader may already have kept."""
BUCKET_NS = NS_PER_H
SAMPLE = "sample "
EVENT = "event "
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept result: what (``kind``) of which asset over ``[start_ns, end_ns)``."""

    asset: str
    kind: str
    start_ns: int
    end_ns: int
    fingerprint: str
    computed_ns: int
    body: str


def _bucket(ts: int) -> int:
    return ts - ts % BUCKET_NS


def sample_key(tag: str) -> str:
    """The journal's key of a tag's samples."""
    return SAMPLE + tag


def event_key(kind: str, asset: str) -> str:
    """The journal's key of an asset's events of one kind."""
    return f"{EVENT}{kind} {asset}"


def late_in_batch(batch: Batch, now_ns: int) -> list[tuple[str, int]]:
    """``(key, hour)`` of every tag and hour the batch writes late (usually none: one compare
    over the timestamps)."""
    if not len(batch):
        return []
    late = batch.ts < now_ns - NOTE_AFTER_NS
    if not bool(late.any()):
        return []
    ids = batch.tag_id[late].astype(np.int64)
    hours = batch.ts[late] - batch.ts[late] % BUCKET_NS
    pairs = np.unique(np.stack([ids, hours], axis=1), axis=0)
    return [(sample_key(batch.tags[int(i)]), int(h)) for i, h in pairs.tolist()]


def late_in_events(events: Sequence[Event], now_ns: int) -> list[tuple[str, int]]:
    """``(key, hour)`` of every kind, asset and hour the events concern late."""
    limit = now_ns - NOTE_AFTER_NS
    return sorted(
        {(event_key(e.kind, e.asset), _bucket(int(e.ts))) for e in events if e.ts < limit}
    )


def note_late(engine: Engine, keys: Iterable[tuple[str, int]]) -> None:
    """Note late writes (call after the write committed). The time is read inside the
    journal's own transaction and a note only ever moves forward: a writer that waited for
    the lock cannot stamp a note earlier than one already there."""
    pairs = list(keys)
    if not pairs:
        return
    stmt = insert(engine, late_writes)
    newest = sa.func.greatest if engine.dialect.name == "postgresql" else sa.func.max
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "bucket"],
        set_={"written_ns": newest(late_writes.c.written_ns, stmt.excluded.written_ns)},
    )
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        now = db_now_ns(conn)
        conn.execute(stmt, [{"key": k, "bucket": b, "written_ns": now} for k, b in pairs])


def db_now_ns(conn: sa.Connection) -> int:
    """The database's clock (PostgreSQL's ``clock_timestamp()``, to the microsecond; on
    SQLite, which lives on this host, this host's): writers on several hosts and readers
    stamp notes and computations by one clock."""
    if conn.dialect.name == "postgresql":
        us = conn.exec_driver_sql(
            "SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint"
        ).scalar_one()
        return int(us) * 1000
    return time.time_ns()


def late_since(
    engine: Engine, keys: Sequence[str], start_ns: int, end_ns: int, since_ns: int
) -> list[tuple[str, int, int]]:
    """``(key, hour, written_ns)`` of late writes of ``keys`` into hours overlapping
    ``[start_ns, end_ns)`` noted at or after ``since_ns``."""
    out: list[tuple[str, int, int]] = []
    t = late_writes.c
    for i in range(0, len(keys), _IN_CHUNK):
        q = sa.select(t.key, t.bucket, t.written_ns).where(
            t.key.in_(list(keys[i : i + _IN_CHUNK])),
            t.bucket >= _bucket(start_ns),
            t.bucket < end_ns,
            t.written_ns >= since_ns,
        )
        with engine.connect() as conn:
            out.extend((str(k), int(b), int(w)) for k, b, w in conn.execute(q))
    return out


def keep(engine: Engine, rows: Sequence[Kept]) -> None:
    """Store (or replace) kept results."""
    if not rows:
        return
    stmt = insert(engine, kept_results)
    stmt = stmt.on_conflict_do_update(
        index_elements=["asset", "kind", "start_ns", "end_ns"],
        set_={
            "fingerprint": stmt.excluded.fingerprint,
            "computed_ns": stmt.excluded.computed_ns,
            "body": stmt.excluded.body,
        },
    )
    values = [
        {
            "asset": r.asset,
            "kind": r.kind,
            "start_ns": r.start_ns,
            "end_ns": r.end_ns,
            "fingerprint": r.fingerprint,
            "computed_ns": r.computed_ns,
            "body": r.body,
        }
        for r in rows
    ]
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        conn.execute(stmt, values)


def kept(
    engine: Engine, kind: str, assets: Sequence[str], start_ns: int, end_ns: int
) -> list[Kept]:
    """Kept results of ``kind`` of ``assets`` lying within ``[start_ns, end_ns)``."""
    t = kept_results.c
    out: list[Kept] = []
    for i in range(0, len(assets), _IN_CHUNK):
        q = sa.select(
            t.asset, t.kind, t.start_ns, t.end_ns, t.fingerprint, t.computed_ns, t.body
        ).where(
            t.kind == kind,
            t.asset.in_(list(assets[i : i + _IN_CHUNK])),
            t.start_ns >= start_ns,
            t.end_ns <= end_ns,
        )
        with engine.connect() as conn:
            out.extend(
                Kept(str(a), str(k), int(s), int(e), str(f), int(c), str(b))
                for a, k, s, e, f, c, b in conn.execute(q)
            )
    return out


def forget(engine: Engine, kind: str | None = None, asset: str | None = None) -> int:
    """Drop kept results (of one kind, of an asset and everything below it); returns how many."""
    t = kept_results.c
    q = sa.delete(kept_results)
    if kind is not None:
        q = q.where(t.kind == kind)
    if asset is not None:
        asset = asset.strip("/")
        q = q.where(sa.or_(t.asset == asset, t.asset.startswith(asset + "/", autoescape=True)))
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        return int(conn.execute(q).rowcount or 0)


__all__ = [
    "BUCKET_NS",
    "EVENT",
    "LATE_AFTER_NS",
    "NOTE_AFTER_NS",
    "SAMPLE",
    "Kept",
    "db_now_ns",
    "event_key",
    "forget",
    "keep",
    "kept",
    "late_in_batch",
    "late_in_events",
    "late_since",
    "note_late",
    "sample_key",
]
