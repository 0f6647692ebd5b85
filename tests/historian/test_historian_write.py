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


def test_infinities_are_stored_but_kept_out_of_rollups(hist: Historian) -> None:
    tag = TAGS[0]
    values = [float("inf"), float("-inf"), 3.0, float("inf")]
    assert hist.write(Batch.build([tag], T0 + np.arange(4) * S, [0] * 4, values)) == 4
    stored = hist.range(tag, T0, T0 + MIN)
    assert stored.value.tolist() == values  # raw samples keep their infinities
    for use_rollup in (True, False):
        b = hist.downsample(tag, T0, T0 + MIN, MIN, use_rollup=use_rollup)
        assert (b.count.tolist(), b.sum.tolist(), b.max.tolist()) == ([1], [3.0], [3.0])
    # a minute holding only infinities has no rollup row at all
    hist.write(Batch.build([tag], [T0 + MIN, T0 + MIN + S], [0, 0], [np.inf, -np.inf]))
    assert rollups(hist, tag)[1] == [1]


def test_sparse_backfill_is_exact(hist: Historian) -> None:
    tag = TAGS[0]
    hist.write(live(0, 3000, (tag,)))  # 50 minutes at 1 Hz
    # two samples far apart: one before everything, one already stored, one new in a gap
    sparse = Batch.build([tag], [T0 - 400 * MIN, T0 + 1500 * S, T0 + 700 * MIN], [0] * 3, [7.0] * 3)
    assert hist.write(sparse) == 2
    assert hist.write(sparse) == 0
    assert hist.count_samples(tag) == 3002
    assert hist.range(tag, T0 + 1500 * S, T0 + 1501 * S).value.tolist() == [1500.0]
    b = hist.downsample(tag, T0 - 400 * MIN, T0 + 701 * MIN, MIN, use_rollup=True)
    assert b.count.tolist() == [1] + [60] * 50 + [1]
    assert b.sum.tolist()[0] == b.sum.tolist()[-1] == 7.0


def test_sqlite_existence_check_reads_a_bounded_number_of_rows(tmp_path: object) -> None:
    """A sparse backfill must not read every stored time between its first and last sample."""
    import sqlite3

    from andon.historian.columns import to_rows
    from andon.historian.write_sqlite import _new_only

    tag = TAGS[0]
    with open_historian(f"sqlite:///{tmp_path}/sparse.db") as h:
        h.write(live(0, 20_000, (tag,)))
        ids = h._catalog.ids_for((tag,))
    rows = to_rows(
        Batch.build([tag], [T0 - S, T0 + 5 * S, T0 + 30_000 * S], [0] * 3, [1.0] * 3), ids
    )

    class Counting(sqlite3.Cursor):
        fetched = 0

        def fetchall(self) -> list[object]:
            out = super().fetchall()
            Counting.fetched += len(out)
            return out

    conn = sqlite3.connect(f"{tmp_path}/sparse.db")
    new = _new_only(conn.cursor(Counting), rows)
    conn.close()
    assert new.ts.tolist() == [T0 - S, T0 + 30_000 * S]
    assert Counting.fetched < 100


def test_string_values_are_stored_and_read_back(hist: Historian) -> None:
    tag = TAGS[0]
    ts = T0 + np.arange(4) * S
    batch = Batch(
        (tag,),
        ts,
        np.zeros(4, np.int32),
        np.array([1.0, np.nan, 2.0, np.nan]),
        np.full(4, GOOD, np.uint8),
        ((1, "RUNNING"), (3, "käse ✓")),
    )
    assert hist.write(batch) == 4
    assert hist.write(batch) == 0  # idempotent, text too
    series = hist.range(tag, T0, T0 + MIN)
    assert series.text == ((1, "RUNNING"), (3, "käse ✓"))
    assert np.isnan(series.value[1]) and series.value[2] == 2.0
    assert hist.range(tag, T0 + 2 * S, T0 + MIN).text == ((1, "käse ✓"),)
    assert hist.range(tag, T0, T0 + MIN, limit=2).text == ((1, "RUNNING"),)
    # a key already stored keeps its first value: a later string for it is not attached
    later = Batch(
        batch.tags, ts[:1], batch.tag_id[:1], np.array([np.nan]), batch.quality[:1], ((0, "late"),)
    )
    assert hist.write(later) == 0
    assert hist.range(tag, T0, T0 + S).text == ()
    # duplicates inside a batch: the first wins, with or without a string
    dup = Batch(
        (tag,),
        np.array([T0 + 10 * S, T0 + 10 * S, T0 + 11 * S, T0 + 11 * S]),
        np.zeros(4, np.int32),
        np.array([np.nan, 5.0, 6.0, np.nan]),
        np.full(4, GOOD, np.uint8),
        ((0, "first"), (3, "second")),
    )
    assert hist.write(dup) == 2
    assert hist.range(tag, T0 + 10 * S, T0 + 12 * S).text == ((0, "first"),)
