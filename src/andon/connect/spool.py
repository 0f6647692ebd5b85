"""Store-and-forward: a disk queue in front of the historian, so an outage loses nothing.

``DiskQueue`` keeps items (Batches and tuples of Events) in append-only segment files. Each
record carries a magic number, its length and a CRC32, so a write cut short by a crash (a torn
last record) is recognised and cut off when the directory is reopened, and a damaged record in
the middle is skipped with a warning while every record after it is still read. ``put``
returns only once the record is on disk (``fdatasync``). A small cursor file remembers how far
the queue was consumed, so a restart does not forward again what was already forwarded; it is
not synced on every ``pop``, so after a power cut a few items may be forwarded twice — harmless,
because historian writes are idempotent (a repeated sample is stored once).

The queue is bounded in bytes: when full, the *oldest* items are dropped, counted
(``dropped_samples``, ``dropped_events``) and logged as a WARNING that names how many samples
and events were lost and their time range. Nothing is ever dropped silently. The bound counts
queued records; the files on disk may exceed it by at most one segment, whose consumed head is
freed when the whole segment is.

Serialisation uses no pickle: a Batch is a small JSON header (tags, string values, dtypes)
followed by its arrays as raw little-endian bytes; Events are JSON.

``StoreAndForward`` wraps a sink (the historian's): while its queue is empty, items go straight
through; when the sink raises ``DatabaseUnavailable`` (the database is unreachable), the item and
every later one go to the disk queue — so the order is kept — and a background task forwards
the oldest item again and again, with back-off, popping it only after the sink accepted it.
It is ``durable``: an item is acknowledged only once it is in the historian or on disk.

A refusal of the data itself (a text the database cannot hold, any other error that is not an
outage) must not stop the queue behind it: the item is halved until the refused samples or
events are found, the rest is written, and each refused one becomes a dead letter of source
``historian`` (counted in ``refused_samples``/``refused_events`` and logged as an ERROR).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson

from andon.connect.deadletter import DeadLetter
from andon.core.batch import Batch
from andon.core.clock import iso
from andon.core.errors import AndonError, DatabaseUnavailable, StorageError
from andon.core.event import Event
from andon.core.stream import Item, Sink

log = logging.getLogger("andon.connect")
REFUSED_SOURCE = "historian"
"""Dead letters of what the historian refused are filed under this source name."""

SEGMENT_BYTES = 8 * 1024 * 1024
"""A new segment file is begun once the current one holds this much."""
MAX_RECORD_BYTES = 1 << 30
"""No record is longer; a header claiming more is damaged."""
DROP_LOG_INTERVAL_S = 10.0
"""While the queue stays full, drops are summed up and logged at most this often."""

_MAGIC = b"ANDQ"
_HEADER = struct.Struct("<4sIIBIqq")  # magic, crc32, payload length, kind, count, t_min, t_max
_CHECKED = struct.Struct("<IBIqq")  # the header fields the CRC covers (besides the payload)
_CURSOR = struct.Struct("<QQI")  # segment number, offset, crc32 of the two
_BATCH, _EVENTS = 1, 2
_ARRAYS = (("ts", "<i8"), ("tag_id", "<i4"), ("value", "<f8"), ("quality", "|u1"))
_SEGMENT_GLOB = "segment-*.log"


class Position(NamedTuple):
    """Where a record starts: segment number and byte offset (increasing along the queue)."""

    segment: int
    offset: int


class _Record(NamedTuple):
    segment: int
    offset: int
    size: int  # header + payload
    kind: int
    n: int  # samples or events
    t_min: int
    t_max: int


class SpoolCorrupt(StorageError):
    """A queued record passed its checksum but cannot be decoded (a bug or a foreign file)."""


# -- serialisation -------------------------------------------------------------------------


def _event_default(obj: object) -> object:
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    raise TypeError(f"cannot queue an event payload value of type {type(obj).__name__}")


def encode(item: Item) -> tuple[int, int, int, int, bytes]:
    """``(kind, count, t_min, t_max, payload)`` of an item."""
    if isinstance(item, Batch):
        n = len(item)
        header = orjson.dumps(
            {
                "tags": list(item.tags),
                "n": n,
                "strings": [[r, s] for r, s in item.strings],
                "arrays": [list(a) for a in _ARRAYS],
            }
        )
        parts = [struct.pack("<I", len(header)), header]
        for name, dtype in _ARRAYS:
            parts.append(np.ascontiguousarray(getattr(item, name), dtype=dtype).tobytes())
        lo, hi = (int(item.ts.min()), int(item.ts.max())) if n else (0, 0)
        return _BATCH, n, lo, hi, b"".join(parts)
    events = [[e.ts, e.asset, e.kind, e.payload, e.source] for e in item]
    payload = orjson.dumps(
        events,
        default=_event_default,
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
    )
    times = [e.ts for e in item]
    lo, hi = (min(times), max(times)) if times else (0, 0)
    return _EVENTS, len(item), lo, hi, payload


def decode(kind: int, payload: bytes) -> Item:
    """The item a record holds; SpoolCorrupt if it does not make sense."""
    try:
        if kind == _EVENTS:
            return tuple(
                Event(int(ts), str(asset), str(k), dict(p), str(src))
                for ts, asset, k, p, src in orjson.loads(payload)
            )
        if kind != _BATCH:
            raise ValueError(f"unknown record kind {kind}")
        (hlen,) = struct.unpack_from("<I", payload, 0)
        header: dict[str, Any] = orjson.loads(payload[4 : 4 + hlen])
        if [tuple(a) for a in header["arrays"]] != list(_ARRAYS):
            raise ValueError(f"unexpected array layout {header['arrays']}")
        n = int(header["n"])
        offset = 4 + hlen
        cols: dict[str, np.ndarray[Any, Any]] = {}
        for name, dtype in _ARRAYS:
            dt = np.dtype(dtype)
            cols[name] = np.frombuffer(payload, dt, n, offset).astype(dt.newbyteorder("="))
            offset += n * dt.itemsize
        if offset != len(payload):
            raise ValueError(f"{len(payload) - offset} bytes left over after the arrays")
        return Batch(
            tuple(header["tags"]),
            cols["ts"],
            cols["tag_id"],
            cols["value"],
            cols["quality"],
            tuple((int(r), str(s)) for r, s in header["strings"]),
        )
    except (ValueError, TypeError, KeyError, struct.error, orjson.JSONDecodeError) as exc:
        raise SpoolCorrupt(f"a queued record cannot be read: {exc}") from exc


def _crc(length: int, kind: int, count: int, t_min: int, t_max: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_CHECKED.pack(length, kind, count, t_min, t_max)))


# -- the queue -----------------------------------------------------------------------------


@dataclass
class _Dropped:
    items: int = 0
    samples: int = 0
    events: int = 0
    t_min: int | None = None
    t_max: int | None = None

    def add(self, rec: _Record) -> None:
        self.items += 1
        if rec.kind == _BATCH:
            self.samples += rec.n
        else:
            self.events += rec.n
        if rec.n:
            self.t_min = rec.t_min if self.t_min is None else min(self.t_min, rec.t_min)
            self.t_max = rec.t_max if self.t_max is None else max(self.t_max, rec.t_max)


class DiskQueue:
    """A durable FIFO of items in ``directory``, at most ``max_bytes`` of queued records.

    Thread-safe: the store-and-forward writer and its replay task use it from worker threads.
    Reopening a directory resumes the queue where it was consumed.
    """

    def __init__(
        self, directory: Path, *, max_bytes: int, segment_bytes: int = SEGMENT_BYTES
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = max(4096, min(segment_bytes, max_bytes // 4 or 1))
        self.dropped_samples = 0
        self.dropped_events = 0
        self.dropped_items = 0
        self._lock = threading.Lock()
        self._records: deque[_Record] = deque()
        self._bytes = 0
        self._tail: Any = None  # the open segment being appended to (a binary file)
        self._tail_no = 0
        self._tail_size = 0
        self._readers: dict[int, int] = {}  # segment -> fd for reading
        self._pending = _Dropped()
        self._last_drop_log = -DROP_LOG_INTERVAL_S
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._cursor_fd = os.open(self.directory / "cursor", os.O_RDWR | os.O_CREAT, 0o600)
            self._load()
        except OSError as exc:
            raise StorageError(
                f"cannot open the disk queue in {self.directory}: {exc.strerror or exc}"
            ) from exc

    # -- state -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    @property
    def bytes(self) -> int:
        """Bytes of queued records (headers included)."""
        return self._bytes

    @property
    def samples(self) -> int:
        """Samples waiting in the queue."""
        with self._lock:
            return sum(r.n for r in self._records if r.kind == _BATCH)

    @property
    def head(self) -> Position | None:
        """Where the oldest item starts (None when empty)."""
        with self._lock:
            return Position(self._records[0].segment, self._records[0].offset) if self else None

    # -- opening ---------------------------------------------------------------------------

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"segment-{number:016d}.log"

    def _read_cursor(self) -> Position:
        raw = os.pread(self._cursor_fd, _CURSOR.size, 0)
        if len(raw) == _CURSOR.size:
            seg, off, crc = _CURSOR.unpack(raw)
            if zlib.crc32(raw[:16]) == crc:
                return Position(seg, off)
            log.warning(
                "disk queue %s: cursor file damaged; items may be forwarded again "
                "(harmless: historian writes are idempotent)",
                self.directory,
            )
        return Position(0, 0)

    def _write_cursor(self, pos: Position) -> None:
        raw = struct.pack("<QQ", pos.segment, pos.offset)
        os.pwrite(self._cursor_fd, raw + struct.pack("<I", zlib.crc32(raw)), 0)

    def _load(self) -> None:
        cursor = self._read_cursor()
        segments = sorted(
            int(p.name[len("segment-") : -len(".log")])
            for p in self.directory.glob(_SEGMENT_GLOB)
            if p.name[len("segment-") : -len(".log")].isdigit()
        )
        for i, seg in enumerate(segments):
            last = i == len(segments) - 1
            if seg < cursor.segment:
                self._segment_path(seg).unlink(missing_ok=True)  # consumed before a crash
                continue
            for rec in self._scan(seg, truncate_torn=last):
                if seg == cursor.segment and rec.offset < cursor.offset:
                    continue
                self._records.append(rec)
                self._bytes += rec.size
            if not any(r.segment == seg for r in self._records) and not last:
                self._segment_path(seg).unlink(missing_ok=True)
        self._tail_no = max(segments[-1] if segments else 0, cursor.segment)
        if segments:
            path = self._segment_path(self._tail_no)
            if path.exists():
                self._tail = path.open("ab")
                self._tail_size = path.stat().st_size
        if self._records:
            items, samples = (
                len(self._records),
                sum(r.n for r in self._records if r.kind == _BATCH),
            )
            log.info("disk queue %s holds %d item(s), %d sample(s)", self.directory, items, samples)

    def _scan(self, seg: int, *, truncate_torn: bool) -> list[_Record]:
        """The readable records of a segment; a torn end is cut off (last segment only)."""
        path = self._segment_path(seg)
        data = path.read_bytes()
        out: list[_Record] = []
        pos = 0
        skipped = 0
        good_end = 0
        while pos + _HEADER.size <= len(data):
            magic, crc, length, kind, count, t_min, t_max = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if (
                magic == _MAGIC
                and length <= MAX_RECORD_BYTES
                and end <= len(data)
                and crc == _crc(length, kind, count, t_min, t_max, data[pos + _HEADER.size : end])
            ):
                out.append(_Record(seg, pos, end - pos, kind, count, t_min, t_max))
                pos = good_end = end
                continue
            nxt = data.find(_MAGIC, pos + 1)
            if nxt < 0:
                break
            skipped += nxt - pos
            pos = nxt
        tail = len(data) - good_end
        if skipped:
            log.warning(
                "disk queue %s: skipped %d damaged byte(s) in %s; the records after them are kept",
                self.directory,
                skipped,
                path.name,
            )
        if tail and truncate_torn and tail > skipped:
            log.warning(
                "disk queue %s: the last record of %s was cut short (a crash during a write); "
                "%d byte(s) dropped, every record before it is kept",
                self.directory,
                path.name,
                len(data) - good_end,
            )
            with path.open("r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
        return out

    # -- writing ---------------------------------------------------------------------------

    def put(self, item: Item) -> bool:
        """Append ``item``; returns once it is on disk. Returns False if it was dropped
        because it alone is larger than the queue's bound (logged and counted)."""
        kind, count, t_min, t_max, payload = encode(item)
        size = _HEADER.size + len(payload)
        crc = _crc(len(payload), kind, count, t_min, t_max, payload)
        header = _HEADER.pack(_MAGIC, crc, len(payload), kind, count, t_min, t_max)
        with self._lock:
            rec = _Record(0, 0, size, kind, count, t_min, t_max)
            if size > self.max_bytes or size > MAX_RECORD_BYTES:
                self._drop(rec, queued=False, because=f"cannot take one item of {size} bytes")
                return False
            if self._records and self._bytes + size > self.max_bytes:
                while self._records and self._bytes + size > self.max_bytes:
                    self._drop(self._records.popleft(), queued=True, because="is full")
                self._advance_after_drop()
            if self._tail is None or (
                self._tail_size and self._tail_size + size > self.segment_bytes
            ):
                self._new_segment()
            try:
                self._tail.write(header)
                self._tail.write(payload)
                self._tail.flush()
                os.fdatasync(self._tail.fileno())
            except OSError as exc:
                with contextlib.suppress(OSError):
                    self._tail.truncate(self._tail_size)  # leave no half record behind
                raise StorageError(
                    f"cannot write to the disk queue in {self.directory}: {exc.strerror or exc}"
                ) from exc
            self._records.append(rec._replace(segment=self._tail_no, offset=self._tail_size))
            self._tail_size += size
            self._bytes += size
            return True

    def _new_segment(self) -> None:
        if self._tail is not None:
            self._tail.close()
        self._tail_no += 1
        self._tail = self._segment_path(self._tail_no).open("ab")
        self._tail_size = 0
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable too
        finally:
            os.close(dir_fd)

    def _drop(self, rec: _Record, *, queued: bool, because: str) -> None:
        if rec.kind == _BATCH:
            self.dropped_samples += rec.n
        else:
            self.dropped_events += rec.n
        self.dropped_items += 1
        if queued:
            self._bytes -= rec.size
        self._pending.add(rec)
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            self._log_drops(because)
            self._last_drop_log = now

    def _log_drops(self, because: str = "was full") -> None:
        d = self._pending
        if not d.items:
            return
        span = (
            f" from {iso(d.t_min)} to {iso(d.t_max)}"
            if d.t_min is not None and d.t_max is not None
            else ""
        )
        log.warning(
            "disk queue %s %s (bound %d bytes): dropped %d sample(s) and %d event(s), "
            "oldest first%s",
            self.directory,
            because,
            self.max_bytes,
            d.samples,
            d.events,
            span,
        )
        self._pending = _Dropped()

    # -- reading ---------------------------------------------------------------------------

    def peek(self) -> Item | None:
        """The oldest item, left in the queue (None when empty)."""
        entry = self.peek_entry()
        return None if entry is None else entry[1]

    def peek_entry(self) -> tuple[Position, Item] | None:
        """The oldest item and its position, for a conditional ``pop(position)``."""
        with self._lock:
            if not self._records:
                return None
            rec = self._records[0]
            fd = self._readers.get(rec.segment)
            if fd is None:
                for old in self._readers.values():
                    os.close(old)
                self._readers = {rec.segment: os.open(self._segment_path(rec.segment), os.O_RDONLY)}
                fd = self._readers[rec.segment]
            data = os.pread(fd, rec.size, rec.offset)
        return Position(rec.segment, rec.offset), decode(rec.kind, data[_HEADER.size :])

    def pop(self, position: Position | None = None) -> bool:
        """Remove the oldest item — only if it still starts at ``position`` when given (it may
        have been dropped meanwhile to make room). Returns whether an item was removed."""
        with self._lock:
            if not self._records:
                return False
            rec = self._records[0]
            if position is not None and (rec.segment, rec.offset) != position:
                return False
            self._records.popleft()
            self._bytes -= rec.size
            self._advance(Position(rec.segment, rec.offset + rec.size))
            if not self._records:
                self._log_drops()
            return True

    def _advance_after_drop(self) -> None:
        if self._records:
            self._advance(Position(self._records[0].segment, self._records[0].offset))
        elif self._tail is not None:
            self._advance(Position(self._tail_no, self._tail_size))

    def _advance(self, pos: Position) -> None:
        """Persist the consumed position and delete segments nothing needs any more."""
        self._write_cursor(pos)
        first = self._records[0].segment if self._records else None
        for seg in [s for s in self._readers if first is None or s < first]:
            os.close(self._readers.pop(seg))
        if first is None and self._tail is not None and pos.segment == self._tail_no:
            # Everything consumed: free the disk now; the next put begins a new segment.
            self._tail.close()
            self._tail = None
            self._tail_size = 0
        lowest = pos.segment if first is None else first
        for path in self.directory.glob(_SEGMENT_GLOB):
            number = path.name[len("segment-") : -len(".log")]
            if number.isdigit() and int(number) < lowest:
                path.unlink(missing_ok=True)
        if first is None and self._tail is None:
            self._segment_path(pos.segment).unlink(missing_ok=True)

    def close(self) -> None:
        """Close the files; the queue stays on disk for the next start."""
        with self._lock:
            self._log_drops()
            if self._tail is not None:
                self._tail.close()
                self._tail = None
            for fd in self._readers.values():
                os.close(fd)
            self._readers.clear()
            if self._cursor_fd >= 0:
                with contextlib.suppress(OSError):
                    os.fsync(self._cursor_fd)
                os.close(self._cursor_fd)
                self._cursor_fd = -1

    def __repr__(self) -> str:
        return f"DiskQueue({str(self.directory)!r}, {len(self)} items, {self.bytes} bytes)"


