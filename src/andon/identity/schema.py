"""The identity tables, as SQLAlchemy Core objects (migration 0002 creates the same).

- ``users``: one row per person; the password only as an argon2id hash. Users are disabled,
  never deleted, so the audit log's names keep meaning something.
- ``web_sessions``: one row per browser session; only the SHA-256 of the cookie secret.
- ``api_tokens``: one row per integration token; only the SHA-256 of its secret.
- ``login_failures``: recent failed logins, per account name and per client address, kept in
  the database (not in memory) so several andon processes throttle the same attacker. Rows
  older than the longest window (one hour) are pruned as new failures arrive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from andon.core.errors import InputError
from andon.historian.engine import IMMEDIATE, storage_errors

NAME_CHARS = 64
"""Longest user or token name (also the width of the throttle's account column)."""
ADDRESS_CHARS = 64
"""Widest client address kept (an IPv6 address with zone fits)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_name(name: str, *, what: str = "user name") -> str:
    """Return ``name`` if it is a valid user or token name, else say what one looks like.

    Lowercase letters, digits, ``.``, ``_`` and ``-``, 1 to 64 characters, starting with a
    letter or digit (so a name never looks like a command-line option). Names appear in the
    audit log and in URLs, so nothing there needs quoting.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            f"{what} {name!r}: use 1 to 64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_CHARS), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("password_changed_ns", sa.BigInteger, nullable=False),
    sa.Column("last_login_ns", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("name", name="uq_users_name"),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("users.id", name="fk_web_sessions_user", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("last_seen_ns", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("secret_hash", name="uq_web_sessions_secret_hash"),
    sa.Index("ix_web_sessions_user_id", "user_id"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_CHARS), nullable=False),
    sa.Column("roles", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("expires_ns", sa.BigInteger, nullable=False),
    sa.Column("revoked_ns", sa.BigInteger, nullable=True),
    sa.Column("last_used_ns", sa.BigInteger, nullable=True),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts_ns", sa.BigInteger, nullable=False),
    sa.Column("account", sa.String(NAME_CHARS), nullable=False),
    sa.Column("address", sa.String(ADDRESS_CHARS), nullable=False),
    sa.Column("cleared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_login_failures_account_ts", "account", "ts_ns"),
    sa.Index("ix_login_failures_address_ts", "address", "ts_ns"),
)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A short write transaction, ``BEGIN IMMEDIATE`` on SQLite, driver errors translated.

    SQLite must take its write lock when the transaction begins: a transaction that reads
    first and writes later fails at once (no busy wait) if another writer got in between.
    """
    with (
        storage_errors(engine),
        engine.connect().execution_options(**{IMMEDIATE: True}) as conn,
        conn.begin(),
    ):
        yield conn
