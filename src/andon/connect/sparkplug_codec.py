"""Sparkplug B words and encodings: topics, datatypes, metric values, safe tag-path segments.

The pieces both sides of Sparkplug share — the host (``sparkplug``) and the edge node
(``sparkplug_edge``) — as plain functions over the generated protobuf messages
(``sparkplug_b_pb2``, from ``sparkplug_b.proto``).

Integers: signed values travel as two's complement in the unsigned ``int_value`` (8 to 32 bits)
or ``long_value`` (64 bits) field; decoding masks to the declared width, so both the
sign-extended and the narrow form that different edge implementations send read right.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from google.protobuf.message import DecodeError

from andon.connect import sparkplug_b_pb2 as pb
from andon.connect.base import Value, WriteRefused
from andon.core.clock import MAX_NS
from andon.core.errors import InputError

NAMESPACE = "spBv1.0"
STATE = "STATE"
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
NS_PER_MS = 1_000_000
MAX_MS = MAX_NS // NS_PER_MS
"""The latest millisecond timestamp that int64 nanoseconds can hold (year 2262)."""


BDSEQ_METRIC = "bdSeq"
REBIRTH_RETRY_NS = 10_000_000_000
"""A node still not reborn this long after a rebirth request is asked again."""
NS_PER_MS = 1_000_000
MAX_MS = MAX_NS // NS_PER_MS


class DataType(IntEnum):
    """Sparkplug B datatype codes (``Metric.datatype``)."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


INTEGER_TYPES: dict[int, tuple[int, bool]] = {
    DataType.Int8: (8, True),
    DataType.Int16: (16, True),
    DataType.Int32: (32, True),
    DataType.Int64: (64, True),
    DataType.UInt8: (8, False),
    DataType.UInt16: (16, False),
    DataType.UInt32: (32, False),
    DataType.UInt64: (64, False),
}
FLOAT_TYPES = frozenset({DataType.Float, DataType.Double})
STRING_TYPES = frozenset({DataType.String, DataType.Text, DataType.UUID})
STORED_TYPES = frozenset(
    {*INTEGER_TYPES, *FLOAT_TYPES, *STRING_TYPES, DataType.Boolean, DataType.DateTime}
)


class MessageType(IntEnum):
    NBIRTH = 1
    NDEATH = 2
    DBIRTH = 3
    DDEATH = 4
    NDATA = 5
    DDATA = 6
    NCMD = 7
    DCMD = 8


DEVICE_TYPES = frozenset({MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA})
DEVICE_TYPES_ALL = DEVICE_TYPES | {MessageType.DCMD}


class SparkplugError(InputError):
    """A Sparkplug message that breaks the specification; the text says how."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed ``spBv1.0/<group>/<type>/<node>[/<device>]`` topic."""

    group: str
    type: MessageType
    node: str
    device: str | None = None

    def __str__(self) -> str:
        parts = [NAMESPACE, self.group, self.type.name, self.node]
        if self.device is not None:
            parts.append(self.device)
        return "/".join(parts)


def check_id(value: str, what: str) -> str:
    if not value or any(c in value for c in "/+#") or "\x00" in value:
        raise SparkplugError(f"{what} {value!r} must be non-empty, without '/', '+' or '#'")
    return value


def parse_topic(topic: str) -> Topic:
    """Parse an edge-node topic; raise ``SparkplugError`` saying what is wrong."""
    parts = topic.split("/")
    if parts[0] != NAMESPACE:
        raise SparkplugError(f"topic does not start with {NAMESPACE}/")
    if len(parts) < 4:
        raise SparkplugError(f"expected {NAMESPACE}/<group>/<type>/<node>[/<device>]")
    try:
        kind = MessageType[parts[2]]
    except KeyError:
        raise SparkplugError(f"unknown Sparkplug message type {parts[2]!r}") from None
    want = 5 if kind in DEVICE_TYPES_ALL else 4
    if len(parts) != want:
        shape = "<node>/<device>" if want == 5 else "<node>"
        raise SparkplugError(f"a {kind.name} topic is {NAMESPACE}/<group>/{kind.name}/{shape}")
    check_id(parts[1], "group id")
    check_id(parts[3], "edge node id")
    if want == 5:
        check_id(parts[4], "device id")
    return Topic(parts[1], kind, parts[3], parts[4] if want == 5 else None)


_NOT_SEGMENT = re.compile(r"[^a-z0-9_-]+")


