"""Decoding JSON over the unified namespace, without a network: every accepted shape, and a
corpus of malformed inputs that must each become a dead letter or a BAD-quality sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andon.connect.uns import UnsDecoder, decode
from andon.core.quality import BAD, GOOD, UNCERTAIN

PREFIX = "acme/uns"
TAG = "site/area/line-1/mill-1/temp"
TOPIC = f"{PREFIX}/{TAG}"
ASSET_TOPIC = f"{PREFIX}/site/area/line-1/mill-1"
NOW = 1_767_225_600_000 * 1_000_000  # 2026-01-01T00:00:00Z
T_MS = 1_767_225_000_000


def one(payload: bytes, topic: str = TOPIC) -> tuple[list[str], list[int], list[float], list[int]]:
    d = decode(topic, payload, prefix=PREFIX, arrival_ns=NOW)
    assert d.dead_letter is None, d.dead_letter
    b = d.batch
    return b.tag_paths(), b.ts.tolist(), b.value.tolist(), b.quality.tolist()


def test_bare_number_and_boolean_take_arrival_time() -> None:
    assert one(b"21.5") == ([TAG], [NOW], [21.5], [GOOD])
    assert one(b"-3") == ([TAG], [NOW], [-3.0], [GOOD])
    assert one(b"true")[2] == [1.0]
    assert one(b"false")[2] == [0.0]


def test_value_form_with_epoch_ms_iso_ts_and_quality() -> None:
    assert one(b'{"value": 7, "timestamp": 1767225000000}')[1] == [T_MS * 1_000_000]
    assert one(b'{"value": 7, "timestamp": 1767225000000.5}')[1] == [T_MS * 1_000_000 + 500_000]
    iso = one(b'{"value": 7, "ts": "2026-01-01T01:00:00+01:00"}')
    assert iso[1] == [NOW]
    assert one(b'{"value": 7, "quality": "uncertain"}')[3] == [UNCERTAIN]
    assert one(b'{"value": 7, "quality": 0}')[3] == [BAD]


def test_machine_form_fans_out_to_tags_below_the_asset() -> None:
    tags, ts, value, quality = one(
        b'{"timestamp": 1767225000000, "temp": 80.5, "running": true, "count": 12}', ASSET_TOPIC
    )
    assert tags == [f"site/area/line-1/mill-1/{k}" for k in ("temp", "running", "count")]
    assert ts == [T_MS * 1_000_000] * 3
    assert value == [80.5, 1.0, 12.0]
    assert quality == [GOOD] * 3


def test_array_of_shapes_keeps_order_and_distinct_arrival_times() -> None:
    tags, ts, value, _ = one(b'[1, 2, {"value": 3, "timestamp": 1767225000000}]')
    assert value == [1.0, 2.0, 3.0]
    assert ts == [NOW, NOW + 1, T_MS * 1_000_000]
    assert tags == [TAG] * 3


def test_text_values_go_to_the_string_side_list() -> None:
    d = decode(TOPIC, b'{"value": "P-100"}', prefix=PREFIX, arrival_ns=NOW)
    assert d.batch.strings == ((0, "P-100"),)
    assert math.isnan(d.batch.value[0])
    d = decode(ASSET_TOPIC, b'{"program": "P1", "speed": 3}', prefix=PREFIX, arrival_ns=NOW)
    assert d.batch.strings == ((0, "P1"),)
    assert d.batch.value[1] == 3.0


def test_null_is_stored_with_bad_quality() -> None:
    for payload in (b"null", b'{"value": null, "quality": "good"}'):
        _, _, value, quality = one(payload)
        assert quality == [BAD] and math.isnan(value[0])


def test_no_prefix_means_topics_are_tag_paths() -> None:
    d = decode(TAG, b"1", prefix="", arrival_ns=NOW)
    assert d.batch.tag_paths() == [TAG]


# -- the malformed corpus ---------------------------------------------------------------------

# (name, topic, payload, expected reason fragment)
DEAD = [
    ("truncated json", TOPIC, b'{"value": 1', "not valid JSON"),
    ("truncated array", TOPIC, b"[1, 2", "not valid JSON"),
    ("NaN literal", TOPIC, b"NaN", "not valid JSON"),
    ("Infinity literal", TOPIC, b"Infinity", "not valid JSON"),
    ("-Infinity literal", TOPIC, b"-Infinity", "not valid JSON"),
    ("NaN inside object", TOPIC, b'{"value": NaN}', "not valid JSON"),
    ("huge number 1e400", TOPIC, b"1e400", "infinity"),
    ("invalid utf-8", TOPIC, b'{"value": "\xff\xfe"}', "UTF-8"),
    ("empty payload", TOPIC, b"", "empty payload"),
    ("empty object", TOPIC, b"{}", "no values"),
    ("object with only a timestamp", ASSET_TOPIC, b'{"timestamp": 1767225000000}', "no values"),
    ("empty array", TOPIC, b"[]", "empty array"),
    ("nested object value", TOPIC, b'{"value": {"a": 1}}', "value is an object"),
    ("array value", TOPIC, b'{"value": [1, 2]}', "value is an array"),
    ("deeply nested arrays", TOPIC, b"[" * 2000 + b"]" * 2000, "not valid JSON"),
    ("array in array", TOPIC, b"[[1]]", "array inside an array"),
    ("string timestamp not iso", TOPIC, b'{"value": 1, "timestamp": "yesterday"}', "ISO 8601"),
    ("naive iso timestamp", TOPIC, b'{"value": 1, "timestamp": "2026-01-01T00:00:00"}', "offset"),
    ("boolean timestamp", TOPIC, b'{"value": 1, "timestamp": true}', "timestamp must be"),
    ("object timestamp", TOPIC, b'{"value": 1, "ts": {"s": 1}}', "timestamp must be"),
    ("year 3000", TOPIC, b'{"value": 1, "timestamp": 32503680000000}', "2262"),
    ("year 3000 iso", TOPIC, b'{"value": 1, "timestamp": "3000-01-01T00:00:00Z"}', "2262"),
    ("next year", TOPIC, b'{"value": 1, "timestamp": 1798761600000}', "ahead of its arrival"),
    ("before 1970", TOPIC, b'{"value": 1, "timestamp": -1000}', "before 1970"),
    ("before 1970 iso", TOPIC, b'{"value": 1, "ts": "1969-07-20T20:17:00Z"}', "before 1970"),
    ("epoch seconds", TOPIC, b'{"value": 1, "timestamp": 1767225000}', "epoch seconds"),
    ("float timestamp overflow", TOPIC, b'{"value": 1, "timestamp": 1e300}', "2262"),
    ("string quality", TOPIC, b'{"value": 1, "quality": "excellent"}', "quality"),
    ("quality out of range", TOPIC, b'{"value": 1, "quality": 300}', "quality"),
    ("misspelt key", TOPIC, b'{"value": 1, "timestmap": 1767225000000}', "unexpected key"),
    ("topic with ..", f"{PREFIX}/site/../line-1/mill-1/temp", b"1", "'..' segment"),
    ("topic with .", f"{PREFIX}/site/./line-1/mill-1/temp", b"1", "'.' segment"),
    ("topic with +", f"{PREFIX}/site/+/line-1/mill-1/temp", b"1", "wildcard"),
    ("topic with #", f"{PREFIX}/site/area/#", b"1", "wildcard"),
    ("empty segment", f"{PREFIX}/site//line-1/mill-1/temp", b"1", "empty segment"),
    ("trailing slash", f"{TOPIC}/", b"1", "empty segment"),
    ("outside the prefix", "other/site/area/line-1/mill-1/temp", b"1", "not under the prefix"),
    ("prefix only as text", f"{PREFIX}x/site/area/line-1/mill-1/temp", b"1", "not under"),
    ("too few segments", f"{PREFIX}/site/area/temp", b"1", "segments"),
    ("uppercase segment", f"{PREFIX}/Site/area/line-1/mill-1/temp", b"1", "lowercase"),
    ("value form on asset topic", ASSET_TOPIC, b'{"value": 1}', "segments"),
    ("bad key in machine form", ASSET_TOPIC, b'{"Temp": 1}', "tag name"),
    ("10 MB payload", TOPIC, b"[" + b"1," * 5_000_000 + b"1]", "max_payload"),
    ("NUL in text", TOPIC, b'{"value": "a\\u0000b"}', "NUL character"),
]


@pytest.mark.parametrize(("name", "topic", "payload", "reason"), DEAD, ids=[d[0] for d in DEAD])
def test_malformed_input_goes_to_dead_letters(
    name: str, topic: str, payload: bytes, reason: str
) -> None:
    d = decode(topic, payload, prefix=PREFIX, arrival_ns=NOW, source="plc")
    assert d.dead_letter is not None, name
    assert reason in d.dead_letter.reason, d.dead_letter.reason
    assert len(d.batch) == 0
    assert d.dead_letter.topic == topic
    assert d.dead_letter.size == len(payload)
    assert len(d.dead_letter.head) <= 4 * 256
    event = d.dead_letter.event()
    assert event.kind == "dead_letter" and event.asset == "_sources/plc"


def test_corpus_is_large_enough() -> None:
    assert len(DEAD) >= 30


def test_partly_good_messages_keep_the_good_and_report_the_bad() -> None:
    d = decode(TOPIC, b'[1, {"value": {}}, 3, NaN]', prefix=PREFIX, arrival_ns=NOW)
    assert d.dead_letter is not None  # the NaN makes the whole document invalid JSON
    assert len(d.batch) == 0
    d = decode(TOPIC, b'[1, {"value": {}}, 3, [4]]', prefix=PREFIX, arrival_ns=NOW)
    assert d.batch.value.tolist() == [1.0, 3.0]
    assert d.dead_letter is not None
    assert d.dead_letter.reason.startswith("2 of 4 elements refused: [1] value is an object")
    d = decode(ASSET_TOPIC, b'{"temp": 1, "bad": {"x": 1}, "ok": 2}', prefix=PREFIX, arrival_ns=NOW)
    assert d.batch.value.tolist() == [1.0, 2.0]
    assert d.dead_letter is not None and "'bad'" in d.dead_letter.reason


def test_interleaved_good_messages_all_arrive_in_one_batch() -> None:
    dec = UnsDecoder(PREFIX, source="plc")
    dead = 0
    good = 0
    for i, (_, topic, payload, _) in enumerate(DEAD):
        good_topic = f"{PREFIX}/site/area/line-1/m{i}/temp"
        assert dec.add(good_topic, b"%d" % i, NOW + 2 * i) is None
        good += 1
        dead += dec.add(topic, payload, NOW + 2 * i + 1) is not None
    batch = dec.take()
    assert dead == len(DEAD)
    assert len(batch) == good
    assert batch.value.tolist() == [float(i) for i in range(good)]
    assert batch.tag_paths() == [f"site/area/line-1/m{i}/temp" for i in range(good)]
    assert len(dec.take()) == 0


def test_decoder_shares_its_tag_dictionary_between_batches() -> None:
    dec = UnsDecoder(PREFIX)
    dec.add(TOPIC, b"1", NOW)
    first = dec.take()
    dec.add(TOPIC, b"2", NOW + 1)
    second = dec.take()
    assert first.tags == second.tags == (TAG,)
    assert first.value.tolist() == [1.0] and second.value.tolist() == [2.0]
    assert np.shares_memory(first.value, second.value) is False


def test_many_messages_decode_into_columns() -> None:
    dec = UnsDecoder(PREFIX)
    payload = (
        b'{"timestamp": 1767225000000, '
        + b", ".join(b'"t%d": %d' % (k, k) for k in range(100))
        + b"}"
    )
    for i in range(200):
        assert dec.add(f"{PREFIX}/site/area/line-1/m{i % 5}", payload, NOW + i) is None
    batch = dec.take()
    assert len(batch) == 200 * 100
    assert len(batch.tags) == 500
    assert batch.quality.min() == GOOD


def test_arrays_without_timestamps_never_share_a_historian_key() -> None:
    """Two timestamp-less arrays arriving 1 ns apart: every element keeps a time of its own."""
    dec = UnsDecoder(PREFIX)
    assert dec.add(TOPIC, b"[1, 2, 3]", NOW) is None
    assert dec.add(TOPIC, b"[4, 5, 6]", NOW + 1) is None
    assert dec.add(TOPIC, b"7", NOW + 2) is None
    b = dec.take()
    assert b.value.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert len(set(b.ts.tolist())) == 7 and b.ts.tolist() == sorted(b.ts.tolist())
