"""MQTT JSON over the unified namespace: the topic below the prefix is the tag path.

``MqttJsonSource`` subscribes to ``<prefix>/#`` (through ``$share/<share>/`` when several
ingest workers share one stream), gathers what arrives in a short window (at most
``window_s`` seconds or ``window_messages`` messages), decodes the whole window into ONE Batch
(``uns.UnsDecoder``), emits it, then emits the window's dead letters, and only after both
returned - with QoS 1 the pipeline's emit returns once they are durable - acknowledges every
message of the window. A crash between receipt and durability therefore loses nothing: the
broker redelivers what was not acknowledged (persistent session), and a repeat stores once.

Write-back publishes ``{"value": V, "timestamp": <now ms>}`` at QoS 1 to ``command_topic``
(default ``<topic>/set``); the write is ok when the broker acknowledged it (PUBACK), which says
the command reached the broker, not that the machine obeyed.
"""

from __future__ import annotations

import math
import time

import orjson

from andon.connect.base import Value, WriteRefused, WriteResult
from andon.connect.deadletter import DeadLetter
from andon.connect.health import SourceHealth
from andon.connect.mqtt import MqttLink
from andon.connect.uns import UnsDecoder
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.stream import Emit
from andon.core.tagpath import tag_path
from andon.plant.sources import MqttSource

WINDOW_S = 0.02
WINDOW_MESSAGES = 20_000
WRITE_TIMEOUT_S = 5.0


class MqttJsonSource:
    """A Connector for one broker speaking JSON over the unified namespace."""

    def __init__(
        self,
        config: MqttSource,
        *,
        window_s: float = WINDOW_S,
        window_messages: int = WINDOW_MESSAGES,
    ) -> None:
        self.config = config
        self.name = config.name
        self.acknowledges = config.qos == 1
        self.window_s = window_s
        self.window_messages = window_messages
        self.prefix = config.prefix.strip("/")
        self.health = SourceHealth(config.name, "mqtt", config.url)
        self.decoder = UnsDecoder(self.prefix, source=config.name, max_payload=config.max_payload)
        topic = f"{self.prefix}/#" if self.prefix else "#"
        self.link = MqttLink(
            config.url,
            health=self.health,
            client_id=config.client_id,
            clean_session=config.clean_session,
            username=config.username,
            password_env=config.password_env,
            tls=config.tls,
            subscriptions=[(topic, config.qos)],
            share=config.share,
            manual_ack=config.qos == 1,
        )

    async def start(self) -> None:
        """Connect (``run`` does this too; call it to write back without streaming)."""
        await self.link.start()

    async def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """True once the broker confirmed the subscription (tests publish after this)."""
        return await self.link.wait_subscribed(timeout)

    async def run(self, emit: Emit) -> None:
        """Stream windows of messages into ``emit`` until ``close``."""
        await self.link.start()
        link, decoder, health = self.link, self.decoder, self.health
        add = decoder.add
        try:
            while True:  # after close, what was already received is still emitted
                window = await link.receive(
                    max_messages=self.window_messages, max_wait=self.window_s
                )
                if not window:
                    if link.closing:
                        break
                    continue
                dead: list[Event] = []
                letter: DeadLetter | None
                for message, arrival_ns, _ in window:
                    try:
                        topic = message.topic
                    except UnicodeDecodeError:
                        topic = message._topic.decode("utf-8", errors="backslashreplace")
                        letter = decoder.dead(topic, message.payload, "topic is not valid UTF-8")
                    else:
                        letter = add(topic, message.payload, arrival_ns)
                    if letter is not None:
                        dead.append(letter.event())
                        health.dead_letter()
                batch = decoder.take()
                health.received(len(window), len(batch))
                await emit(batch)
                if dead:
                    await emit(tuple(dead))
                link.ack(window)
        finally:
            await link.close()

    async def write(self, tag: str, value: Value) -> WriteResult:
        """Publish a command for ``tag`` to its command topic at QoS 1."""
        try:
            tag_path(tag)
        except InputError as exc:
            raise WriteRefused(f"source {self.name}: {exc}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise WriteRefused(f"source {self.name}: {value} cannot be written as JSON")
        topic = self.config.command_topic.format(
            topic=f"{self.prefix}/{tag}" if self.prefix else tag
        )
        payload = orjson.dumps({"value": value, "timestamp": time.time_ns() // 1_000_000})
        done = await self.link.publish(topic, payload, qos=1, timeout=WRITE_TIMEOUT_S)
        if not done.ok:
            self.health.error(f"write {tag}: {done.detail}")
        return WriteResult(self.name, tag, value, done.ok, f"{topic}: {done.detail}")

    async def close(self) -> None:
        await self.link.close()


__all__ = ["MqttJsonSource"]
