"""The Modbus TCP connector against real pymodbus servers on loopback.

Each test starts its own server (``Device``) on a free port: unit 1 with holding registers,
input registers, coils and discrete inputs. The server counts the requests it receives (to
prove coalescing) and answers with Modbus exceptions on demand (``refuse``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import struct
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from andon.connect.base import WriteRefused
from andon.connect.deadletter import DeadLetter
from andon.connect.modbus import ModbusSource
from andon.core.batch import Batch
from andon.core.quality import BAD, GOOD
from andon.core.stream import Emit, Item
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import example_plant, load_plant
from andon.plant.sources import ModbusRegister
from andon.plant.sources import ModbusSource as ModbusConfig
from andon.sim.plant import VirtualPlant
from andon.sim.serve.modbus import EnergyMeterServer

FMT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}
VALUE = {
    "int16": -1234,
    "uint16": 54321,
    "int32": -123456789,
    "uint32": 3_000_000_000,
    "float32": 1234.5,
    "float64": -98765.4321,
}
ORDERS = list(itertools.product(["big", "little"], ["big", "little"]))
HOLDING_SIZE = 100
FC_HOLDING, FC_INPUT, FC_COIL, FC_DISCRETE = 3, 4, 1, 2


def words_of(rtype: str, value: float, word_order: str, byte_order: str) -> list[int]:
    """How a device lays the value out (struct's big-endian bytes, rearranged)."""
    data = struct.pack(">" + FMT[rtype], value)
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        words = words[::-1]
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def stored(rtype: str, value: float) -> float:
    """The value after a trip through the register type (float32 rounds)."""
    return float(struct.unpack(">" + FMT[rtype], struct.pack(">" + FMT[rtype], value))[0])


class Device:
    """A pymodbus TCP server of the test's own on a free loopback port (kept across a
    ``stop``/``start``)."""

    def __init__(
        self,
        holding: list[int],
        inputs: list[int],
        coils: list[bool],
        discrete: list[bool],
    ) -> None:
        self.tables = (holding, inputs, coils, discrete)
        self.port = 0
        self.requests: Counter[int] = Counter()
        self.refuse: dict[int, int] = {}
        """Function code -> the Modbus exception code the device answers with."""
        self.slow: dict[int, float] = {}
        """Function code -> seconds the device takes to answer (once, then forgotten)."""
        self.server: ModbusTcpServer | None = None

    async def action(
        self,
        function_code: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if (delay := self.slow.pop(function_code, 0.0)) > 0:
            await asyncio.sleep(delay)
        code = self.refuse.get(function_code)
        return ExcCodes(code) if code else None

    def trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests[pdu.function_code] += 1
        return pdu

    async def start(self) -> None:
        holding, inputs, coils, discrete = self.tables
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, values=list(coils), datatype=DataType.BITS)],
                [SimData(0, values=list(discrete), datatype=DataType.BITS)],
                [SimData(0, values=list(holding), datatype=DataType.REGISTERS)],
                [SimData(0, values=list(inputs), datatype=DataType.REGISTERS)],
            ),
            action=self.action,
        )
        server = ModbusTcpServer(device, address=("127.0.0.1", self.port), trace_pdu=self.trace)
        await server.serve_forever(background=True)
        if not self.port:
            sockets: Any = getattr(server.transport, "sockets", None)
            self.port = int(sockets[0].getsockname()[1])
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]
            self.server = None

    async def read(self, function_code: int, address: int, count: int) -> list[Any]:
        assert self.server is not None
        return list(await self.server.async_getValues(1, function_code, address, count))

    @property
    def url(self) -> str:
        return f"modbus://127.0.0.1:{self.port}"


def every_type() -> tuple[list[ModbusRegister], dict[str, float], list[int]]:
    """Holding registers with every type in every word and byte order, back to back."""
    regs: list[ModbusRegister] = []
    expected: dict[str, float] = {}
    holding = [0] * HOLDING_SIZE
    address = 0
    for rtype, (wo, bo) in itertools.product(FMT, ORDERS):
        tag = f"plant/a/l/dev/{rtype}_{wo}_{bo}"
        words = words_of(rtype, VALUE[rtype], wo, bo)
        holding[address : address + len(words)] = words
        regs.append(
            ModbusRegister(
                tag=tag, address=address, type=rtype, word_order=wo, byte_order=bo, scale=1.0
            )
        )
        expected[tag] = stored(rtype, VALUE[rtype])
        address += len(words)
    return regs, expected, holding


