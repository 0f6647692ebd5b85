"""PostgreSQL: samples live in weekly partitions the writer creates on demand."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import sqlalchemy as sa

from andon.core import Batch
from andon.historian import open_historian
from andon.historian.partitions import MONDAY_NS, WEEK_NS, partition_name, week_starts

S = 1_000_000_000
DAY = 86_400 * S
T0 = 1_767_225_600 * S  # Thursday 2026-01-01
TAG = "acme/plant/line-1/press/force"


def test_weeks_start_on_monday_utc() -> None:
    ts = np.array([T0, T0 + 3 * DAY + 1, T0 + 4 * DAY, -1, 0, MONDAY_NS], dtype=np.int64)
    assert [partition_name(w) for w in week_starts(ts)] == [
        "samples_19691229",
        "samples_19700105",
        "samples_20251229",
        "samples_20260105",
    ]
    extremes = week_starts(np.array([-(2**63), 2**63 - 1], dtype=np.int64))
    assert extremes[0] <= -(2**63) and extremes[1] + WEEK_NS > 2**63 - 1


def _partitions(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'samples'::regclass ORDER BY 1"
            )
        ).scalars()
        out = list(names)
    engine.dispose()
    return out


@pytest.mark.postgres
def test_partitions_are_made_per_week_and_reused(pg_schema_url: str) -> None:
    # the first and last weeks of the int64 range are bounded by MINVALUE / MAXVALUE
    ts = [T0, T0 + 4 * DAY, T0 + 30 * DAY, -5 * S, 2**63 - 1, -(2**63) + 120 * S]
    batch = Batch.build([TAG], ts, [0] * len(ts), np.arange(len(ts), dtype=float))
    with open_historian(pg_schema_url) as h:
        assert h.write(batch) == len(ts)
    names = _partitions(pg_schema_url)
    assert "samples_20251229" in names and "samples_20260105" in names
    assert "samples_19691229" in names and len(names) == 6
    with open_historian(pg_schema_url) as h:  # a new writer, nothing cached: no error
        assert h.write(batch) == 0
        assert h.count_samples(TAG) == len(ts)
        assert h.range(TAG, T0, T0 + 31 * DAY).ts.tolist() == [T0, T0 + 4 * DAY, T0 + 30 * DAY]


@pytest.mark.postgres
def test_concurrent_writers_create_a_new_week_once(pg_schema_url: str) -> None:
    open_historian(pg_schema_url).close()
    errors: list[BaseException] = []
    weeks = [T0 + k * 7 * DAY for k in range(6)]

    def writer(i: int) -> None:
        try:
            with open_historian(pg_schema_url) as h:
                for w in weeks[i:] + weeks[:i]:
                    h.write(Batch.build([TAG], [w + i * S], [0], [1.0]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_partitions(pg_schema_url)) == 6
    with open_historian(pg_schema_url) as h:
        assert h.count_samples(TAG) == 24
