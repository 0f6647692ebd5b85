"""JSON over the unified namespace: MQTT messages to columns, no network, no per-sample objects.

The topic below the source's ``prefix`` names the signal. Accepted payloads:

- a bare JSON number or boolean (``21.5``, ``true``), or a string (a text value) or ``null``;
- the value form ``{"value": V, "timestamp": T}``; ``"ts"`` may stand for ``"timestamp"`` and
  ``"quality"`` may be ``"good"``/``"uncertain"``/``"bad"`` or the quality byte 0-255. Any
  other key beside ``"value"`` is refused (a misspelt key must not vanish silently);
- the machine form on an asset topic ``<prefix>/<site>/<area>/<line>/<machine>``:
  ``{"timestamp": T, "<tag>": V, ...}``: every key except ``timestamp``/``ts`` is a tag below
  the topic (an object holding a ``"value"`` key is read as the value form instead);
- a JSON array of any of these (one level: an array inside an array is refused).

``T`` is epoch milliseconds (integer or fractional) or ISO 8601 text *with* an offset; without
``T`` the sample takes the arrival time (elements of one array without ``T`` take arrival + i
ns, and the next message arrives no earlier than after them, so no two collapse onto one
historian key). Booleans are stored as 1.0/0.0, strings as
text values (andon does not guess types: ``"12.5"`` stays text), ``null`` as a BAD-quality
sample with a NaN value.

What is refused becomes a dead letter (``deadletter.DeadLetter``) with its reason:

- a topic with a wildcard (``+``, ``#``), an empty, ``.`` or ``..`` segment, outside the prefix,
  or whose path is not a tag path (5-7 lowercase segments) - asset path for the machine form;
- a payload above ``max_payload`` bytes (default 1 MB; refused before any decoding);
- text holding a NUL character (no database column can hold it);
- invalid UTF-8, truncated or otherwise invalid JSON, the non-JSON literals ``NaN``,
  ``Infinity`` and ``-Infinity``, numbers beyond float64 (``1e400``), nesting beyond 1024;
- an empty payload, an empty object or array, an object with no value;
- a nested object or array where a value belongs, an unknown key beside ``"value"``;
- a timestamp of the wrong type (boolean, object), text that is not ISO 8601 or has no offset,
  before 1970, below 1e11 ms (1973: epoch *seconds* sent as milliseconds), after 2262 (int64
  nanoseconds), or more than ``max_ahead_ns`` (default one day) ahead of arrival - a clock in
  the year 3000 is a broken clock, not data;
- a quality that is not one of the words or bytes above.

A message that is partly good (an array with some bad elements, a machine object with a nested
value) keeps its good samples and yields one dead letter naming the refused parts.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from andon.connect.deadletter import DeadLetter
from andon.core.batch import Batch
from andon.core.clock import MAX_NS, NS_PER_S, to_ns
from andon.core.errors import InputError
from andon.core.quality import BAD, GOOD, UNCERTAIN
from andon.core.tagpath import check_segment, tag_path

MAX_PAYLOAD = 1_000_000
MAX_AHEAD_NS = 86_400 * NS_PER_S
SECONDS_LIKE_MS = 100_000_000_000
"""Epoch milliseconds below this (1973-03-03) are almost surely epoch seconds sent by mistake."""
TIME_KEYS = ("timestamp", "ts")
VALUE_KEYS = frozenset(("value", "timestamp", "ts", "quality"))
QUALITY_WORDS = {"good": GOOD, "uncertain": UNCERTAIN, "bad": BAD}
MAX_DICTIONARY = 50_000
"""Tags kept in the decoder's dictionary between batches before it starts afresh."""
_REASONS_SHOWN = 5
_NAN = float("nan")


