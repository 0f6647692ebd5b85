"""The MQTT JSON connector against the real local Mosquitto and a real historian: every sample
stored exactly once, malformed messages kept as dead letters, nothing lost across a connector
stop, a broker restart or a shared subscription, and write-back acknowledged by the broker."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect.mqtt_json import MqttJsonSource
from andon.historian import Historian, open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant.sources import MqttSource

from .test_uns import DEAD, PREFIX

T0_MS = (time.time_ns() // 1_000_000) - 3_600_000  # an hour ago: within every check
DEADLINE_S = 20.0
Message = tuple[str, bytes]


def synchronous(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in its own event loop (pytest sees the fixtures through wraps)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return run


def saving(broker: Any) -> Any:
    """The private broker, able to save its persistence file. Started as root, Mosquitto drops
    to the user ``mosquitto``, who cannot write the test's temporary directory, and the file is
    silently not saved; ``user root`` keeps it (the fixture itself should say so)."""
    if os.geteuid() == 0 and "user root" not in Path(broker.conf).read_text(encoding="utf-8"):
        with Path(broker.conf).open("a", encoding="utf-8") as conf:
            conf.write("user root\n")
        broker.stop()
        broker.start()
    return broker


def prefix() -> str:
    return f"andon-test/{uuid.uuid4().hex[:10]}"


def config(url: str, pre: str, **kw: object) -> MqttSource:
    return MqttSource.model_validate(
        {"type": "mqtt", "name": "plc", "url": url, "prefix": pre, **kw}
    )


@contextmanager
def publisher(host: str, port: int) -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(200)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(host, port)
    client.loop_start()
    assert connected.wait(5), "publisher did not connect"
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_all(host: str, port: int, messages: Sequence[Message], qos: int = 1) -> int:
    """Publish and wait until the broker acknowledged every message; returns how many."""
    with publisher(host, port) as client:
        infos = [client.publish(t, p, qos=qos) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    return len(infos)


def value_messages(pre: str, n: int, machine: str = "m1", start: int = 0) -> list[Message]:
    """``n`` value-form messages with distinct timestamps; the value is the index."""
    topic = f"{pre}/site/area/line-1/{machine}/temp"
    return [
        (topic, orjson.dumps({"value": i, "timestamp": T0_MS + i})) for i in range(start, start + n)
    ]


async def until(check: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Running:
    """A pipeline of sources into a historian sink, running in the background."""

    def __init__(self, sources: Sequence[MqttJsonSource], historian: Historian) -> None:
        self.sources = sources
        self.sink = HistorianSink(historian)
        self.pipeline = Pipeline(sources, [self.sink])
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.pipeline.run())
        for s in self.sources:
            assert await s.wait_subscribed(10), "no SUBACK"
        return self

    async def stored(self, n: int, what: str = "samples") -> None:
        await until(
            lambda: self.sink.new_samples >= n, f"{n} {what} (have {self.sink.new_samples})"
        )

    async def __aexit__(self, *exc: object) -> None:
        for s in self.sources:
            await s.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)


@synchronous
async def test_every_shape_is_stored_exactly(mqtt_broker: tuple[str, int], db_url: str) -> None:
    host, port = mqtt_broker
    pre = prefix()
    messages = value_messages(pre, 150)
    messages += [(f"{pre}/site/area/line-1/m2/count", b"%d" % i) for i in range(100)]
    messages += [
        (
            f"{pre}/site/area/line-1/m3",
            orjson.dumps({"timestamp": T0_MS + i, **{f"t{k}": i * 10 + k for k in range(5)}}),
        )
        for i in range(100)
    ]
    messages.append((f"{pre}/site/area/line-1/m4/program", b'{"value": "P-17"}'))
    expected = 150 + 100 + 500 + 1
    with open_historian(db_url) as h:
        source = MqttJsonSource(config(f"mqtt://{host}:{port}", pre))
        async with Running([source], h) as run:
            await asyncio.to_thread(publish_all, host, port, messages)
            await run.stored(expected)
        assert h.count_samples() == expected
        temp = h.range("site/area/line-1/m1/temp", 0, 2**62)
        assert temp.value.tolist() == [float(i) for i in range(150)]
        assert temp.ts.tolist() == [(T0_MS + i) * 1_000_000 for i in range(150)]
        count = h.range("site/area/line-1/m2/count", 0, 2**62)
        assert count.value.tolist() == [float(i) for i in range(100)]
        t3 = h.range("site/area/line-1/m3/t3", 0, 2**62)
        assert t3.value.tolist() == [float(i * 10 + 3) for i in range(100)]
        text = h.range("site/area/line-1/m4/program", 0, 2**62)
        assert list(text.text) == [(0, "P-17")]
        assert source.health.messages == len(messages)
        assert source.health.samples == expected
        assert source.health.dead_letters == 0


@synchronous
async def test_malformed_corpus_over_the_broker(
    mqtt_broker: tuple[str, int], tmp_path: object
) -> None:
    host, port = mqtt_broker
    pre = prefix()
    messages: list[Message] = []
    bad = 0
    for i, (_, topic, payload, _) in enumerate(DEAD):
        if "+" in topic or "#" in topic or not topic.startswith(PREFIX + "/"):
            continue  # cannot be published (wildcards) or not subscribed (outside the prefix)
        messages.append((f"{pre}/site/area/line-1/m{i}/temp", b"%d" % i))
        messages.append((pre + topic.removeprefix(PREFIX), payload))
        bad += 1
    with open_historian(f"sqlite:///{tmp_path}/andon.db") as h:
        source = MqttJsonSource(config(f"mqtt://{host}:{port}", pre))
        async with Running([source], h) as run:
            await asyncio.to_thread(publish_all, host, port, messages)
            await run.stored(len(messages) - bad)
            await until(lambda: source.health.dead_letters >= bad, f"{bad} dead letters")
        assert h.count_samples() == len(messages) - bad
        letters = h.events(asset="_sources/plc", kind="dead_letter", limit=None)
        assert len(letters) == bad, (len(letters), run.sink.new_events)
        reasons = {e.payload["reason"] for e in letters}
        assert any("max_payload" in r for r in reasons)
        assert any("'..' segment" in r for r in reasons)
        assert source.health.dead_letters == bad


@synchronous
async def test_persistent_session_loses_nothing_while_andon_is_away(
    private_broker: object, tmp_path: object
) -> None:
    broker = saving(private_broker)
    host, port = broker.host, broker.port
    pre = prefix()
    cfg = config(broker.url, pre, client_id=f"andon-{pre[-6:]}", clean_session=False)
    first, second = value_messages(pre, 300), value_messages(pre, 200, start=300)
    with open_historian(f"sqlite:///{tmp_path}/andon.db") as h:
        source = MqttJsonSource(cfg)
        async with Running([source], h) as run:
            publishing = asyncio.create_task(asyncio.to_thread(publish_all, host, port, first))
            await run.stored(50)  # stop andon in the middle of the stream
        await publishing
        await asyncio.to_thread(publish_all, host, port, second)
        assert h.count_samples() < 500
        async with Running([MqttJsonSource(cfg)], h):
            await until(lambda: h.count_samples() == 500, "all 500 samples after the restart")
        got = h.range("site/area/line-1/m1/temp", 0, 2**62).value.tolist()
        assert got == [float(i) for i in range(500)]


@synchronous
async def test_broker_restart_loses_nothing(private_broker: object, tmp_path: object) -> None:
    broker = saving(private_broker)
    host, port = broker.host, broker.port
    pre = prefix()
    cfg = config(broker.url, pre, client_id=f"andon-{pre[-6:]}", clean_session=False)
    with open_historian(f"sqlite:///{tmp_path}/andon.db") as h:
        source = MqttJsonSource(cfg)
        async with Running([source], h) as run:
            await asyncio.to_thread(publish_all, host, port, value_messages(pre, 200))
            await run.stored(200)
            await asyncio.to_thread(broker.stop)
            await until(lambda: not source.health.connected, "andon to notice the broker is gone")
            await asyncio.to_thread(broker.start)
            more = value_messages(pre, 200, start=200)
            await asyncio.to_thread(publish_all, host, port, more)
            await run.stored(400)
            assert source.health.connected
            assert source.link.connection >= 2
        assert h.count_samples() == 400


class SteadyPublisher(threading.Thread):
    """A QoS 1 publisher with a persistent session that keeps publishing, one message per
    millisecond, through a broker restart (paho queues and resends what the broker did not
    acknowledge)."""

    def __init__(self, host: str, port: int, messages: Sequence[Message]) -> None:
        super().__init__(daemon=True)
        self.messages = messages
        self.sent = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"steady-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect(host, port)
        self.client.loop_start()
        self.infos: list[paho.MQTTMessageInfo] = []

    def run(self) -> None:
        for topic, payload in self.messages:
            self.infos.append(self.client.publish(topic, payload, qos=1))
            self.sent += 1
            time.sleep(0.001)

    def finish(self) -> None:
        """Wait until the broker acknowledged every message (those published while it was
        down report "not connected" but stay queued in paho and go out on reconnect)."""
        self.join(30)
        deadline = time.monotonic() + 30
        while not all(info.mid in self.acked for info in self.infos):
            assert time.monotonic() < deadline, "the broker never acknowledged some messages"
            time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()


@synchronous
async def test_broker_restart_while_messages_flow_loses_nothing(
    private_broker: object, tmp_path: object
) -> None:
    """The broker goes down in the middle of a steady stream, with messages in flight on both
    sides, and comes back: every message is stored, once."""
    broker = saving(private_broker)
    pre = prefix()
    cfg = config(broker.url, pre, client_id=f"andon-{pre[-6:]}", clean_session=False)
    messages = value_messages(pre, 1500)
    with open_historian(f"sqlite:///{tmp_path}/andon.db") as h:
        source = MqttJsonSource(cfg)
        async with Running([source], h) as run:
            steady = SteadyPublisher(broker.host, broker.port, messages)
            steady.start()
            await until(lambda: steady.sent >= 500, "500 messages published")
            await asyncio.to_thread(broker.stop)
            await asyncio.sleep(0.3)  # messages keep being published into paho's queue
            await asyncio.to_thread(broker.start)
            await asyncio.to_thread(steady.finish)
            await run.stored(1500)
            assert source.link.connection >= 2
        assert h.count_samples() == 1500


@synchronous
async def test_shared_subscription_stores_each_message_once(
    mqtt_broker: tuple[str, int], tmp_path: object
) -> None:
    host, port = mqtt_broker
    pre = prefix()
    group = f"g{uuid.uuid4().hex[:8]}"
    url = f"mqtt://{host}:{port}"
    workers = [
        MqttJsonSource(config(url, pre, share=group)),
        MqttJsonSource(config(url, pre, share=group)),
    ]
    with open_historian(f"sqlite:///{tmp_path}/andon.db") as h:
        async with Running(workers, h) as run:
            await asyncio.to_thread(publish_all, host, port, value_messages(pre, 400))
            await run.stored(400)
        assert h.count_samples() == 400
        counts = [w.health.messages for w in workers]
        assert sum(counts) == 400, counts  # each message went to exactly one worker
        assert min(counts) > 0, counts


@synchronous
async def test_write_back_publishes_the_command(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    pre = prefix()
    tag = "site/area/line-1/m1/setpoint"
    got: list[paho.MQTTMessage] = []
    arrived = threading.Event()
    with publisher(host, port) as watcher:

        def on_message(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
            got.append(m)
            arrived.set()

        watcher.on_message = on_message
        subscribed = threading.Event()
        watcher.on_subscribe = lambda *a: subscribed.set()
        watcher.subscribe(f"{pre}/{tag}/set", qos=1)
        assert subscribed.wait(5)
        source = MqttJsonSource(config(f"mqtt://{host}:{port}", pre))
        await source.start()
        try:
            await until(lambda: source.health.connected, "the connector to connect")
            result = await source.write(tag, 42.5)
        finally:
            await source.close()
        assert result.ok, result.detail
        assert await asyncio.to_thread(arrived.wait, 5)
    command = orjson.loads(got[0].payload)
    assert command["value"] == 42.5
    assert abs(command["timestamp"] - time.time() * 1000) < 60_000


@synchronous
async def test_write_back_when_not_connected_says_so() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = MqttJsonSource(config(f"mqtt://127.0.0.1:{port}", "x"))
    await source.start()
    try:
        result = await source.write("site/area/line-1/m1/setpoint", 1)
    finally:
        await source.close()
    assert not result.ok and "not connected" in result.detail


def test_persistent_session_needs_a_client_id() -> None:
    from andon.core.errors import InputError

    with pytest.raises(InputError, match="client_id"):
        MqttJsonSource(config("mqtt://127.0.0.1:1883", "x", clean_session=False))


def test_missing_password_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from andon.core.errors import InputError

    monkeypatch.delenv("ANDON_TEST_NO_SUCH_PASSWORD", raising=False)
    with pytest.raises(InputError, match="ANDON_TEST_NO_SUCH_PASSWORD"):
        MqttJsonSource(
            config(
                "mqtt://127.0.0.1:1883",
                "x",
                username="u",
                password_env="ANDON_TEST_NO_SUCH_PASSWORD",
            )
        )
