"""The virtual plant as Sparkplug B edge nodes: one edge node per line, one device per machine.

Group id is the area, edge node the line, device the machine, metric the tag name, so a host
with ``tag_prefix: <site>/spb`` stores ``<site>/spb/<area>/<line>/<machine>/<tag>``. Each node
connects with its NDEATH as the MQTT will, publishes NBIRTH and a DBIRTH per machine (every tag
as a Double, plus a writable String metric ``command``), then DDATA by alias: one message per
machine and timestamp. Like a Sparkplug 3.0 edge node configured with a primary host, it
publishes data only while that host's STATE says online (samples made meanwhile are counted in
``withheld``, not sent: this edge node does not store and forward); the host turning online, or
a rebirth request (NCMD), is answered with fresh births; a DCMD writing ``command`` = ``stop``
or ``start`` is handed to the plant.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect.base import Value
from andon.connect.sparkplug_codec import NAMESPACE, DataType, MessageType, SparkplugError
from andon.connect.sparkplug_edge import EdgeNode
from andon.core.batch import Batch
from andon.plant.model import Plant
from andon.plant.sources import SparkplugSource
from andon.sim.serve.ports import BROKER_WAIT_S, no_broker

log = logging.getLogger("andon.sim")
NS_PER_MS = 1_000_000
COMMAND_METRIC = "command"


class _Node:
    """One line's edge node on its own MQTT connection (the will is per connection)."""

    def __init__(self, edge: EdgeNode, machines: dict[str, list[str]], client: paho.Client):
        self.edge, self.machines, self.client = edge, machines, client
        self.connected = threading.Event()
        self.answered = threading.Event()
        """Set when the broker accepted the connection or the attempt failed."""