class _Refused(Exception):
    """One part of a message cannot be stored; the reason goes into the dead letter."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """One message decoded: its samples as a Batch, and the dead letter for what was refused."""

    batch: Batch
    dead_letter: DeadLetter | None


def decode(
    topic: str,
    payload: bytes,
    *,
    prefix: str = "",
    arrival_ns: int,
    source: str = "",
    max_payload: int = MAX_PAYLOAD,
) -> Decoded:
    """Decode one message (for tests and tools; connectors keep one ``UnsDecoder``)."""
    decoder = UnsDecoder(prefix, source=source, max_payload=max_payload)
    dead = decoder.add(topic, payload, arrival_ns)
    return Decoded(decoder.take(), dead)


class UnsDecoder:
    """Accumulates many messages as columns; ``take`` makes one Batch of everything added."""

    def __init__(
        self,
        prefix: str = "",
        *,
        source: str = "",
        max_payload: int = MAX_PAYLOAD,
        max_ahead_ns: int = MAX_AHEAD_NS,
    ) -> None:
        prefix = prefix.strip("/")
        if any(c in prefix for c in "+#"):
            raise InputError(f"MQTT prefix {prefix!r} must not contain the wildcards + or #")
        self.prefix = prefix
        self.source = source
        self.max_payload = max_payload
        self.max_ahead_ns = max_ahead_ns
        self._head = prefix + "/" if prefix else ""
        self._topics: dict[str, str] = {}
        """topic -> path below the prefix ('' + reason kept in ``_topic_errors`` if refused)."""
        self._topic_errors: dict[str, str] = {}
        self._index: dict[str, int] = {}
        self._refused: dict[str, str] = {}
        self._tags: list[str] = []
        self._tags_tuple: tuple[str, ...] = ()
        self._grown = False
        self._next_ns = 0
        """The earliest arrival time the next message may take: array elements without a
        timestamp take arrival + i, so the next message starts after the last of them."""
        self._new()

    def _new(self) -> None:
        self._ts = array("q")
        self._id = array("i")
        self._value = array("d")
        self._quality = bytearray()
        self._strings: list[tuple[int, str]] = []

    def __len__(self) -> int:
        """Samples added since the last ``take``."""
        return len(self._ts)

    # -- the public surface ------------------------------------------------------------------

    def add(self, topic: str, payload: bytes | bytearray, arrival_ns: int) -> DeadLetter | None:
        """Decode one message into the pending columns; a dead letter for what was refused."""
        try:
            if len(payload) > self.max_payload:
                raise _Refused(
                    f"payload of {len(payload):,} bytes is larger than the "
                    f"{self.max_payload:,}-byte limit (max_payload)"
                )
            path = self._topics.get(topic)
            if path is None:
                path = self._resolve(topic)
            if not payload:
                raise _Refused("empty payload")
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raise _Refused(f"not valid JSON: {exc}") from None
            if arrival_ns < self._next_ns:
                arrival_ns = self._next_ns
            kind = type(doc)
            self._next_ns = arrival_ns + (len(doc) if kind is list else 1)
            if kind is float or kind is int:
                idx = self._tag(path)
                self._ts.append(arrival_ns)
                self._id.append(idx)
                self._value.append(doc)
                self._quality.append(GOOD)
                return None
            if kind is list:
                return self._array(topic, payload, path, doc, arrival_ns)
            self._element(path, doc, arrival_ns)
            return None
        except _Refused as refused:
            return DeadLetter.of(self.source, topic, bytes(payload), str(refused), arrival_ns)

    def dead(self, topic: str, payload: bytes | bytearray, reason: str) -> DeadLetter:
        """A dead letter for a message refused before decoding (by the transport)."""
        return DeadLetter.of(self.source, topic, bytes(payload), reason)

    def take(self) -> Batch:
        """Everything added since the last call, as one Batch (the tag dictionary is shared
        between batches, so the historian maps it once)."""
        n = len(self._ts)
        if self._grown:
            self._tags_tuple = tuple(self._tags)
            self._grown = False
        if not n:
            return Batch.empty(self._tags_tuple)
        batch = Batch(
            self._tags_tuple,
            np.frombuffer(self._ts, dtype=np.int64),
            np.frombuffer(self._id, dtype=np.int32),
            np.frombuffer(self._value, dtype=np.float64),
            np.frombuffer(self._quality, dtype=np.uint8),
            tuple(self._strings),
        )
        self._new()
        if len(self._tags) > MAX_DICTIONARY:
            self._index.clear()
            self._tags = []
            self._grown = True
        return batch

    # -- topics and tags ---------------------------------------------------------------------

    def _resolve(self, topic: str) -> str:
        """The path below the prefix, checked once per topic and remembered."""
        reason = self._topic_errors.get(topic)
        if reason is None:
            reason = _topic_problem(topic)
            if not reason and not topic.startswith(self._head):
                reason = f"topic is not under the prefix {self.prefix!r}"
            if not reason:
                path = topic[len(self._head) :]
                if len(self._topics) > MAX_DICTIONARY:
                    self._topics.clear()
                self._topics[topic] = path
                return path
            if len(self._topic_errors) > MAX_DICTIONARY:
                self._topic_errors.clear()
            self._topic_errors[topic] = reason
        raise _Refused(reason)

    def _tag(self, path: str) -> int:
        idx = self._index.get(path)
        if idx is not None:
            return idx
        reason = self._refused.get(path)
        if reason is None:
            try:
                tag_path(path)
            except InputError as exc:
                reason = str(exc)
                if len(self._refused) > MAX_DICTIONARY:
                    self._refused.clear()
                self._refused[path] = reason
        if reason is not None:
            raise _Refused(reason)
        idx = len(self._tags)
        self._tags.append(path)
        self._index[path] = idx
        self._grown = True
        return idx

    # -- payload shapes ----------------------------------------------------------------------

    def _array(
        self, topic: str, payload: bytes | bytearray, path: str, doc: list[Any], arrival_ns: int
    ) -> DeadLetter | None:
        if not doc:
            raise _Refused("empty array: no values")
        bad: list[str] = []
        for i, element in enumerate(doc):
            try:
                if type(element) is list:
                    raise _Refused("an array inside an array")
                self._element(path, element, arrival_ns + i)
            except _Refused as refused:
                bad.append(f"[{i}] {refused}")
        if not bad:
            return None
        shown = "; ".join(bad[:_REASONS_SHOWN]) + ("; ..." if len(bad) > _REASONS_SHOWN else "")
        reason = f"{len(bad)} of {len(doc)} elements refused: {shown}"
        return DeadLetter.of(self.source, topic, bytes(payload), reason, arrival_ns)

    def _element(self, path: str, doc: Any, arrival_ns: int) -> None:
        """One value, value object or machine object; appends all of it or raises _Refused
        (a machine object appends its good tags, then raises for the bad ones)."""
        if type(doc) is dict:
            if "value" in doc:
                self._value_form(path, doc, arrival_ns)
            else:
                self._machine_form(path, doc, arrival_ns)
            return
        value, quality, text = _value(doc)
        self._put(self._tag(path), arrival_ns, value, quality, text)

    def _value_form(self, path: str, doc: dict[str, Any], arrival_ns: int) -> None:
        extra = [k for k in doc if k not in VALUE_KEYS]
        if extra:
            raise _Refused(
                f"unexpected key {extra[0]!r} beside 'value' (allowed: value, timestamp or ts, "
                "quality)"
            )
        ts = self._time(doc, arrival_ns)
        value, quality, text = _value(doc["value"])
        q = doc.get("quality")
        if q is not None and quality != BAD:
            quality = _quality(q)
        self._put(self._tag(path), ts, value, quality, text)

    def _machine_form(self, path: str, doc: dict[str, Any], arrival_ns: int) -> None:
        ts = self._time(doc, arrival_ns)
        bad: list[str] = []
        stored = 0
        for key, raw in doc.items():
            if key in TIME_KEYS:
                continue
            try:
                check_segment(key, what="tag name")
                value, quality, text = _value(raw)
                idx = self._tag(f"{path}/{key}")
            except (_Refused, InputError) as exc:
                bad.append(f"{key!r}: {exc}")
                continue
            self._put(idx, ts, value, quality, text)
            stored += 1
        if not stored and not bad:
            raise _Refused("object holds no values (only a timestamp, or nothing)")
        if bad:
            raise _Refused("; ".join(bad[:_REASONS_SHOWN]))

    def _put(self, idx: int, ts: int, value: float, quality: int, text: str | None) -> None:
        if text is not None:
            self._strings.append((len(self._ts), text))
        self._ts.append(ts)
        self._id.append(idx)
        self._value.append(value)
        self._quality.append(quality)

    def _time(self, doc: dict[str, Any], arrival_ns: int) -> int:
        raw = doc.get("timestamp", doc.get("ts"))
        if raw is None:
            return arrival_ns
        kind = type(raw)
        if kind is int:
            ns = raw * 1_000_000
        elif kind is float:
            # beyond +-1e13 ms (year 2286) the product may overflow; either way it is refused
            if -1e13 < raw < 1e13:
                whole = int(raw)  # split, so the fraction keeps its microseconds
                ns = whole * 1_000_000 + round((raw - whole) * 1_000_000.0)
            else:
                ns = MAX_NS + 1 if raw > 0 else -1
        elif kind is str:
            ns = _iso(raw)
        else:
            raise _Refused(
                f"timestamp must be epoch milliseconds or ISO 8601 text, got {type(raw).__name__}"
            )
        if ns < 0:
            raise _Refused(f"timestamp {raw!r} is before 1970")
        if ns < SECONDS_LIKE_MS * 1_000_000:
            raise _Refused(
                f"timestamp {raw!r} is before 1973: epoch seconds? andon expects milliseconds"
            )
        if ns > MAX_NS:
            raise _Refused(f"timestamp {raw!r} is after 2262-04-11 (cannot be stored)")
        if ns > arrival_ns + self.max_ahead_ns:
            raise _Refused(
                f"timestamp {raw!r} is more than {self.max_ahead_ns / 3.6e12:g} h ahead of its "
                "arrival (the sender's clock is wrong)"
            )
        return int(ns)


def _topic_problem(topic: str) -> str:
    if "+" in topic or "#" in topic:
        return "topic contains an MQTT wildcard (+ or #)"
    for segment in topic.split("/"):
        if not segment:
            return "topic has an empty segment"
        if segment in (".", ".."):
            return f"topic has a {segment!r} segment"
    return ""


def _value(raw: Any) -> tuple[float, int, str | None]:
    """(value, quality, text) of one JSON value."""
    kind = type(raw)
    if kind is float or kind is int:
        return float(raw), GOOD, None
    if kind is bool:
        return (1.0 if raw else 0.0), GOOD, None
    if kind is str:
        if "\x00" in raw:
            raise _Refused("text with a NUL character cannot be stored")
        return _NAN, GOOD, raw
    if raw is None:
        return _NAN, BAD, None
    what = "an object" if kind is dict else "an array"
    raise _Refused(f"value is {what}; expected a number, boolean, text or null")


def _quality(raw: Any) -> int:
    if type(raw) is int and 0 <= raw <= 255:
        return int(raw)
    if type(raw) is str and raw.lower() in QUALITY_WORDS:
        return QUALITY_WORDS[raw.lower()]
    raise _Refused(f"quality {raw!r} is not good, uncertain, bad or a byte 0-255")


def _iso(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(
            f"timestamp {text[:40]!r} is not ISO 8601 (2026-03-29T06:00:00+02:00) "
            "nor epoch milliseconds"
        ) from None
    if dt.tzinfo is None:
        raise _Refused(f"timestamp {text[:40]!r} has no UTC offset; add Z or +HH:MM")
    return to_ns(dt)


__all__ = ["MAX_AHEAD_NS", "MAX_PAYLOAD", "Decoded", "UnsDecoder", "decode"]
