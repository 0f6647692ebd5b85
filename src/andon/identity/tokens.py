"""API tokens for machines and integrations: random, shown once, stored hashed, scoped, expiring.

A token reads ``andon_<id>_<secret>``: the id finds the row without a scan and without
comparing secrets in SQL, and the secret (32 random bytes, 256 bits, base64url) is compared in
constant time against the stored SHA-256. A fast hash is right for tokens, unlike passwords:
the secret is random and long, so there is no dictionary to try and 2**256 guesses no hardware
will make; a slow hash would only slow down every API request. The ``andon_`` prefix lets
secret scanners (and people) recognise a leaked token.

A token is owned by an *integration name* (``scada``, ``mes-bridge``), not by a user: it keeps
working when the person who created it leaves, and it is ended by revoking it or by its expiry,
which is mandatory (at most one year). Its roles are fixed at creation; give an integration the
least it needs (usually ``viewer``, or ``engineer`` to write data).

``last_used`` is written at most once a minute per token, so a busy integration does not turn
every request into a database write.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from andon.core.clock import NS_PER_MIN, NS_PER_S
from andon.core.errors import InputError
from andon.historian.engine import storage_errors
from andon.identity.errors import InvalidCredentials
from andon.identity.roles import Principal, Role, parse_role
from andon.identity.schema import api_tokens, check_name, writing

PREFIX = "andon"
SECRET_BYTES = 32
MAX_LIFETIME_S = 365 * 86400.0
"""Longest a token may live: one year. Expiry is required; there are no eternal tokens."""
TOUCH_EVERY_NS = NS_PER_MIN
_TOKEN = re.compile(r"andon_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})")
_DUMMY_DIGEST = "0" * 64


def token_digest(secret: str) -> str:
    """SHA-256 (hex) of a token's secret part: all the database keeps of it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def format_token(token_id: int, secret: str) -> str:
    """The string an integration sends as ``Authorization: Bearer ...``."""
    return f"{PREFIX}_{token_id}_{secret}"


def parse_token(text: str) -> tuple[int, str]:
    """``(id, secret)`` of a token string, or InvalidCredentials if it is not one."""
    m = _TOKEN.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InvalidCredentials("invalid API token")
    return int(m.group(1)), m.group(2)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: everything but its secret."""

    id: int
    name: str
    roles: frozenset[Role]
    created_ns: int
    created_by: str
    expires_ns: int
    revoked_ns: int | None
    last_used_ns: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_ns is not None

    def status(self, now_ns: int) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked:
            return "revoked"
        return "expired" if now_ns >= self.expires_ns else "active"


def _roles(text: str) -> frozenset[Role]:
    return frozenset(Role(r) for r in text.split(",") if r)


def _info(row: Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        roles=_roles(row.roles),
        created_ns=row.created_ns,
        created_by=row.created_by,
        expires_ns=row.expires_ns,
        revoked_ns=row.revoked_ns,
        last_used_ns=row.last_used_ns,
    )


def check_roles(roles: Iterable[Role | str]) -> frozenset[Role]:
    """The roles a token is scoped to: at least one, each a known role."""
    chosen = frozenset(parse_role(str(r)) for r in roles)
    if not chosen:
        raise InputError("a token needs at least one role (--role viewer, for example)")
    return chosen


def check_lifetime(expires_in_s: float) -> float:
    """A token's lifetime: more than zero, at most a year."""
    if not math.isfinite(expires_in_s) or not 0 < expires_in_s <= MAX_LIFETIME_S:
        raise InputError(
            f"token expiry must be more than 0 and at most 365 days; got {expires_in_s} s"
        )
    return expires_in_s


class TokenStore:
    """Create, check, list and revoke API tokens (the Identity facade delegates here)."""

    def __init__(self, engine: Engine, clock: Callable[[], int]) -> None:
        self._engine = engine
        self._clock = clock

    def insert(
        self, conn: Connection, name: str, roles: frozenset[Role], expires_in_s: float, actor: str
    ) -> tuple[int, str]:
        """Store a new token on ``conn``; ``(id, token string)``."""
        now = self._clock()
        secret = secrets.token_urlsafe(SECRET_BYTES)
        expires_ns = now + round(expires_in_s * NS_PER_S)
        result = conn.execute(
            sa.insert(api_tokens).values(
                name=check_name(name, what="token name"),
                roles=",".join(sorted(r.value for r in roles)),
                secret_hash=token_digest(secret),
                created_ns=now,
                created_by=actor,
                expires_ns=expires_ns,
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row always has one
        token_id = int(key[0])
        return token_id, format_token(token_id, secret)

    def authenticate(self, text: str) -> Principal:
        """The principal a token string proves, or InvalidCredentials."""
        token_id, secret = parse_token(text)
        with storage_errors(self._engine), self._engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        stored = _DUMMY_DIGEST if row is None else row.secret_hash
        matches = hmac.compare_digest(stored, token_digest(secret))
        if row is None or not matches:
            raise InvalidCredentials("invalid API token")
        now = self._clock()
        if row.revoked_ns is not None:
            raise InvalidCredentials(f"API token {token_id} has been revoked")
        if now >= row.expires_ns:
            raise InvalidCredentials(f"API token {token_id} has expired; create a new one")
        if row.last_used_ns is None or now - row.last_used_ns >= TOUCH_EVERY_NS:
            with writing(self._engine) as conn:
                conn.execute(
                    sa.update(api_tokens)
                    .where(api_tokens.c.id == token_id)
                    .values(last_used_ns=now)
                )
        return Principal(row.name, _roles(row.roles), "token", token_id=row.id)

    def all(self) -> list[TokenInfo]:
        """Every token ever made, oldest first (revoked and expired ones included)."""
        with storage_errors(self._engine), self._engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id)).all()
        return [_info(row) for row in rows]

    def get(self, conn: Connection, token_id: int) -> TokenInfo:
        """One token, or an InputError naming the id."""
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise InputError(f"no API token with id {token_id} (see `andon token list`)")
        return _info(row)

    def mark_revoked(self, conn: Connection, token_id: int) -> None:
        """Revoke on ``conn``: the token stops working at once, its row stays for the record."""
        conn.execute(
            sa.update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_ns.is_(None))
            .values(revoked_ns=self._clock())
        )