def config(url: str, registers: list[ModbusRegister], **kw: Any) -> ModbusConfig:
    kw.setdefault("poll", 0.05)
    kw.setdefault("timeout", 0.5)
    return ModbusConfig(type="modbus", name="dev", url=url, registers=registers, **kw)


class Polls:
    """A pipeline source around the connector that closes it after ``n`` batches (and runs
    ``then(k)`` after batch k), so that tests are exact about how many polls happened."""

    def __init__(
        self, source: ModbusSource, n: int, then: Callable[[int], Any] | None = None
    ) -> None:
        self.source, self.n, self.then = source, n, then
        self.name = source.name
        self.items: list[Item] = []
        self.batches = 0

    async def run(self, emit: Emit) -> None:
        async def counting(item: Item) -> None:
            self.items.append(item)
            await emit(item)
            if isinstance(item, Batch):
                self.batches += 1
                if self.then is not None:
                    result = self.then(self.batches)
                    if asyncio.iscoroutine(result):
                        await result
                if self.batches >= self.n:
                    await self.source.close()

        await self.source.run(counting)

    def dead_letters(self) -> list[DeadLetter]:
        return [
            DeadLetter.from_event(e) for item in self.items if isinstance(item, tuple) for e in item
        ]


async def collect(polls: Polls) -> None:
    async def keep(item: Item) -> None:
        return None

    await asyncio.wait_for(polls.run(keep), 20)


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- reading


def test_every_type_is_polled_into_the_historian_in_few_reads(db_url: str) -> None:
    regs, expected, holding = every_type()
    inputs = [*words_of("float32", 21.5, "big", "big"), 7]
    regs += [
        ModbusRegister(tag="plant/a/l/dev/temp", address=0, function="input", type="float32"),
        ModbusRegister(
            tag="plant/a/l/dev/level", address=2, function="input", scale=0.5, offset=-1
        ),
        ModbusRegister(tag="plant/a/l/dev/run", address=1, function="coil", type="bool"),
        ModbusRegister(tag="plant/a/l/dev/fault", address=4, function="coil", type="bool"),
        ModbusRegister(tag="plant/a/l/dev/door", address=0, function="discrete", type="bool"),
    ]
    expected |= {
        "plant/a/l/dev/temp": 21.5,
        "plant/a/l/dev/level": 2.5,
        "plant/a/l/dev/run": 1.0,
        "plant/a/l/dev/fault": 0.0,
        "plant/a/l/dev/door": 1.0,
    }
    device = Device(holding, inputs, [False, True] + [False] * 14, [True] + [False] * 15)
    polls_wanted = 3

    async def main() -> Polls:
        await device.start()
        try:
            source = ModbusSource(config(device.url, regs))
            polls = Polls(source, polls_wanted)
            historian = open_historian(db_url)
            try:
                await asyncio.wait_for(Pipeline([polls], [HistorianSink(historian)]).run(), 30)
                for tag, value in expected.items():
                    series = historian.range(tag, 0, 2**62)
                    assert len(series) == polls_wanted, tag
                    assert series.value.tolist() == [value] * polls_wanted, tag
                    assert series.quality.tolist() == [GOOD] * polls_wanted, tag
                assert historian.count_samples() == polls_wanted * len(regs)
            finally:
                historian.close()
            return polls
        finally:
            await device.stop()

    polls = asyncio.run(main())
    # 29 registers, 4 functions: one read per function per poll, and nothing else asked
    assert len(polls.source.reads) == 4
    assert device.requests == Counter(
        {FC_HOLDING: polls_wanted, FC_INPUT: polls_wanted, FC_COIL: polls_wanted, FC_DISCRETE: 3}
    )
    assert polls.source.polls == polls_wanted
    batch_ts = [i.ts[0] for i in polls.items if isinstance(i, Batch)]
    assert all(b > a for a, b in itertools.pairwise(batch_ts))


