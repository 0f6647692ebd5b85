"""The MQTT transport shared by the JSON (unified namespace) and Sparkplug B connectors.

``MqttLink`` adapts paho-mqtt 2.x (MQTT 3.1.1): paho's network loop runs in its own thread
(``loop_start``) and reconnects with exponential back-off on its own; the link re-subscribes on
every connection, keeps a ``SourceHealth`` up to date (logged once down, once up) and hands
messages to asyncio in batches: the paho thread appends to a locked list and wakes the loop at
most once per batch (when the list goes from empty to non-empty), so a burst of 20,000 messages
costs one wake-up, not 20,000 tasks. When the list holds ``max_pending`` messages the paho
thread waits, so TCP pushes back on the broker instead of memory growing without bound.

QoS 1 with ``manual_ack``: paho does not acknowledge on receipt; the caller acknowledges with
``ack`` once the samples are durable. A message received on an earlier connection is never
acknowledged on a later one (its packet id may have been reused): the broker redelivers it
with a persistent session, and the historian stores a repeat once.

A persistent session is ``clean_session=False`` with a fixed ``client_id``: the broker keeps
the subscription and queues QoS 1 messages while andon is away. Mind the broker's limits:
Mosquitto's defaults (``max_inflight_messages 20``, ``max_queued_messages 1000``) cap how many
unacknowledged messages a subscriber may hold and *drop* what queues beyond; raise them
(0 = no limit) on a broker that feeds andon at QoS 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from andon.connect.health import SourceHealth
from andon.connect.mqtt_socket import BufferedClient
from andon.core.errors import InputError
from andon.plant.sources import Tls

log = logging.getLogger("andon.connect.mqtt")

Delivery = tuple[paho.MQTTMessage, int, int]
"""A received message, its arrival time (wall clock ns, strictly increasing per link) and the
number of the connection it came on."""

MAX_PENDING = 200_000
_RECEIVED = threading.Condition()
"""Replaces the Condition paho builds into every received message's ``MQTTMessageInfo``: it
serves only to wait for one's own publishes, and a received message is never waited for. A
message held in a window then leaves 3 objects for the garbage collector to scan instead of
12; that scanning was a fifth of andon's CPU per one-sample message under load."""


