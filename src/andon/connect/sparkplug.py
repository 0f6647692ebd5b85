"""Sparkplug B host application: births, data and deaths from edge nodes, decoded to Batches.

Pure protocol logic, bytes in and decisions out: ``SparkplugHost.on_message`` takes one MQTT
message and returns a ``HostOutput`` (samples, dead letters, messages to publish, events). The
MQTT connection belongs to the connector built on ``andon.connect.mqtt``, so every rule here is
tested without a broker. ``sparkplug_edge.EdgeNode`` is the other side (virtual plant, tests).

The rules (Sparkplug 3.0):

- **Births** teach each metric's name, alias and datatype per edge node (NBIRTH) and device
  (DBIRTH). A DBIRTH needs its node born first. A new NBIRTH forgets the node's devices: they
  must be born again (an edge node sends its DBIRTHs right after its NBIRTH).
- **seq** is per edge node, 0..255 wrapping; NBIRTH sets it, and every later NDATA, DBIRTH,
  DDATA and DDEATH of the node must carry the next one. On a gap the message is still decoded
  (its values are true; only messages in between are missing) and a rebirth is requested.
- **Rebirth requests** (NCMD ``Node Control/Rebirth`` = true) are sent on a seq gap, an unknown
  alias or name, or data from a node or device that is not born. One request per node, then
  none until its NBIRTH arrives or ``REBIRTH_RETRY_NS`` has passed (arrival time), so a node
  that streams 1,000 messages after a gap gets one request, not 1,000.
- **Deaths**: an NDEATH counts only when its ``bdSeq`` equals the one of the node's current
  NBIRTH; any other is the will of an older session arriving late and is ignored with a
  ``sparkplug.stale_death`` event. An NDEATH without ``bdSeq`` (when the birth had one) is a
  dead letter; one for a node that is not born changes nothing. On a death (NDEATH, or DDEATH
  for one device) every metric of the node and its devices (or of the device) gets one sample
  at the death time — the arrival time for an NDEATH (the will's own timestamp is from when it
  was set), the payload's timestamp for a DDEATH, and never before the metric's last sample —
  holding its last known value with quality UNCERTAIN (stale).
- **Values**: Int8..UInt64, Float, Double, Boolean (1/0) are numbers; DateTime is its epoch
  milliseconds as a number; String, Text and UUID go to ``Batch.strings``. ``is_null`` gives a
  BAD sample (NaN), as does a NaN or infinite float. A metric's own timestamp wins over the
  payload's, which wins over the arrival time. ``is_historical`` metrics are stored at their own
  timestamps like any other (they only do not change the last known value used on death);
  ``is_transient`` metrics are not stored, as the specification asks.
- **Not stored**: DataSet, Template, Bytes, File, PropertySet(List) and the array types. They
  are reported once, in a dead letter for the birth that declares them, and skipped in data.
- **Dead letters**: a topic that is not ``spBv1.0/<group>/<type>/<node>[/<device>]``, a payload
  that is not a Sparkplug B protobuf, a missing or out-of-range seq, data before birth,
  unknown aliases, a value that does not fit its declared datatype, a timestamp beyond 2262,
  a malformed STATE message. One dead letter per message, listing every problem in it; the
  metrics of the same message that could be decoded are kept.
- NCMD and DCMD are commands to edge nodes: the host does not subscribe to them and ignores
  them if they arrive. A reorder window is not kept: MQTT delivers one publisher's messages in
  order, so a gap means loss.

**Tag paths**: ``<tag_prefix>/<group>/<node>[/<device>]/<metric>``, where a ``/`` in a
metric name starts a new path segment (``Motor/Bearing Temp`` → ``motor/bearing_temp``).
Each segment is made safe by ``sparkplug_codec.segment``: accents removed, lowercased, every
run of other characters becomes ``_``, leading and trailing ``_``/``-`` dropped, and an empty
result named after a checksum of the original (``x0f3a91c2``). A metric name deeper than the
path allows (at most 7 segments) has its leading segments joined with ``_``. Two metrics that
still land on one path get ``_2``, ``_3``... in birth order. ``bdSeq`` and ``Node Control/*``
are stored like any other metric of the node.

**STATE**: the host publishes ``spBv1.0/STATE/<host_id>`` = ``{"online": true, "timestamp":
ms}`` retained at QoS 1 once connected, with the offline payload of the same timestamp as its
MQTT will. When it sees its own topic say offline while it is online it publishes online
again (``HostOutput.publish`` then holds the state topic: publish it retained, QoS 1; every
other publish is a command: QoS 0, not retained).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from andon.connect import sparkplug_b_pb2 as pb
from andon.connect.base import Value, WriteRefused
from andon.connect.deadletter import DeadLetter
from andon.connect.sparkplug_codec import (
    MAX_MS,
    NAMESPACE,
    NS_PER_MS,
    REBIRTH_METRIC,
    STATE,
    STORED_TYPES,
    DataType,
    MessageType,
    SparkplugError,
    bd_seq_of,
    check_id,
    command_payload,
    decode_payload,
    metric_segments,
    metric_value,
    parse_state,
    parse_topic,
    segment,
    state_json,
    type_name,
    utf8,
)
from andon.core.batch import Batch
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.quality import BAD, GOOD, UNCERTAIN
from andon.core.tagpath import MAX_SEGMENTS, TagPathError, asset_path, tag_path

REBIRTH_RETRY_NS = 10_000_000_000
"""A node still not reborn this long after a rebirth request is asked again."""
MAX_REASON = 1000


@dataclass(slots=True)
class MetricDef:
    """One metric as its birth declared it, and its last known value (for the stale mark)."""

    name: str
    datatype: int
    tag: str | None
    """``None``: not stored (unsupported datatype or no valid tag path)."""
    last_value: float = math.nan
    last_text: str | None = None
    last_ts: int | None = None


@dataclass(slots=True)
class _Scope:
    """The metrics of one edge node or one device: by alias and by name."""

    by_alias: dict[int, MetricDef] = field(default_factory=dict)
    by_name: dict[str, MetricDef] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    group: str
    node: str
    online: bool = False
    bd_seq: int | None = None
    seq: int = 0
    metrics: _Scope = field(default_factory=_Scope)
    devices: dict[str, _Scope] = field(default_factory=dict)
    rebirth_asked_ns: int | None = None


Owner = tuple[str, str, str | None]
"""(group, edge node, device or None): whose metric a tag is."""


@dataclass(slots=True)
class HostOutput:
    """What one message produced. ``publish``: (topic, payload) to send — see the module doc
    for QoS and retain."""

    batch: Batch | None = None
    dead_letters: list[DeadLetter] = field(default_factory=list)
    publish: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class _Message:
    """One message being handled: its times, the samples gathered column by column, and the
    problems found (which become one dead letter)."""

    arrival_ns: int
    out: HostOutput = field(default_factory=HostOutput)
    ts_ns: int = 0
    """The payload's timestamp (arrival time when it has none)."""
    problems: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    ts: list[int] = field(default_factory=list)
    tag_id: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    strings: list[tuple[int, str]] = field(default_factory=list)

    def add(self, tag: str, ts: int, value: float | str, quality: int) -> None:
        if isinstance(value, str):
            self.strings.append((len(self.ts), value))
            value = math.nan
        self.ts.append(ts)
        self.tag_id.append(self.tags.setdefault(tag, len(self.tags)))
        self.value.append(value)
        self.quality.append(quality)

    def batch(self) -> Batch | None:
        if not self.ts:
            return None
        b = Batch.build(tuple(self.tags), self.ts, self.tag_id, self.value, self.quality)
        if self.strings:
            b = Batch(b.tags, b.ts, b.tag_id, b.value, b.quality, tuple(self.strings))
        return b


