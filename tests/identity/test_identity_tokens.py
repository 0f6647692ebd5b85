"""API tokens: shown once, stored as SHA-256, scoped to roles, expiring, revocable."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.errors import InputError
from andon.identity import Identity, InvalidCredentials, Principal, Role
from andon.identity.schema import api_tokens

DAY = 86400.0


def test_a_token_is_shown_once_and_stored_only_as_its_sha256(
    identity: Identity, engine: Engine
) -> None:
    token_id, token = identity.create_token(
        "scada", [Role.VIEWER], expires_in_s=90 * DAY, actor="cli:root"
    )
    prefix, number, secret = token.split("_", 2)
    assert (prefix, int(number)) == ("andon", token_id)
    assert len(secret) == 43  # 256 bits
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens)).one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(v) for v in row)
    assert secret not in repr(identity.tokens()) and secret not in repr(identity.audit.entries())


def test_a_token_proves_an_integration_with_exactly_its_roles(
    identity: Identity, clock: Any
) -> None:
    token_id, token = identity.create_token(
        "mes-bridge", [Role.VIEWER, "engineer"], expires_in_s=DAY, actor="cli:root"
    )
    principal = identity.authenticate_token(token)
    assert principal == Principal(
        "mes-bridge", frozenset({Role.VIEWER, Role.ENGINEER}), "token", token_id=token_id
    )
    assert principal.actor == f"token:mes-bridge#{token_id}"
    (info,) = identity.tokens()
    assert (info.name, info.roles, info.last_used_ns) == ("mes-bridge", principal.roles, clock.now)
    assert info.status(clock.now) == "active" and info.created_by == "cli:root"


def test_expired_and_revoked_tokens_stop_working(identity: Identity, clock: Any) -> None:
    short_id, short = identity.create_token("a", [Role.VIEWER], expires_in_s=60, actor="x")
    long_id, long = identity.create_token("b", [Role.VIEWER], expires_in_s=DAY, actor="x")
    clock.advance(60)
    with pytest.raises(InvalidCredentials, match="expired"):
        identity.authenticate_token(short)
    identity.revoke_token(long_id, actor="cli:root")
    identity.revoke_token(long_id, actor="cli:root")  # twice: nothing more happens
    with pytest.raises(InvalidCredentials, match="revoked"):
        identity.authenticate_token(long)
    statuses = {t.id: t.status(clock.now) for t in identity.tokens()}
    assert statuses == {short_id: "expired", long_id: "revoked"}
    actions = [e.action for e in identity.audit.entries()]
    assert actions == ["create_token", "create_token", "revoke_token"]
    with pytest.raises(InputError, match="no API token with id 99"):
        identity.revoke_token(99, actor="x")


def test_forged_tokens_are_refused(identity: Identity) -> None:
    token_id, token = identity.create_token("a", [Role.ADMIN], expires_in_s=DAY, actor="x")
    secret = token.split("_", 2)[2]
    wrong = "A" * 43 if secret != "A" * 43 else "B" * 43
    for forged in [
        "",
        "andon",
        f"andon_{token_id}_{wrong}",
        f"andon_{token_id + 1}_{secret}",
        f"andon_0_{secret}",
        token + "x",
        "Bearer " + token,
        "andon_" + "9" * 40 + "_" + secret,
    ]:
        with pytest.raises(InvalidCredentials):
            identity.authenticate_token(forged)


def test_tokens_need_roles_and_an_expiry_within_a_year(identity: Identity) -> None:
    cases: list[tuple[list[Any], float, str]] = [
        ([], DAY, "at least one role"),
        (["root"], DAY, "unknown role"),
        ([Role.VIEWER], 0, "expiry"),
        ([Role.VIEWER], 366 * DAY, "expiry"),
        ([Role.VIEWER], float("inf"), "expiry"),
    ]
    for roles, expires, message in cases:
        with pytest.raises(InputError, match=message):
            identity.create_token("a", roles, expires_in_s=expires, actor="x")
    with pytest.raises(InputError, match="token name"):
        identity.create_token("Bad Name", [Role.VIEWER], expires_in_s=DAY, actor="x")
    assert identity.tokens() == []
