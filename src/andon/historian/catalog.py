"""The tag dictionary: path to the historian's integer id, cached in memory.

Samples store a small integer instead of a path. Ids never change once given, so the cache is
never invalidated. A tag first seen in a batch is created with ``auto_created`` set (a backfill
from a legacy historian must just work); configured tags are registered up front with their
unit, description and source through ``ensure``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.batch import I32
from andon.core.clock import now_ns
from andon.core.errors import UnknownTagError
from andon.core.tagpath import matches, tag_path
from andon.historian.engine import IMMEDIATE, insert
from andon.historian.schema import tags as tags_table

WILDCARDS = ("+", "#")
"""MQTT-style wildcards: ``+`` one path segment, ``#`` any number of trailing segments."""


def is_pattern(text: str) -> bool:
    """Whether ``text`` is a pattern (holds a wildcard) rather than one path."""
    return any(w in text for w in WILDCARDS)


@dataclass(frozen=True, slots=True)
class TagSpec:
    """A configured tag: what the plant model knows about a signal before any sample arrives."""

    path: str
    unit: str | None = None
    description: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class TagRecord:
    """One row of the ``tags`` table."""

    id: int
    path: str
    unit: str | None
    description: str
    source: str
    created_ns: int
    auto_created: bool


class TagCatalog:
    """Maps tag paths to ids for one engine; safe to share between writers of one process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids: dict[str, int] = {}
        self._by_dictionary: dict[tuple[str, ...], I32] = {}

    def ensure(self, specs: Iterable[TagSpec | tuple[str, str | None, str, str]]) -> list[int]:
        """Register configured tags (creating or updating them; never auto-created) → ids."""
        rows: list[dict[str, str | int | bool | None]] = []
        paths: list[str] = []
        for spec in specs:
            s = spec if isinstance(spec, TagSpec) else TagSpec(*spec)
            paths.append(tag_path(s.path))
            rows.append(
                {
                    "path": paths[-1],
                    "unit": s.unit,
                    "description": s.description,
                    "source": s.source,
                    "created_ns": now_ns(),
                    "auto_created": False,
                }
            )
        if not rows:
            return []
        stmt = insert(self._engine, tags_table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["path"],
            set_={
                "unit": stmt.excluded.unit,
                "description": stmt.excluded.description,
                "source": stmt.excluded.source,
                "auto_created": False,
            },
        )
        with self._engine.connect().execution_options(**{IMMEDIATE: True}) as conn:
            with conn.begin():
                conn.execute(stmt, rows)
            found = self._select(conn, paths)
        return [found[p] for p in paths]

    def ids_for(self, paths: tuple[str, ...]) -> I32:
        """The id of every path of a batch's tag dictionary, creating unknown tags."""
        cached = self._by_dictionary.get(paths)
        if cached is not None:
            return cached
        missing = [p for p in dict.fromkeys(paths) if p not in self._ids]
        if missing:
            self._create(missing)
        ids = np.array([self._ids[p] for p in paths], dtype=np.int32)
        if len(self._by_dictionary) < 1024:
            self._by_dictionary[paths] = ids
        return ids

    def id_of(self, path: str) -> int:
        """The id of a stored tag; UnknownTagError if it was never stored."""
        if path not in self._ids:
            with self._engine.connect() as conn:
                self._select(conn, [path])
        if path not in self._ids:
            raise UnknownTagError(path)
        return self._ids[path]

    def records(self, pattern: str | None = None) -> list[TagRecord]:
        """Every tag (or those matching an MQTT-style pattern, ``+`` and ``#``), by path."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(tags_table).order_by(tags_table.c.path)).all()
        out = [
            TagRecord(
                r.id, r.path, r.unit, r.description, r.source, r.created_ns, bool(r.auto_created)
            )
            for r in rows
            if pattern is None or matches(pattern, r.path)
        ]
        self._ids.update((t.path, t.id) for t in out)
        return out

    def _create(self, paths: Sequence[str]) -> None:
        rows = [{"path": tag_path(p), "created_ns": now_ns(), "auto_created": True} for p in paths]
        stmt = insert(self._engine, tags_table).on_conflict_do_nothing(index_elements=["path"])
        with self._engine.connect().execution_options(**{IMMEDIATE: True}) as conn:
            with conn.begin():
                conn.execute(stmt, rows)
            self._select(conn, paths)

    def _select(self, conn: sa.Connection, paths: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i in range(0, len(paths), 500):
            chunk = list(paths[i : i + 500])
            q = sa.select(tags_table.c.path, tags_table.c.id).where(tags_table.c.path.in_(chunk))
            found.update((p, i_) for p, i_ in conn.execute(q))
        self._ids.update(found)
        conn.rollback()
        return found
