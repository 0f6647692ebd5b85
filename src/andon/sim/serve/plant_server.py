"""The virtual plant behind real protocol servers: what andon reads is what a plant would send.

``PlantServer`` advances the virtual plant on a paced clock and hands every window's samples
to its *outputs* — an OPC UA server, a Modbus TCP energy-meter server, an MQTT publisher of
JSON or Sparkplug B — instead of to the historian. andon then reads those servers through its
connectors, exactly as it reads a real plant. Each output says how to reach it as a
plant.yaml ``sources:`` entry (``source()``), which ``andon sim serve`` prints and
``andon demo`` uses.

Events are the virtual plant's own knowledge — state changes, parts, and the ground truth of
failures — and are not signals a PLC would publish; they go straight to ``events`` (the
demo's pipeline), so that later checks can compare what andon derived with what happened.

Written ``stop``/``start`` commands reaching an output (an OPC UA write, an MQTT command topic,
a Sparkplug DCMD) are applied to the virtual plant and recorded as ``command`` events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.core.event import Event
from andon.core.stream import Emit
from andon.plant.sources import Source
from andon.sim.plant import VirtualPlant

log = logging.getLogger("andon.sim")


class Output(Protocol):
    """A protocol server (or publisher) that shows the virtual plant's samples."""

    name: str

    async def start(self) -> None: ...

    async def publish(self, batch: Batch) -> object: ...

    async def stop(self) -> None: ...

    def source(self) -> Source:
        """How andon reaches this output: a plant.yaml ``sources:`` entry."""
        ...


@dataclass
class ServedCounts:
    samples: int = 0
    events: int = 0
    commands: int = 0


class PlantServer:
    """Runs ``virtual`` until ``until_ns`` at ``speed`` (0: as fast as the outputs take it),
    publishing samples to ``outputs``; a pipeline Source that emits only events."""

    name = "virtual-plant"

    def __init__(
        self,
        virtual: VirtualPlant,
        outputs: Sequence[Output],
        until_ns: int,
        *,
        speed: float = 1.0,
        chunk_s: float | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or positive")
        self.virtual = virtual
        self.outputs = list(outputs)
        self.until_ns = until_ns
        self.speed = speed
        if chunk_s is None:
            chunk_s = 60.0 if speed == 0 else min(60.0, max(1.0, speed * 0.25))
        self.chunk_ns = round(chunk_s * NS_PER_S)
        self.counts = ServedCounts()
        self._commands: list[Event] = []
        self.finished = asyncio.Event()
        self.gate = gate
        self.consumed: Callable[[], int] | None = None
        """How many samples the readers have taken; with ``max_lag``, the plant waits while
        it is that far ahead of them (so a server's queue never overflows)."""
        self.max_lag = 0
        """When given, nothing is simulated until it is set (andon's connectors are
        subscribed): a subscriber that is not there yet would miss the first messages."""

    def command(self, machine: str, command: str) -> None:
        """A written command from an output: applied at once, recorded as an event."""
        try:
            event = self.virtual.command(machine, command, by="protocol")
        except (KeyError, ValueError) as exc:
            log.warning("virtual plant refused command %r for %r: %s", command, machine, exc)
            return
        self.counts.commands += 1
        self._commands.append(event)
        log.info("virtual plant: %s %s", machine, command)

    async def run(self, emit: Emit) -> None:
        if self.gate is not None:
            await self.gate.wait()
        start_sim = self.virtual.now_ns
        start_wall = time.monotonic()
        try:
            while self.virtual.now_ns < self.until_ns:
                nxt = min(self.virtual.now_ns + self.chunk_ns, self.until_ns)
                if self.speed > 0:
                    due = start_wall + (nxt - start_sim) / NS_PER_S / self.speed
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self._wait_for_readers()
                batch, events = await asyncio.to_thread(self.virtual.advance, nxt)
                for out in self.outputs:
                    await out.publish(batch)
                self.counts.samples += len(batch)
                if self._commands:
                    events = [*self._commands, *events]
                    self._commands.clear()
                self.counts.events += len(events)
                await emit(tuple(events))
        finally:
            self.finished.set()

    async def _wait_for_readers(self) -> None:
        consumed = self.consumed
        if consumed is None or self.max_lag <= 0:
            return
        while self.counts.samples - consumed() > self.max_lag:
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> PlantServer:
        started: list[Output] = []
        try:
            for out in self.outputs:
                await out.start()
                started.append(out)
        except BaseException:
            for out in reversed(started):
                await out.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for out in reversed(self.outputs):
            try:
                await out.stop()
            except Exception as error:  # a stop failure must not hide the run's own error
                log.warning("stopping %s failed: %s", out.name, error)

    def sources(self) -> list[Source]:
        return [out.source() for out in self.outputs]
