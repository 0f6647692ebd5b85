"""Store-and-forward: the disk queue, and a database outage in the middle of a run.

The outage tests count: every sample and event emitted is in the historian at the end, each
once, and the historian received the items in the order they were emitted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import make_url

from andon.connect.spool import DiskQueue, StoreAndForward
from andon.core import Batch, Event, parse_time
from andon.core.errors import StorageError
from andon.core.stream import Emit, Item
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline

T0 = parse_time("2026-03-29T06:00:00Z")
NS = 1_000_000_000
TAGS = ("s/a/l/m/power", "s/a/l/m/state")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def batch(i: int, n: int = 10) -> Batch:
    """Batch number ``i``: samples ``i*n .. i*n+n-1``, value = sample number, one string."""
    k = np.arange(i * n, (i + 1) * n)
    b = Batch.build(TAGS, T0 + k * NS, k % 2, k.astype(float), (k % 3) * 64)
    return Batch(b.tags, b.ts, b.tag_id, b.value, b.quality, ((1, f"text {i}"),))


def events(i: int) -> tuple[Event, ...]:
    return (
        Event(
            T0 + i * NS, "s/a/l/m", "state", {"state": "run", "i": i, "nested": [1, {"a": None}]}
        ),
        Event(T0 + i * NS + 1, "s/a/l/m", "part", {"good": True}, source="test"),
    )


def same(a: Item, b: Item) -> bool:
    if isinstance(a, Batch) and isinstance(b, Batch):
        return (
            a.tags == b.tags
            and np.array_equal(a.ts, b.ts)
            and np.array_equal(a.tag_id, b.tag_id)
            and np.array_equal(a.value, b.value, equal_nan=True)
            and np.array_equal(a.quality, b.quality)
            and a.strings == b.strings
        )
    return a == b


def drain(q: DiskQueue) -> list[Item]:
    out = []
    while (item := q.peek()) is not None:
        out.append(item)
        assert q.pop()
    return out


def segments(d: Path) -> list[Path]:
    return sorted(d.glob("segment-*.log"))


# -- the disk queue ------------------------------------------------------------------------


def test_round_trip_of_batches_with_strings_and_events(tmp_path):
    q = DiskQueue(tmp_path / "q", max_bytes=1 << 20)
    items: list[Item] = [batch(0), events(1), batch(2), Batch.empty(TAGS), events(3)]
    for item in items:
        assert q.put(item)
    assert len(q) == 5 and q.bytes > 0
    got = drain(q)
    assert all(same(a, b) for a, b in zip(items, got, strict=True))
    assert len(q) == 0 and q.bytes == 0 and q.peek() is None
    q.close()


def test_reopening_resumes_where_it_was_consumed(tmp_path):
    d = tmp_path / "q"
    q = DiskQueue(d, max_bytes=1 << 20, segment_bytes=4096)
    for i in range(30):  # several segments
        q.put(batch(i))
    assert len(segments(d)) >= 3
    for _ in range(12):
        q.pop()
    q.close()
    q = DiskQueue(d, max_bytes=1 << 20, segment_bytes=4096)
    assert len(q) == 18
    q.put(batch(30))
    got = drain(q)
    assert [int(b.value[0]) for b in got if isinstance(b, Batch)] == [i * 10 for i in range(12, 31)]
    q.close()
    assert segments(d) == []  # consumed segments are deleted
    assert len(DiskQueue(d, max_bytes=1 << 20)) == 0


def test_a_torn_last_record_is_cut_off_and_the_rest_kept(tmp_path, caplog):
    d = tmp_path / "q"
    q = DiskQueue(d, max_bytes=1 << 20)
    for i in range(3):
        q.put(batch(i))
    q.close()
    seg = segments(d)[-1]
    whole = seg.read_bytes()
    record = len(whole) // 3
    seg.write_bytes(whole + whole[:record][: record // 2])  # a crash in the middle of a write
    with caplog.at_level(logging.WARNING, "andon.connect"):
        q = DiskQueue(d, max_bytes=1 << 20)
    assert "cut short" in caplog.text
    assert len(q) == 3
    q.put(batch(3))  # appended after the cut, readable
    q.close()
    q = DiskQueue(d, max_bytes=1 << 20)
    assert [int(b.value[0]) for b in drain(q) if isinstance(b, Batch)] == [0, 10, 20, 30]


def test_a_damaged_record_is_skipped_and_the_records_after_it_read(tmp_path, caplog):
    d = tmp_path / "q"
    q = DiskQueue(d, max_bytes=1 << 20)
    for i in range(3):
        q.put(batch(i))
    q.close()
    seg = segments(d)[-1]
    data = bytearray(seg.read_bytes())
    data[len(data) // 3 + 60] ^= 0xFF  # a flipped bit inside the second record
    seg.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, "andon.connect"):
        q = DiskQueue(d, max_bytes=1 << 20)
    assert "damaged" in caplog.text
    assert [int(b.value[0]) for b in drain(q) if isinstance(b, Batch)] == [0, 20]


def test_when_full_the_oldest_are_dropped_with_a_warning_and_counted(tmp_path, caplog):
    d = tmp_path / "q"
    size = DiskQueue(tmp_path / "probe", max_bytes=1 << 20)
    size.put(batch(0))
    one = size.bytes
    q = DiskQueue(d, max_bytes=5 * one + one // 2, segment_bytes=2 * one)
    with caplog.at_level(logging.WARNING, "andon.connect"):
        for i in range(8):
            assert q.put(batch(i))
        q.put(events(99))
    assert q.bytes <= q.max_bytes
    kept = drain(q)
    firsts = [int(b.value[0]) // 10 for b in kept if isinstance(b, Batch)]
    lost = firsts[0]
    assert lost >= 3 and firsts == list(range(lost, 8))  # the newest kept, the oldest gone
    assert isinstance(kept[-1], tuple)  # the events that came last are kept
    assert q.dropped_samples == 10 * lost and q.dropped_events == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "dropped 10 sample(s) and 0 event(s)" in warnings[0]
    assert "from 2026-03-29T06:00:00.000Z to 2026-03-29T06:00:09.000Z" in warnings[0]
    # later drops within the log interval are summed up, logged when the queue drains
    assert f"dropped {10 * lost - 10} sample(s)" in warnings[1]
    assert f"from 2026-03-29T06:00:10.000Z to 2026-03-29T06:00:{10 * lost - 1}.000Z" in warnings[1]


def test_an_item_larger_than_the_bound_is_refused_loudly(tmp_path, caplog):
    q = DiskQueue(tmp_path / "q", max_bytes=200)
    with caplog.at_level(logging.WARNING, "andon.connect"):
        assert not q.put(batch(0, n=100))
    assert q.dropped_samples == 100 and len(q) == 0
    assert "dropped 100 sample(s)" in caplog.text


# -- store-and-forward in a pipeline ---------------------------------------------------------


class Recording(HistorianSink):
    """The historian sink, remembering which batches it stored, in order."""

    def __init__(self, historian) -> None:
        super().__init__(historian)
        self.stored: list[int] = []
        self.failures = 0

    async def write(self, item: Item) -> None:
        try:
            await super().write(item)
        except StorageError:
            self.failures += 1
            raise
        if isinstance(item, Batch):
            self.stored.append(int(item.value[0]) // 10)


class Outage:
    """Emits batches (and every 5th time events); cuts the database after ``before`` items,
    restores it once ``spooled`` items went to the disk queue and ``down_s`` passed, then
    emits ``after`` more."""

    name = "outage"

    def __init__(self, store, cut, restore, before=20, spooled=10, down_s=1.0, after=20):
        self.store, self.cut, self.restore = store, cut, restore
        self.before, self.spooled, self.down_s, self.after = before, spooled, down_s, after
        self.batches = 0
        self.events = 0

    async def emit_one(self, emit: Emit) -> None:
        await emit(batch(self.batches))
        if self.batches % 5 == 0:
            await emit(events(self.batches))
            self.events += 2
        self.batches += 1
        await asyncio.sleep(0.005)  # a steady plant, not a burst

    async def run(self, emit: Emit) -> None:
        for _ in range(self.before):
            await self.emit_one(emit)
        await asyncio.to_thread(self.cut)
        cut_at = time.monotonic()
        deadline = cut_at + 20
        while (
            self.store.spooled_items < self.spooled or time.monotonic() - cut_at < self.down_s
        ) and time.monotonic() < deadline:
            await self.emit_one(emit)
        assert self.store.spooled_items >= self.spooled, "the outage was never noticed"
        await asyncio.to_thread(self.restore)
        for _ in range(self.after):
            await self.emit_one(emit)


def run_outage(tmp_path, url: str, cut, restore, caplog) -> None:
    historian = open_historian(url)
    try:
        sink = Recording(historian)
        queue = DiskQueue(tmp_path / "spool", max_bytes=64 << 20)
        store = StoreAndForward(sink, queue, retry_s=0.05, max_retry_s=0.2, drain_s=20)
        source = Outage(store, lambda: cut(historian), restore)
        with caplog.at_level(logging.INFO, "andon.connect"):
            asyncio.run(Pipeline([source], [store]).run())
        assert sink.failures >= 2  # the direct write and at least one replay attempt failed
        assert store.stats.replayed_items >= source.spooled
        assert store.stats.queued_items == 0 and store.stats.dropped_samples == 0
        assert sink.stored == list(range(source.batches))  # each once, in emitted order
        total = source.batches * 10
        assert historian.count_samples() == total
        # a write that committed but whose answer the cut lost is forwarded again, and the
        # idempotent historian stores it once: new samples can be fewer, never more
        assert sink.new_samples <= total
        stored = np.concatenate([historian.range(t, T0, T0 + total * NS).value for t in TAGS])
        assert sorted(stored.tolist()) == list(range(total))
        assert len(historian.events(None, None, limit=None)) == source.events
        assert "is unreachable" in caplog.text and str(tmp_path / "spool") in caplog.text
        assert "reachable again" in caplog.text
        assert segments(tmp_path / "spool") == []
    finally:
        historian.close()


def test_sqlite_goes_away_mid_run_and_nothing_is_lost(tmp_path, caplog):
    home = tmp_path / "db"
    home.mkdir()
    away = tmp_path / "db-away"

    def cut(historian) -> None:  # the database's directory disappears (a lost share)
        historian.engine.dispose()
        home.rename(away)

    run_outage(tmp_path, f"sqlite:///{home / 'andon.db'}", cut, lambda: away.rename(home), caplog)


class TcpProxy:
    """A loopback TCP proxy of the test's own in front of PostgreSQL, that can be cut (every
    connection aborted, no new ones accepted) and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.restore()

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def restore(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

        self._call(start())

    def cut(self) -> None:
        async def stop() -> None:
            assert self.server is not None
            self.server.close()
            for w in list(self.writers):
                w.transport.abort()
            self.writers.clear()

        self._call(stop())

    async def _serve(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(r, w) -> None:
            try:
                while data := await r.read(1 << 16):
                    w.write(data)
                    await w.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                w.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.mark.postgres
def test_postgresql_connection_cut_mid_run_and_nothing_is_lost(tmp_path, pg_schema_url, caplog):
    url = make_url(pg_schema_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port)
        run_outage(
            tmp_path,
            via_proxy.render_as_string(hide_password=False),
            lambda historian: proxy.cut(),
            proxy.restore,
            caplog,
        )
    finally:
        proxy.close()


def test_what_cannot_be_forwarded_at_close_waits_for_the_next_start(tmp_path, caplog):
    home = tmp_path / "db"
    home.mkdir()
    url = f"sqlite:///{home / 'andon.db'}"
    open_historian(url).close()
    historian = open_historian(url)
    historian.engine.dispose()
    home.rename(tmp_path / "away")  # unreachable for the whole first run

    async def first_run() -> StoreAndForward:
        store = StoreAndForward(
            HistorianSink(historian),
            DiskQueue(tmp_path / "spool", max_bytes=1 << 20),
            retry_s=0.05,
            drain_s=0.3,
        )
        for i in range(5):
            await store.write(batch(i))  # returns: durable on disk
        await store.close()
        return store

    with caplog.at_level(logging.WARNING, "andon.connect"):
        first = asyncio.run(first_run())
    assert first.stats.queued_items == 5
    assert f"50 sample(s) (5 item(s)) wait in {tmp_path / 'spool'}" in caplog.text
    historian.close()

    (tmp_path / "away").rename(home)
    with open_historian(url) as h:

        async def second_run() -> None:
            store = StoreAndForward(
                HistorianSink(h), DiskQueue(tmp_path / "spool", max_bytes=1 << 20)
            )
            await store.write(batch(5))  # behind the five from the first run
            await store.close()
            assert store.stats.replayed_items == 6

        asyncio.run(second_run())
        assert h.count_samples() == 60


def test_a_non_storage_error_during_replay_fails_the_pipeline(tmp_path):
    class Broken:
        name = "broken"
        calls = 0

        async def write(self, item: Item) -> None:
            self.calls += 1
            if self.calls == 1:
                raise StorageError("database unavailable")
            raise ValueError("a bug in the sink")

        async def close(self) -> None:
            return None

    async def run() -> None:
        store = StoreAndForward(Broken(), DiskQueue(tmp_path / "q", max_bytes=1 << 20))
        await store.write(batch(0))
        await store.close()

    with pytest.raises(ValueError, match="a bug in the sink"):
        asyncio.run(run())


def test_a_sample_the_historian_refuses_becomes_a_dead_letter_and_the_rest_flows(
    db_url: str, tmp_path: Path
) -> None:
    """A text with a NUL (PostgreSQL cannot hold it) must not block everything behind it."""
    from andon.connect.deadletter import KIND

    tags = ("acme/plant/line/m1/note", "acme/plant/line/m1/speed")
    bad = Batch(
        tags,
        np.arange(T0, T0 + 10 * NS, NS, dtype=np.int64),
        np.array([0, 1] * 5, dtype=np.int32),
        np.array([np.nan, 1.0] * 5),
        np.full(10, 192, dtype=np.uint8),
        ((0, "ok"), (2, "bad\x00text"), (4, "fine"), (6, "also fine"), (8, "last")),
    )
    after = Batch.build((tags[1],), [T0 + 100 * NS], [0], [7.0])
    with open_historian(db_url) as historian:
        store = StoreAndForward(
            HistorianSink(historian), DiskQueue(tmp_path / "spool", max_bytes=1 << 20)
        )

        async def main() -> None:
            await store.write(bad)
            await store.write(after)
            await store.close()

        asyncio.run(main())
        assert historian.count_samples() == 10  # 9 of the batch, and the one after it
        assert store.refused_samples == 1 and len(store.queue) == 0
        (letter,) = historian.events("_sources/historian", KIND, None, None, 10)
        assert letter.payload["topic"] == tags[0]
        assert "NUL" in letter.payload["reason"]
        assert "u0000" in letter.payload["head"]  # the NUL shown escaped, not stored