class SparkplugHost:
    """A Sparkplug B host application's protocol state, for one source.

    ``tag_prefix`` is the path above ``<group>/<node>/...`` (two or three segments, e.g.
    ``acme/sparkplug``), leaving room for the 5 to 7 segments of a tag path.
    """

    def __init__(self, source: str, *, host_id: str, group: str = "+", tag_prefix: str) -> None:
        self.source = source
        try:
            self.host_id = check_id(host_id, "host id")
            self.group = group if group == "+" else check_id(group, "group id")
        except InputError as exc:
            raise InputError(f"source {source}: {exc}") from None
        try:
            prefix = asset_path(tag_prefix)
        except InputError as exc:
            raise InputError(f"source {source}: tag_prefix: {exc}") from None
        if not 2 <= prefix.count("/") + 1 <= 3:
            raise InputError(
                f"source {source}: tag_prefix {tag_prefix!r} must have 2 or 3 segments "
                "(e.g. 'acme/sparkplug'), leaving room for group/node/device/metric"
            )
        self.tag_prefix = prefix
        self.state_topic = f"{NAMESPACE}/{STATE}/{host_id}"
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._by_tag: dict[str, tuple[Owner, MetricDef]] = {}
        self._owned: dict[Owner, list[str]] = {}
        self._online_ts: int | None = None

    # -- MQTT side ------------------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        """Topic filters: births, data and deaths of the group(s), and this host's STATE.

        One filter per message type rather than ``spBv1.0/<group>/#``: with group ``+`` that
        filter also matches the STATE topic and the broker could deliver it twice; and the
        host has no use for the commands (NCMD/DCMD) it sends itself.
        """
        g = self.group
        node = (f"{NAMESPACE}/{g}/{k}/+" for k in ("NBIRTH", "NDATA", "NDEATH"))
        device = (f"{NAMESPACE}/{g}/{k}/+/+" for k in ("DBIRTH", "DDATA", "DDEATH"))
        return [*node, *device, self.state_topic]

    def state_payload(self, online: bool, ts_ms: int) -> bytes:
        """The STATE payload (retained, QoS 1); the offline one is the MQTT will. Give the
        online one the will's timestamp; the host repeats it if it sees itself called offline."""
        if online:
            self._online_ts = ts_ms
        return state_json(online, ts_ms)

    def command(self, tag: str, value: Value, ts_ms: int | None = None) -> tuple[str, bytes]:
        """The DCMD (device metric) or NCMD (node metric) writing ``value`` to ``tag``, by
        metric name with the datatype its birth declared. ``WriteRefused`` if it cannot be."""
        found = self._by_tag.get(tag)
        if found is None:
            raise WriteRefused(f"no Sparkplug metric is known as {tag!r} (is its node born?)")
        (group, node, device), d = found
        if not self.online(group, node, device):
            raise WriteRefused(f"edge node {group}/{node} of {tag!r} is offline")
        ts = int(time.time() * 1000) if ts_ms is None else ts_ms
        try:
            payload = command_payload([(d.name, d.datatype, value)], ts)
        except WriteRefused as exc:
            raise WriteRefused(f"{tag}: {exc}") from None
        if device is None:
            return f"{NAMESPACE}/{group}/NCMD/{node}", payload
        return f"{NAMESPACE}/{group}/DCMD/{node}/{device}", payload

    def online(self, group: str, node: str, device: str | None = None) -> bool:
        """Whether an edge node (or one of its devices) is born and not dead."""
        n = self._nodes.get((group, node))
        if n is None or not n.online:
            return False
        return device is None or device in n.devices

    def tags(self) -> list[str]:
        """Every tag path the current births define."""
        return sorted(self._by_tag)

    # -- messages ---------------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes, arrival_ns: int) -> HostOutput:
        """Decode one MQTT message (see the module doc for every rule)."""
        msg = _Message(arrival_ns, ts_ns=arrival_ns)
        try:
            self._dispatch(topic, payload, msg)
        except SparkplugError as exc:
            msg.problems.insert(0, str(exc))
        out = msg.out
        if msg.problems:
            reason = "; ".join(msg.problems)
            if len(reason) > MAX_REASON:
                reason = reason[: MAX_REASON - 3] + "..."
            out.dead_letters.append(DeadLetter.of(self.source, topic, payload, reason, arrival_ns))
        out.batch = msg.batch()
        return out

    def _dispatch(self, topic: str, payload: bytes, msg: _Message) -> None:
        if topic.startswith(f"{NAMESPACE}/{STATE}/"):
            self._on_state(topic, payload, msg)
            return
        t = parse_topic(topic)
        if t.type in (MessageType.NCMD, MessageType.DCMD):
            return  # commands are for edge nodes: nothing for the host to store
        p = decode_payload(payload)
        node = self._nodes.get((t.group, t.node))
        if node is None:
            node = self._nodes[(t.group, t.node)] = _Node(t.group, t.node)
        if t.type == MessageType.NDEATH:
            self._on_ndeath(node, p, msg)
            return
        if not p.HasField("seq") or p.seq > 255:
            seq = str(p.seq) if p.HasField("seq") else "missing"
            raise SparkplugError(f"{t.type.name} seq is {seq}; expected 0..255")
        msg.ts_ns = self._payload_ns(p, msg)
        if t.type == MessageType.NBIRTH:
            self._on_nbirth(node, p, msg)
            return
        kind = t.type.name
        if not node.online:
            self._ask_rebirth(node, f"{kind} from an edge node that is not born", msg)
            raise SparkplugError(f"{kind} before NBIRTH of {t.group}/{t.node}")
        expected = (node.seq + 1) % 256
        node.seq = int(p.seq)
        if p.seq != expected:
            self._ask_rebirth(node, f"seq gap: expected {expected}, got {p.seq}", msg)
        if t.device is None:
            self._data(node, node.metrics, p, msg)
        elif t.type == MessageType.DBIRTH:
            self._on_dbirth(node, t.device, p, msg)
        elif t.device not in node.devices:
            self._ask_rebirth(node, f"{kind} from device {t.device} that is not born", msg)
            raise SparkplugError(f"{kind} before DBIRTH of device {t.device}")
        elif t.type == MessageType.DDATA:
            self._data(node, node.devices[t.device], p, msg)
        else:
            self._mark_stale(node.devices.pop(t.device), msg.ts_ns, msg)
            self._drop_tags((node.group, node.node, t.device))
            msg.out.events.append(self._event(node, t.device, "sparkplug.offline", msg.ts_ns, {}))

    # -- births ---------------------------------------------------------------------------

    def _on_nbirth(self, node: _Node, p: pb.Payload, msg: _Message) -> None:
        owner: Owner = (node.group, node.node, None)
        self._drop_tags(owner)
        for device in node.devices:
            self._drop_tags((node.group, node.node, device))
        node.devices.clear()
        node.bd_seq = bd_seq_of(p)
        node.metrics = self._learn(owner, p, msg)
        node.online = True
        node.seq = int(p.seq)
        node.rebirth_asked_ns = None
        self._values(node.metrics, p, msg, by_birth=True)
        event = self._event(node, None, "sparkplug.online", msg.ts_ns, {"bdSeq": node.bd_seq})
        msg.out.events.append(event)

    def _on_dbirth(self, node: _Node, device: str, p: pb.Payload, msg: _Message) -> None:
        owner: Owner = (node.group, node.node, device)
        self._drop_tags(owner)
        scope = node.devices[device] = self._learn(owner, p, msg)
        self._values(scope, p, msg, by_birth=True)
        msg.out.events.append(self._event(node, device, "sparkplug.online", msg.ts_ns, {}))

    def _learn(self, owner: Owner, p: pb.Payload, msg: _Message) -> _Scope:
        """The metric definitions of a birth, with their tag paths."""
        group, node, device = owner
        base = [self.tag_prefix, segment(group), segment(node)]
        if device is not None:
            base.append(segment(device))
        room = MAX_SEGMENTS - len(self.tag_prefix.split("/")) - len(base) + 1
        scope = _Scope()
        used: set[str] = set()
        skipped: list[str] = []
        for m in p.metrics:
            if m.name and utf8(m.name) is None:
                msg.problems.append(f"birth metric name {m.name!r} is not valid UTF-8")
                continue
            if not m.name or not m.HasField("datatype"):
                missing = "datatype" if m.name else "name"
                msg.problems.append(f"birth metric {m.name or m.alias!r} has no {missing}")
                continue
            if m.name in scope.by_name:
                msg.problems.append(f"birth declares metric {m.name!r} twice")
                continue
            tag: str | None = None
            if m.datatype in STORED_TYPES:
                segs = [*base, *metric_segments(m.name, room)]
                tag = self._unique_tag(owner, "/".join(segs), used, msg)
            else:
                skipped.append(f"{m.name!r} ({type_name(m.datatype)})")
            d = scope.by_name[m.name] = MetricDef(m.name, int(m.datatype), tag)
            if m.HasField("alias"):
                if m.alias in scope.by_alias:
                    msg.problems.append(f"birth gives alias {m.alias} to two metrics")
                else:
                    scope.by_alias[int(m.alias)] = d
            if tag is not None:
                used.add(tag)
                self._by_tag[tag] = (owner, d)
                self._owned.setdefault(owner, []).append(tag)
        if skipped:
            msg.problems.append("not stored (datatype not supported): " + ", ".join(skipped))
        return scope

    def _unique_tag(self, owner: Owner, base: str, used: set[str], msg: _Message) -> str | None:
        tag, n = base, 1
        while tag in used or (tag in self._by_tag and self._by_tag[tag][0] != owner):
            n += 1
            tag = f"{base}_{n}"
        try:
            return tag_path(tag)
        except TagPathError as exc:
            msg.problems.append(str(exc))
            return None

    def _drop_tags(self, owner: Owner) -> None:
        for tag in self._owned.pop(owner, ()):
            del self._by_tag[tag]

    # -- data and deaths ------------------------------------------------------------------

    def _data(self, node: _Node, scope: _Scope, p: pb.Payload, msg: _Message) -> None:
        unknown = self._values(scope, p, msg, by_birth=False)
        if unknown:
            self._ask_rebirth(node, f"unknown metric {unknown[0]}", msg)

    @staticmethod
    def _values(scope: _Scope, p: pb.Payload, msg: _Message, *, by_birth: bool) -> list[str]:
        """Add the samples of ``p``'s metrics; return the unknown aliases/names."""
        unknown: list[str] = []
        for m in p.metrics:
            if m.HasField("alias") and not (by_birth and m.name):
                d = scope.by_alias.get(m.alias)
                ref = f"alias {m.alias}"
            else:
                d = scope.by_name.get(m.name)
                ref = repr(m.name)
            if d is None:
                if not by_birth:
                    unknown.append(ref)
                continue
            if d.tag is None or m.is_transient:
                continue
            ts = msg.ts_ns
            if m.HasField("timestamp"):
                if m.timestamp > MAX_MS:
                    msg.problems.append(f"{d.name}: timestamp {m.timestamp} ms is beyond 2262")
                    continue
                ts = int(m.timestamp) * NS_PER_MS
            if m.is_null:
                msg.add(d.tag, ts, math.nan, BAD)
                continue
            try:
                value = metric_value(m, d.datatype)
            except ValueError as exc:
                msg.problems.append(f"{d.name} ({type_name(d.datatype)}) {exc}")
                continue
            quality = GOOD
            if isinstance(value, float) and not math.isfinite(value):
                value, quality = math.nan, BAD
            msg.add(d.tag, ts, value, quality)
            if not m.is_historical:
                d.last_ts = ts
                d.last_text, d.last_value = (
                    (value, math.nan) if isinstance(value, str) else (None, value)
                )
        if unknown:
            msg.problems.append("unknown " + ", ".join(unknown) + " (not in the birth)")
        return unknown

    def _on_ndeath(self, node: _Node, p: pb.Payload, msg: _Message) -> None:
        bd_seq = bd_seq_of(p)
        if not node.online:
            return  # not born (or already dead): nothing is live to mark stale
        if node.bd_seq is not None and bd_seq is None:
            raise SparkplugError("NDEATH without a bdSeq metric")
        if node.bd_seq is not None and bd_seq != node.bd_seq:
            note = {"bdSeq": bd_seq, "current_bdSeq": node.bd_seq, "note": "ignored"}
            event = self._event(node, None, "sparkplug.stale_death", msg.arrival_ns, note)
            msg.out.events.append(event)
            return
        node.online = False
        self._mark_stale(node.metrics, msg.arrival_ns, msg)
        for device, scope in node.devices.items():
            self._mark_stale(scope, msg.arrival_ns, msg)
            self._drop_tags((node.group, node.node, device))
        node.devices.clear()
        event = self._event(node, None, "sparkplug.offline", msg.arrival_ns, {"bdSeq": bd_seq})
        msg.out.events.append(event)

    @staticmethod
    def _mark_stale(scope: _Scope, death_ns: int, msg: _Message) -> None:
        for d in scope.by_name.values():
            if d.tag is None:
                continue
            ts = death_ns if d.last_ts is None else max(death_ns, d.last_ts + 1)
            msg.add(d.tag, ts, d.last_value if d.last_text is None else d.last_text, UNCERTAIN)

    # -- small parts ----------------------------------------------------------------------

    @staticmethod
    def _payload_ns(p: pb.Payload, msg: _Message) -> int:
        if not p.HasField("timestamp"):
            return msg.arrival_ns
        if p.timestamp > MAX_MS:
            msg.problems.append(f"payload timestamp {p.timestamp} ms is beyond 2262; arrival used")
            return msg.arrival_ns
        return int(p.timestamp) * NS_PER_MS

    def _ask_rebirth(self, node: _Node, reason: str, msg: _Message) -> None:
        """Publish one NCMD rebirth request per node until it is born again (or the retry
        interval has passed)."""
        asked = node.rebirth_asked_ns
        if asked is not None and msg.arrival_ns - asked < REBIRTH_RETRY_NS:
            return
        node.rebirth_asked_ns = msg.arrival_ns
        ts_ms = msg.arrival_ns // NS_PER_MS
        payload = command_payload([(REBIRTH_METRIC, DataType.Boolean, True)], ts_ms)
        msg.out.publish.append((f"{NAMESPACE}/{node.group}/NCMD/{node.node}", payload))
        event = self._event(
            node, None, "sparkplug.rebirth_request", msg.arrival_ns, {"reason": reason}
        )
        msg.out.events.append(event)

    def _on_state(self, topic: str, payload: bytes, msg: _Message) -> None:
        if len(topic.split("/")) != 3:
            raise SparkplugError(f"a STATE topic is {NAMESPACE}/{STATE}/<host_id>")
        online, _ = parse_state(payload)
        if topic == self.state_topic and not online and self._online_ts is not None:
            msg.out.publish.append((self.state_topic, state_json(True, self._online_ts)))

    def _event(
        self, node: _Node, device: str | None, kind: str, ts: int, details: Mapping[str, object]
    ) -> Event:
        segs = [self.tag_prefix, segment(node.group), segment(node.node)]
        if device is not None:
            segs.append(segment(device))
        ids = {"group": node.group, "node": node.node, "device": device}
        return Event(ts, "/".join(segs), kind, {**ids, **details}, self.source)


__all__ = [
    "REBIRTH_RETRY_NS",
    "DataType",
    "HostOutput",
    "MessageType",
    "MetricDef",
    "SparkplugError",
    "SparkplugHost",
]