class SparkplugPublisher:
    """An Output of ``PlantServer``: the plant's lines as Sparkplug B edge nodes."""

    def __init__(
        self,
        plant: Plant,
        url: str,
        *,
        name: str = "sim-sparkplug",
        host_id: str = "andon",
        on_command: Callable[[str, str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.plant, self.url, self.name = plant, url, name
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.on_command = on_command
        self.host_online = asyncio.Event()
        self.withheld = 0
        """Samples not sent because the host was offline."""
        self.host_id = host_id
        self.host_state_topic = f"{NAMESPACE}/STATE/{host_id}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nodes: dict[tuple[str, str], _Node] = {}
        self._machine_path: dict[tuple[str, str, str], str] = {}
        lines: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(dict)
        for ref in plant.machines():
            tags = [t.name for t in ref.machine.tags]
            lines[(ref.area.id, ref.line.id)][ref.machine.id] = tags
            self._machine_path[(ref.area.id, ref.line.id, ref.machine.id)] = ref.path
        for (area, line), machines in lines.items():
            client = paho.Client(
                CallbackAPIVersion.VERSION2, client_id=f"andon-sim-{line}-{uuid.uuid4().hex[:6]}"
            )
            client.max_inflight_messages_set(1000)
            edge = EdgeNode(area, line)
            self._nodes[(area, line)] = _Node(edge, machines, client)

    def _metrics(self, tags: list[str]) -> dict[str, tuple[int, Value | None]]:
        metrics: dict[str, tuple[int, Value | None]] = {t: (DataType.Double, None) for t in tags}
        metrics[COMMAND_METRIC] = (DataType.String, "")
        return metrics

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for node in self._nodes.values():
            for machine, tags in node.machines.items():
                node.edge.dbirth(machine, 0, self._metrics(tags))  # define before births
            topic, payload = node.edge.will()
            node.client.will_set(topic, payload, qos=1, retain=False)
            node.client.on_connect = self._connected(node)
            node.client.on_message = self._command(node)
            node.client.on_connect_fail = lambda *_, n=node: n.answered.set()
            node.client.connect_async(self.host, self.port, keepalive=30)
            node.client.loop_start()
            await asyncio.to_thread(node.answered.wait, BROKER_WAIT_S)
            if not node.connected.is_set():
                for started in self._nodes.values():
                    started.client.loop_stop()  # no publisher left retrying in the background
                raise no_broker(self.url)

    def _rebirth_soon(self, node: _Node) -> None:
        """Births are built on the event loop's thread, like DDATA, so that the node's seq
        numbers go out in order (EdgeNode is not shared between threads)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._rebirth, node)

    def _host_is(self, online: bool, node: _Node) -> None:
        if online:
            self._rebirth(node)
            self.host_online.set()
        else:
            self.host_online.clear()

    def _rebirth(self, node: _Node) -> None:
        for topic, payload in node.edge.births(time.time_ns() // NS_PER_MS):
            node.client.publish(topic, payload, qos=1)

    def _connected(self, node: _Node) -> Callable[..., None]:
        def on_connect(client: paho.Client, *_: object) -> None:
            edge = node.edge
            client.subscribe(
                [
                    (edge.topic(MessageType.NCMD), 1),
                    (f"{edge.topic(MessageType.DCMD)}/+", 1),
                    (self.host_state_topic, 1),
                ]
            )
            self._rebirth_soon(node)
            node.connected.set()
            node.answered.set()

        return on_connect

    def _command(self, node: _Node) -> Callable[..., None]:
        def on_message(client: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
            if msg.topic == self.host_state_topic:
                # Sparkplug 3.0: a primary host coming online gets fresh births
                online = b'"online":true' in bytes(msg.payload).replace(b" ", b"")
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self._host_is, online, node)
                return
            try:
                cmd = node.edge.on_command(msg.topic, bytes(msg.payload))
            except SparkplugError as exc:
                log.warning("sim: ignored Sparkplug command on %s: %s", msg.topic, exc)
                return
            if cmd.rebirth:
                self._rebirth_soon(node)
            value = cmd.writes.get(COMMAND_METRIC)
            if cmd.device and isinstance(value, str) and self.on_command and self._loop:
                path = self._machine_path[(node.edge.group, node.edge.node, cmd.device)]
                asyncio.run_coroutine_threadsafe(self.on_command(path, value), self._loop)

        return on_message

    async def publish(self, batch: Batch) -> None:
        """DDATA for every machine and timestamp while the primary host is online (what is
        made while it is not is counted in ``withheld`` and not sent, so the other outputs
        go on)."""
        if not len(batch):
            return
        if not self.host_online.is_set():
            self.withheld += len(batch)
            return
        texts = dict(batch.strings)
        # tag path -> (area, line, machine, tag)
        where = []
        for path in batch.tags:
            parts = path.split("/")
            where.append((parts[-4], parts[-3], parts[-2], parts[-1]))
        rows: dict[tuple[str, str, str, int], dict[str, Value | None]] = defaultdict(dict)
        order = np.argsort(batch.ts, kind="stable")
        for row in order.tolist():
            area, line, machine, tag = where[int(batch.tag_id[row])]
            ts_ms = int(batch.ts[row]) // NS_PER_MS
            v: Value | None = texts.get(row, float(batch.value[row]))
            rows[(area, line, machine, ts_ms)][tag] = None if v != v else v
        infos = []
        for (area, line, machine, ts_ms), values in rows.items():
            node = self._nodes.get((area, line))
            if node is None:
                continue
            topic, payload = node.edge.ddata(machine, values, ts_ms)
            infos.append(node.client.publish(topic, payload, qos=1))

        def acknowledged() -> None:
            for info in infos:
                info.wait_for_publish(timeout=60)

        await asyncio.to_thread(acknowledged)

    async def stop(self) -> None:
        for node in self._nodes.values():
            topic, payload = node.edge.ndeath()
            node.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)
            node.client.disconnect()
            node.client.loop_stop()

    def source(self) -> SparkplugSource:
        return SparkplugSource(
            type="sparkplug",
            name=self.name,
            url=self.url,
            host_id=self.host_id,
            tag_prefix=f"{self.plant.site}/spb",
            qos=1,
        )
