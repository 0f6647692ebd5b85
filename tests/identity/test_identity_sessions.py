"""Web sessions: new at each login, stored hashed, two timeouts, ended server-side."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.identity import Identity, InvalidCredentials, Principal, Role, WebSession
from andon.identity.schema import web_sessions
from andon.identity.sessions import secret_digest

PASSWORD = "correct horse battery"


@pytest.fixture
def ident(identity: Identity) -> Identity:
    identity.create_user("root", Role.ADMIN, actor="cli:root")
    identity.create_user("ann", Role.OPERATOR, PASSWORD, actor="cli:root")
    return identity


def log_in(ident: Identity) -> WebSession:
    return ident.start_session(ident.login("ann", PASSWORD, address="10.0.0.1"))


def test_each_login_gets_a_new_long_random_session(ident: Identity, clock: Any) -> None:
    first, second = log_in(ident), log_in(ident)
    assert first.secret != second.secret and first.csrf_token != second.csrf_token
    assert len(first.secret) >= 43  # 32 bytes of base64url: 256 bits
    assert first.expires_ns == clock.now + 30 * 60 * 10**9
    found = ident.session(first.secret)
    assert found.principal == Principal("ann", frozenset({Role.OPERATOR}), "user")
    assert found.csrf_token == first.csrf_token
    assert ident.session(second.secret).principal.name == "ann"


def test_only_the_hash_of_the_secret_is_stored(ident: Identity, engine: Engine) -> None:
    session = log_in(ident)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(web_sessions)).all()]
    assert len(rows) == 1
    assert secret_digest(session.secret) in rows[0]
    assert not any(session.secret in str(v) or session.csrf_token in str(v) for v in rows[0])


def test_forged_or_unknown_cookies_are_refused(ident: Identity) -> None:
    for cookie in ["", "forged", "x" * 5000, "andon_1_" + "A" * 43]:
        with pytest.raises(InvalidCredentials):
            ident.session(cookie)


def test_idle_timeout_is_30_minutes(ident: Identity, clock: Any) -> None:
    session = log_in(ident)
    clock.advance(29 * 60)
    assert ident.session(session.secret).expires_ns == clock.now + 30 * 60 * 10**9  # touched
    clock.advance(29 * 60)
    ident.session(session.secret)
    clock.advance(30 * 60)
    with pytest.raises(InvalidCredentials, match="expired"):
        ident.session(session.secret)
    with pytest.raises(InvalidCredentials):  # and it is gone, not just refused
        ident.session(session.secret)


def test_absolute_timeout_is_12_hours_however_busy(ident: Identity, clock: Any) -> None:
    session = log_in(ident)
    for _ in range(12 * 3 - 1):
        clock.advance(20 * 60)
        assert ident.session(session.secret).expires_ns <= session.expires_ns + 12 * 3600 * 10**9
    clock.advance(20 * 60)
    with pytest.raises(InvalidCredentials, match="expired"):
        ident.session(session.secret)


def test_logout_ends_the_session_and_is_audited(ident: Identity) -> None:
    session, other = log_in(ident), log_in(ident)
    ident.end_session(session.secret)
    ident.end_session(session.secret)  # twice is harmless
    with pytest.raises(InvalidCredentials):
        ident.session(session.secret)
    assert ident.session(other.secret).principal.name == "ann"
    assert [e.action for e in ident.audit.entries(category="auth")][-1] == "logout"


def test_disable_and_new_password_end_every_session(ident: Identity) -> None:
    first = log_in(ident)
    ident.set_password("ann", "another long password", actor="user:root")
    with pytest.raises(InvalidCredentials):
        ident.session(first.secret)
    second = ident.start_session(ident.login("ann", "another long password", address="x"))
    ident.disable_user("ann", actor="user:root")
    with pytest.raises(InvalidCredentials):
        ident.session(second.secret)
    with pytest.raises(InvalidCredentials):
        ident.start_session(Principal("ann", frozenset({Role.OPERATOR}), "user"))


def test_a_role_change_applies_to_a_live_session(ident: Identity) -> None:
    session = log_in(ident)
    ident.set_role("ann", Role.VIEWER, actor="user:root")
    assert ident.session(session.secret).principal.roles == {Role.VIEWER}


def test_tokens_cannot_open_web_sessions(ident: Identity) -> None:
    with pytest.raises(InvalidCredentials):
        ident.start_session(Principal("scada", frozenset({Role.VIEWER}), "token", token_id=1))
