"""Logins: one answer for every failure, throttling per account and per address."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from andon.identity import Identity, InvalidCredentials, LoginFailed, LoginThrottled, Role
from andon.identity.throttle import record_failure, retry_after_s

PASSWORD = "correct horse battery"


class CountingHasher(PasswordHasher):
    """The fast test hasher, counting how often a password is verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def ident(engine: Engine, clock: Any, hasher: CountingHasher) -> Identity:
    identity = Identity(engine, clock=clock, password_hasher=hasher)
    identity.create_user("ann", Role.OPERATOR, PASSWORD, actor="cli:root")
    return identity


def fail(ident: Identity, name: str = "ann", address: str = "10.0.0.1") -> None:
    with pytest.raises(LoginFailed):
        ident.login(name, "wrong password!", address=address)


def test_a_good_login_gives_the_users_principal(ident: Identity, clock: Any) -> None:
    principal = ident.login("ann", PASSWORD, address="10.0.0.1")
    assert (principal.name, principal.roles, principal.kind) == ("ann", {Role.OPERATOR}, "user")
    assert ident.users()[0].last_login_ns == clock.now


def test_unknown_user_wrong_password_and_disabled_look_the_same(
    ident: Identity, hasher: CountingHasher
) -> None:
    ident.create_user("root", Role.ADMIN, actor="x")
    ident.disable_user("ann", actor="x")
    messages = []
    for name, password in [("nobody", PASSWORD), ("root", PASSWORD), ("ann", PASSWORD)]:
        before = hasher.verified
        with pytest.raises(LoginFailed) as err:
            ident.login(name, password, address="10.0.0.1")
        assert hasher.verified == before + 1  # a hash is checked every time (dummy if no user)
        messages.append(str(err.value))
    assert len(set(messages)) == 1 and "wrong user name or password" in messages[0]
    reasons = [e.details["reason"] for e in ident.audit.entries(category="auth")]
    assert reasons == ["unknown user", "password", "disabled"]


def test_account_back_off_grows_exponentially_and_skips_the_password(
    ident: Identity, clock: Any, hasher: CountingHasher
) -> None:
    for _ in range(5):
        fail(ident)
    checked = hasher.verified
    with pytest.raises(LoginThrottled) as err:
        ident.login("ann", PASSWORD, address="10.0.0.2")  # even the right password, elsewhere
    assert err.value.retry_after_s == pytest.approx(1.0)
    assert hasher.verified == checked  # throttled: the password was not even looked at
    clock.advance(1)
    fail(ident)  # sixth failure: now 2 s
    with pytest.raises(LoginThrottled) as err:
        ident.login("ann", PASSWORD, address="10.0.0.1")
    assert err.value.retry_after_s == pytest.approx(2.0)
    clock.advance(2)
    assert ident.login("ann", PASSWORD, address="10.0.0.1").name == "ann"
    for _ in range(5):  # success cleared the count: five free failures again
        fail(ident)


def test_throttled_attempts_are_audited_once_per_lockout(ident: Identity, clock: Any) -> None:
    for _ in range(5):
        fail(ident)
    for _ in range(3):
        with pytest.raises(LoginThrottled):
            ident.login("ann", PASSWORD, address="10.0.0.1")
    results = [e.result for e in ident.audit.entries(category="auth")]
    assert results == ["failed"] * 5 + ["denied"]


def test_unknown_names_are_throttled_like_real_ones(ident: Identity) -> None:
    for _ in range(5):
        fail(ident, "nobody")
    with pytest.raises(LoginThrottled):
        ident.login("nobody", PASSWORD, address="10.0.0.1")


def test_back_off_is_capped_at_15_minutes(engine: Engine, clock: Any) -> None:
    with engine.begin() as conn:
        for _ in range(30):
            record_failure(conn, account="ann", address="a", now_ns=clock.now)
        assert retry_after_s(conn, account="ann", address="b", now_ns=clock.now) == 900.0


def test_never_more_than_100_failures_an_hour(engine: Engine, clock: Any) -> None:
    start = clock.now
    with engine.begin() as conn:
        for i in range(100):  # one every 20 s: 33 minutes
            record_failure(
                conn, account="ann", address=f"10.0.{i}.1", now_ns=start + i * 20 * 10**9
            )
        now = start + 99 * 20 * 10**9 + 15 * 60 * 10**9 + 10**9  # the 15-minute window is empty
        wait = retry_after_s(conn, account="ann", address="x", now_ns=now)
    assert wait == pytest.approx((start + 3600 * 10**9 - now) / 1e9)


def test_one_address_is_throttled_after_30_failures_over_any_names(
    ident: Identity, clock: Any
) -> None:
    for i in range(30):
        fail(ident, f"guess{i}", address="203.0.113.9")
        clock.advance(1)
    with pytest.raises(LoginThrottled) as err:
        ident.login("ann", PASSWORD, address="203.0.113.9")
    assert err.value.retry_after_s == pytest.approx(15 * 60 - 30)
    assert ident.login("ann", PASSWORD, address="198.51.100.7").name == "ann"
    clock.advance(15 * 60 - 30)
    assert ident.login("ann", PASSWORD, address="203.0.113.9").name == "ann"


def test_throttle_state_is_shared_through_the_database(
    ident: Identity, engine: Engine, clock: Any
) -> None:
    for _ in range(5):
        fail(ident)
    other_process = Identity(engine, clock=clock, password_hasher=PasswordHasher(1, 8, 1))
    with pytest.raises(LoginThrottled):
        other_process.login("ann", PASSWORD, address="10.0.0.9")


def test_login_audit_never_holds_the_password(ident: Identity) -> None:
    fail(ident)
    ident.login("ann", PASSWORD, address="10.0.0.1")
    entries: list[Any] = ident.audit.entries()
    assert "wrong password!" not in repr(entries) and PASSWORD not in repr(entries)
    assert [(e.action, e.result, e.source) for e in entries[1:]] == [
        ("login", "failed", "10.0.0.1"),
        ("login", "ok", "10.0.0.1"),
    ]


def test_hostile_input_is_a_clean_failure_never_a_crash(ident: Identity) -> None:
    for name, password in [
        ("ann\x00", PASSWORD),
        ("\ud800", PASSWORD),
        ("x" * 10_000, PASSWORD),
        ("ann", "\ud800" * 20),
        ("ann", "pass\x00word-long-enough"),
        ("ann", "y" * 100_000),
        ("' OR 1=1 --", PASSWORD),
    ]:
        with pytest.raises(LoginFailed):
            ident.login(name, password, address="\x00evil\ud800")
    assert ident.audit.verify().ok
    for cookie in ["\ud800", "é" * 10, "\x00"]:
        with pytest.raises(InvalidCredentials):
            ident.session(cookie)
        ident.end_session(cookie)
