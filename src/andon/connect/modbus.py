"""Modbus TCP: poll a device's register map into Batches, write back to registers and coils.

One ``ModbusSource`` per device (a plant.yaml ``sources:`` entry of type ``modbus``). The map
is planned once into coalesced reads (``modbus_map.plan_reads``); every ``poll`` seconds the
reads go out one after the other and their answers become one Batch stamped with the poll's
start time. The schedule is drift-free (ticks at start + k * poll); a poll that takes longer
than the interval is counted in ``late_polls`` and reported through ``health``, and the ticks it
overran are skipped, never queued up.

What can go wrong, and what andon does:

- the device answers a read with a Modbus exception (illegal address, illegal function,
  device busy, gateway target failed...): that read's tags are stored with BAD quality (NaN)
  for this poll and one dead letter names the function, the address range and the exception
  code — once when the read starts failing (or fails differently), not at every poll; the
  other reads of the poll go on;
- a value decodes to NaN or infinity (a meter's "not available"): stored with BAD quality;
- no answer within ``timeout``, or the connection drops: the poll is abandoned, health goes
  down (logged once), and the connector reconnects with exponential back-off; health goes up
  (logged once) when the device answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import numpy as np
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from andon.connect.base import Value, WriteRefused, WriteResult
from andon.connect.deadletter import DeadLetter
from andon.connect.health import SourceHealth
from andon.connect.modbus_map import FUNCTION_CODE, Read, decode, encode, is_bits, plan_reads
from andon.core.batch import Batch
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.quality import BAD, GOOD
from andon.core.stream import Emit
from andon.plant.sources import ModbusSource as ModbusConfig

DEFAULT_PORT = 502

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    7: "negative acknowledge",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
"""Modbus exception codes, as the Modbus application protocol specification names them."""


def exception_name(code: int) -> str:
    return EXCEPTION_NAMES.get(code, "unknown exception")


class _Lost(Exception):
    """The device stopped answering: drop the connection and reconnect."""


class ModbusSource:
    """A Modbus TCP device polled by its register map; see the module docstring."""

    acknowledges = False

    def __init__(
        self,
        config: ModbusConfig,
        *,
        max_count: int | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.config = config
        self.name = config.name
        parts = urlsplit(config.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or DEFAULT_PORT
        self.health = SourceHealth(config.name, "modbus", config.url)
        self.reads: list[Read] = plan_reads(
            config.registers, max_gap=config.max_gap, max_count=max_count
        )
        order = [r for read in self.reads for r in read.registers]
        self.tags: tuple[str, ...] = tuple(r.tag for r in order)
        self._tag_id = np.arange(len(order), dtype=np.int32)
        self._slices: list[tuple[int, int]] = []
        at = 0
        for read in self.reads:
            self._slices.append((at, at + len(read.registers)))
            at += len(read.registers)
        self._by_tag = {r.tag: r for r in config.registers}
        self._backoff = backoff
        self._client: AsyncModbusTcpClient | None = None
        self._stop = asyncio.Event()
        self._failing: dict[int, int] = {}
        """Read index -> the exception code it currently fails with (one dead letter each)."""
        self.polls = 0
        self.late_polls = 0

    # ------------------------------------------------------------------ running

    async def run(self, emit: Emit) -> None:
        """Connect, poll until ``close``, reconnect with back-off whenever the device is lost."""
        delay = self._backoff[0]
        while not self._stop.is_set():
            client = await self._connect()
            if client is None:
                await self._wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            self._client = client
            try:
                await self._poll_forever(client, emit)
            except _Lost as exc:
                if not self._stop.is_set():
                    self.health.down(str(exc))
            finally:
                self._client = None
                client.close()

    async def _connect(self) -> AsyncModbusTcpClient | None:
        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            name=self.name,
            timeout=self.config.timeout,
            retries=0,
            reconnect_delay=0,  # andon reconnects itself, with its own back-off and health
        )
        try:
            ok = await asyncio.wait_for(client.connect(), self.config.timeout + 1)
        except (OSError, TimeoutError, ModbusException):
            ok = False
        if not ok:
            client.close()
            self.health.down(f"cannot connect to {self.host}:{self.port}")
            return None
        self.health.up()
        return client

    async def _poll_forever(self, client: AsyncModbusTcpClient, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.poll
        tick = loop.time()
        while not self._stop.is_set():
            began = loop.time()
            batch, events = await self.poll(client)
            if len(batch):
                await emit(batch)
            if events:
                await emit(tuple(events))
            tick += interval
            now = loop.time()
            if now > tick:
                skipped = int((now - tick) // interval) + 1
                tick += skipped * interval
                self.late_polls += 1
                self.health.error(
                    f"a poll took {now - began:.3f} s, longer than the {interval:g} s "
                    f"interval; {skipped} poll(s) skipped"
                )
            await self._wait(tick - loop.time())

    async def poll(self, client: AsyncModbusTcpClient) -> tuple[Batch, list[Event]]:
        """One pass over every read: the Batch of this poll and its dead letters.
        Raises _Lost when the device does not answer."""
        ts = time.time_ns()
        n = len(self.tags)
        values = np.full(n, np.nan, dtype=np.float64)
        quality = np.full(n, BAD, dtype=np.uint8)
        events: list[Event] = []
        answered = 0
        for i, read in enumerate(self.reads):
            response = await self._request(client, read)
            lo, hi = self._slices[i]
            if response.isError():
                code = int(response.exception_code)
                events.extend(self._failed(i, read, code, ts))
                continue
            try:
                decoded = decode(
                    read, response.bits if is_bits(read.function) else response.registers
                )
            except InputError as exc:
                events.extend(self._undecodable(i, read, response, str(exc), ts))
                continue
            self._failing.pop(i, None)
            answered += 1
            values[lo:hi] = decoded
            quality[lo:hi] = np.where(np.isfinite(decoded), GOOD, BAD)
        self.polls += 1
        self.health.received(answered, int(np.count_nonzero(quality == GOOD)))
        batch = Batch(self.tags, np.full(n, ts, dtype=np.int64), self._tag_id, values, quality)
        return batch, events

    async def _request(self, client: AsyncModbusTcpClient, read: Read) -> ModbusPDU:
        unit = self.config.unit_id
        calls = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }
        try:
            # pymodbus itself gives up after ``timeout`` (retries=0): no extra wait_for task
            return await calls[read.function](read.address, count=read.count, device_id=unit)
        except (ModbusException, TimeoutError, OSError) as exc:
            raise _Lost(
                f"no answer from {self.host}:{self.port} to a read of {read.describe()} "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def _failed(self, i: int, read: Read, code: int, ts: int) -> list[Event]:
        reason = (
            f"Modbus exception {code} ({exception_name(code)}) for function "
            f"{FUNCTION_CODE[read.function]} reading {read.describe()} of unit "
            f"{self.config.unit_id}; {len(read.registers)} tag(s) stored with BAD quality"
        )
        self.health.error(reason)
        if self._failing.get(i) == code:
            return []
        self._failing[i] = code
        exception_pdu = bytes([FUNCTION_CODE[read.function] | 0x80, code & 0xFF])
        return [self._dead_letter(read, exception_pdu, reason, ts)]

    def _undecodable(
        self, i: int, read: Read, response: ModbusPDU, why: str, ts: int
    ) -> list[Event]:
        self.health.error(why)
        if self._failing.get(i) == -1:
            return []
        self._failing[i] = -1
        head = repr(list(response.registers or response.bits)[:32]).encode()
        return [self._dead_letter(read, head, f"{why}; tags stored with BAD quality", ts)]

    def _dead_letter(self, read: Read, payload: bytes, reason: str, ts: int) -> Event:
        self.health.dead_letter()
        topic = f"unit {self.config.unit_id} {read.describe()}"
        return DeadLetter.of(self.name, topic, payload, reason, ts).event()

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # ------------------------------------------------------------------ write-back

    async def write(self, tag: str, value: Value) -> WriteResult:
        """Write ``value`` to the holding register(s) or coil mapped to ``tag``.
        Raises WriteRefused for an unknown tag, a read-only register or a value that does not
        fit; a device that refuses (or does not answer) gives ``ok=False`` and the reason."""
        register = self._by_tag.get(tag)
        if register is None:
            raise WriteRefused(f"source {self.name}: no Modbus register is mapped to tag {tag}")
        if register.function in ("input", "discrete"):
            kind = "input registers" if register.function == "input" else "discrete inputs"
            raise WriteRefused(
                f"source {self.name}, tag {tag}: {kind} are read-only; only holding registers "
                "and coils can be written"
            )
        payload = encode(register, value)
        client, own = self._client, False
        if client is None or not client.connected:
            client, own = await self._connect(), True
            if client is None:
                return self._result(tag, value, False, f"cannot connect to {self.host}:{self.port}")
        unit, address = self.config.unit_id, register.address
        try:
            if isinstance(payload, bool):
                call = client.write_coil(address, payload, device_id=unit)
                where = f"coil {address}"
            elif len(payload) == 1:
                call = client.write_register(address, payload[0], device_id=unit)
                where = f"holding register {address}"
            else:
                call = client.write_registers(address, payload, device_id=unit)
                where = f"holding registers {address}-{address + len(payload) - 1}"
            response = await asyncio.wait_for(call, self.config.timeout + 0.5)
        except (ModbusException, TimeoutError, OSError) as exc:
            self.health.error(f"write to {tag} failed: {exc}")
            return self._result(tag, value, False, f"no answer from the device: {exc}")
        finally:
            if own:
                client.close()
        if response.isError():
            code = int(response.exception_code)
            detail = (
                f"the device refused the write to {where}: exception {code} "
                f"({exception_name(code)})"
            )
            self.health.error(detail)
            return self._result(tag, value, False, detail)
        return self._result(tag, value, True, f"wrote {payload} to {where} of unit {unit}")

    def _result(self, tag: str, value: Value, ok: bool, detail: str) -> WriteResult:
        return WriteResult(source=self.name, tag=tag, value=value, ok=ok, detail=detail)

    async def close(self) -> None:
        """Stop polling and disconnect; safe to call twice."""
        self._stop.set()
        client, self._client = self._client, None
        if client is not None:
            client.close()


__all__ = ["DEFAULT_PORT", "EXCEPTION_NAMES", "ModbusSource", "exception_name"]
