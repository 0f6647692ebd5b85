"""The virtual plant as a pipeline source, released chunk by chunk on a virtual or paced clock."""

from __future__ import annotations

import asyncio
import time

from andon.core.clock import NS_PER_S
from andon.core.stream import Emit
from andon.sim.plant import VirtualPlant


class VirtualPlantSource:
    """The virtual plant as a source: advances in chunks of simulated time.

    With ``speed`` > 0 each chunk is released when the wall clock says so (``speed`` simulated
    seconds per wall second); with ``speed`` 0 it runs as fast as the machine allows.
    """

    name = "virtual-plant"

    def __init__(
        self,
        plant: VirtualPlant,
        until_ns: int,
        *,
        speed: float = 0.0,
        chunk_s: float | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be 0 (as fast as possible) or positive")
        self.plant = plant
        self.until_ns = until_ns
        self.speed = speed
        if chunk_s is None:
            chunk_s = 600.0 if speed == 0 else min(600.0, max(1.0, speed * 0.25))
        self.chunk_ns = round(chunk_s * NS_PER_S)

    async def run(self, emit: Emit) -> None:
        start_sim = self.plant.now_ns
        start_wall = time.monotonic()
        while self.plant.now_ns < self.until_ns:
            nxt = min(self.plant.now_ns + self.chunk_ns, self.until_ns)
            if self.speed > 0:
                due = start_wall + (nxt - start_sim) / NS_PER_S / self.speed
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            batch, events = await asyncio.to_thread(self.plant.advance, nxt)
            await emit(batch)
            await emit(tuple(events))
