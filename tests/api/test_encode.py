"""The trend encoders agree with the plain ones they replace."""

from __future__ import annotations

import json

import numpy as np
import orjson

from andon.api.encode import columns_json, epoch_ms, iso_array, iso_json, values
from andon.core.clock import iso


def test_iso_json_writes_what_iso_array_writes() -> None:
    rng = np.random.default_rng(7)
    for scale in (1_000_000, 1000, 1):  # ms, us and ns precision
        ts = rng.integers(-(2**62), 2**62, 5000) // scale * scale
        edges = np.array([0, -scale, 86_400 * 10**9, -86_400 * 10**9, 951_782_400 * 10**9])
        ts = np.concatenate([ts, edges]).astype(np.int64)
        assert json.loads(iso_json(ts)) == iso_array(ts)
    assert iso_json(np.array([], dtype=np.int64)) == b"[]"
    one = np.array([1_767_225_600_123_000_000], dtype=np.int64)
    assert json.loads(iso_json(one)) == [iso(int(one[0]))] == ["2026-01-01T00:00:00.123Z"]


def test_columns_json_matches_the_list_encoding() -> None:
    value = np.array([1.5, np.nan, np.inf, -np.inf, 1e16, 0.1, -0.0])
    ts = np.array([0, 1_000_000, 1_500_000], dtype=np.int64)
    body = columns_json(
        {"value": value, "q": np.array([192, 0], dtype=np.uint8), "ts": orjson.Fragment(b"[1]")}
    )
    assert json.loads(body) == {"value": values(value), "q": [192, 0], "ts": [1]}
    assert epoch_ms(ts[:2]).tolist() == [0, 1] and epoch_ms(ts).tolist() == [0.0, 1.0, 1.5]
