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
import re
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.tagpath import matches
from andon.historian import dbapi
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


def _range_args(prefix: str, sep: str) -> tuple[str, str, str]:
    """The parameters of ``_UNDER``: ``prefix`` itself or anything below it."""
    return prefix, prefix + sep, prefix + chr(ord(sep) + 1)


# ``x = ? OR (x >= ? AND x < ?)``: a value and its subtree (see ``_under``, ``_range_args``)
_NEWEST_SQL = (
    "SELECT ts, asset, kind, payload, source FROM events WHERE asset = ? "
    "AND (kind = ? OR (kind >= ? AND kind < ?)) ORDER BY ts DESC, id DESC LIMIT 1"
)


def newest_events(engine: Engine, assets: Iterable[str], kind: str) -> dict[str, Event]:
    """The newest event of ``kind`` (or a dotted sub-kind) of each asset, however old.

    One index lookup per asset, on the identity index ``(asset, ts, ...)`` read backwards:
    the cost does not grow with the history kept. Assets without such an event are absent.
    An asset is one path here (not its subtree); ties in time go to the later stored event.
    """
    out: dict[str, Event] = {}
    kinds = _range_args(kind, ".")
    with dbapi.cursor(engine) as cur:
        for asset in dict.fromkeys(assets):
            rows = dbapi.fetch(cur, engine, _NEWEST_SQL, (asset, *kinds))
            if rows:
                ts, a, k, payload, source = rows[0]
                out[asset] = Event(int(ts), a, k, json.loads(payload), source)
    return out


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COUNT_SQLITE = (
    "SELECT asset, json_type(payload, ?), json_extract(payload, ?), count(*) FROM events "
    "WHERE (kind = ? OR (kind >= ? AND kind < ?)) AND ts >= ? AND ts < ? "
    "AND (asset = ? OR (asset >= ? AND asset < ?)) GROUP BY 1, 2, 3"
)
_COUNT_POSTGRES = (
    "SELECT asset, CAST(CAST(payload AS jsonb) -> CAST(? AS text) AS text), count(*) "
    "FROM events WHERE (kind = ? OR (kind >= ? AND kind < ?)) AND ts >= ? AND ts < ? "
    "AND (asset = ? OR (asset >= ? AND asset < ?)) GROUP BY 1, 2"
)
_INT64 = (-(2**63), 2**63 - 1)
_EVERY_PATH = ("", "", chr(0x10FFFF))


def _sqlite_value(kind: str | None, value: object) -> object:
    if kind is None or kind == "null":
        return None
    if kind in ("true", "false"):
        return kind == "true"
    if kind in ("object", "array"):
        return canonical(json.loads(str(value)))
    return value


def _postgres_value(text: str | None) -> object:
    value = None if text is None else json.loads(text)
    return canonical(value) if isinstance(value, dict | list) else value


def count_events(
    engine: Engine,
    asset: str | None,
    kind: str,
    field: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> dict[tuple[str, object], int]:
    """How many events of ``kind`` each asset of a subtree has, per value of one payload field.

    Counted by the database: ``{(asset, value): n}``, ``value`` being the payload's top-level
    ``field`` as JSON gives it (``None`` when the field is missing or null; an object or array
    as its canonical JSON text). ``asset`` is a
    subtree (``None``: every asset), ``kind`` takes its dotted sub-kinds, times are
    ``[start_ns, end_ns)``. A day of parts is thousands of events; none is decoded here.
    """
    if _FIELD.fullmatch(field) is None:
        raise InputError(f"field must be a plain payload key (letters, digits, _), got {field!r}")
    if asset is not None and is_pattern(asset):
        raise InputError(f"count_events takes an asset subtree, not a pattern ({asset!r})")
    where: list[dbapi.Param] = [*_range_args(kind, ".")]
    where += [_INT64[0] if start_ns is None else start_ns, _INT64[1] if end_ns is None else end_ns]
    # every asset: the whole (bytewise) range of paths
    where += _range_args(asset.rstrip("/"), "/") if asset is not None else _EVERY_PATH
    out: dict[tuple[str, object], int] = {}
    with dbapi.cursor(engine) as cur:
        if engine.dialect.name == "postgresql":
            for a, text, n in dbapi.fetch(cur, engine, _COUNT_POSTGRES, [field, *where]):
                key = (str(a), _postgres_value(text))
                out[key] = out.get(key, 0) + int(n)
        else:
            path = f'$."{field}"'
            for a, jtype, value, n in dbapi.fetch(cur, engine, _COUNT_SQLITE, [path, path, *where]):
                key = (str(a), _sqlite_value(jtype, value))
                out[key] = out.get(key, 0) + int(n)
    return out
