"""The edge-node side of Sparkplug B: what a PLC gateway publishes, as (topic, payload) pairs.

The virtual plant publishes through it and the tests play a real edge node with it. Pure: it
keeps the session's bdSeq, the node's seq (0..255, wrapping; NBIRTH starts it at 0), the
aliases (unique across the node and its devices) and each metric's last value, so that a
rebirth request is answered with births holding the current values.

A session: connect with ``will()`` as the MQTT will, publish ``births()``, then data; after a
reconnect call ``next_session()`` first (a new bdSeq, so a late will of the old session is
recognised as stale by hosts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from andon.connect import sparkplug_b_pb2 as pb
from andon.connect.base import Value
from andon.connect.sparkplug_codec import (
    BDSEQ_METRIC,
    INTEGER_TYPES,
    NAMESPACE,
    REBIRTH_METRIC,
    DataType,
    MessageType,
    SparkplugError,
    decode_payload,
    metric_value,
    parse_topic,
    set_metric_value,
)

Metric = tuple[int, Value | None]
"""A metric's (datatype, value); value ``None`` is published as is_null."""
Message = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class NodeCommand:
    """An NCMD or DCMD as the edge node understands it."""

    device: str | None
    rebirth: bool = False
    writes: dict[str, Value | None] = field(default_factory=dict)


@dataclass(slots=True)
class _Def:
    alias: int
    datatype: int
    value: Value | None


