"""argon2id with OWASP's parameters, and rehashing when they change."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from andon.identity import Identity, Role, production_hasher
from andon.identity.passwords import Passwords, generate_password
from andon.identity.schema import users


def test_production_hashes_are_argon2id_t2_m19456_p1(engine: Engine) -> None:
    identity = Identity(engine)  # the real parameters, once
    identity.create_user("ann", Role.VIEWER, "correct horse battery", actor="x")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert identity.login("ann", "correct horse battery", address="a").name == "ann"


def test_a_hash_with_old_parameters_is_upgraded_at_login(engine: Engine) -> None:
    old = Identity(
        engine, password_hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    old.create_user("ann", Role.VIEWER, "correct horse battery", actor="x")
    newer = Identity(
        engine, password_hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    )
    newer.login("ann", "correct horse battery", address="a")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert "$m=16,t=2,p=1$" in stored
    assert newer.audit.entries(category="auth")[0].details == {"rehashed": True}


def test_generated_passwords_are_long_and_distinct() -> None:
    made = {generate_password() for _ in range(100)}
    assert len(made) == 100 and all(len(p) >= 16 for p in made)


def test_verify_never_raises_on_a_damaged_hash() -> None:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    assert not passwords.verify("not a hash", "anything at all")
    assert passwords.needs_rehash("not a hash")
    assert production_hasher().memory_cost == 19456
