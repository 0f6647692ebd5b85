"""Opening a historian database: which URL, engine settings, migrations, and error translation.

The URL is taken from the argument, else the environment variable ``ANDON_DB``, else the SQLite
file ``andon.db`` in the current directory. A bare path (no ``://``) names a SQLite file.
SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable at checkpoints, never corrupt) and
Python's own transaction handling switched off, so the historian says exactly when a
transaction begins (``BEGIN IMMEDIATE`` for writers). PostgreSQL is reached with psycopg 3 and
a short connect timeout, so an unreachable server is reported in seconds, not minutes.

Readers open with ``create=False``: a SQLite file that does not exist is then reported instead
of being created empty (a typo in ``--db`` must not look like an empty plant). A PostgreSQL
database exists by definition once the server accepts the connection, so it is still migrated.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url

from andon.core.errors import DatabaseUnavailable, StorageError

ENV_VAR = "ANDON_DB"
DEFAULT_SQLITE_FILE = "andon.db"
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_S = 30.0
IMMEDIATE = "andon_immediate"
"""Execution option: begin a SQLite transaction with ``BEGIN IMMEDIATE`` (the write lock)."""

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x616E646F6E  # "andon": serialises concurrent upgrades on one server


def resolve_url(url: str | None) -> URL:
    """The database URL to use: argument, else ``$ANDON_DB``, else ``sqlite:///andon.db``."""
    text = url or os.environ.get(ENV_VAR) or DEFAULT_SQLITE_FILE
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        return make_url(text)
    except exc.ArgumentError as err:
        raise DatabaseUnavailable(f"cannot parse database URL {text!r}: {err}") from None


def masked(url: URL) -> str:
    """The URL as it may be shown to a person: password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def _one_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    # Drivers spread one reason over several lines ("... port 1 failed:" / "Connection
    # refused" / "Is the server running ..."); keep the first two, joined, so it stays one line.
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(orig).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def unavailable(url: URL, err: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"cannot open database {masked(url)}: {_one_line(err)}")


def insert(engine: Engine, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT of the engine's dialect, which offers ``on_conflict_do_*``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _sqlite_engine(url: URL, create: bool) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        file = Path(database).expanduser().resolve()
        if not file.parent.is_dir():
            raise DatabaseUnavailable(
                f"cannot open database {masked(url)}: directory {file.parent} does not exist"
            )
        if not create and not file.exists():
            raise DatabaseUnavailable(
                f"no database at {file}; run andon demo or andon serve first, or check --db"
            )
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    if url.get_driver_name() != "psycopg":
        raise DatabaseUnavailable(
            f"database URL {masked(url)}: use the psycopg 3 driver, postgresql+psycopg://..."
        )
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def create_engine(url: URL, *, create: bool = True) -> Engine:
    """An engine for ``url`` with andon's settings; nothing is connected yet.

    ``create=False`` refuses a SQLite file that does not exist yet (no effect on PostgreSQL).
    """
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(url, create)
        if backend == "postgresql":
            return _postgres_engine(url)
    except (ImportError, exc.ArgumentError, exc.NoSuchModuleError) as err:
        raise unavailable(url, err) from None
    raise DatabaseUnavailable(
        f"database URL {masked(url)}: unsupported; use a SQLite file or postgresql+psycopg://"
    )


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration, with every concurrent opener waiting its turn."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect().execution_options(**{IMMEDIATE: True}) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_engine(url: str | None, *, create: bool = True) -> tuple[Engine, URL]:
    """Connect, check the database answers, and migrate it; errors become DatabaseUnavailable."""
    resolved = resolve_url(url)
    engine = create_engine(resolved, create=create)
    try:
        upgrade(engine)
    except (exc.DBAPIError, sqlite3.Error) as err:
        engine.dispose()
        raise unavailable(resolved, err) from None
    except CommandError as err:  # e.g. a schema newer than this andon knows
        engine.dispose()
        raise StorageError(f"database {masked(resolved)}: schema migration failed: {err}") from None
    except BaseException:
        engine.dispose()
        raise
    return engine, resolved


@contextmanager
def storage_errors(engine: Engine) -> Iterator[None]:
    """Translate driver errors met while reading or writing into andon's error tree."""
    dbapi = engine.dialect.loaded_dbapi
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as err:
        raise DatabaseUnavailable(f"database unavailable: {_one_line(err)}") from err
    except exc.DBAPIError as err:
        if err.connection_invalidated:
            raise DatabaseUnavailable(f"database unavailable: {_one_line(err)}") from err
        raise StorageError(f"database error: {_one_line(err)}") from err
    except (dbapi.OperationalError, dbapi.InterfaceError) as err:
        # a lost or closed connection: the database may come back (the disk queue waits)
        raise DatabaseUnavailable(f"database unavailable: {_one_line(err)}") from err
    except dbapi.Error as err:
        raise StorageError(f"database error: {_one_line(err)}") from err