class EdgeNode:
    """One Sparkplug B edge node and its devices."""

    def __init__(
        self, group: str, node: str, metrics: Mapping[str, Metric] | None = None, *, bd_seq: int = 0
    ) -> None:
        self.group = group
        self.node = node
        self.bd_seq = bd_seq % 256
        self._seq = 0
        self._next_alias = 1
        self._scopes: dict[str | None, dict[str, _Def]] = {None: {}}
        self._define(None, metrics or {})

    # -- topics and session -------------------------------------------------------------

    def topic(self, kind: MessageType, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{kind.name}/{self.node}"
        return base if device is None else f"{base}/{device}"

    def next_session(self) -> None:
        """A new MQTT session: the next bdSeq (call before ``will``)."""
        self.bd_seq = (self.bd_seq + 1) % 256

    def will(self) -> Message:
        """The NDEATH to register as the MQTT will (and to publish on a clean disconnect)."""
        p = pb.Payload()
        m = p.metrics.add()
        m.name = BDSEQ_METRIC
        set_metric_value(m, DataType.Int64, self.bd_seq)
        return self.topic(MessageType.NDEATH), p.SerializeToString()

    ndeath = will

    @property
    def devices(self) -> list[str]:
        return [d for d in self._scopes if d is not None]

    # -- births ---------------------------------------------------------------------------

    def nbirth(self, ts_ms: int, metrics: Mapping[str, Metric] | None = None) -> Message:
        """NBIRTH with seq 0: bdSeq, ``Node Control/Rebirth`` and every node metric."""
        if metrics:
            self._define(None, metrics)
        self._seq = 0
        p = self._payload(ts_ms)
        m = p.metrics.add()
        m.name, m.timestamp = BDSEQ_METRIC, ts_ms
        set_metric_value(m, DataType.Int64, self.bd_seq)
        m = p.metrics.add()
        m.name, m.timestamp = REBIRTH_METRIC, ts_ms
        set_metric_value(m, DataType.Boolean, False)
        self._add_birth_metrics(p, self._scopes[None], ts_ms)
        return self.topic(MessageType.NBIRTH), p.SerializeToString()

    def dbirth(
        self, device: str, ts_ms: int, metrics: Mapping[str, Metric] | None = None
    ) -> Message:
        """DBIRTH of ``device`` (defining ``metrics`` first if given)."""
        if metrics is not None or device not in self._scopes:
            self._define(device, metrics or {})
        p = self._payload(ts_ms)
        self._add_birth_metrics(p, self._scopes[device], ts_ms)
        return self.topic(MessageType.DBIRTH, device), p.SerializeToString()

    def births(self, ts_ms: int) -> list[Message]:
        """NBIRTH then every device's DBIRTH: the answer to a rebirth request."""
        return [self.nbirth(ts_ms), *(self.dbirth(d, ts_ms) for d in self.devices)]

    # -- data and deaths ------------------------------------------------------------------

    def ndata(
        self, values: Mapping[str, Value | None], ts_ms: int, *, by_name: bool = False
    ) -> Message:
        return self.topic(MessageType.NDATA), self._data(None, values, ts_ms, by_name)

    def ddata(
        self,
        device: str,
        values: Mapping[str, Value | None],
        ts_ms: int,
        *,
        by_name: bool = False,
        historical: bool = False,
    ) -> Message:
        """DDATA by alias (or by name), one metric per value, each stamped ``ts_ms``."""
        payload = self._data(device, values, ts_ms, by_name, historical)
        return self.topic(MessageType.DDATA, device), payload

    def ddeath(self, device: str, ts_ms: int) -> Message:
        return self.topic(MessageType.DDEATH, device), self._payload(ts_ms).SerializeToString()

    # -- commands -------------------------------------------------------------------------

    def on_command(self, topic: str, payload: bytes) -> NodeCommand:
        """Interpret an NCMD/DCMD for this node: a rebirth request and/or metric writes."""
        t = parse_topic(topic)
        if t.type not in (MessageType.NCMD, MessageType.DCMD) or (t.group, t.node) != (
            self.group,
            self.node,
        ):
            raise SparkplugError(f"{topic} is not a command for edge node {self.group}/{self.node}")
        scope = self._scopes.get(t.device)
        if scope is None:
            raise SparkplugError(f"DCMD for unknown device {t.device!r}")
        rebirth = False
        writes: dict[str, Value | None] = {}
        by_alias = {d.alias: name for name, d in scope.items()}
        for m in decode_payload(payload).metrics:
            name = m.name or by_alias.get(m.alias, "")
            if t.device is None and name == REBIRTH_METRIC:
                rebirth = rebirth or (m.WhichOneof("value") == "boolean_value" and m.boolean_value)
                continue
            d = scope.get(name)
            if d is None:
                raise SparkplugError(f"command writes unknown metric {name or m.alias!r}")
            writes[name] = None if m.is_null else _python_value(m, d.datatype)
        return NodeCommand(t.device, rebirth, writes)

    # -- internals --------------------------------------------------------------------------

    def _define(self, device: str | None, metrics: Mapping[str, Metric]) -> None:
        scope = self._scopes.setdefault(device, {})
        for name, (datatype, value) in metrics.items():
            if name in scope:
                scope[name].datatype, scope[name].value = int(datatype), value
            else:
                scope[name] = _Def(self._next_alias, int(datatype), value)
                self._next_alias += 1

    def _payload(self, ts_ms: int) -> pb.Payload:
        p = pb.Payload(timestamp=ts_ms, seq=self._seq)
        self._seq = (self._seq + 1) % 256
        return p

    @staticmethod
    def _add_birth_metrics(p: pb.Payload, scope: Mapping[str, _Def], ts_ms: int) -> None:
        for name, d in scope.items():
            m = p.metrics.add()
            m.name, m.alias, m.timestamp = name, d.alias, ts_ms
            set_metric_value(m, d.datatype, d.value)

    def _data(
        self,
        device: str | None,
        values: Mapping[str, Value | None],
        ts_ms: int,
        by_name: bool,
        historical: bool = False,
    ) -> bytes:
        scope = self._scopes.get(device)
        if scope is None:
            raise SparkplugError(f"device {device!r} has no birth on {self.group}/{self.node}")
        p = self._payload(ts_ms)
        for name, value in values.items():
            d = scope.get(name)
            if d is None:
                raise SparkplugError(f"metric {name!r} is not in the birth of {device or 'node'}")
            m = p.metrics.add()
            if by_name:
                m.name = name
            else:
                m.alias = d.alias
            m.timestamp = ts_ms
            if historical:
                m.is_historical = True
            set_metric_value(m, d.datatype, value)
            m.ClearField("datatype")  # data messages rely on the birth's datatype
            if not historical:
                d.value = value
        data: bytes = p.SerializeToString()
        return data


def _python_value(m: pb.Payload.Metric, datatype: int) -> Value:
    v = metric_value(m, datatype)
    if isinstance(v, str):
        return v
    if datatype == DataType.Boolean:
        return v != 0.0
    if datatype in INTEGER_TYPES or datatype == DataType.DateTime:
        return int(v)
    return v


__all__ = ["EdgeNode", "Message", "Metric", "NodeCommand"]
