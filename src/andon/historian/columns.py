"""A Batch as the historian stores it, computed in numpy before any SQL runs.

Both writers share these steps: map the batch's own tag ids onto the historian's, order the
rows by ``(tag_id, ts)`` (the primary key order, so index pages fill in sequence), drop repeats
of a key inside the batch keeping the first, carry string values along with their rows, and
sum per-minute rollup deltas.

Rollups take GOOD samples with a finite value only: NaN is "no number", and one +inf with one
-inf in the same minute would make the sum NaN, which no rollup column may hold. The raw
downsample path applies the same rule, so both paths keep agreeing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from andon.core.batch import F64, I32, I64, U8, Batch
from andon.historian.schema import ROLLUP_MIN_QUALITY, ROLLUP_NS


@dataclass(frozen=True, eq=False)
class Rows:
    """Sample rows keyed by the historian's tag ids, ordered by ``(tag_id, ts)``, keys unique."""

    tag_id: I32
    ts: I64
    value: F64
    quality: U8
    text: tuple[tuple[int, str], ...] = ()
    """String values: ``(row, text)`` pairs, rows ascending; their ``value`` is NaN."""

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, mask: npt.NDArray[np.bool_]) -> Rows:
        """The rows where ``mask`` is true (string values follow their rows)."""
        text: tuple[tuple[int, str], ...] = ()
        if self.text:
            pos = np.cumsum(mask) - 1
            text = tuple((int(pos[r]), t) for r, t in self.text if mask[r])
        return Rows(self.tag_id[mask], self.ts[mask], self.value[mask], self.quality[mask], text)

    def text_rows(self) -> list[tuple[int, int, str]]:
        """``(tag_id, ts, text)`` of every string value, for the ``sample_text`` table."""
        return [(int(self.tag_id[r]), int(self.ts[r]), t) for r, t in self.text]

    def tag_spans(self) -> list[tuple[int, int, int]]:
        """``(tag_id, start, stop)`` of each tag's run of rows."""
        if not len(self):
            return []
        cut = np.flatnonzero(np.diff(self.tag_id)) + 1
        starts = np.concatenate(([0], cut))
        stops = np.concatenate((cut, [len(self)]))
        return list(zip(self.tag_id[starts].tolist(), starts.tolist(), stops.tolist(), strict=True))


@dataclass(frozen=True, eq=False)
class RollupDelta:
    """Per ``(tag_id, bucket)``: count, sum, min and max of the good rows of one write."""

    tag_id: I32
    bucket: I64
    n: I64
    sum: F64
    min: F64
    max: F64

    def __len__(self) -> int:
        return len(self.bucket)


def to_rows(batch: Batch, ids: I32) -> Rows:
    """The batch with historian tag ids (``ids[i]`` is the id of ``batch.tags[i]``), keyed once."""
    tid = ids[batch.tag_id]
    order = np.lexsort((batch.ts, tid))  # stable: among equal keys the first sample stays first
    tid, ts = tid[order], batch.ts[order]
    keep = np.ones(len(ts), dtype=np.bool_)
    if len(ts) > 1:
        keep[1:] = (tid[1:] != tid[:-1]) | (ts[1:] != ts[:-1])
    idx = order[keep]
    text: tuple[tuple[int, str], ...] = ()
    if batch.strings:
        row_of = np.full(len(batch), -1, dtype=np.int64)
        row_of[idx] = np.arange(len(idx))
        text = tuple(sorted((int(row_of[r]), t) for r, t in batch.strings if row_of[r] >= 0))
    return Rows(tid[keep], ts[keep], batch.value[idx], batch.quality[idx], text)


def minute_bucket(ts: I64) -> I64:
    """The epoch-aligned minute each timestamp falls in (floor, also before 1970)."""
    return ts - ts % ROLLUP_NS


def rollup_delta(rows: Rows) -> RollupDelta:
    """Rollup contributions of ``rows``: GOOD quality and finite values only."""
    good = (rows.quality >= ROLLUP_MIN_QUALITY) & np.isfinite(rows.value)
    tid, ts, v = rows.tag_id[good], rows.ts[good], rows.value[good]
    bucket = minute_bucket(ts)
    if not len(ts):
        e = np.empty(0)
        return RollupDelta(tid, bucket, np.empty(0, np.int64), e, e, e)
    # rows are ordered by (tag_id, ts), so each (tag_id, bucket) group is one contiguous run
    start = np.flatnonzero(
        np.concatenate(([True], (tid[1:] != tid[:-1]) | (bucket[1:] != bucket[:-1])))
    )
    n = np.diff(np.append(start, len(ts))).astype(np.int64)
    return RollupDelta(
        tid[start],
        bucket[start],
        n,
        np.add.reduceat(v, start),
        np.minimum.reduceat(v, start),
        np.maximum.reduceat(v, start),
    )