def segment(text: str) -> str:
    """One safe tag-path segment from a Sparkplug id or metric-name part (see module doc)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    seg = _NOT_SEGMENT.sub("_", plain.lower()).strip("_-")
    return seg or f"x{zlib.crc32(text.encode('utf-8')):08x}"


def metric_segments(name: str, room: int) -> list[str]:
    """The path segments of a metric name, folded to at most ``room`` segments."""
    parts = [segment(p) for p in name.split("/") if p.strip()] or [segment(name)]
    if len(parts) > room:
        head = len(parts) - room + 1
        parts = ["_".join(parts[:head]), *parts[head:]]
    return parts


def bd_seq_of(p: pb.Payload) -> int | None:
    """The ``bdSeq`` metric of an NBIRTH or NDEATH, if it has one."""
    for m in p.metrics:
        if m.name == BDSEQ_METRIC and m.WhichOneof("value") in ("int_value", "long_value"):
            return int(m.long_value if m.HasField("long_value") else m.int_value)
    return None


def _int_field(m: pb.Payload.Metric, which: str | None) -> int:
    if which == "int_value":
        return int(m.int_value)
    if which == "long_value":
        return int(m.long_value)
    raise ValueError(f"has {which or 'no value'}, expected int_value or long_value")


def utf8(value: object) -> str | None:
    """A proto2 string field as text: the protobuf runtime hands invalid UTF-8 back as bytes."""
    return value if isinstance(value, str) else None


def metric_value(m: pb.Payload.Metric, datatype: int) -> float | str:
    """The value of ``m`` read as ``datatype``: a float, or a str for the string types.

    Raises ``ValueError`` when the value field does not fit the datatype.
    """
    which = m.WhichOneof("value")
    if datatype in INTEGER_TYPES:
        bits, signed = INTEGER_TYPES[datatype]
        v = _int_field(m, which) & ((1 << bits) - 1)
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return float(v)
    if datatype in FLOAT_TYPES:
        if which == "float_value":
            return float(m.float_value)
        if which == "double_value":
            return float(m.double_value)
        raise ValueError(f"has {which or 'no value'}, expected float_value or double_value")
    if datatype == DataType.Boolean:
        if which != "boolean_value":
            raise ValueError(f"has {which or 'no value'}, expected boolean_value")
        return 1.0 if m.boolean_value else 0.0
    if datatype in STRING_TYPES:
        if which != "string_value":
            raise ValueError(f"has {which or 'no value'}, expected string_value")
        text = utf8(m.string_value)
        if text is None or "\x00" in text:
            raise ValueError("string_value is not valid UTF-8 text (or holds a NUL)")
        return text
    if datatype == DataType.DateTime:
        return float(_int_field(m, which))
    raise ValueError(f"datatype {type_name(datatype)} is not stored")


def set_metric_value(m: pb.Payload.Metric, datatype: int, value: Value | None) -> None:
    """Write ``value`` into ``m`` as ``datatype`` (``None``: is_null); ``WriteRefused`` if it
    does not fit."""
    m.datatype = int(datatype)
    if value is None:
        m.is_null = True
        return
    kind = type_name(datatype)
    if datatype in INTEGER_TYPES or datatype == DataType.DateTime:
        bits, signed = INTEGER_TYPES.get(datatype, (64, True))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WriteRefused(f"{kind} needs a whole number, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise WriteRefused(f"{kind} needs a whole number, got {value!r}")
        v = int(value)
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not lo <= v <= hi:
            raise WriteRefused(f"{v} is out of the {kind} range {lo}..{hi}")
        if bits <= 32:
            m.int_value = v & 0xFFFFFFFF
        else:
            m.long_value = v & 0xFFFFFFFFFFFFFFFF
    elif datatype in FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WriteRefused(f"{kind} needs a number, got {value!r}")
        if datatype == DataType.Float:
            m.float_value = float(value)
        else:
            m.double_value = float(value)
    elif datatype == DataType.Boolean:
        if not isinstance(value, bool):
            raise WriteRefused(f"Boolean needs true or false, got {value!r}")
        m.boolean_value = value
    elif datatype in STRING_TYPES:
        if not isinstance(value, str):
            raise WriteRefused(f"{kind} needs a string, got {value!r}")
        m.string_value = value
    else:
        raise WriteRefused(f"metrics of datatype {kind} cannot be written")


def type_name(datatype: int) -> str:
    try:
        return DataType(datatype).name
    except ValueError:
        return f"unknown datatype {datatype}"


def decode_payload(payload: bytes) -> pb.Payload:
    """Parse a Sparkplug B payload; ``SparkplugError`` if the bytes are not one."""
    try:
        p: pb.Payload = pb.Payload.FromString(payload)
    except DecodeError as exc:
        raise SparkplugError(f"not a Sparkplug B protobuf payload: {exc}") from None
    return p


def command_payload(metrics: Iterable[tuple[str, int, Value]], ts_ms: int) -> bytes:
    """An NCMD/DCMD payload writing ``(name, datatype, value)`` metrics."""
    p = pb.Payload(timestamp=ts_ms)
    for name, datatype, value in metrics:
        m = p.metrics.add()
        m.name = name
        m.timestamp = ts_ms
        set_metric_value(m, datatype, value)
    data: bytes = p.SerializeToString()
    return data


def state_json(online: bool, ts_ms: int) -> bytes:
    """A Sparkplug 3.0 STATE payload."""
    return json.dumps({"online": online, "timestamp": ts_ms}, separators=(",", ":")).encode()


def parse_state(payload: bytes) -> tuple[bool, int]:
    """``(online, timestamp_ms)`` of a STATE payload; ``SparkplugError`` if malformed."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        doc = None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("online"), bool)
        or isinstance(doc.get("timestamp"), bool)
        or not isinstance(doc.get("timestamp"), int)
    ):
        raise SparkplugError('a STATE payload is JSON {"online": true|false, "timestamp": <ms>}')
    return doc["online"], doc["timestamp"]


__all__ = [
    "BDSEQ_METRIC",
    "FLOAT_TYPES",
    "INTEGER_TYPES",
    "MAX_MS",
    "NAMESPACE",
    "NS_PER_MS",
    "REBIRTH_METRIC",
    "STATE",
    "STORED_TYPES",
    "STRING_TYPES",
    "DataType",
    "MessageType",
    "SparkplugError",
    "Topic",
    "bd_seq_of",
    "check_id",
    "command_payload",
    "decode_payload",
    "metric_segments",
    "metric_value",
    "parse_state",
    "parse_topic",
    "segment",
    "set_metric_value",
    "state_json",
    "type_name",
    "utf8",
]
