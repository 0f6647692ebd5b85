"""Findings of the security review: audit flooding, logout, background requests, hash load."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from andon.identity import Identity, InvalidCredentials, LoginFailed, LoginThrottled, Role
from andon.identity.throttle import address_key, record_failure

PASSWORD = "correct horse battery"
ATTACKER = "203.0.113.9"


@pytest.fixture
def ident(identity: Identity) -> Identity:
    identity.create_user("root", Role.ADMIN, actor="cli:root")
    identity.create_user("ann", Role.OPERATOR, PASSWORD, actor="cli:root")
    return identity


def denied(ident: Identity) -> list[Any]:
    return [e for e in ident.audit.entries(category="auth", limit=10_000) if e.result == "denied"]


def lock_out_address(ident: Identity, address: str = ATTACKER) -> None:
    for i in range(30):
        with pytest.raises(LoginFailed):
            ident.login(f"guess{i}", "wrong password!", address=address)


# -- 2. throttle notes are bounded per address ---------------------------------------------


def test_a_throttled_address_cannot_flood_the_audit_log_with_new_names(
    ident: Identity, clock: Any
) -> None:
    lock_out_address(ident)
    before = len(ident.audit.entries(limit=10_000))
    for i in range(300):
        with pytest.raises(LoginThrottled):
            ident.login(f"made-up-{i}", PASSWORD, address=ATTACKER)
        clock.advance(1)  # five minutes of tries, still inside the address's lock-out
    notes = denied(ident)
    assert len(ident.audit.entries(limit=10_000)) - before == len(notes) == 1
    assert notes[0].details["limit"] == "address" and notes[0].source == ATTACKER


def test_throttle_notes_are_at_most_one_a_minute_per_address_and_count_the_rest(
    ident: Identity, engine: Engine, clock: Any
) -> None:
    """Account lock-outs of many names tried from one address: one note a minute, counted."""
    names = [f"victim{i}" for i in range(20)]
    with engine.begin() as conn:  # each name: 12 failures from elsewhere, a 128 s back-off
        for i, name in enumerate(names):
            for n in range(12):
                record_failure(conn, account=name, address=f"10.1.{i}.{n}", now_ns=clock.now)
    for _ in range(2):  # one address tries every locked name, twice, a minute apart
        for name in names:
            with pytest.raises(LoginThrottled):
                ident.login(name, PASSWORD, address=ATTACKER)
        clock.advance(61)
    notes = denied(ident)
    assert [(n.target, n.details["suppressed"]) for n in notes] == [
        ("victim0", 0),
        ("victim1", 20),  # the 19 others of the first minute and victim0's repeat
    ]
    assert all(n.details["limit"] == "account" for n in notes)


def test_each_address_gets_its_own_note(ident: Identity) -> None:
    for _ in range(5):
        with pytest.raises(LoginFailed):
            ident.login("ann", "wrong password!", address="10.0.0.1")
    for address in ("10.0.0.1", "10.0.0.2"):
        with pytest.raises(LoginThrottled):
            ident.login("ann", PASSWORD, address=address)
    assert [e.source for e in denied(ident)] == ["10.0.0.1", "10.0.0.2"]


# -- 3. logout: the client's address, in one transaction -----------------------------------


def test_logout_is_audited_with_the_client_address(ident: Identity) -> None:
    session = ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))
    ident.end_session(session.secret, address="10.0.0.7")
    entry = ident.audit.entries(category="auth", newest_first=True, limit=1)[0]
    assert (entry.action, entry.actor, entry.source, entry.target) == (
        "logout",
        "user:ann",
        "10.0.0.7",
        "ann",
    )
    other = ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))
    ident.end_session(other.secret)  # no address given (older callers): "api" as before
    assert ident.audit.entries(category="auth", newest_first=True, limit=1)[0].source == "api"


def test_logout_and_its_audit_entry_commit_together(
    ident: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))
    count = len(ident.audit.entries(limit=10_000))

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("audit write failed")

    monkeypatch.setattr(ident.audit, "append", broken)
    with pytest.raises(RuntimeError):
        ident.end_session(session.secret, address="10.0.0.1")
    monkeypatch.undo()
    assert ident.session(session.secret).principal.name == "ann"  # not ended unrecorded
    assert len(ident.audit.entries(limit=10_000)) == count
    ident.end_session(session.secret, address="10.0.0.1")
    with pytest.raises(InvalidCredentials):
        ident.session(session.secret)
    assert ident.audit.verify().ok


# -- 4. background requests do not keep a session alive -------------------------------------


def test_background_requests_do_not_refresh_the_idle_timeout(ident: Identity, clock: Any) -> None:
    session = ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))
    for _ in range(29):  # a dashboard polling every minute, nobody at the keyboard
        clock.advance(60)
        found = ident.session(session.secret, touch=False)
        assert found.principal.name == "ann" and found.expires_ns == session.expires_ns
    clock.advance(60)
    with pytest.raises(InvalidCredentials, match="expired"):
        ident.session(session.secret, touch=False)
    with pytest.raises(InvalidCredentials):
        ident.session(session.secret)


def test_a_real_request_still_refreshes_and_touch_false_still_checks(
    ident: Identity, clock: Any
) -> None:
    session = ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))
    clock.advance(20 * 60)
    ident.session(session.secret)  # the user clicked: idle clock restarts
    clock.advance(20 * 60)
    assert ident.session(session.secret, touch=False).principal.name == "ann"
    for _ in range(35):  # the absolute timeout holds for background requests too
        clock.advance(20 * 60)
        try:
            ident.session(session.secret)
        except InvalidCredentials:
            break
    with pytest.raises(InvalidCredentials):
        ident.session(session.secret, touch=False)
    other = ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))
    ident.disable_user("ann", actor="user:root")
    with pytest.raises(InvalidCredentials):
        ident.session(other.secret, touch=False)


# -- 5. a bounded number of password hashes at once -----------------------------------------


class GatedHasher(PasswordHasher):
    """The fast test hasher, recording how many hashes run at once; can be held shut."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.gate = threading.Event()
        self.gate.set()

    def _run(self, call: Any) -> Any:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.gate.wait(10)
            time.sleep(0.01)
            return call()
        finally:
            with self.lock:
                self.active -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        return str(self._run(lambda: super(GatedHasher, self).hash(password, salt=salt)))

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        return bool(self._run(lambda: super(GatedHasher, self).verify(hash, password)))


