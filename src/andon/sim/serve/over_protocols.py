"""The virtual plant read through real protocols, as one pipeline source.

``OverProtocols`` starts the plant's protocol servers (``PlantServer`` and its outputs), opens
andon's own connectors on the ``sources:`` entries those outputs describe, waits until every
connector is subscribed, and only then lets the plant run: a subscriber that is not there yet
would miss the first values. While it runs, the plant never gets more than ``max_lag`` samples
ahead of what the connectors have received (the servers' queues stay bounded, so nothing is
discarded); when the plant is done, it waits until the connectors have received every sample
served (``missing`` counts what never came), then closes them. Samples thus travel plant →
protocol server → connector → pipeline; events (the plant's own knowledge) go straight to the
pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from andon.connect import Connector
from andon.connect.registry import open_connector
from andon.core.stream import Emit
from andon.sim.plant import VirtualPlant
from andon.sim.serve.plant_server import Output, PlantServer

log = logging.getLogger("andon.sim")
MAX_LAG = 20_000
DRAIN_S = 60.0


class OverProtocols:
    """A Source: the virtual plant behind ``outputs``, read back by andon's connectors."""

    name = "virtual-plant"

    def __init__(
        self,
        virtual: VirtualPlant,
        outputs: Sequence[Output],
        until_ns: int,
        *,
        speed: float = 0.0,
        max_lag: int = MAX_LAG,
        drain_s: float = DRAIN_S,
    ) -> None:
        self.gate = asyncio.Event()
        self.server = PlantServer(virtual, outputs, until_ns, speed=speed, gate=self.gate)
        self.server.consumed = self.received
        self.server.max_lag = max_lag
        self.drain_s = drain_s
        self.connectors: list[Connector] = []
        self.acknowledges = False
        self.missing = 0
        """Samples served that had not arrived through the connectors when the run ended."""

    def received(self) -> int:
        """Samples the connectors have received so far."""
        return sum(c.health.samples for c in self.connectors)

    def command(self, machine: str, command: str) -> None:
        self.server.command(machine, command)

    async def __aenter__(self) -> OverProtocols:
        await self.server.__aenter__()
        try:
            self.connectors = [open_connector(out.source()) for out in self.server.outputs]
        except BaseException:
            await self.server.__aexit__(None, None, None)
            raise
        self.acknowledges = any(getattr(c, "acknowledges", False) for c in self.connectors)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for c in self.connectors:
            with contextlib.suppress(Exception):
                await c.close()
        await self.server.__aexit__(*exc)

    async def run(self, emit: Emit) -> None:
        readers = [
            asyncio.create_task(c.run(emit), name=f"source:{c.name}") for c in self.connectors
        ]
        try:
            for c in self.connectors:
                wait = getattr(c, "wait_subscribed", None)
                if wait is not None and not await wait(30.0):
                    raise ConnectionError(f"{c.name}: not subscribed to {c.health.url} in 30 s")
            for out in self.server.outputs:
                ready = getattr(out, "host_online", None)  # Sparkplug: the host is announced
                if isinstance(ready, asyncio.Event):
                    await asyncio.wait_for(ready.wait(), 30.0)
            self.gate.set()
            await self.server.run(emit)
            await self._drain()
        finally:
            for c in self.connectors:
                with contextlib.suppress(Exception):
                    await c.close()
            results = await asyncio.gather(*readers, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                raise r

    async def _drain(self) -> None:
        """Wait until the connectors have received every sample served (or give up, saying
        how many did not arrive)."""
        want = self.server.counts.samples
        deadline = time.monotonic() + self.drain_s
        last, still = -1, time.monotonic()
        while (got := self.received()) < want:
            now = time.monotonic()
            if got != last:
                last, still = got, now
            if now > deadline or now - still > 10.0:
                self.missing = want - got
                log.warning(
                    "%d of %d samples served have not arrived through the connectors",
                    want - got,
                    want,
                )
                return
            await asyncio.sleep(0.05)
