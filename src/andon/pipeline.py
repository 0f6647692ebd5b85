"""Wires sources to sinks in one asyncio loop, with bounded queues and backpressure.

Sources (the virtual plant now; MQTT, OPC UA, Modbus and file import later) push items —
Batches of samples or tuples of Events — through ``emit``. Every sink has its own bounded
queue; ``emit`` waits while the slowest sink's queue is full, so a slow historian slows the
sources down instead of letting memory grow. Blocking sinks (the historian) run their writes in
a worker thread so the loop stays free for the live display, the API and the connectors.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from andon.core.batch import Batch
from andon.core.stream import Item, Sink, Source
from andon.historian import Historian


@dataclass
class SinkStats:
    items: int = 0
    samples: int = 0
    events: int = 0
    busy_s: float = 0.0


@dataclass
class Pipeline:
    """Runs ``sources`` into ``sinks`` until every source is done; ``stats`` counts per sink."""

    sources: Sequence[Source]
    sinks: Sequence[Sink]
    queue_size: int = 16
    stats: dict[str, SinkStats] = field(default_factory=dict)
    _queues: list[asyncio.Queue[Item | None]] = field(default_factory=list, init=False)

    async def emit(self, item: Item) -> None:
        """Hand an item to every sink, waiting while any sink's queue is full (backpressure)."""
        if isinstance(item, Batch) and len(item) == 0:
            return
        if isinstance(item, tuple) and not item:
            return
        for q in self._queues:
            await q.put(item)

    async def _drain(self, sink: Sink, queue: asyncio.Queue[Item | None]) -> None:
        stats = self.stats.setdefault(sink.name, SinkStats())
        while (item := await queue.get()) is not None:
            began = time.perf_counter()
            await sink.write(item)
            stats.busy_s += time.perf_counter() - began
            stats.items += 1
            if isinstance(item, Batch):
                stats.samples += len(item)
            else:
                stats.events += len(item)
        await sink.close()

    async def run(self) -> None:
        """Run to completion. A failing sink cancels everything at once; a failing source
        first lets every sink write what it already received (nothing emitted is dropped),
        then its error is raised."""
        self._queues = [asyncio.Queue(maxsize=self.queue_size) for _ in self.sinks]
        failed: list[Exception] = []

        async def feed() -> None:
            try:
                async with asyncio.TaskGroup() as sources:
                    for src in self.sources:
                        sources.create_task(src.run(self.emit), name=f"source:{src.name}")
            except Exception as exc:  # re-raised below, once the sinks have drained
                failed.append(exc)
            for q in self._queues:
                await q.put(None)

        async with asyncio.TaskGroup() as group:
            for sink, q in zip(self.sinks, self._queues, strict=True):
                group.create_task(self._drain(sink, q), name=f"sink:{sink.name}")
            group.create_task(feed(), name="sources")
        if failed:
            raise failed[0]


class HistorianSink:
    """Writes Batches and Events into the historian from a worker thread."""

    name = "historian"

    def __init__(self, historian: Historian) -> None:
        self.historian = historian

    async def write(self, item: Item) -> None:
        if isinstance(item, Batch):
            await asyncio.to_thread(self.historian.write, item)
        else:
            await asyncio.to_thread(self.historian.write_events, item)

    async def close(self) -> None:
        return None
