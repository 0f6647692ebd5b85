"""The Historian: one object to store and read a plant's time series and events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import URL, Engine

from andon.core.batch import Batch
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.core.event import Event
from andon.historian import events as events_mod
from andon.historian import export as export_mod
from andon.historian import kept as kept_mod
from andon.historian import query
from andon.historian.catalog import TagCatalog, TagSpec, is_pattern
from andon.historian.columns import Rows, to_rows
from andon.historian.engine import masked, open_engine, storage_errors
from andon.historian.results import Buckets, Sample, Series, TagInfo


def _one_tag(operation: str, tag: str) -> str:
    """``tag`` if it is one tag; a pattern is refused here, not reported as an unknown tag."""
    if is_pattern(tag):
        raise InputError(
            f"{operation} takes one tag, not a pattern ({tag!r}); use `andon history tags "
            "PATTERN` to list tags or `export --tags PATTERN`"
        )
    return tag


def _writer(engine: Engine) -> Callable[[Engine, Rows], int]:
    if engine.dialect.name == "postgresql":
        from andon.historian import write_postgres  # psycopg is an optional dependency

        return write_postgres.write_rows
    from andon.historian import write_sqlite

    return write_sqlite.write_rows


class Historian:
    """Stores Batches and Events idempotently; answers range, latest, downsample and export.

    Made by ``open_historian``; close it (or use it as a context manager) to release the pool.
    ``max_raw_points`` bounds a raw ``range`` without a limit.
    """

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._url = url
        self._catalog = TagCatalog(engine)
        self._write_rows = _writer(engine)
        self.max_raw_points = query.MAX_RAW_POINTS

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return masked(self._url)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, shared with the rooms that keep relational state in the
        same database (identity, audit) so one process holds one connection pool."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    # -- writing ---------------------------------------------------------------------------

    def ensure_tags(self, specs: Iterable[TagSpec | tuple[str, str | None, str, str]]) -> None:
        """Register configured tags, ``(path, unit, description, source)``, before ingest."""
        with storage_errors(self._engine):
            self._catalog.ensure(specs)

    def write(self, batch: Batch) -> int:
        """Store a batch; returns how many samples were new (a repeat stores none).

        String values (``batch.strings``) are stored beside their samples (whose value stays
        NaN) and come back in ``Series.text`` and in exports.
        """
        if not len(batch):
            return 0
        for row, text in batch.strings:
            if "\x00" in text:
                raise InputError(
                    f"tag {batch.tags[int(batch.tag_id[row])]} at {iso(int(batch.ts[row]))}: "
                    "text with a NUL character cannot be stored"
                )
        with storage_errors(self._engine):
            rows = to_rows(batch, self._catalog.ids_for(batch.tags))
            new = self._write_rows(self._engine, rows)
            # after the commit, by the clock after it, and even when nothing was new (a
            # retried write whose first attempt stored the rows but not the note)
            kept_mod.note_late(self._engine, kept_mod.late_in_batch(batch, time.time_ns()))
            return new

    def write_events(self, events: Sequence[Event]) -> int:
        """Store events; returns how many were new (a repeated event is stored once)."""
        with storage_errors(self._engine):
            new = events_mod.write_events(self._engine, events)
            kept_mod.note_late(self._engine, kept_mod.late_in_events(events, time.time_ns()))
            return new

    # -- results kept for closed periods ----------------------------------------------------

    def keep(self, rows: Sequence[kept_mod.Kept]) -> None:
        """Keep results computed for closed periods (see ``historian.kept``)."""
        with storage_errors(self._engine):
            kept_mod.keep(self._engine, rows)

    def kept(
        self, kind: str, assets: Sequence[str], start_ns: int, end_ns: int
    ) -> list[kept_mod.Kept]:
        """Kept results of ``kind`` of ``assets`` within ``[start_ns, end_ns)``."""
        with storage_errors(self._engine):
            return kept_mod.kept(self._engine, kind, assets, start_ns, end_ns)

    def late_since(
        self, keys: Sequence[str], start_ns: int, end_ns: int, since_ns: int
    ) -> list[tuple[str, int, int]]:
        """Late writes of ``keys`` (``kept.sample_key``, ``kept.event_key``) into
        ``[start_ns, end_ns)`` noted at or after ``since_ns``: ``(key, hour, written_ns)``."""
        with storage_errors(self._engine):
            return kept_mod.late_since(self._engine, keys, start_ns, end_ns, since_ns)

    def clock_ns(self) -> int:
        """The database's clock: what kept results and late-write notes are stamped by."""
        with storage_errors(self._engine), self._engine.connect() as conn:
            return kept_mod.db_now_ns(conn)

    def forget(self, kind: str | None = None, asset: str | None = None) -> int:
        """Drop kept results (of a kind, of an asset subtree); returns how many."""
        with storage_errors(self._engine):
            return kept_mod.forget(self._engine, kind, asset)

    # -- reading ---------------------------------------------------------------------------

    def _resolve(self, tags: str | Sequence[str]) -> list[tuple[str, int]]:
        """Paths and ids of a tag, a list of tags, or an MQTT-style pattern (``+``, ``#``)."""
        if isinstance(tags, str) and is_pattern(tags):
            return [(t.path, t.id) for t in self._catalog.records(tags)]
        paths = [tags] if isinstance(tags, str) else list(tags)
        return [(p, self._catalog.id_of(p)) for p in paths]

    def range(self, tag: str, start_ns: int, end_ns: int, limit: int | None = None) -> Series:
        """Raw samples of ``tag`` in ``[start_ns, end_ns)``, oldest first, with string values."""
        with storage_errors(self._engine):
            tag_id = self._catalog.id_of(_one_tag("range", tag))
            return query.read_range(
                self._engine, tag, tag_id, start_ns, end_ns, limit, self.max_raw_points
            )

    def latest(self, tags: str | Sequence[str]) -> list[Sample]:
        """The newest sample of a tag, of each listed tag, or of each tag matching a pattern."""
        with storage_errors(self._engine):
            return query.latest(self._engine, self._resolve(tags))

    def downsample(
        self,
        tag: str,
        start_ns: int,
        end_ns: int,
        every_ns: int,
        *,
        use_rollup: bool | None = None,
    ) -> Buckets:
        """Count, sum, min, max (and ``avg``) of good samples per epoch-aligned bucket.

        Only GOOD samples with a finite value count. Whole-minute buckets are read from the
        minute rollups, with raw samples for the partial minutes at the range's edges.
        """
        with storage_errors(self._engine):
            tag_id = self._catalog.id_of(_one_tag("downsample", tag))
            return query.downsample(
                self._engine, tag, tag_id, start_ns, end_ns, every_ns, use_rollup=use_rollup
            )

    def events(
        self,
        asset: str | None = None,
        kind: str | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        limit: int | None = 1000,
    ) -> list[Event]:
        """Events of an asset subtree (or MQTT-style pattern) and kind, in time order."""
        if start_ns is not None and end_ns is not None:
            query.check_range(start_ns, end_ns)
        with storage_errors(self._engine):
            return events_mod.query_events(self._engine, asset, kind, start_ns, end_ns, limit)

    def newest_events(self, assets: Iterable[str], kind: str) -> dict[str, Event]:
        """The newest event of ``kind`` (or a dotted sub-kind) of each listed asset, however
        old it is: one index lookup per asset. Assets without one are left out."""
        with storage_errors(self._engine):
            return events_mod.newest_events(self._engine, assets, kind)

    def count_events(
        self,
        asset: str | None,
        kind: str,
        field: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> dict[tuple[str, object], int]:
        """Events of ``kind`` per asset of a subtree and per value of the payload's ``field``,
        counted by the database: ``{(asset, value): n}`` (value ``None``: field missing)."""
        if start_ns is not None and end_ns is not None:
            query.check_range(start_ns, end_ns)
        with storage_errors(self._engine):
            return events_mod.count_events(self._engine, asset, kind, field, start_ns, end_ns)

    def tags(self, pattern: str | None = None, *, counts: bool = False) -> list[TagInfo]:
        """Stored tags (all, or matching a pattern) with first/last sample time; counts if asked."""
        with storage_errors(self._engine):
            records = self._catalog.records(pattern)
            ids = [r.id for r in records]
            spans = query.first_last(self._engine, ids)
            out = []
            for r in records:
                first, last = spans.get(r.id, (None, None))
                n = query.count_samples(self._engine, r.id) if counts else None
                out.append(
                    TagInfo(
                        r.path,
                        r.unit,
                        r.description,
                        r.source,
                        r.auto_created,
                        r.created_ns,
                        first,
                        last,
                        n,
                    )
                )
            return out

    def count_samples(
        self, tag: str | None = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> int:
        """Stored samples of one tag, or of all tags, optionally within ``[start_ns, end_ns)``."""
        with storage_errors(self._engine):
            tag_id = None if tag is None else self._catalog.id_of(_one_tag("count_samples", tag))
            return query.count_samples(self._engine, tag_id, start_ns, end_ns)

    def export(
        self,
        path: str | Path,
        tags: str | Sequence[str],
        start_ns: int,
        end_ns: int,
        *,
        fmt: str | None = None,
        chunk_rows: int = export_mod.CHUNK_ROWS,
    ) -> int:
        """Write samples in long form to CSV or Parquet (by suffix or ``fmt``); returns rows."""
        query.check_range(start_ns, end_ns)
        with storage_errors(self._engine):
            resolved = sorted(self._resolve(tags))
            pages = export_mod.pages(self._engine, resolved, start_ns, end_ns, chunk_rows)
            return export_mod.export(path, pages, fmt)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Historian:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Historian({self.url!r})"


def open_historian(url: str | None = None, *, create: bool = True) -> Historian:
    """Open (and migrate) the historian at ``url``, ``$ANDON_DB`` or ``./andon.db``.

    Raises DatabaseUnavailable, with the URL's password masked, if it cannot be reached.
    Readers pass ``create=False``: a SQLite file that does not exist is then reported
    (DatabaseUnavailable) instead of being created empty. On PostgreSQL the database exists
    whenever the server accepts the connection, so ``create=False`` still migrates it.
    """
    engine, resolved = open_engine(url, create=create)
    return Historian(engine, resolved)
