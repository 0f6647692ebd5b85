"""The pipeline: every item reaches every sink, in order, with bounded queues."""

import asyncio

import numpy as np
import pytest

from andon.core import Batch, Event, StorageError
from andon.core.stream import Emit, Item
from andon.pipeline import Pipeline

TAGS = ("s/a/l/m/x",)


class Counter:
    """A source that emits ``n`` one-sample batches and records how far ahead it got."""

    name = "counter"

    def __init__(self, n: int) -> None:
        self.n = n
        self.emitted = 0

    async def run(self, emit: Emit) -> None:
        for i in range(self.n):
            await emit(Batch.build(TAGS, [i], [0], [float(i)]))
            self.emitted += 1
        await emit((Event(ts=self.n, asset="s/a/l/m", kind="done"),))


class SlowSink:
    name = "slow"

    def __init__(self, source: Counter, delay: float = 0.0) -> None:
        self.source = source
        self.delay = delay
        self.seen: list[float] = []
        self.events: list[Event] = []
        self.max_lead = 0
        self.closed = False

    async def write(self, item: Item) -> None:
        if isinstance(item, Batch):
            self.seen.extend(item.value.tolist())
            self.max_lead = max(self.max_lead, self.source.emitted - len(self.seen))
        else:
            self.events.extend(item)
        await asyncio.sleep(self.delay)

    async def close(self) -> None:
        self.closed = True


def test_every_item_reaches_every_sink_in_order():
    src = Counter(50)
    a, b = SlowSink(src), SlowSink(src)
    pipe = Pipeline([src], [a, b], queue_size=4)
    asyncio.run(pipe.run())
    for sink in (a, b):
        assert sink.seen == [float(i) for i in range(50)]
        assert [e.kind for e in sink.events] == ["done"]
        assert sink.closed
    assert pipe.stats["slow"].samples == 100  # both sinks share the name: counted together
    assert pipe.stats["slow"].events == 2


def test_slow_sink_holds_the_source_back():
    src = Counter(40)
    sink = SlowSink(src, delay=0.002)
    asyncio.run(Pipeline([src], [sink], queue_size=3).run())
    # queue of 3 plus the item being written plus the one the source is trying to put
    assert sink.max_lead <= 5
    assert len(sink.seen) == 40


def test_empty_items_are_not_passed_on():
    class Empty:
        name = "empty"

        async def run(self, emit: Emit) -> None:
            await emit(Batch.empty(TAGS))
            await emit(())

    sink = SlowSink(Counter(0))
    pipe = Pipeline([Empty()], [sink])
    asyncio.run(pipe.run())
    assert pipe.stats["slow"].items == 0 and sink.closed


def test_a_failing_source_stops_the_pipeline_with_its_error():
    class Broken:
        name = "broken"

        async def run(self, emit: Emit) -> None:
            await emit(Batch.build(TAGS, [1], [0], [np.nan]))
            raise RuntimeError("connector lost its mind")

    sink = SlowSink(Counter(0))
    with pytest.raises(RuntimeError, match="lost its mind"):  # the error itself, not a group
        asyncio.run(Pipeline([Broken()], [sink]).run())
    assert sink.closed  # the sink still drained what it had and closed
    assert len(sink.seen) == 1  # what was emitted before the failure was written


def test_a_failing_sink_stops_the_sources_with_its_error():
    class Full(SlowSink):
        async def write(self, item: Item) -> None:
            raise StorageError("disk full")

    src = Counter(10_000)
    with pytest.raises(StorageError, match="disk full"):
        asyncio.run(Pipeline([src], [Full(src)], queue_size=2).run())
    assert src.emitted < 10  # the source was cancelled, not left running into a dead sink


def test_live_feed_filters_by_pattern_and_never_blocks():
    from andon.pipeline import LiveFeed

    tags = ("s/a/l/m1/power", "s/a/l/m2/power", "s/a/l/m1/speed")

    async def scenario():
        feed = LiveFeed(per_subscriber=2)
        m1 = feed.subscribe("s/a/l/m1/#")
        power = feed.subscribe("s/a/l/+/power")
        await feed.write(Batch.build(tags, [1, 2, 3], [0, 1, 2], [1.0, 2.0, 3.0]))
        await feed.write((Event(4, "s/a/l/m2", "state", {"state": "down"}),))
        got_m1 = await anext(m1)
        got_power = await anext(power)
        assert got_m1.tag_paths() == ["s/a/l/m1/power", "s/a/l/m1/speed"]
        assert got_power.tag_paths() == ["s/a/l/m1/power", "s/a/l/m2/power"]
        # the m2 event reaches nobody here: m1 does not follow m2, power follows tags only
        for i in range(5):  # a slow subscriber loses the oldest, never holds up the feed
            await feed.write(Batch.build(tags, [10 + i], [0], [float(i)]))
        assert m1.lagged == 3
        late = [await anext(m1), await anext(m1)]
        assert [b.value.tolist() for b in late] == [[3.0], [4.0]]
        m1.close()
        assert feed.subscribers == 1
        await feed.close()  # the end is always delivered, even to a full queue
        rest = [item async for item in power]
        assert [b.value.tolist() for b in rest] == [[4.0]]
        assert power.lagged == 4

    asyncio.run(scenario())


def test_live_feed_passes_events_of_followed_assets():
    from andon.pipeline import LiveFeed

    async def scenario():
        feed = LiveFeed()
        sub = feed.subscribe("s/a/l/m2/#")
        await feed.write((Event(4, "s/a/l/m2", "state"), Event(5, "s/a/l/m1", "state")))
        (ev,) = await anext(sub)
        assert ev.asset == "s/a/l/m2"

    asyncio.run(scenario())
