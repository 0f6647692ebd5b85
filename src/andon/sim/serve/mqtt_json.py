"""The virtual plant publishing JSON over the unified namespace, as an edge gateway would.

Each window's samples go out as one message per tag: a JSON array of
``{"value": V, "timestamp": T}`` (T in epoch milliseconds, fractional when the sample is not
on a whole millisecond) on ``<prefix>/<tag path>``, QoS 1, and ``publish`` returns once the
broker has acknowledged every message. Commands come back on ``<prefix>/<machine>/command/set``
(what andon's MQTT write-back sends for the tag ``<machine>/command``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from andon.core.batch import Batch
from andon.plant.sources import MqttSource
from andon.sim.serve.ports import BROKER_WAIT_S, no_broker

log = logging.getLogger("andon.sim")
NS_PER_MS = 1_000_000
COMMAND_SUFFIX = "/command/set"


def messages(batch: Batch, prefix: str) -> list[tuple[str, bytes]]:
    """One (topic, payload) per tag of ``batch``: its samples as a JSON array."""
    if not len(batch):
        return []
    texts = dict(batch.strings)
    order = np.lexsort((batch.ts, batch.tag_id))
    ids = batch.tag_id[order]
    cuts = np.flatnonzero(np.diff(ids)) + 1
    out = []
    head = f"{prefix}/" if prefix else ""
    for chunk in np.split(order, cuts):
        tag = batch.tags[int(batch.tag_id[chunk[0]])]
        items = []
        for row, ts, value in zip(
            chunk.tolist(), batch.ts[chunk].tolist(), batch.value[chunk].tolist(), strict=True
        ):
            ms: int | float = ts // NS_PER_MS if ts % NS_PER_MS == 0 else ts / NS_PER_MS
            v: object = texts.get(row, value)
            items.append({"value": None if v != v else v, "timestamp": ms})
        out.append((head + tag, orjson.dumps(items)))
    return out


class UnsPublisher:
    """An Output of ``PlantServer``: JSON over MQTT to ``url`` under ``prefix``."""

    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        name: str = "sim-mqtt",
        on_command: Callable[[str, str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.url, self.prefix, self.name = url, prefix.strip("/"), name
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.on_command = on_command
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"andon-sim-{uuid.uuid4().hex[:8]}"
        )
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self._answered = threading.Event()
        """Set when the broker accepted the connection or the attempt failed."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client.on_connect = self._connected_cb
        self._client.on_message = self._message_cb
        self._client.on_connect_fail = lambda *_: self._answered.set()
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        await asyncio.to_thread(self._answered.wait, BROKER_WAIT_S)
        if not self._connected.is_set():
            self._client.loop_stop()
            raise no_broker(self.url)

    def _connected_cb(
        self, client: paho.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        if not getattr(rc, "is_failure", False):
            head = f"{self.prefix}/" if self.prefix else ""
            # machines sit 4 segments deep (site/area/line/machine), 5 with an enterprise
            client.subscribe(
                [(f"{head}+/+/+/+{COMMAND_SUFFIX}", 1), (f"{head}+/+/+/+/+{COMMAND_SUFFIX}", 1)]
            )
            self._connected.set()
        self._answered.set()

    def _message_cb(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if not msg.topic.endswith(COMMAND_SUFFIX) or self.on_command is None:
            return
        machine = msg.topic.removesuffix(COMMAND_SUFFIX)
        if self.prefix:
            machine = machine.removeprefix(self.prefix + "/")
        try:
            body = orjson.loads(msg.payload)
            command = body.get("value") if isinstance(body, dict) else body
        except orjson.JSONDecodeError:
            command = msg.payload.decode("utf-8", "replace")
        if self._loop is not None and isinstance(command, str):
            asyncio.run_coroutine_threadsafe(self.on_command(machine, command), self._loop)

    async def publish(self, batch: Batch) -> None:
        infos = [self._client.publish(t, p, qos=1) for t, p in messages(batch, self.prefix)]

        def acknowledged() -> None:
            for info in infos:
                info.wait_for_publish(timeout=60)
                if not info.is_published():
                    raise ConnectionError(f"sim: the broker at {self.url} did not acknowledge")

        await asyncio.to_thread(acknowledged)
        self.published += len(batch)

    async def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def source(self) -> MqttSource:
        return MqttSource(type="mqtt", name=self.name, url=self.url, prefix=self.prefix, qos=1)
