"""Writing: a repeated or overlapping write changes nothing; backfill just works."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from andon.core import BAD, GOOD, UNCERTAIN, Batch, InputError
from andon.historian import Historian, TagSpec, open_historian

S = 1_000_000_000
MIN = 60 * S
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
TAGS = ("acme/plant/line-1/press/force", "acme/plant/line-1/press/temp")


def live(start_s: int, seconds: int, tags: tuple[str, ...] = TAGS) -> Batch:
    """Every tag at 1 Hz for ``seconds`` from ``T0 + start_s``; value = seconds since T0."""
    secs = np.repeat(np.arange(start_s, start_s + seconds), len(tags))
    ids = np.tile(np.arange(len(tags)), seconds)
    return Batch.build(tags, T0 + secs * S, ids, secs.astype(float) + ids * 1000)


def rollups(h: Historian, tag: str) -> tuple[list[int], list[int], list[float]]:
    b = h.downsample(tag, T0 - 60 * MIN, T0 + 600 * MIN, MIN, use_rollup=True)
    return b.bucket.tolist(), b.count.tolist(), b.sum.tolist()


def test_repeated_write_changes_nothing(hist: Historian) -> None:
    batch = live(0, 300)
    assert hist.write(batch) == 600
    before = rollups(hist, TAGS[0])
    assert hist.write(batch) == 0
    assert hist.count_samples() == 600
    assert rollups(hist, TAGS[0]) == before
    assert before[1] == [60] * 5


def test_overlapping_write_adds_only_new_samples(hist: Historian) -> None:
    hist.write(live(0, 90))
    assert hist.write(live(60, 90)) == 2 * 60  # 60..149: 60..89 already stored
    assert hist.count_samples(TAGS[1]) == 150
    buckets, counts, sums = rollups(hist, TAGS[0])
    assert buckets == [T0, T0 + MIN, T0 + 2 * MIN]
    assert counts == [60, 60, 30]
    assert sums == [
        float(sum(range(0, 60))),
        float(sum(range(60, 120))),
        float(sum(range(120, 150))),
    ]


def test_out_of_order_backfill(hist: Historian) -> None:
    hist.write(live(600, 120))  # today's live data first
    backfill = live(0, 180).select(np.arange(len(live(0, 180)))[::-1].copy())  # newest first
    assert hist.write(backfill) == 360
    series = hist.range(TAGS[0], T0, T0 + 1000 * S)
    assert len(series) == 300
    assert np.all(np.diff(series.ts) > 0)
    assert rollups(hist, TAGS[0])[1] == [60, 60, 60, 60, 60]


def test_duplicates_inside_a_batch_keep_the_first(hist: Historian) -> None:
    tag = TAGS[0]
    batch = Batch.build([tag], [T0, T0, T0 + S, T0], [0, 0, 0, 0], [1.0, 2.0, 3.0, 4.0])
    assert hist.write(batch) == 2
    series = hist.range(tag, T0, T0 + 2 * S)
    assert series.value.tolist() == [1.0, 3.0]
    assert rollups(hist, tag)[1:] == ([2], [4.0])


def test_rollups_take_only_good_numbers(hist: Historian) -> None:
    tag = TAGS[0]
    values = [1.0, 100.0, 200.0, float("nan"), 5.0]
    quality = [GOOD, UNCERTAIN, BAD, GOOD, GOOD + 8]
    hist.write(Batch.build([tag], T0 + np.arange(5) * S, [0] * 5, values, quality))
    b = hist.downsample(tag, T0, T0 + MIN, MIN, use_rollup=True)
    assert (b.count.tolist(), b.sum.tolist(), b.min.tolist(), b.max.tolist()) == (
        [2],
        [6.0],
        [1.0],
        [5.0],
    )
    stored = hist.range(tag, T0, T0 + MIN)
    assert len(stored) == 5 and np.isnan(stored.value[3])  # all kept, NaN round-trips


def test_unknown_tags_are_created_and_marked(hist: Historian) -> None:
    configured = "acme/plant/line-1/press/stroke"
    hist.ensure_tags([(configured, "mm", "ram stroke", "opcua:ns=2;s=stroke")])
    hist.write(live(0, 2, (configured, TAGS[0])))
    info = {t.path: t for t in hist.tags()}
    assert info[configured].unit == "mm"
    assert info[configured].source == "opcua:ns=2;s=stroke"
    assert not info[configured].auto_created
    assert info[TAGS[0]].auto_created and info[TAGS[0]].unit is None
    hist.ensure_tags([TagSpec(TAGS[0], unit="kN")])  # configuring it later adopts it
    again = {t.path: t for t in hist.tags()}[TAGS[0]]
    assert again.unit == "kN" and not again.auto_created
    assert (again.first_ns, again.last_ns) == (T0, T0 + S)


def test_invalid_tag_path_in_a_batch_is_refused(hist: Historian) -> None:
    with pytest.raises(InputError, match="Bad/Path"):
        hist.write(Batch.build(["Bad/Path"], [T0], [0], [1.0]))
    assert hist.count_samples() == 0


def test_concurrent_writers_never_double_count(db_url: str) -> None:
    """Several writers, each with its own pool, write overlapping batches at once."""
    batches = [live(start, 120) for start in (0, 30, 60, 90)]
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            with open_historian(db_url) as h:
                for b in batches[i:] + batches[:i]:
                    h.write(b)
        except BaseException as exc:
            errors.append(exc)

    open_historian(db_url).close()  # migrate once before the race
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_historian(db_url) as h:
        assert h.count_samples(TAGS[0]) == 210
        assert sum(rollups(h, TAGS[0])[1]) == 210