def test_coalescing_counts_the_requests_the_device_receives() -> None:
    """100 meters of power (float32) and energy (float64) 10 registers apart: 996 registers
    from the first to the last, read over the 4-register gaps in 8 reads per poll (125 at
    most per read), not 200."""
    holding = [0] * 1000
    regs: list[ModbusRegister] = []
    for m in range(100):
        base = 10 * m
        holding[base : base + 2] = words_of("float32", float(m), "big", "big")
        holding[base + 2 : base + 6] = words_of("float64", m * 1000.5, "big", "big")
        regs.append(ModbusRegister(tag=f"p/a/l/m{m}/power", address=base, type="float32"))
        regs.append(ModbusRegister(tag=f"p/a/l/m{m}/energy", address=base + 2, type="float64"))
    device = Device(holding, [0], [False] * 16, [False] * 16)

    async def main() -> Polls:
        await device.start()
        try:
            polls = Polls(ModbusSource(config(device.url, regs, max_gap=4)), 2)
            await collect(polls)
            return polls
        finally:
            await device.stop()

    polls = asyncio.run(main())
    assert len(polls.source.reads) == 8
    assert device.requests == Counter({FC_HOLDING: 2 * 8})
    last = polls.items[-1]
    assert isinstance(last, Batch)
    got = dict(zip(last.tag_paths(), last.value.tolist(), strict=True))
    assert got["p/a/l/m42/power"] == 42.0
    assert got["p/a/l/m99/energy"] == 99 * 1000.5
    assert np.all(last.quality == GOOD)


# ---------------------------------------------------------------------- bad input


def test_exception_responses_become_bad_samples_and_dead_letters(db_url: str) -> None:
    """Modbus exception responses in the bad-input corpus: a read past the end of the
    holding block (illegal data address), a function the device refuses (illegal function),
    a busy device and a gateway whose target does not answer. Each failing read's tags are
    stored BAD (NaN) at every poll, with one dead letter per failing read; the good read
    of every poll is stored GOOD."""
    holding = [0] * HOLDING_SIZE
    holding[0:2] = words_of("float32", 12.25, "big", "big")
    regs = [
        ModbusRegister(tag="p/a/l/d/good", address=0, type="float32"),
        ModbusRegister(tag="p/a/l/d/past_end", address=HOLDING_SIZE - 2, type="float64"),
        ModbusRegister(tag="p/a/l/d/inp", address=0, function="input"),
        ModbusRegister(tag="p/a/l/d/coil", address=0, function="coil", type="bool"),
        ModbusRegister(tag="p/a/l/d/di", address=0, function="discrete", type="bool"),
    ]
    device = Device(holding, [5], [False] * 16, [True] * 16)
    device.refuse = {
        FC_INPUT: ExcCodes.ILLEGAL_FUNCTION,
        FC_COIL: ExcCodes.DEVICE_BUSY,
        FC_DISCRETE: ExcCodes.GATEWAY_NO_RESPONSE,
    }

    def heal(k: int) -> None:
        if k == 3:  # the discrete inputs come back from poll 4 on
            del device.refuse[FC_DISCRETE]

    async def main() -> tuple[Polls, dict[str, Any]]:
        await device.start()
        try:
            polls = Polls(ModbusSource(config(device.url, regs, max_gap=8)), 5, heal)
            historian = open_historian(db_url)
            try:
                await asyncio.wait_for(Pipeline([polls], [HistorianSink(historian)]).run(), 30)
                series = {r.tag: historian.range(r.tag, 0, 2**62) for r in regs}
                letters = historian.events(kind="dead_letter")
            finally:
                historian.close()
            return polls, {"series": series, "letters": letters}
        finally:
            await device.stop()

    polls, found = asyncio.run(main())
    source = polls.source
    assert [(r.function, r.address, r.count) for r in source.reads] == [
        ("coil", 0, 1),
        ("discrete", 0, 1),
        ("holding", 0, 2),
        ("holding", HOLDING_SIZE - 2, 4),
        ("input", 0, 1),
    ]
    series = found["series"]
    good = series["p/a/l/d/good"]
    assert good.value.tolist() == [12.25] * 5 and good.quality.tolist() == [GOOD] * 5
    for tag in ("p/a/l/d/past_end", "p/a/l/d/inp", "p/a/l/d/coil"):
        assert len(series[tag]) == 5
        assert series[tag].quality.tolist() == [BAD] * 5
        assert np.isnan(series[tag].value).all()
    di = series["p/a/l/d/di"]
    assert di.quality.tolist() == [BAD] * 3 + [GOOD] * 2
    assert di.value[3:].tolist() == [1.0, 1.0]

    letters = sorted(DeadLetter.from_event(e).reason for e in found["letters"])
    assert len(letters) == 4  # one per failing read, not one per poll
    assert source.health.dead_letters == 4
    joined = "\n".join(letters)
    assert "Modbus exception 2 (illegal data address) for function 3 reading holding " in joined
    assert f"registers {HOLDING_SIZE - 2}-{HOLDING_SIZE + 1}" in joined
    assert "exception 1 (illegal function) for function 4 reading input registers 0-0" in joined
    assert "exception 6 (server device busy) for function 1 reading coils 0-0" in joined
    assert "exception 11 (gateway target device failed to respond) for function 2" in joined
    topics = {DeadLetter.from_event(e).topic for e in found["letters"]}
    assert "unit 1 holding registers 98-101" in topics


