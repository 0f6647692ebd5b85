"""Weekly time partitions of ``samples`` on PostgreSQL, created on demand by the writer.

DESIGN.md (Storage): the idempotent write is bound by the ``(tag_id, ts)`` index, so each index
must stay small and hot. ``samples`` is therefore ``PARTITION BY RANGE (ts)`` on PostgreSQL,
one partition per week (Monday 00:00 UTC to the next), each with its own small primary key
index; live data touches only the newest. There is no default partition: a row outside every
partition fails loudly instead of piling up in a catch-all that later blocks new partitions.

Before a write, the writer makes sure a partition exists for every week of the batch. Weeks
known to exist are cached per engine, so live data costs one set lookup per batch. Creation
runs in its own short transaction under an advisory lock, so concurrent writers (also in other
processes) never race: the second one finds the table and ``IF NOT EXISTS`` does nothing.
SQLite keeps one table (its file is the unit of retention there).
"""

from __future__ import annotations

import datetime as dt
import weakref

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.batch import I64

WEEK_NS = 7 * 86_400 * 1_000_000_000
MONDAY_NS = 4 * 86_400 * 1_000_000_000
"""1970-01-05, the first Monday after the epoch: weeks are aligned on it."""
_INT64 = (-(2**63), 2**63 - 1)
_LOCK = 0x616E646F6E + 1  # one above the migration lock: serialises partition creation
_KNOWN: weakref.WeakKeyDictionary[Engine, set[int]] = weakref.WeakKeyDictionary()


def week_starts(ts: I64) -> list[int]:
    """The Mondays 00:00 UTC starting the weeks the timestamps fall in (floor, also pre-1970).

    Computed as week index and remainder, so no int64 arithmetic overflows at the extremes;
    the first week's start may lie below the int64 range (it is then MINVALUE).
    """
    k, r = np.divmod(ts, WEEK_NS)
    index = np.unique(k - (r < MONDAY_NS))
    return [i * WEEK_NS + MONDAY_NS for i in index.tolist()]


def partition_name(start_ns: int) -> str:
    """``samples_YYYYMMDD`` of the week's Monday (digits only: a safe identifier)."""
    day = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=start_ns // 1000)
    return f"samples_{day:%Y%m%d}"


def ensure_weeks(engine: Engine, ts: I64) -> None:
    """Create the weekly partitions the timestamps need and that are not known to exist."""
    known = _KNOWN.setdefault(engine, set())
    missing = [w for w in week_starts(ts) if w not in known]
    if not missing:
        return
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        for start in missing:
            lo = "MINVALUE" if start <= _INT64[0] else str(start)
            hi = "MAXVALUE" if start + WEEK_NS > _INT64[1] else str(start + WEEK_NS)
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF samples "
                f"FOR VALUES FROM ({lo}) TO ({hi})"
            )
    known.update(missing)
