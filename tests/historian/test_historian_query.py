"""Reading: ranges, latest, downsample (rollup path == raw path), tags and errors."""

from __future__ import annotations

import numpy as np
import pytest

from andon.core import BAD, GOOD, Batch, InputError, UnknownTagError
from andon.historian import Historian

S = 1_000_000_000
MIN = 60 * S
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
A = "acme/plant/line-1/press/force"
B = "acme/plant/line-1/press/temp"
C = "acme/plant/line-2/lathe/speed"


@pytest.fixture
def loaded(hist: Historian) -> Historian:
    """Three tags over 3 hours: A at 1 Hz (every 7th sample bad), B at 0.1 Hz, C twice."""
    rng = np.random.default_rng(7)
    n = 3 * 3600
    a_ts = T0 + np.arange(n) * S
    a_val = np.round(rng.normal(50, 5, n) * 64) / 64  # dyadic: sums are exact in any order
    a_q = np.where(np.arange(n) % 7 == 0, BAD, GOOD)
    b_ts = T0 + np.arange(0, n, 10) * S
    tags = (A, B, C)
    ts = np.concatenate([a_ts, b_ts, [T0 + 5 * S, T0 + 90 * MIN]])
    ids = np.concatenate([np.zeros(n), np.ones(len(b_ts)), [2, 2]])
    val = np.concatenate([a_val, np.arange(len(b_ts)) * 0.5, [1.0, 2.0]])
    q = np.concatenate([a_q, np.full(len(b_ts), GOOD), [GOOD, BAD]])
    order = rng.permutation(len(ts))  # rows in any order: the historian sorts them
    hist.write(Batch.build(tags, ts[order], ids[order], val[order], q[order]))
    return hist


def test_range_is_half_open_and_ordered(loaded: Historian) -> None:
    s = loaded.range(A, T0 + 10 * S, T0 + 20 * S)
    assert s.ts.tolist() == [T0 + i * S for i in range(10, 20)]
    assert s.ts.dtype == np.int64 and s.value.dtype == np.float64 and s.quality.dtype == np.uint8
    assert s.quality.tolist()[4] == BAD  # second 14 is a multiple of 7
    assert len(loaded.range(A, T0, T0)) == 0
    assert len(loaded.range(A, T0, T0 + 3600 * S, limit=25)) == 25


def test_wide_raw_range_is_refused_without_a_limit(loaded: Historian) -> None:
    loaded.max_raw_points = 1000
    with pytest.raises(InputError, match="downsample"):
        loaded.range(A, T0, T0 + 3 * 3600 * S)
    assert len(loaded.range(A, T0, T0 + 1000 * S)) == 1000
    assert len(loaded.range(A, T0, T0 + 3 * 3600 * S, limit=5000)) == 5000


def test_backwards_range_and_unknown_tag(loaded: Historian) -> None:
    with pytest.raises(InputError, match="after end"):
        loaded.range(A, T0 + S, T0)
    with pytest.raises(InputError, match="after end"):
        loaded.downsample(A, T0 + MIN, T0, MIN)
    with pytest.raises(InputError, match="after end"):
        loaded.events(start_ns=T0 + 1, end_ns=T0)
    with pytest.raises(UnknownTagError, match="acme/plant/line-1/press/nope"):
        loaded.range("acme/plant/line-1/press/nope", T0, T0 + S)
    with pytest.raises(UnknownTagError):
        loaded.latest([A, "acme/plant/line-1/press/nope"])
    with pytest.raises(UnknownTagError):
        loaded.downsample("x/y/z/w/v", T0, T0 + MIN, MIN)


def test_latest_by_list_and_pattern(loaded: Historian) -> None:
    latest = {s.tag: s for s in loaded.latest("acme/plant/+/+/#")}
    assert set(latest) == {A, B, C}
    assert latest[A].ts == T0 + (3 * 3600 - 1) * S
    assert latest[C].ts == T0 + 90 * MIN and latest[C].quality == BAD
    assert [s.tag for s in loaded.latest("acme/plant/line-1/#")] == [A, B]
    only = loaded.latest(B)
    assert len(only) == 1 and only[0].value == (3 * 360 - 1) * 0.5
    assert loaded.latest("nowhere/#") == []


@pytest.mark.parametrize(
    ("start", "end", "every"),
    [(0, 180 * MIN, MIN), (0, 180 * MIN, 15 * MIN), (7 * MIN, 95 * MIN, 10 * MIN)],
)
def test_downsample_rollup_path_equals_raw_path(
    loaded: Historian, start: int, end: int, every: int
) -> None:
    for tag in (A, B, C):
        fast = loaded.downsample(tag, T0 + start, T0 + end, every, use_rollup=True)
        raw = loaded.downsample(tag, T0 + start, T0 + end, every, use_rollup=False)
        assert len(fast) > 0 or tag == C  # C has one good sample, at 5 s
        for col in ("bucket", "count", "sum", "min", "max"):
            np.testing.assert_array_equal(getattr(fast, col), getattr(raw, col), err_msg=col)