def test_a_slow_poll_is_reported_and_not_caught_up() -> None:
    holding = [0] * HOLDING_SIZE
    device = Device(holding, [0], [False] * 16, [False] * 16)
    regs = [ModbusRegister(tag="p/a/l/d/x", address=0)]

    async def main() -> Polls:
        await device.start()
        device.slow[FC_HOLDING] = 0.4  # the first read only
        try:
            polls = Polls(ModbusSource(config(device.url, regs, poll=0.05, timeout=2)), 5)
            await collect(polls)
            return polls
        finally:
            await device.stop()

    polls = asyncio.run(main())
    ts = [i.ts[0] for i in polls.items if isinstance(i, Batch)]
    gaps = np.diff(ts) / 1e9
    assert gaps[0] >= 0.35
    # no burst of catch-up polls after the slow one: the schedule skips the missed ticks
    assert (gaps[1:] >= 0.03).all(), gaps
    assert polls.source.late_polls >= 1
    assert "longer than the 0.05 s interval" in polls.source.health.last_error


def test_restart_of_the_device_reconnects_and_logs_down_and_up_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    holding = [0] * HOLDING_SIZE
    holding[0] = 77
    device = Device(holding, [0], [False] * 16, [False] * 16)
    regs = [ModbusRegister(tag="p/a/l/d/x", address=0)]
    caplog.set_level(logging.INFO, logger="andon.connect")

    async def main() -> tuple[Polls, int]:
        await device.start()
        source = ModbusSource(config(device.url, regs, timeout=0.3), backoff=(0.05, 0.2))
        polls = Polls(source, 10_000)
        task = asyncio.create_task(collect(polls))
        try:
            await until(lambda: polls.batches >= 2)
            await device.stop()
            await until(lambda: not source.health.connected)
            before = polls.batches
            await asyncio.sleep(0.5)  # several failed reconnects happen here
            assert polls.batches == before
            await device.start()
            await until(lambda: source.health.connected and polls.batches >= before + 3)
        finally:
            await source.close()
            await task
            await device.stop()
        return polls, before

    polls, before = asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records if r.name == "andon.connect"]
    assert sum("is unavailable" in m for m in messages) == 1, messages
    assert sum("is available again" in m for m in messages) == 1, messages
    after = [i for i in polls.items if isinstance(i, Batch)][before:]
    assert all(b.value[0] == 77 and b.quality[0] == GOOD for b in after)


# ---------------------------------------------------------------------- write-back


