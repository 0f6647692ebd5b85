"""The driver's own cursor, for the hot reads (trends, raw ranges, the board's events).

SQLAlchemy costs a few microseconds per fetched row (Row objects, result processing) and a
few hundred per statement (compiling, events); a day of 1 Hz samples is 86,400 rows. The hot
reads therefore run parameterised SQL text on the DBAPI cursor of a pooled connection and
turn the fetched tuples straight into numpy columns. The SQL is written once with ``?``
placeholders (sqlite3's style) and translated for psycopg (``%s``, with a literal ``%``
doubled). No value is ever formatted into SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPICursor

from andon.core.errors import StorageError

Param = int | float | str | None


@lru_cache(maxsize=256)
def _translated(sql: str, style: str) -> str:
    if style == "qmark":
        return sql
    if style in ("format", "pyformat"):
        return sql.replace("%", "%%").replace("?", "%s")
    raise StorageError(  # pragma: no cover - only sqlite3 and psycopg are supported drivers
        f"the database driver's parameter style {style!r} is not supported; "
        "use a sqlite:/// or postgresql+psycopg:// URL"
    )


def sql_for(engine: Engine, sql: str) -> str:
    """``sql`` (``?`` placeholders) in the parameter style of ``engine``'s driver."""
    return _translated(sql, engine.dialect.paramstyle)


@contextmanager
def cursor(engine: Engine) -> Iterator[DBAPICursor]:
    """A cursor on a pooled connection; the connection goes back to the pool (rolled back)."""
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        try:
            yield cur
        finally:
            cur.close()
    finally:
        conn.close()


def fetch(cur: DBAPICursor, engine: Engine, sql: str, params: Sequence[Param]) -> Sequence[Any]:
    """All rows of one parameterised statement, as the driver's tuples."""
    cur.execute(sql_for(engine, sql), tuple(params))
    return cur.fetchall()
