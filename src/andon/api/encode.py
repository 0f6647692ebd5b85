"""Numpy columns to JSON, fast: a day of 1 Hz samples must not cost a loop of ``iso()`` calls.

A trend is encoded column by column with orjson, which writes numpy arrays itself (NaN and
infinities as null, as JSON has neither); its timestamps are written as one byte array,
digit by digit in numpy (``iso_json``), and spliced in as a pre-encoded fragment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

from andon.core.batch import F64, I64, Batch
from andon.core.clock import NS_PER_S, iso
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


_NS_PER_DAY = 86_400 * NS_PER_S


def _fraction_digits(ts: I64) -> int:
    """Digits after the second: 3 (ms), 6 (us) or 9 (ns), the fewest that are exact."""
    if not (ts % 1_000_000).any():
        return 3
    if not (ts % 1000).any():
        return 6
    return 9


def iso_json(ts: I64) -> bytes:
    """``iso_array(ts)`` as a JSON array, written in numpy: no Python string per stamp.

    Every stamp has the same width, so the array is one ``(n, width)`` byte matrix filled
    column by column (days are formatted once each, by numpy).
    """
    n = len(ts)
    if not n:
        return b"[]"
    digits = _fraction_digits(ts)
    day = ts // _NS_PER_DAY  # a floor, also before 1970
    rem = ts - day * _NS_PER_DAY
    days, inv = np.unique(day, return_inverse=True)
    dates = np.datetime_as_string(days.astype("datetime64[D]"), unit="D")
    date_bytes = np.char.encode(dates, "ascii").view(np.uint8).reshape(len(days), -1)
    if date_bytes.shape[1] != 10:  # years outside 0000-9999 cannot be nanoseconds since 1970
        return orjson.dumps(iso_array(ts))  # pragma: no cover
    width = 24 + digits  # "YYYY-MM-DDTHH:MM:SS.fffZ",
    out = np.empty((n, width), dtype=np.uint8)
    out[:, 0] = out[:, width - 2] = ord('"')
    out[:, 1:11] = date_bytes[inv.reshape(-1)]
    out[:, 11] = ord("T")
    out[:, 14] = out[:, 17] = ord(":")
    out[:, 20] = ord(".")
    out[:, width - 3] = ord("Z")
    out[:, width - 1] = ord(",")
    sec = rem // NS_PER_S
    for col, part in ((12, sec // 3600), (15, sec // 60 % 60), (18, sec % 60)):
        out[:, col] = 48 + part // 10
        out[:, col + 1] = 48 + part % 10
    frac = (rem % NS_PER_S) // 10 ** (9 - digits)
    for k in range(digits):
        out[:, 21 + k] = 48 + (frac // 10 ** (digits - 1 - k)) % 10
    return b"[" + out.tobytes()[:-1] + b"]"


def epoch_ms(ts: I64) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    """UTC ns as epoch milliseconds: integers, or floats when some stamp has a fraction."""
    if not (ts % 1_000_000).any():
        out: npt.NDArray[np.int64] = ts // 1_000_000
        return out
    return ts / 1_000_000


def columns_json(fields: dict[str, Any]) -> bytes:
    """A JSON object of scalars, lists, numpy columns and ``orjson.Fragment`` values."""
    return orjson.dumps(fields, option=orjson.OPT_SERIALIZE_NUMPY)


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
