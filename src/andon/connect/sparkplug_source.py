"""The Sparkplug B connector: ``SparkplugHost``'s rules on an ``MqttLink``.

The host announces itself on its STATE topic (online, retained, QoS 1) once connected, with
the offline payload of the same timestamp as its MQTT will, so edge nodes know when andon is
away. Every message goes through ``SparkplugHost.on_message``; its samples are emitted as one
Batch per window, its dead letters and events after, and its commands (rebirth requests) are
published at QoS 0. With QoS 1 a window is acknowledged only once emitted (durable).

Sparkplug does not go through a shared subscription: seq checking needs one host to see every
message of a node, so scale-out splits edge nodes by group instead (one source per group).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from andon.connect.base import Value, WriteResult
from andon.connect.deadletter import DeadLetter
from andon.connect.health import SourceHealth
from andon.connect.mqtt import MqttLink, Will
from andon.connect.sparkplug import SparkplugHost
from andon.core.batch import Batch
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.stream import Emit
from andon.plant.sources import SparkplugSource as SparkplugConfig

WINDOW_S = 0.02
ANNOUNCE_POLL_S = 0.2
WRITE_TIMEOUT_S = 5.0


class SparkplugSource:
    """A Connector for the edge nodes of one Sparkplug B group (or every group)."""

    def __init__(self, config: SparkplugConfig) -> None:
        if config.share:
            raise InputError(
                f"source {config.name}: Sparkplug B cannot use a shared subscription (seq "
                "checking needs every message of a node); split edge nodes by group instead"
            )
        self.config = config
        self.name = config.name
        self.acknowledges = config.qos == 1
        self.health = SourceHealth(config.name, "sparkplug", config.url)
        self.host = SparkplugHost(
            config.name, host_id=config.host_id, group=config.group, tag_prefix=config.tag_prefix
        )
        self._born_ms = time.time_ns() // 1_000_000
        offline = self.host.state_payload(False, self._born_ms)
        self.link = MqttLink(
            config.url,
            health=self.health,
            client_id=config.client_id,
            username=config.username,
            password_env=config.password_env,
            tls=config.tls,
            will=Will(self.host.state_topic, offline, qos=1, retain=True),
            subscriptions=[(t, config.qos) for t in self.host.subscriptions()],
            manual_ack=config.qos == 1,
        )

    @property
    def tags(self) -> list[str]:
        """Tags learned from births so far (the ones ``write`` can reach)."""
        return self.host.tags()

    async def start(self) -> None:
        await self.link.start()

    async def wait_subscribed(self, timeout: float = 10.0) -> bool:
        return await self.link.wait_subscribed(timeout)

    async def _announce(self) -> None:
        """Publish STATE online on every (re)connection, retained, QoS 1."""
        announced = 0
        payload = self.host.state_payload(True, self._born_ms)
        while not self.link.closing:
            current = self.link.connection
            if current != announced and self.health.connected:
                done = await self.link.publish(self.host.state_topic, payload, qos=1, retain=True)
                if done.ok:
                    announced = current
            await asyncio.sleep(ANNOUNCE_POLL_S)

    async def run(self, emit: Emit) -> None:
        """Stream windows of Sparkplug messages into ``emit`` until ``close``."""
        link, host, health = self.link, self.host, self.health
        await link.start()
        announcer = asyncio.create_task(self._announce(), name=f"{self.name}:state")
        try:
            while True:  # after close, what was already received is still emitted
                window = await link.receive(max_wait=WINDOW_S)
                if not window:
                    if link.closing:
                        break
                    continue
                batches: list[Batch] = []
                events: list[Event] = []
                for message, arrival_ns, _ in window:
                    try:
                        topic = message.topic
                    except UnicodeDecodeError:
                        raw = message._topic.decode("utf-8", errors="backslashreplace")
                        letter = DeadLetter.of(
                            self.name,
                            raw,
                            bytes(message.payload),
                            "topic is not valid UTF-8",
                            arrival_ns,
                        )
                        events.append(letter.event())
                        health.dead_letter()
                        continue
                    out = host.on_message(topic, bytes(message.payload), arrival_ns)
                    if out.batch is not None:
                        batches.append(out.batch)
                    for d in out.dead_letters:
                        events.append(d.event())
                        health.dead_letter()
                    events.extend(out.events)
                    for t, payload in out.publish:
                        state = t == host.state_topic
                        await link.publish(t, payload, qos=1 if state else 0, retain=state)
                batch = Batch.concat(batches) if batches else Batch.empty()
                health.received(len(window), len(batch))
                await emit(batch)
                if events:
                    await emit(tuple(events))
                link.ack(window)
        finally:
            announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announcer
            await link.close()

    async def write(self, tag: str, value: Value) -> WriteResult:
        """Send the metric's new value as a DCMD (device metric) or NCMD (node metric)."""
        topic, payload = self.host.command(tag, value)
        done = await self.link.publish(topic, payload, qos=0, timeout=WRITE_TIMEOUT_S)
        if not done.ok:
            self.health.error(f"write {tag}: {done.detail}")
        return WriteResult(self.name, tag, value, done.ok, f"{topic}: {done.detail}")

    async def close(self) -> None:
        await self.link.close()


__all__ = ["SparkplugSource"]