def test_downsample_values(loaded: Historian) -> None:
    b = loaded.downsample(A, T0, T0 + 3600 * S, 15 * MIN)
    s = loaded.range(A, T0, T0 + 900 * S)
    good = s.value[s.quality >= GOOD]
    assert b.bucket.tolist() == [T0 + k * 15 * MIN for k in range(4)]
    assert b.count[0] == len(good) == 900 - 129
    assert b.avg[0] == pytest.approx(good.mean())
    assert b.series("max")[0] == good.max() and b.series("min")[0] == good.min()
    # not minute-aligned: served from raw samples, buckets still epoch-aligned
    odd = loaded.downsample(A, T0 + 30 * S, T0 + 150 * S, 45 * S)
    assert odd.bucket.tolist() == [T0, T0 + 45 * S, T0 + 90 * S, T0 + 135 * S]
    assert odd.count.tolist()[0] == len([i for i in range(30, 45) if i % 7])
    with pytest.raises(InputError, match="whole-minute"):
        loaded.downsample(A, T0 + 30 * S, T0 + 150 * S, 45 * S, use_rollup=True)
    with pytest.raises(InputError, match="positive"):
        loaded.downsample(A, T0, T0 + MIN, 0)


def test_tags_listing(loaded: Historian) -> None:
    infos = loaded.tags("acme/plant/line-1/#", counts=True)
    assert [t.path for t in infos] == [A, B]
    assert infos[0].count == 3 * 3600 and infos[1].count == 3 * 360
    assert infos[0].first_ns == T0 and infos[0].last_ns == T0 + (3 * 3600 - 1) * S
    assert all(t.auto_created for t in infos)
    assert [t.count for t in loaded.tags(C)] == [None]
    assert loaded.count_samples(A, T0, T0 + MIN) == 60


@pytest.mark.parametrize(
    ("start", "end", "every"),
    [
        (17 * S, 170 * MIN + 3 * S, MIN),  # "-24h .. now": neither edge on a minute
        (7 * MIN + 1, 95 * MIN - 1, 10 * MIN),
        (61 * S, 119 * S, MIN),  # inside one minute
        (50 * S, 70 * S, MIN),  # two partial minutes, no whole one
        (-5 * MIN - 7 * S, 33 * MIN + 59 * S, 15 * MIN),  # starts before the first sample
        (30 * S, 150 * MIN + 30 * S, 60 * MIN),
    ],
)
def test_downsample_unaligned_rollup_path_equals_raw_path(
    loaded: Historian, start: int, end: int, every: int
) -> None:
    for tag in (A, B, C):
        fast = loaded.downsample(tag, T0 + start, T0 + end, every, use_rollup=True)
        raw = loaded.downsample(tag, T0 + start, T0 + end, every, use_rollup=False)
        for col in ("bucket", "count", "sum", "min", "max"):
            np.testing.assert_array_equal(getattr(fast, col), getattr(raw, col), err_msg=col)
    assert len(loaded.downsample(A, T0 + start, T0 + end, every)) > 0


def test_unaligned_downsample_reads_the_rollups(loaded: Historian) -> None:
    """A range like the CLI's ``-24h`` .. ``now`` is served from rollup_1m by default."""
    import sqlalchemy as sa

    with loaded._engine.begin() as conn:  # tamper with one rollup row: only rollups see it
        conn.execute(
            sa.text("UPDATE rollup_1m SET n = n + 1000 WHERE bucket = :b"), {"b": T0 + MIN}
        )
    b = loaded.downsample(A, T0 + 13 * S, T0 + 3 * MIN + 5 * S, 3 * MIN)
    raw = loaded.downsample(A, T0 + 13 * S, T0 + 3 * MIN + 5 * S, 3 * MIN, use_rollup=False)
    assert b.count[0] == raw.count[0] + 1000


def test_bucket_width_is_bounded(loaded: Historian) -> None:
    for every in (0, -MIN, 2**62 + 1, 2**63 - 1):
        with pytest.raises(InputError, match="bucket width"):
            loaded.downsample(A, T0, T0 + MIN, every)
    assert len(loaded.downsample(A, T0, T0 + 3 * 3600 * S, 2**62)) == 1


def test_a_pattern_is_not_one_tag(loaded: Historian) -> None:
    for call in (
        lambda: loaded.range("acme/plant/+/press/force", T0, T0 + S),
        lambda: loaded.downsample("acme/plant/#", T0, T0 + MIN, MIN),
        lambda: loaded.count_samples("acme/#"),
    ):
        with pytest.raises(InputError, match="not a pattern") as err:
            call()
        assert not isinstance(err.value, UnknownTagError)
        assert "andon history tags PATTERN" in str(err.value)
