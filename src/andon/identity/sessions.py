"""Web sessions: a random cookie secret, stored only as its SHA-256, with two timeouts.

A session secret is 32 random bytes (256 bits) from ``secrets``. The database keeps only
``SHA-256(secret)``: someone who reads the table (a backup, a leaked dump) cannot turn a row
back into a working cookie. A fast hash is enough here because the secret is random and long:
there is no dictionary to try, so argon2's deliberate slowness would buy nothing and cost on
every request.

Every login gets a new session (no session fixation). A session ends when it has been idle
for 30 minutes, 12 hours after login whatever the activity, at logout, or when its user is
disabled or given a new password: all server-side, by deleting the row, so an old cookie is
worthless even if a browser keeps it. ``last_seen`` is written at most every 30 s, which keeps
a busy dashboard from turning every request into a database write.

Only what the person does counts as activity: a request made by the page on its own (polling,
the live stream) checks the session with ``touch=False`` — every timeout and the user's status
are checked, but ``last_seen`` is left alone — so a dashboard left open on an unattended
screen still logs out after 30 minutes.

The CSRF token is derived from the session secret (SHA-256 of a label and the secret): it is
fixed for the session's life, is never stored, and does not reveal the cookie. The API sends it
in pages and checks it on every form and in the ``X-CSRF-Token`` header (synchronizer token).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S
from andon.historian.engine import storage_errors
from andon.identity.errors import InvalidCredentials
from andon.identity.roles import Principal, Role
from andon.identity.schema import users, web_sessions, writing

IDLE_TIMEOUT_NS = 30 * NS_PER_MIN
ABSOLUTE_TIMEOUT_NS = 12 * NS_PER_H
TOUCH_EVERY_NS = 30 * NS_PER_S
SECRET_BYTES = 32
MAX_SECRET_CHARS = 128
"""Longer cookie values are refused without a database query."""


def secret_digest(secret: str) -> str:
    """SHA-256 (hex) of a high-entropy secret: what the database stores instead of it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token_for(secret: str) -> str:
    """The session's CSRF token: derived from its secret, so nothing more is stored."""
    return hashlib.sha256(b"andon-csrf\x00" + secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class WebSession:
    """A browser's session: the cookie value, its CSRF token, who it is, when it lapses."""

    secret: str
    csrf_token: str
    principal: Principal
    expires_ns: int
    """When the session ends if it stays idle (never later than 12 h after login)."""


def _plausible(secret: str) -> bool:
    """Could this be a cookie andon issued? (Checked before any hashing or query.)"""
    return isinstance(secret, str) and 0 < len(secret) <= MAX_SECRET_CHARS and secret.isascii()


def _expires(created_ns: int, last_seen_ns: int) -> int:
    return min(last_seen_ns + IDLE_TIMEOUT_NS, created_ns + ABSOLUTE_TIMEOUT_NS)


class SessionStore:
    """Create, check and end web sessions (the Identity facade delegates here)."""

    def __init__(self, engine: Engine, clock: Callable[[], int]) -> None:
        self._engine = engine
        self._clock = clock

    def start(self, principal: Principal) -> WebSession:
        """A brand-new session for a logged-in user (never reuses an earlier id)."""
        if principal.kind != "user":
            raise InvalidCredentials("only a user who logged in can have a web session")
        now = self._clock()
        secret = secrets.token_urlsafe(SECRET_BYTES)
        with writing(self._engine) as conn:
            user_id = conn.execute(
                sa.select(users.c.id).where(users.c.name == principal.name, ~users.c.disabled)
            ).scalar()
            if user_id is None:
                raise InvalidCredentials(f"user {principal.name!r} is unknown or disabled")
            self._prune(conn, now)
            conn.execute(
                sa.insert(web_sessions).values(
                    secret_hash=secret_digest(secret),
                    user_id=user_id,
                    created_ns=now,
                    last_seen_ns=now,
                )
            )
        return WebSession(secret, csrf_token_for(secret), principal, _expires(now, now))

    def get(self, secret: str, *, touch: bool = True) -> WebSession:
        """The live session for a cookie value; an unknown, idle or too old one is refused.

        ``touch=False`` (a background request) checks the same, but does not count as activity.
        """
        if not _plausible(secret):
            raise InvalidCredentials("no valid session; log in")
        now = self._clock()
        digest = secret_digest(secret)
        query = (
            sa.select(
                web_sessions.c.id,
                web_sessions.c.created_ns,
                web_sessions.c.last_seen_ns,
                users.c.name,
                users.c.role,
                users.c.disabled,
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.secret_hash == digest)
        )
        with storage_errors(self._engine), self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise InvalidCredentials("no valid session; log in")
        if row.disabled or now >= _expires(row.created_ns, row.last_seen_ns):
            with writing(self._engine) as conn:
                conn.execute(sa.delete(web_sessions).where(web_sessions.c.id == row.id))
            raise InvalidCredentials("session expired; log in again")
        last_seen = row.last_seen_ns
        if touch and now - last_seen >= TOUCH_EVERY_NS:
            last_seen = now
            with writing(self._engine) as conn:
                conn.execute(
                    sa.update(web_sessions)
                    .where(web_sessions.c.id == row.id)
                    .values(last_seen_ns=now)
                )
        principal = Principal(row.name, frozenset({Role(row.role)}), "user")
        return WebSession(
            secret, csrf_token_for(secret), principal, _expires(row.created_ns, last_seen)
        )

    def owner(self, secret: str) -> str | None:
        """The name of the user whose session this is, if it exists (a read, no lock)."""
        if not _plausible(secret):
            return None
        with storage_errors(self._engine), self._engine.connect() as conn:
            return self._owner(conn, secret_digest(secret))

    def end(self, secret: str) -> str | None:
        """Delete the session (logout); the user's name if there was one, else None."""
        if not _plausible(secret):
            return None
        with writing(self._engine) as conn:
            return self.end_on(conn, secret)

    @classmethod
    def end_on(cls, conn: Connection, secret: str) -> str | None:
        """Delete the session on ``conn`` (the caller's transaction); its user's name, or None."""
        if not _plausible(secret):
            return None
        digest = secret_digest(secret)
        name = cls._owner(conn, digest)
        deleted = conn.execute(
            sa.delete(web_sessions).where(web_sessions.c.secret_hash == digest)
        ).rowcount
        return name if deleted else None

    @staticmethod
    def _owner(conn: Connection, digest: str) -> str | None:
        name: str | None = conn.execute(
            sa.select(users.c.name)
            .join(web_sessions, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.secret_hash == digest)
        ).scalar()
        return name

    @staticmethod
    def end_all(conn: Connection, user_id: int) -> int:
        """End every session of one user on ``conn`` (disable, new password); how many."""
        return conn.execute(
            sa.delete(web_sessions).where(web_sessions.c.user_id == user_id)
        ).rowcount

    @staticmethod
    def _prune(conn: Connection, now: int) -> None:
        """Forget sessions that can no longer be used, so the table does not grow for ever."""
        conn.execute(
            sa.delete(web_sessions).where(
                sa.or_(
                    web_sessions.c.last_seen_ns <= now - IDLE_TIMEOUT_NS,
                    web_sessions.c.created_ns <= now - ABSOLUTE_TIMEOUT_NS,
                )
            )
        )
