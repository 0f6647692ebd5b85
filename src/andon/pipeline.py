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

import numpy as np
import numpy.typing as npt

from andon.core.batch import Batch
from andon.core.stream import Item, Sink, Source
from andon.core.tagpath import matches
from andon.historian import Historian


@dataclass
class SinkStats:
    items: int = 0
    samples: int = 0
    events: int = 0
    busy_s: float = 0.0


@dataclass
class _Receipt:
    """Resolves once ``pending`` durable sinks have written an item."""

    done: asyncio.Future[None]
    pending: int

    def written(self) -> None:
        self.pending -= 1
        if self.pending == 0 and not self.done.done():
            self.done.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            if isinstance(exc, Exception):
                self.done.set_exception(exc)
            else:
                self.done.cancel()


_Entry = tuple[Item, _Receipt | None]


@dataclass
class Pipeline:
    """Runs ``sources`` into ``sinks`` until every source is done; ``stats`` counts per sink."""

    sources: Sequence[Source]
    sinks: Sequence[Sink]
    queue_size: int = 16
    stats: dict[str, SinkStats] = field(default_factory=dict)
    _queues: list[asyncio.Queue[_Entry | None]] = field(default_factory=list, init=False)

    async def emit(self, item: Item) -> None:
        """Hand an item to every sink, waiting while any sink's queue is full (backpressure)."""
        await self._put(item, None)

    async def emit_durable(self, item: Item) -> None:
        """Like ``emit``, but return only once every *durable* sink (one whose ``durable``
        attribute is true: the historian, or the store-and-forward queue in front of it) has
        written the item. A connector that acknowledges deliveries (MQTT QoS 1) emits this
        way and acknowledges afterwards, so an acknowledged sample is never only in memory.
        Raises the sink's error if the write failed."""
        durable = sum(1 for s in self.sinks if getattr(s, "durable", False))
        if not durable:
            await self.emit(item)
            return
        receipt = _Receipt(asyncio.get_running_loop().create_future(), durable)
        if await self._put(item, receipt):
            await receipt.done

    async def _put(self, item: Item, receipt: _Receipt | None) -> bool:
        if isinstance(item, Batch) and len(item) == 0:
            return False
        if isinstance(item, tuple) and not item:
            return False
        for q in self._queues:
            await q.put((item, receipt))
        return True

    async def _drain(self, sink: Sink, queue: asyncio.Queue[_Entry | None]) -> None:
        stats = self.stats.setdefault(sink.name, SinkStats())
        durable = bool(getattr(sink, "durable", False))
        while (entry := await queue.get()) is not None:
            item, receipt = entry
            began = time.perf_counter()
            try:
                await sink.write(item)
            except BaseException as exc:
                if receipt is not None and durable:
                    receipt.fail(exc)
                raise
            if receipt is not None and durable:
                receipt.written()
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
                        emit = (
                            self.emit_durable if getattr(src, "acknowledges", False) else self.emit
                        )
                        sources.create_task(src.run(emit), name=f"source:{src.name}")
            except Exception as exc:  # re-raised below, once the sinks have drained
                failed.append(exc)
            for q in self._queues:
                await q.put(None)

        try:
            async with asyncio.TaskGroup() as group:
                for sink, q in zip(self.sinks, self._queues, strict=True):
                    group.create_task(self._drain(sink, q), name=f"sink:{sink.name}")
                group.create_task(feed(), name="sources")
        except BaseExceptionGroup as group_error:
            raise _single(group_error) from None
        if failed:
            raise _single(failed[0]) from None


def _single(error: BaseException) -> BaseException:
    """The one failure inside (nested) task groups, so callers can catch it by its type;
    a group of several failures stays a group."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class HistorianSink:
    """Writes Batches and Events into the historian from a worker thread."""

    name = "historian"
    durable = True

    def __init__(self, historian: Historian) -> None:
        self.historian = historian
        self.new_samples = 0
        """Samples the historian did not hold before (a repeated write adds none)."""
        self.new_events = 0

    async def write(self, item: Item) -> None:
        if isinstance(item, Batch):
            self.new_samples += await asyncio.to_thread(self.historian.write, item)
        else:
            self.new_events += await asyncio.to_thread(self.historian.write_events, item)

    async def close(self) -> None:
        return None


class Subscription:
    """One live subscriber's view of the feed: items whose tags (or event assets) match its
    pattern, in order. A subscriber that falls behind loses the oldest items, never the
    newest, and ``lagged`` counts what it lost (the historian still has everything)."""

    def __init__(self, feed: LiveFeed, pattern: str, size: int) -> None:
        self.feed = feed
        self.pattern = pattern
        self.lagged = 0
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=size)
        self._tag_masks: dict[tuple[str, ...], npt.NDArray[np.bool_]] = {}

    def offer(self, item: Item | None) -> None:
        """Queue ``item`` (filtered) without ever waiting: the feed must not slow the plant."""
        if item is not None:
            item = self._filter(item)
            if item is None:
                return
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.lagged += 1

    def _filter(self, item: Item) -> Item | None:
        if isinstance(item, Batch):
            mask = self._tag_masks.get(item.tags)
            if mask is None:
                mask = np.array([matches(self.pattern, t) for t in item.tags], dtype=np.bool_)
                if len(self._tag_masks) > 64:
                    self._tag_masks.clear()
                self._tag_masks[item.tags] = mask
            picked = item.select(mask[item.tag_id]) if len(item) else item
            return picked if len(picked) else None
        events = tuple(e for e in item if matches(self.pattern, f"{e.asset}/{EVENT_SEGMENT}"))
        return events or None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Item:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        self.feed.unsubscribe(self)


EVENT_SEGMENT = "_event"
"""Events match a pattern as if they were a tag named ``_event`` under their asset, so
``site/area/line/mill-1/#`` follows everything about mill-1."""


class LiveFeed:
    """A sink that fans the live stream out to subscribers (the API's Server-Sent Events)."""

    name = "live"

    def __init__(self, per_subscriber: int = 256) -> None:
        self.per_subscriber = per_subscriber
        self._subscribers: set[Subscription] = set()
        self.closed = False

    def subscribe(self, pattern: str = "#") -> Subscription:
        sub = Subscription(self, pattern, self.per_subscriber)
        if self.closed:
            sub.offer(None)
        else:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def write(self, item: Item) -> None:
        for sub in list(self._subscribers):
            sub.offer(item)

    async def close(self) -> None:
        self.closed = True
        for sub in list(self._subscribers):
            sub.offer(None)
        self._subscribers.clear()
