"""A read buffer under paho's socket: one ``recv`` per 64 KB instead of three per message.

paho-mqtt reads each packet with separate ``recv`` calls - one byte for the command, one per
byte of the remaining length, then the body - and goes back to ``select`` after every packet
when nothing is in flight. At tens of thousands of small messages a second that doubled the
receive thread's CPU per message, all of it holding the GIL the decoder and the historian
need (measured in docs/BENCHMARKS.md, "Connectivity"). ``BufferedSocket`` reads what the
kernel holds in one call and serves paho's small reads from memory; its ``pending`` tells
paho's loop that bytes are waiting (paho asks every socket-like object for it, as it does of
TLS sockets, whose own read buffer raises the same question), so no buffered packet waits
for ``select``.

``BufferedClient`` is paho's Client reading through it; everything else is paho's. It leans on
two of paho's internal names (``_create_socket``, ``_handle_on_message``);
``tests/connect/test_mqtt_socket.py`` fails if a paho release renames them.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

CHUNK = 65_536
PACKETS_PER_WAKE = 1_000
"""Packets handled from the buffer per wake-up before paho gets to write again."""


class BufferedSocket:
    """A socket-like object that reads ahead; writes and the rest go to the socket itself."""

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes, from the buffer when it holds any (no system call)."""
        pos, buf = self._pos, self._buf
        if pos >= len(buf):
            buf = self._sock.recv(max(CHUNK, bufsize))  # raises BlockingIOError when empty
            if len(buf) <= bufsize:  # the end of the stream (b"") included
                self._buf, self._pos = b"", 0
                return bytes(buf)
            self._buf, pos = buf, 0
        end = min(pos + bufsize, len(buf))
        self._pos = end
        return buf[pos:end]

    def buffered(self) -> int:
        """Bytes already read and not yet taken."""
        return len(self._buf) - self._pos

    def pending(self) -> int:
        """Bytes already read and not yet taken (plus any a TLS socket holds decrypted)."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def send(self, data: bytes | bytearray) -> int:
        sent: int = self._sock.send(data)
        return sent

    def fileno(self) -> int:
        number: int = self._sock.fileno()
        return number

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(paho.Client):
    """paho's MQTT client reading its socket through a ``BufferedSocket``, handling every
    packet already buffered per wake-up (paho handles one per ``select`` when nothing is in
    flight), and handing messages straight to ``on_message`` unless per-topic callbacks
    (``message_callback_add``) were registered - paho matches every topic against its tree of
    those, which was a twentieth of the receive thread's time with no callback in it."""

    _per_topic = False

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        if not isinstance(sock, BufferedSocket):
            return rc
        buffered = sock.buffered
        # bounded, so that a flood cannot hold back what paho writes between reads (PUBACKs
        # of QoS 1 messages, keep-alive pings)
        for _ in range(PACKETS_PER_WAKE):
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not sock:
                break
            if not buffered():
                break
            rc = super().loop_read(max_packets)
        return rc

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._per_topic = True
        super().message_callback_add(sub, callback)

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        on_message = self.on_message
        if self._per_topic or on_message is None:
            super()._handle_on_message(message)
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise


__all__ = ["CHUNK", "PACKETS_PER_WAKE", "BufferedClient", "BufferedSocket"]
