"""Identity fixtures: a fresh database of each engine, a hand-driven clock, a fast hasher.

argon2 is slow by design; tests use t=1, m=8 KiB (``FAST``) and test the production
parameters once (tests/identity/test_passwords.py).
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from andon.core.clock import NS_PER_S, parse_time
from andon.identity import Identity

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
T0 = parse_time("2026-11-24T06:00:00Z")


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * NS_PER_S)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def identity(engine: Engine, clock: Clock) -> Identity:
    return Identity(engine, clock=clock, password_hasher=FAST)