# -- the sink wrapper ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolStats:
    queued_items: int
    queued_bytes: int
    spooled_items: int
    """Items that went to the disk queue because the sink was unreachable."""
    replayed_items: int
    replayed_samples: int
    dropped_samples: int
    dropped_events: int


class StoreAndForward:
    """A durable sink that keeps writing while ``inner`` (the historian) is unreachable.

    ``name`` is the inner sink's name, so the pipeline's figures stay under it.
    """

    durable = True

    def __init__(
        self,
        inner: Sink,
        queue: DiskQueue,
        *,
        retry_s: float = 1.0,
        max_retry_s: float = 30.0,
        drain_s: float = 10.0,
    ) -> None:
        self.inner = inner
        self.queue = queue
        self.name = inner.name
        self.retry_s = retry_s
        self.max_retry_s = max(max_retry_s, retry_s)
        self.drain_s = drain_s
        self.spooled_items = 0
        self.replayed_items = 0
        self.replayed_samples = 0
        self.replayed_events = 0
        self.refused_samples = 0
        """Samples the historian refused as data (not as an outage): kept as dead letters."""
        self.refused_events = 0
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._down_since: float | None = None
        if len(queue):
            log.warning(
                "%d item(s) (%d sample(s)) from an earlier run wait in %s; they are forwarded "
                "to %s first",
                len(queue),
                queue.samples,
                queue.directory,
                self.name,
            )

    @property
    def stats(self) -> SpoolStats:
        return SpoolStats(
            queued_items=len(self.queue),
            queued_bytes=self.queue.bytes,
            spooled_items=self.spooled_items,
            replayed_items=self.replayed_items,
            replayed_samples=self.replayed_samples,
            dropped_samples=self.queue.dropped_samples,
            dropped_events=self.queue.dropped_events,
        )

    @property
    def forwarding(self) -> bool:
        """True while items wait on disk (the historian is, or just was, unreachable)."""
        return bool(len(self.queue))

    async def write(self, item: Item) -> None:
        self._raise_failure()
        if not len(self.queue):
            try:
                await self._deliver(item)
                return
            except DatabaseUnavailable as exc:
                self._went_down(exc)
        await asyncio.to_thread(self.queue.put, item)
        self.spooled_items += 1
        self._start_replay()

    async def _deliver(self, item: Item) -> None:
        """Write ``item``; if the historian refuses it (bad data, not an outage), write what
        it accepts and turn each refused sample or event into a dead letter."""
        try:
            await self.inner.write(item)
        except DatabaseUnavailable:
            raise
        except AndonError as exc:
            refused = await self._salvage(item, exc)
            self.refused_samples += refused if isinstance(item, Batch) else 0
            self.refused_events += refused if not isinstance(item, Batch) else 0
            log.error(
                "%s refused %d of %d %s (%s); they are kept as dead letters of source %r",
                self.name,
                refused,
                len(item),
                "sample(s)" if isinstance(item, Batch) else "event(s)",
                exc,
                REFUSED_SOURCE,
            )

    async def _salvage(self, item: Item, exc: AndonError) -> int:
        """Halve ``item`` until the refused samples (or events) are found; write the rest.
        Returns how many were refused. An outage meanwhile propagates (the whole item is then
        queued again; what was written already is stored once, historian writes being
        idempotent)."""
        if len(item) > 1:
            half = len(item) // 2
            if isinstance(item, Batch):
                parts: list[Item] = [
                    item.select(np.arange(half)),
                    item.select(np.arange(half, len(item))),
                ]
            else:
                parts = [item[:half], item[half:]]
            refused = 0
            for part in parts:
                try:
                    await self.inner.write(part)
                except DatabaseUnavailable:
                    raise
                except AndonError as part_exc:
                    refused += await self._salvage(part, part_exc)
            return refused
        await self.inner.write((_refused_letter(item, exc).event(),))
        return 1

    def _went_down(self, exc: StorageError) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "%s is unreachable (%s); items are kept in the disk queue %s until it is back",
                self.name,
                exc,
                self.queue.directory,
            )

    def _start_replay(self) -> None:
        if self._task is None and self._failure is None:
            self._task = asyncio.get_running_loop().create_task(
                self._replay(), name=f"store-and-forward:{self.name}"
            )

    async def _replay(self) -> None:
        delay = self.retry_s
        items = samples = 0
        try:
            while True:
                try:
                    entry = await asyncio.to_thread(self.queue.peek_entry)
                except SpoolCorrupt as exc:
                    log.error("disk queue %s: %s; the item is skipped", self.queue.directory, exc)
                    head = self.queue.head
                    if head is not None:
                        await asyncio.to_thread(self.queue.pop, head)
                    continue
                if entry is None:
                    if not len(self.queue):  # no await between this check and the reset
                        self._task = None
                        self._came_back(items, samples)
                        return
                    continue
                position, item = entry
                try:
                    await self._deliver(item)
                except DatabaseUnavailable as exc:
                    self._went_down(exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_s)
                    continue
                delay = self.retry_s
                await asyncio.to_thread(self.queue.pop, position)
                items += 1
                self.replayed_items += 1
                if isinstance(item, Batch):
                    samples += len(item)
                    self.replayed_samples += len(item)
                else:
                    self.replayed_events += len(item)
        except asyncio.CancelledError:
            self._task = None
            raise
        except Exception as exc:  # a bug or bad data in the sink: fail the pipeline, as direct
            log.error("%s refused a queued item: %s", self.name, exc)
            self._failure = exc
            self._task = None

    def _came_back(self, items: int, samples: int) -> None:
        if self._down_since is not None:
            log.warning(
                "%s is reachable again after %.1f s: forwarded %d queued item(s), %d sample(s) "
                "from %s",
                self.name,
                time.monotonic() - self._down_since,
                items,
                samples,
                self.queue.directory,
            )
            self._down_since = None
        elif items:
            log.info(
                "forwarded %d item(s), %d sample(s) from %s", items, samples, self.queue.directory
            )

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def close(self) -> None:
        """Forward what waits on disk for at most ``drain_s`` seconds; leave the rest there."""
        try:
            if len(self.queue):
                self._start_replay()
            task = self._task
            if task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(task), self.drain_s)
                except TimeoutError:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if len(self.queue):
                log.warning(
                    "%d sample(s) (%d item(s)) wait in %s and will be forwarded at the next start",
                    self.queue.samples,
                    len(self.queue),
                    self.queue.directory,
                )
            self._raise_failure()
        finally:
            await asyncio.to_thread(self.queue.close)
            await self.inner.close()


def _refused_letter(item: Item, exc: AndonError) -> DeadLetter:
    """A dead letter for the one sample (or event) the historian refused."""
    if isinstance(item, Batch):
        text = dict(item.strings).get(0)
        record = {
            "tag": item.tags[int(item.tag_id[0])],
            "ts": iso(int(item.ts[0])),
            "value": text if text is not None else float(item.value[0]),
            "quality": int(item.quality[0]),
        }
        topic = str(record["tag"])
    else:
        event = item[0]
        record = {"ts": iso(event.ts), "asset": event.asset, "kind": event.kind}
        topic = f"{event.asset} {event.kind}"
    head = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY, default=str)
    return DeadLetter.of(REFUSED_SOURCE, topic, head, f"the historian refused it: {exc}")
