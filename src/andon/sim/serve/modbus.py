"""The virtual plant's energy meters, as a Modbus TCP server (pymodbus).

Every machine with a power tag (``signal: power``, or a tag named ``power``) gets a meter: a
block of ``METER_STRIDE`` holding registers of unit ``unit_id``, meter *i* (in the plant's
machine order) starting at holding register ``METER_STRIDE * i``:

=========  ========  ==========================================================
offset     type      value
=========  ========  ==========================================================
+0, +1     float32   active power, kW (the newest power sample published)
+2 .. +5   float64   active energy, kWh (power integrated over time, trapezoid)
+6 .. +9   —         spare (zero), so that a reader may coalesce across meters
=========  ========  ==========================================================

Words and bytes are in the Modbus convention (big-endian words, big-endian bytes), as most
meters send them. ``register_map`` (and ``source``) describe exactly this layout as a
plant.yaml ``sources:`` entry, so andon's Modbus connector reads the meters like any device.

A meter's energy counts from the first power sample it was given; the counter survives a
``stop``/``start`` of the server (as a real meter's counter survives a network outage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from andon.connect.modbus_map import to_words
from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.core.quality import GOOD
from andon.core.tagpath import join
from andon.plant.model import Plant
from andon.plant.sources import ModbusRegister, ModbusSource
from andon.sim.serve.ports import cannot_listen, check_can_listen

METER_STRIDE = 10
POWER_OFFSET = 0
ENERGY_OFFSET = 2
HOLDING = 3  # Modbus function code that addresses the holding registers
NS_PER_HOUR = 3600 * NS_PER_S


@dataclass(frozen=True, slots=True)
class Meter:
    """One machine's meter: where its registers start and which tags it measures."""

    machine: str
    """The machine's asset path."""
    power_tag: str
    """The virtual plant's power tag the meter follows."""
    meter_power_tag: str
    """Where andon stores the meter's power reading (``<machine>/meter_power``): a tag of its
    own, apart from the machine's power signal that OPC UA or MQTT carry with their own
    timestamps (a Modbus reading is stamped with the poll time)."""
    energy_tag: str
    address: int


def meters_of(plant: Plant) -> list[Meter]:
    """A meter per machine with a power tag, in the plant's machine order."""
    meters: list[Meter] = []
    for ref in plant.machines():
        power = next(
            (t for t in ref.machine.tags if t.signal == "power" or t.name == "power"), None
        )
        if power is not None:
            meters.append(
                Meter(
                    machine=ref.path,
                    power_tag=join(ref.path, power.name),
                    meter_power_tag=join(ref.path, "meter_power"),
                    energy_tag=join(ref.path, "meter_energy"),
                    address=METER_STRIDE * len(meters),
                )
            )
    return meters


