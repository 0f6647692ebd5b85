"""The one shape every connector has: configured from plant.yaml, streams items, writes back.

A connector is a ``Source`` (``andon.core.stream``) with a little more:

- ``run(emit)`` connects, streams Batches (and dead-letter Events) into ``emit`` until it is
  cancelled, and reconnects with back-off on its own; it returns only when the source is
  finite (a file) or after ``close``. A connector that acknowledges deliveries (MQTT QoS 1)
  sets ``acknowledges = True``: the pipeline then gives it its *durable* emit, which returns
  once the item is in the historian or the disk queue, and the connector acknowledges only
  then. Decoding failures never stop a connector: they become dead letters (``deadletter``),
  emitted as Events, and the connector goes on.
- ``write(tag, value)`` sends a value to the machine (an OPC UA node write, a Modbus register
  write, an MQTT command topic or a Sparkplug DCMD) and reports what happened as a
  ``WriteResult``; the caller audits it (the connector does not know who asked).
- ``close()`` disconnects and is safe to call twice.
- ``health`` is the connector's ``SourceHealth``: connected, last message, rate, errors and
  dead letters, for the API, the dashboard and the logs.

Decoding is done by plain functions (``uns.decode``, ``sparkplug`` host state, Modbus
register decoding) so that every format is testable without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from andon.connect.health import SourceHealth
from andon.core.stream import Emit

Value = float | int | bool | str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write-back did: ``ok``, and in words what the peer answered."""

    source: str
    tag: str
    value: Value
    ok: bool
    detail: str


@runtime_checkable
class Connector(Protocol):
    name: str
    health: SourceHealth

    async def run(self, emit: Emit) -> None: ...

    async def write(self, tag: str, value: Value) -> WriteResult: ...

    async def close(self) -> None: ...


class WriteRefused(Exception):
    """A write-back that cannot even be attempted (unknown tag, read-only source, bad value)."""
