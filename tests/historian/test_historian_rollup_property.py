"""Property: after any sequence of writes, rollups equal aggregates of the stored raw samples.

Batches are random: repeated keys inside and across batches, out-of-order times, bad and
uncertain quality, NaN and +-inf values. The expected store is "first write of a key wins";
rollups (and the raw downsample path) take GOOD samples with a finite value only.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from andon.core import BAD, GOOD, UNCERTAIN, Batch
from andon.historian import Historian

S = 1_000_000_000
MIN = 60 * S
T0 = 1_767_225_600 * S
_counter = itertools.count()

sample = st.tuples(
    st.integers(0, 2),  # tag
    st.integers(-200, 400),  # seconds from T0: some before, spanning several minutes
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.just(float("nan")),
        st.sampled_from([float("inf"), float("-inf")]),
    ),
    st.sampled_from([GOOD, GOOD, GOOD, GOOD + 1, UNCERTAIN, BAD]),
)
writes = st.lists(st.lists(sample, min_size=0, max_size=60), min_size=1, max_size=4)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(writes=writes)
def test_rollups_equal_raw_aggregates(hist: Historian, writes: list[list[tuple]]) -> None:
    run = next(_counter)  # fresh tags per example: the database is shared between examples
    tags = tuple(f"prop/run-{run}/line/machine/t{i}" for i in range(3))
    stored: dict[tuple[int, int], tuple[float, int]] = {}
    for rows in writes:
        if not rows:
            continue
        tag, sec, value, quality = (list(c) for c in zip(*rows, strict=True))
        ts = [T0 + s * S for s in sec]
        hist.write(Batch.build(tags, ts, tag, value, quality))
        for t, stamp, v, q in zip(tag, ts, value, quality, strict=True):
            stored.setdefault((t, stamp), (v, q))

    start, end = T0 - 4 * MIN, T0 + 7 * MIN
    for i, path in enumerate(tags):
        mine = sorted((ts, v, q) for (t, ts), (v, q) in stored.items() if t == i)
        if not mine:
            continue
        series = hist.range(path, start, end)
        assert series.ts.tolist() == [m[0] for m in mine]
        np.testing.assert_array_equal(series.value, [m[1] for m in mine])
        assert series.quality.tolist() == [m[2] for m in mine]

        good = [(ts, v) for ts, v, q in mine if q >= GOOD and math.isfinite(v)]
        fast = hist.downsample(path, start, end, MIN, use_rollup=True)
        raw = hist.downsample(path, start, end, MIN, use_rollup=False)
        buckets = sorted({ts - ts % MIN for ts, _ in good})
        assert fast.bucket.tolist() == raw.bucket.tolist() == buckets
        for k, b in enumerate(buckets):
            vals = [v for ts, v in good if ts - ts % MIN == b]
            assert fast.count[k] == raw.count[k] == len(vals)
            assert fast.min[k] == raw.min[k] == min(vals)
            assert fast.max[k] == raw.max[k] == max(vals)
            assert np.isclose(fast.sum[k], sum(vals), rtol=1e-9, atol=1e-6)
            assert np.isclose(raw.sum[k], sum(vals), rtol=1e-9, atol=1e-6)