def test_no_more_than_the_configured_hashes_run_at_once(engine: Engine, clock: Any) -> None:
    hasher = GatedHasher()
    ident = Identity(engine, clock=clock, password_hasher=hasher, hash_slots=2, hash_wait_s=10)
    ident.create_user("ann", Role.OPERATOR, PASSWORD, actor="cli:root")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            ident.login("ann", PASSWORD if i % 2 else "wrong password!", address=f"10.0.0.{i}")
        except LoginFailed:
            pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    hasher.gate.clear()  # hashes hold their slot until the gate opens
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while hasher.active < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # time for any more to get in, if the bound did not hold
    assert hasher.active == 2
    hasher.gate.set()
    for t in threads:
        t.join()
    assert errors == [] and hasher.peak == 2


def test_a_login_that_cannot_get_a_hash_slot_is_throttled_not_queued(
    engine: Engine, clock: Any
) -> None:
    hasher = GatedHasher()
    ident = Identity(engine, clock=clock, password_hasher=hasher, hash_slots=1, hash_wait_s=0.2)
    ident.create_user("ann", Role.OPERATOR, PASSWORD, actor="cli:root")
    before = len(ident.audit.entries())
    hasher.gate.clear()  # the one slot is taken by a slow login
    slow = threading.Thread(target=ident.login, args=("ann", PASSWORD), kwargs={"address": "a"})
    slow.start()
    while hasher.active == 0:
        time.sleep(0.005)
    started = time.monotonic()
    with pytest.raises(LoginThrottled) as err:
        ident.login("ann", PASSWORD, address="10.0.0.2")
    assert err.value.retry_after_s == 1 and time.monotonic() - started < 2
    with pytest.raises(LoginThrottled):
        ident.set_password("ann", "another long password", actor="cli:root")
    with pytest.raises(LoginThrottled):
        ident.create_user("bob", Role.VIEWER, actor="cli:root")
    hasher.gate.set()
    slow.join()
    entries = ident.audit.entries()
    assert [e.action for e in entries[before:]] == ["login"]  # busy refusals: no entry, no count
    assert ident.login("ann", PASSWORD, address="10.0.0.2").name == "ann"


# -- 5. IPv6 clients are limited per /64 -----------------------------------------------------


def test_address_keys_group_ipv6_by_64_and_leave_ipv4_alone() -> None:
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key(" 203.0.113.9 ") == "203.0.113.9"
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:DB8:1:2:ffff:eeee:dddd:cccc") == "2001:db8:1:2::/64"
    assert address_key("[2001:db8:1:2::5]") == "2001:db8:1:2::/64"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"  # IPv4 on a dual-stack socket
    assert address_key("testclient") == "testclient"
    assert address_key("") == ""


def test_an_ipv6_attacker_cannot_escape_the_address_limit_by_rotating_within_a_64(
    ident: Identity,
) -> None:
    for i in range(30):
        with pytest.raises(LoginFailed):
            ident.login(f"guess{i}", "wrong password!", address=f"2001:db8:1:2::{i + 1:x}")
    with pytest.raises(LoginThrottled):
        ident.login("ann", PASSWORD, address="2001:db8:1:2:abcd::99")
    assert ident.login("ann", PASSWORD, address="2001:db8:1:3::1").name == "ann"
    sources = {e.source for e in ident.audit.entries(category="auth", limit=100)}
    assert "2001:db8:1:2::1" in sources  # the audit keeps the full address
