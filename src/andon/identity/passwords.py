"""Passwords: argon2id hashing with OWASP's parameters, the policy, and generated passwords.

argon2id with t = 2 passes, m = 19,456 KiB (19 MiB), p = 1 lane is OWASP's first recommended
configuration (and ASVS 5.0 level 2's): memory-hard, so a leaked ``users`` table costs an
attacker about 19 MiB of RAM and tens of milliseconds of CPU per guess. The parameters are part
of each stored hash (``$argon2id$v=19$m=19456,t=2,p=1$...``); when they change here, a user's
hash is recomputed at their next successful login (the only moment the password is known).

The policy follows ASVS: at least 12 characters, at most 256 (long passphrases are welcome),
no composition rules, not the user's own name. Generated passwords carry 144 random bits in
24 URL-safe characters.

Verifying against a fixed dummy hash when the user does not exist makes "no such user" take
as long as "wrong password", so timing does not reveal which names exist.

Each hash takes about 19 MiB and a worker thread for tens of milliseconds, so at most
``HASH_SLOTS`` (4) run at once per :class:`Passwords` (one per ``Identity``, so one per API
process): a burst of 40 logins cannot take 760 MB or every thread of the pool. A hash that
cannot get a slot within ``HASH_WAIT_S`` (2 s) is not queued further: :class:`HashingBusy`
(a ``LoginThrottled``, so the API answers 429 with ``Retry-After: 1``) is raised instead.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from andon.core.errors import InputError
from andon.identity.errors import HashingBusy

TIME_COST = 2
MEMORY_COST_KIB = 19_456
PARALLELISM = 1
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
GENERATED_BYTES = 18
"""Random bytes in a generated password: 144 bits, 24 characters of base64url."""
HASH_SLOTS = 4
"""Password hashes (argon2, ~19 MiB each) that may run at once per ``Passwords``."""
HASH_WAIT_S = 2.0
"""How long a hash waits for a free slot before the request is refused (HashingBusy)."""
BUSY_RETRY_AFTER_S = 1.0

_T = TypeVar("_T")


def production_hasher() -> PasswordHasher:
    """The argon2id hasher andon uses outside tests (OWASP: t=2, m=19456 KiB, p=1)."""
    return PasswordHasher(
        time_cost=TIME_COST,
        memory_cost=MEMORY_COST_KIB,
        parallelism=PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def generate_password() -> str:
    """A random password (24 characters, 144 bits) for a person to store in a password manager."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def check_password(name: str, password: str) -> str:
    """Return ``password`` if the policy accepts it, else say what is wanted (never echo it)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(
            f"password too short: at least {MIN_PASSWORD_CHARS} characters "
            "(or leave it out and andon generates one)"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"password too long: at most {MAX_PASSWORD_CHARS} characters")
    if not _encodable(password):
        raise InputError("password contains characters that are not valid text (or NUL)")
    if password.strip().lower() == name.lower() or not password.strip():
        raise InputError("password must not be blank or the user's own name")
    return password


def _encodable(password: str) -> bool:
    """True if ``password`` is valid UTF-8 text without NUL (a hostile client may send either)."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in password


class Passwords:
    """Hash and verify passwords with one argon2id hasher, in constant-ish time."""

    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        slots: int = HASH_SLOTS,
        wait_s: float = HASH_WAIT_S,
    ) -> None:
        if slots < 1 or wait_s < 0:
            raise ValueError("hash slots must be at least 1 and the wait not negative")
        self._hasher = hasher or production_hasher()
        self._dummy: str | None = None
        self._slots = threading.BoundedSemaphore(slots)
        self._wait_s = wait_s

    def hash(self, password: str) -> str:
        """A new salted argon2id hash of ``password`` (HashingBusy if no slot comes free)."""
        return self._bounded(lambda: self._hasher.hash(password))

    def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; with no stored hash, spend the same time."""
        if stored is None or len(password) > MAX_PASSWORD_CHARS or not _encodable(password):
            dummy, filler = self._dummy_hash(), "x" * min(len(password), MAX_PASSWORD_CHARS)
            self._bounded(lambda: self._check(dummy, filler))
            return False
        return self._bounded(lambda: self._check(stored, password))

    def needs_rehash(self, stored: str) -> bool:
        """True if ``stored`` was made with other parameters than the hasher's."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def _dummy_hash(self) -> str:
        """A hash of a random password, made once: what "no such user" is checked against."""
        if self._dummy is None:
            self._dummy = self._bounded(lambda: self._hasher.hash(secrets.token_urlsafe(16)))
        return self._dummy

    def _bounded(self, work: Callable[[], _T]) -> _T:
        """Run one hash in a free slot; HashingBusy if none comes free within the wait."""
        if not self._slots.acquire(timeout=self._wait_s):
            raise HashingBusy(BUSY_RETRY_AFTER_S)
        try:
            return work()
        finally:
            self._slots.release()

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