def test_write_back_to_holding_registers_and_coils() -> None:
    holding = [0] * HOLDING_SIZE
    regs = [
        ModbusRegister(tag="p/a/l/d/setpoint", address=10, type="float32", word_order="little"),
        ModbusRegister(tag="p/a/l/d/speed", address=20, scale=0.1),
        ModbusRegister(tag="p/a/l/d/start", address=3, function="coil", type="bool"),
        ModbusRegister(tag="p/a/l/d/temp", address=0, function="input"),
        ModbusRegister(tag="p/a/l/d/door", address=0, function="discrete", type="bool"),
    ]
    device = Device(holding, [0], [False] * 16, [False] * 16)

    async def main() -> None:
        await device.start()
        source = ModbusSource(config(device.url, regs))
        polls = Polls(source, 10_000)
        task = asyncio.create_task(collect(polls))
        try:
            await until(lambda: source.health.connected)
            result = await source.write("p/a/l/d/setpoint", 61.75)
            assert result.ok, result.detail
            assert "holding registers 10-11" in result.detail
            assert await device.read(FC_HOLDING, 10, 2) == words_of(
                "float32", 61.75, "little", "big"
            )
            assert (await source.write("p/a/l/d/speed", 1450.3)).ok
            assert await device.read(FC_HOLDING, 20, 1) == [14503]
            result = await source.write("p/a/l/d/start", True)
            assert result.ok and "coil 3" in result.detail
            assert (await device.read(FC_COIL, 0, 8))[3] is True

            # the next polls read back what was written
            seen = polls.batches
            await until(lambda: polls.batches >= seen + 2)
            last = polls.items[-1]
            assert isinstance(last, Batch)
            got = dict(zip(last.tag_paths(), last.value.tolist(), strict=True))
            assert got["p/a/l/d/setpoint"] == 61.75
            assert got["p/a/l/d/speed"] == pytest.approx(1450.3)
            assert got["p/a/l/d/start"] == 1.0

            with pytest.raises(
                WriteRefused, match="source dev, tag p/a/l/d/temp: input registers are read-only"
            ):
                await source.write("p/a/l/d/temp", 1)
            with pytest.raises(WriteRefused, match="discrete inputs are read-only"):
                await source.write("p/a/l/d/door", True)
            with pytest.raises(
                WriteRefused, match="source dev: no Modbus register is mapped to tag p/a/l/d/nope"
            ):
                await source.write("p/a/l/d/nope", 1)
            with pytest.raises(
                WriteRefused, match=r"speed: 7000.0 does not fit uint16 after scale 0.1 \(raw 70000"
            ):
                await source.write("p/a/l/d/speed", 7000.0)

            # a device that refuses the write: reported, not raised
            device.refuse[6] = ExcCodes.ILLEGAL_VALUE
            result = await source.write("p/a/l/d/speed", 10)
            assert not result.ok
            assert "exception 3 (illegal data value)" in result.detail
        finally:
            await source.close()
            await task
            await device.stop()

    asyncio.run(main())


def test_write_without_a_running_poll_opens_its_own_connection() -> None:
    device = Device([0] * HOLDING_SIZE, [0], [False] * 16, [False] * 16)
    regs = [ModbusRegister(tag="p/a/l/d/sp", address=5, type="int32")]

    async def main() -> None:
        await device.start()
        try:
            source = ModbusSource(config(device.url, regs))
            result = await source.write("p/a/l/d/sp", -2)
            assert result.ok, result.detail
            assert await device.read(FC_HOLDING, 5, 2) == [0xFFFF, 0xFFFE]
        finally:
            await device.stop()
        result = await source.write("p/a/l/d/sp", 1)
        assert not result.ok and "cannot connect" in result.detail

    asyncio.run(main())


# ---------------------------------------------------------------------- energy meters


def test_energy_meter_server_round_trip() -> None:
    plant = load_plant(example_plant("job_shop"))
    start = 1_700_000_000 * 10**9

    async def main() -> tuple[EnergyMeterServer, Batch, Batch]:
        server = EnergyMeterServer(plant)
        await server.start()
        try:
            virtual = VirtualPlant(plant, seed=3, start_ns=start)
            sim_batch, _ = virtual.advance(start + 120 * 10**9)
            await server.publish(sim_batch)
            source_config = server.register_map("meters", server.url, poll=0.05)
            polls = Polls(ModbusSource(source_config), 1)
            await collect(polls)
            (read,) = [i for i in polls.items if isinstance(i, Batch)]
            return server, sim_batch, read
        finally:
            await server.stop()

    server, sim_batch, read = asyncio.run(main())
    assert len(server.meters) == 4
    got = dict(zip(read.tag_paths(), read.value.tolist(), strict=True))
    assert np.all(read.quality == GOOD)
    paths = np.array(sim_batch.tag_paths())
    for i, meter in enumerate(server.meters):
        mine = paths == meter.power_tag
        ts, kw = sim_batch.ts[mine], sim_batch.value[mine]
        newest = kw[np.argmax(ts)]
        assert got[meter.meter_power_tag] == stored("float32", newest)
        # energy: the trapezoid of the power samples, in kWh
        order = np.argsort(ts)
        kwh = float(np.trapezoid(kw[order], ts[order] / 3.6e12))
        assert got[meter.energy_tag] == pytest.approx(kwh, rel=1e-9)
        assert got[meter.energy_tag] == server.energy(i)
        assert kwh > 0
    assert math.isfinite(sum(got.values()))
