"""Events: stored idempotently, found by asset subtree, kind and time.

An event's identity is ``(asset, ts, kind, digest)``, the digest being a hash of its payload
as canonical JSON (sorted keys). Writing the same event again stores nothing; ``source`` is
kept but is not part of the identity (the same breakdown reported by two connectors is one
breakdown). The unique index on the identity starts with ``(asset, ts)``, so it also serves
the asset queries; a second index serves ``(kind, ts)``.

Subtrees are index ranges (``asset >= prefix + "/"`` and ``< prefix + "0"``), which hold only
under bytewise collation: ``asset`` and ``kind`` are declared ``COLLATE "C"`` on PostgreSQL
(SQLite compares bytes already), so a database created with another locale cannot break them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.tagpath import matches
from andon.historian.catalog import is_pattern
from andon.historian.engine import IMMEDIATE, insert
from andon.historian.schema import events as events_table


def canonical(payload: object) -> str:
    """The payload as compact JSON with sorted keys: equal payloads give equal text."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(payload_json: str) -> str:
    return hashlib.blake2b(payload_json.encode(), digest_size=16).hexdigest()


def write_events(engine: Engine, events: Sequence[Event]) -> int:
    """Store events not stored yet; returns how many were new."""
    if not events:
        return 0
    rows = []
    for e in events:
        try:
            text = canonical(dict(e.payload))
        except (TypeError, ValueError) as err:
            raise InputError(f"event {e.kind} of {e.asset}: payload is not JSON: {err}") from None
        rows.append(
            {
                "ts": int(e.ts),
                "asset": e.asset,
                "kind": e.kind,
                "payload": text,
                "source": e.source,
                "digest": digest(text),
            }
        )
    stmt = (
        insert(engine, events_table)
        .on_conflict_do_nothing(index_elements=["asset", "ts", "kind", "digest"])
        .returning(events_table.c.id)
    )
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        return len(conn.execute(stmt, rows).all())


def _under(column: sa.ColumnElement[str], prefix: str, sep: str) -> sa.ColumnElement[bool]:
    """``column`` equals ``prefix`` or lies below it: an index range, no LIKE escaping needed."""
    upper = prefix + chr(ord(sep) + 1)
    return sa.or_(column == prefix, sa.and_(column >= prefix + sep, column < upper))


def query_events(
    engine: Engine,
    asset: str | None = None,
    kind: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int | None = 1000,
) -> list[Event]:
    """Events in ``[start_ns, end_ns)`` ordered by time.

    ``asset`` selects that asset and everything below it, or is an MQTT-style pattern (``+``,
    ``#``); ``kind`` selects that kind and its dotted sub-kinds (``truth`` finds
    ``truth.failure``).
    """
    c = events_table.c
    q = sa.select(c.ts, c.asset, c.kind, c.payload, c.source).order_by(c.ts, c.id)
    pattern = None
    if asset is not None:
        if is_pattern(asset):
            pattern = asset
            fixed = asset.split("/")
            head = fixed[: min(i for i, s in enumerate(fixed) if is_pattern(s))]
            if head:
                q = q.where(_under(c.asset, "/".join(head), "/"))
        else:
            q = q.where(_under(c.asset, asset.rstrip("/"), "/"))
    if kind is not None:
        q = q.where(_under(c.kind, kind, "."))
    if start_ns is not None:
        q = q.where(c.ts >= start_ns)
    if end_ns is not None:
        q = q.where(c.ts < end_ns)
    if limit is not None and pattern is None:
        q = q.limit(limit)
    out: list[Event] = []
    with engine.connect() as conn:
        for ts, a, k, payload, source in conn.execute(q):
            if pattern is not None and not matches(pattern, a):
                continue
            out.append(Event(int(ts), a, k, json.loads(payload), source))
            if limit is not None and len(out) >= limit:
                break
    return out