class EnergyMeterServer:
    """A pymodbus TCP server on ``host:port`` holding the plant's meters (see the module
    docstring); ``publish`` feeds it the virtual plant's samples. ``port=0`` picks a free
    port when started."""

    def __init__(
        self,
        plant: Plant,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        unit_id: int = 1,
        name: str = "energy-meters",
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.meters = meters_of(plant)
        self.words = np.zeros(max(1, METER_STRIDE * len(self.meters)), dtype=np.int64)
        """Every holding register as served (kept here too, so a restart serves the same)."""
        self.power_kw = np.full(len(self.meters), np.nan)
        self._energy_kw_ns = np.zeros(len(self.meters))
        """Energy per meter in kW·ns (kWh once divided by NS_PER_HOUR)."""
        self._last_ts = np.full(len(self.meters), -1, dtype=np.int64)
        self._by_tag = {m.power_tag: i for i, m in enumerate(self.meters)}
        self._lookup: tuple[tuple[str, ...], npt.NDArray[np.intp]] | None = None
        self._server: ModbusTcpServer | None = None

    @property
    def url(self) -> str:
        return f"modbus://{self.host}:{self.port}"

    # ------------------------------------------------------------------ serving

    async def start(self) -> None:
        """Listen (again, after ``stop``, on the same port) serving the current registers."""
        device = SimDevice(
            id=self.unit_id,
            simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, values=[int(w) for w in self.words], datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            ),
        )
        check_can_listen("Modbus TCP", self.host, self.port)
        server = ModbusTcpServer(device, address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except RuntimeError:  # pymodbus says only "Could not start listen"
            raise cannot_listen("Modbus TCP", self.host, self.port, None) from None
        if self.port == 0:
            sockets = getattr(server.transport, "sockets", None) or ()
            if not sockets:
                await server.shutdown()  # type: ignore[no-untyped-call]
                raise RuntimeError("the Modbus server did not report the port it listens on")
            self.port = int(sockets[0].getsockname()[1])
        self._server = server

    async def stop(self) -> None:
        """Stop listening and drop the clients; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ samples

    def _meter_index(self, batch: Batch) -> npt.NDArray[np.intp]:
        """For each sample of ``batch``: its meter, or -1 (cached per tag dictionary)."""
        if self._lookup is None or self._lookup[0] is not batch.tags:
            per_tag = np.array([self._by_tag.get(t, -1) for t in batch.tags], dtype=np.intp)
            self._lookup = (batch.tags, per_tag)
        return self._lookup[1][batch.tag_id]

    async def publish(self, batch: Batch) -> None:
        """Take the power samples of ``batch``: each meter shows its newest power and adds
        the energy since its previous sample (older samples than that are ignored)."""
        if not len(batch) or not self.meters:
            return
        meter = self._meter_index(batch)
        keep = (meter >= 0) & (batch.quality == GOOD) & np.isfinite(batch.value)
        if not keep.any():
            return
        m, ts, kw = meter[keep], batch.ts[keep], batch.value[keep]
        order = np.lexsort((ts, m))
        m, ts, kw = m[order], ts[order], kw[order]
        starts = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
        ends = np.r_[starts[1:], len(m)]
        changed: list[int] = []
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            i = int(m[lo])
            t, p = ts[lo:hi], kw[lo:hi]
            newer = t > self._last_ts[i]
            t, p = t[newer], p[newer]
            if not len(t):
                continue
            if self._last_ts[i] >= 0:
                t = np.r_[self._last_ts[i], t]
                p = np.r_[self.power_kw[i], p]
            if len(t) > 1:
                self._energy_kw_ns[i] += float(np.sum((p[1:] + p[:-1]) * 0.5 * np.diff(t)))
            self._last_ts[i] = int(t[-1])
            self.power_kw[i] = float(p[-1])
            changed.append(i)
        for i in changed:
            await self._show(i)

    async def _show(self, i: int) -> None:
        meter = self.meters[i]
        words = to_words("float32", float(self.power_kw[i]), "big", "big") + to_words(
            "float64", self.energy(i), "big", "big"
        )
        self.words[meter.address : meter.address + len(words)] = words
        if self._server is not None:
            await self._server.async_setValues(self.unit_id, HOLDING, meter.address, words)

    def energy(self, i: int) -> float:
        """Meter ``i``'s energy counter in kWh."""
        return float(self._energy_kw_ns[i]) / NS_PER_HOUR

    # ------------------------------------------------------------------ describing

    def registers(self) -> list[ModbusRegister]:
        regs: list[ModbusRegister] = []
        for m in self.meters:
            regs.append(
                ModbusRegister(
                    tag=m.meter_power_tag,
                    address=m.address + POWER_OFFSET,
                    function="holding",
                    type="float32",
                    unit="kW",
                )
            )
            regs.append(
                ModbusRegister(
                    tag=m.energy_tag,
                    address=m.address + ENERGY_OFFSET,
                    function="holding",
                    type="float64",
                    unit="kWh",
                )
            )
        return regs

    def register_map(
        self, source_name: str | None = None, url: str | None = None, *, poll: float = 1.0
    ) -> ModbusSource:
        """The plant.yaml ``sources:`` entry that reads these meters."""
        return ModbusSource(
            type="modbus",
            name=source_name or self.name,
            url=url or self.url,
            unit_id=self.unit_id,
            poll=poll,
            registers=self.registers(),
        )

    def source(self) -> ModbusSource:
        """How andon reaches this server (``andon sim serve`` prints it)."""
        return self.register_map()


def meter_tags(meters: Sequence[Meter]) -> list[str]:
    """Every tag the meters provide, power and energy, in register order."""
    return [t for m in meters for t in (m.meter_power_tag, m.energy_tag)]


__all__ = [
    "ENERGY_OFFSET",
    "METER_STRIDE",
    "POWER_OFFSET",
    "EnergyMeterServer",
    "Meter",
    "meter_tags",
    "meters_of",
]
