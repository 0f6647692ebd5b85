"""The read buffer under paho: small reads from memory, nothing lost or reordered, and paho's
internal names it leans on still there (a paho upgrade that renames them fails here)."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from andon.connect.health import SourceHealth
from andon.connect.mqtt import MqttLink
from andon.connect.mqtt_socket import CHUNK, BufferedClient, BufferedSocket


def test_paho_still_has_the_names_the_buffer_leans_on() -> None:
    for name in ("_create_socket", "_handle_on_message", "loop_read", "message_callback_add"):
        assert callable(getattr(paho.Client, name, None)), name


def test_small_reads_come_from_one_recv_in_order() -> None:
    a, b = socket.socketpair()
    try:
        a.sendall(bytes(range(200)))
        sock = BufferedSocket(b)
        assert sock.recv(1) == b"\x00"
        assert sock.buffered() == 199 and sock.pending() == 199
        assert sock.recv(1) == b"\x01"
        assert sock.recv(10) == bytes(range(2, 12))
        assert sock.recv(1000) == bytes(range(12, 200))  # no more than is buffered
        assert sock.buffered() == 0
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(1)  # empty buffer, empty socket: what paho expects of a socket
        a.sendall(b"xyz")
        assert sock.recv(3) == b"xyz"
        a.close()
        assert sock.recv(5) == b""  # the end of the stream is seen as it is
    finally:
        a.close()
        b.close()


def test_a_read_larger_than_the_chunk_is_served_whole() -> None:
    a, b = socket.socketpair()
    try:
        data = bytes(i % 251 for i in range(CHUNK + 10_000))
        threading.Thread(target=a.sendall, args=(data,)).start()
        sock = BufferedSocket(b)
        got = bytearray()
        while len(got) < len(data):
            got += sock.recv(len(data) - len(got))
        assert bytes(got) == data
    finally:
        a.close()
        b.close()


def test_writes_and_the_rest_go_to_the_socket() -> None:
    a, b = socket.socketpair()
    try:
        sock = BufferedSocket(b)
        assert sock.fileno() == b.fileno()
        assert sock.send(b"hello") == 5
        assert a.recv(5) == b"hello"
        assert sock.getsockname() == b.getsockname()  # anything else: forwarded
    finally:
        a.close()
        b.close()


def test_the_link_reads_through_the_buffer_and_loses_nothing(private_broker: Any) -> None:
    # a broker of the test's own: the shared one drops QoS 1 messages queued beyond 1000
    host, port = private_broker.host, private_broker.port
    prefix = f"test/{uuid.uuid4().hex[:8]}"
    n = 5_000

    async def main() -> list[bytes]:
        link = MqttLink(
            f"mqtt://{host}:{port}",
            health=SourceHealth("buf", "mqtt", f"mqtt://{host}:{port}"),
            subscriptions=[(f"{prefix}/#", 1)],
            manual_ack=True,
        )
        await link.start()
        assert await link.wait_subscribed(10)
        assert isinstance(link.client.socket(), BufferedSocket)
        pub = paho.Client(CallbackAPIVersion.VERSION2)
        pub.connect(host, port)
        pub.loop_start()
        for i in range(n):
            pub.publish(f"{prefix}/t", b"%d" % i, qos=1)
        got: list[bytes] = []
        while len(got) < n:
            window = await asyncio.wait_for(link.receive(), 20)
            got += [bytes(m.payload) for m, _, _ in window]
            assert link.ack(window) == len(window)
        pub.disconnect()
        pub.loop_stop()
        await link.close()
        return got

    got = asyncio.run(main())
    assert got == [b"%d" % i for i in range(n)]  # every message, in order


@pytest.mark.usefixtures("mqtt_broker")
def test_per_topic_callbacks_still_work(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    prefix = f"test/{uuid.uuid4().hex[:8]}"
    seen: dict[str, list[bytes]] = {"a": [], "other": []}
    done = threading.Event()
    subscribed = threading.Event()

    def on_a(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        seen["a"].append(bytes(m.payload))

    def on_other(c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        seen["other"].append(bytes(m.payload))
        done.set()

    client = BufferedClient(CallbackAPIVersion.VERSION2)
    client.on_message = on_other
    client.message_callback_add(f"{prefix}/a", on_a)
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/#", 1)
        assert subscribed.wait(10)
        client.publish(f"{prefix}/a", b"1", qos=1).wait_for_publish(5)
        client.publish(f"{prefix}/b", b"2", qos=1).wait_for_publish(5)
        assert done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    assert seen == {"a": [b"1"], "other": [b"2"]}