@dataclass(frozen=True, slots=True)
class Will:
    """The last will the broker publishes if andon vanishes without saying goodbye."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Published:
    """What became of a publish: ``ok`` once the broker acknowledged it (QoS 1) or it was sent
    (QoS 0)."""

    topic: str
    ok: bool
    detail: str


def broker_address(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of an ``mqtt://`` or ``mqtts://`` URL (ports 1883 and 8883 by default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InputError(f"expected a broker URL like mqtt://HOST:1883 or mqtts://HOST:8883: {url}")
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def password_from_env(variable: str, *, source: str) -> str:
    """The password held in the environment variable ``variable`` (never in plant.yaml)."""
    value = os.environ.get(variable)
    if value is None:
        raise InputError(
            f"source {source}: the environment variable {variable} (password_env) is not set; "
            "export it with the broker password"
        )
    return value


class MqttLink:
    """One MQTT connection: subscribe, receive in batches, acknowledge, publish, close."""

    def __init__(
        self,
        url: str,
        *,
        health: SourceHealth,
        client_id: str | None = None,
        clean_session: bool = True,
        username: str | None = None,
        password_env: str | None = None,
        tls: Tls | None = None,
        will: Will | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        share: str | None = None,
        manual_ack: bool = False,
        keepalive: int = 30,
        reconnect_delay: tuple[int, int] = (1, 30),
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.host, self.port, use_tls = broker_address(url)
        self.health = health
        name = health.name
        if not clean_session and not client_id:
            raise InputError(
                f"source {name}: a persistent session (clean_session: false) needs a fixed "
                "client_id, so the broker recognises andon when it comes back"
            )
        self.client_id = client_id or f"andon-{name}-{uuid.uuid4().hex[:8]}"
        self.subscriptions = [
            (f"$share/{share}/{topic}" if share else topic, qos) for topic, qos in subscriptions
        ]
        self.manual_ack = manual_ack
        self.keepalive = keepalive
        self.max_pending = max_pending
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        if username is not None or password_env is not None:
            password = password_from_env(password_env, source=name) if password_env else None
            client.username_pw_set(username or "", password)
        if use_tls or tls is not None:
            _set_tls(client, tls or Tls(), source=name)
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.manual_ack_set(manual_ack)
        client.reconnect_delay_set(*reconnect_delay)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self.client = client

        self._loop: asyncio.AbstractEventLoop | None = None
        self._cond = threading.Condition()
        self._inbox: list[Delivery] = []
        self._ready = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._closing = False
        self._started = False
        self._last_ns = 0
        self.connection = 0
        """Number of the current connection (0: never connected); see ``ack``."""
        self._pending_subs: set[int] = set()
        self._publish_lock = threading.Lock()
        self._publishes: dict[int, asyncio.Future[Published]] = {}
        self._published_early: dict[int, str] = {}
        self._abandoned: set[int] = set()
        """Packet ids of publishes given up on (timed out) whose PUBACK may still come."""

    # -- lifetime ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in paho's thread (it retries with back-off until ``close``)."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()

    async def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the broker has confirmed every subscription of the current connection."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Disconnect and stop paho's thread; safe to call twice."""
        if self._closing:
            return
        self._closing = True
        with self._cond:
            self._cond.notify_all()
        self._ready.set()
        if self._started:
            self.client.disconnect()
            await asyncio.to_thread(self.client.loop_stop)
        for fut in self._publishes.values():
            if not fut.done():
                fut.set_result(Published("", False, "connection closed before the broker answered"))
        self._publishes.clear()
        self.health.connected = False  # a deliberate close is not an outage: nothing to log

    @property
    def closing(self) -> bool:
        return self._closing

    # -- receiving -----------------------------------------------------------------------------

    async def receive(
        self, *, max_messages: int = 20_000, max_wait: float = 0.02, idle: float = 0.002
    ) -> list[Delivery]:
        """The next window of messages: waits for the first, then gathers more until
        ``max_wait`` seconds have passed, ``max_messages`` are in hand, or nothing came for
        ``idle`` seconds (a broker that limits unacknowledged messages stops sending until we
        acknowledge, so waiting longer would only add latency). Empty once closed."""
        while True:
            if self._closing:
                return self._take(max_messages)
            self._ready.clear()
            if self._inbox:
                break
            await self._ready.wait()
        began = time.monotonic()
        seen = len(self._inbox)
        while seen < max_messages and not self._closing:
            remaining = began + max_wait - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(idle, remaining))
            now_seen = len(self._inbox)
            if now_seen == seen:
                break
            seen = now_seen
        return self._take(max_messages)

    def _take(self, limit: int) -> list[Delivery]:
        with self._cond:
            if len(self._inbox) <= limit:
                taken, self._inbox = self._inbox, []
            else:
                taken = self._inbox[:limit]
                del self._inbox[:limit]
                self._ready.set()
            self._cond.notify_all()
        return taken

    def ack(self, deliveries: Sequence[Delivery]) -> int:
        """Acknowledge QoS 1 messages received on the current connection; returns how many."""
        if not self.manual_ack:
            return 0
        current = self.connection
        send = self.client.ack
        n = 0
        for message, _, connection in deliveries:
            if connection == current and message.qos == 1:
                send(message.mid, 1)
                n += 1
        return n

    # -- publishing ----------------------------------------------------------------------------

    async def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 5.0
    ) -> Published:
        """Publish and wait for the broker's PUBACK (QoS 1) or the send (QoS 0)."""
        loop = asyncio.get_running_loop()
        if not self.health.connected:
            return Published(topic, False, f"not connected to {self.host}:{self.port}")
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return Published(
                topic, False, f"publish refused by the client: {paho.error_string(info.rc)}"
            )
        fut: asyncio.Future[Published] = loop.create_future()
        with self._publish_lock:
            early = self._published_early.pop(info.mid, None)
            if early is None:
                self._publishes[info.mid] = fut
        if early is not None:
            return Published(topic, True, early)
        try:
            result = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            with self._publish_lock:
                if self._publishes.pop(info.mid, None) is not None:
                    # a late PUBACK for it must not be taken for the answer to a later
                    # publish that reuses the packet id
                    self._abandoned.add(info.mid)
            return Published(
                topic, False, f"no acknowledgement from the broker within {timeout:g} s"
            )
        return Published(topic, result.ok, result.detail)

    # -- paho's thread -------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(fn, *args)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._call(self.health.down, f"broker refused the connection: {reason}")
            return
        self.connection += 1
        self._call(self._subscribed.clear)
        self._call(self.health.up)
        if not self.subscriptions:
            self._call(self._subscribed.set)
            return
        rc, mid = client.subscribe(self.subscriptions)
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
            self._pending_subs.add(mid)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._call(self.health.down, f"cannot connect to {self.host}:{self.port}")

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not self._closing:
            self._call(self.health.down, f"disconnected: {reason}")

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._pending_subs.discard(mid)
        refused = [
            f"{topic} ({code})"
            for (topic, _), code in zip(self.subscriptions, reasons, strict=False)
            if code.is_failure
        ]
        if refused:
            self._call(
                self.health.error, f"broker refused the subscription to {', '.join(refused)}"
            )
        if not self._pending_subs:
            self._call(self._subscribed.set)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        message.info._condition = _RECEIVED
        now = time.time_ns()
        if now <= self._last_ns:
            now = self._last_ns + 1
        self._last_ns = now
        with self._cond:
            while len(self._inbox) >= self.max_pending and not self._closing:
                self._cond.wait(1.0)
            self._inbox.append((message, now, self.connection))
            first = len(self._inbox) == 1
        if first:
            self._call(self._ready.set)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        detail = "acknowledged by the broker"
        with self._publish_lock:
            fut = self._publishes.pop(mid, None)
            if fut is None and mid in self._abandoned:
                self._abandoned.discard(mid)
                return
            if fut is None:
                self._published_early[mid] = detail
                if len(self._published_early) > 10_000:
                    self._published_early.clear()
        if fut is not None:
            self._call(_resolve, fut, Published("", True, detail))


def _resolve(fut: asyncio.Future[Published], result: Published) -> None:
    if not fut.done():
        fut.set_result(result)


def _set_tls(client: paho.Client, tls: Tls, *, source: str) -> None:
    for label, path in (
        ("ca", tls.ca),
        ("certificate", tls.certificate),
        ("private_key", tls.private_key),
    ):
        if path is not None and not os.path.isfile(path):  # noqa: PTH113 - a plain check
            raise InputError(f"source {source}: tls.{label} file {path} does not exist")
    try:
        client.tls_set(
            ca_certs=tls.ca,
            certfile=tls.certificate,
            keyfile=tls.private_key,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InputError(f"source {source}: cannot use the TLS files: {exc}") from exc
    client.tls_insecure_set(tls.insecure)


__all__ = ["Delivery", "MqttLink", "Published", "Will", "broker_address", "password_from_env"]
