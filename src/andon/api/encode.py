"""Numpy columns to JSON-ready lists, fast: a day of 1 Hz samples must not cost a loop of
``iso()`` calls."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from andon.core.batch import F64, I64, Batch
from andon.core.clock import iso
from andon.core.event import Event


def iso_array(ts: I64) -> list[str]:
    """UTC ns to ISO 8601 with ``Z``, to the millisecond or finer when needed (as ``iso``)."""
    if not len(ts):
        return []
    unit: Literal["ms", "us", "ns"]
    if not (ts % 1_000_000).any():
        unit = "ms"
    elif not (ts % 1000).any():
        unit = "us"
    else:
        unit = "ns"
    stamps: npt.NDArray[np.datetime64] = ts.astype("datetime64[ns]")
    out: list[str] = np.datetime_as_string(stamps, unit=unit, timezone="UTC").tolist()
    return out


def values(value: F64, text: Sequence[tuple[int, str]] = ()) -> list[float | str | None]:
    """Floats, with NaN and infinities as null (JSON has neither) and string values in place."""
    out: list[float | str | None] = list(value.tolist())
    for i in np.flatnonzero(~np.isfinite(value)).tolist():
        out[i] = None
    for row, s in text:
        out[row] = s
    return out


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def sample_records(batch: Batch) -> list[dict[str, Any]]:
    """One JSON-ready dict per sample of a batch: ``{tag, ts, value, quality}``."""
    texts = dict(batch.strings)
    stamps = iso_array(batch.ts)
    vals = values(batch.value)
    tags = batch.tags
    return [
        {
            "tag": tags[tag_id],
            "ts": stamps[i],
            "value": texts.get(i, vals[i]),
            "quality": quality,
        }
        for i, (tag_id, quality) in enumerate(
            zip(batch.tag_id.tolist(), batch.quality.tolist(), strict=True)
        )
    ]


def event_record(event: Event) -> dict[str, Any]:
    """An event as JSON-ready dict: ``{ts, asset, kind, payload, source}``."""
    return {
        "ts": iso(event.ts),
        "asset": event.asset,
        "kind": event.kind,
        "payload": dict(event.payload),
        "source": event.source,
    }
