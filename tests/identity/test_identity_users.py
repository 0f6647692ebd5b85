"""Users: no defaults, names, roles, the last admin, and every change in the audit log."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.core.errors import InputError
from andon.identity import Identity, Role
from andon.identity.schema import users


def test_a_new_database_has_no_users_at_all(identity: Identity) -> None:
    assert identity.users() == []
    assert not identity.has_admin()


def test_create_user_generates_a_long_random_password_once(identity: Identity) -> None:
    first = identity.create_user("ann", Role.ADMIN, actor="cli:root")
    second = identity.create_user("bob", Role.VIEWER, actor="cli:root")
    assert len(first) >= 16 and len(second) >= 16 and first != second
    assert [(u.name, u.role, u.disabled) for u in identity.users()] == [
        ("ann", Role.ADMIN, False),
        ("bob", Role.VIEWER, False),
    ]
    assert identity.has_admin()


def test_a_chosen_password_is_returned_and_only_its_hash_is_stored(
    identity: Identity, engine: Engine
) -> None:
    assert identity.create_user("ann", Role.VIEWER, "correct horse battery", actor="x") == (
        "correct horse battery"
    )
    with engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


BAD_NAMES = ["", "Ann", "a b", "-rf", "x" * 65, "ann/../root", "ännchen", "ann\n"]
WEAK = [
    ("ann", "tiny-pw-9", "too short"),
    ("ann", " " * 20, "blank"),
    ("ann", "x" * 257, "too long"),
    ("line.1-operator", "Line.1-Operator", "own name"),
]


def test_bad_names_and_weak_passwords_are_refused_without_echoing(identity: Identity) -> None:
    for name in BAD_NAMES:
        with pytest.raises(InputError, match="lowercase letters"):
            identity.create_user(name, Role.VIEWER, actor="x")
    for name, password, why in WEAK:
        with pytest.raises(InputError, match=why) as err:
            identity.create_user(name, Role.VIEWER, password, actor="x")
        assert not password.strip() or password not in str(err.value)
    assert identity.users() == [] and identity.audit.entries() == []


def test_duplicates_unknown_users_and_unknown_roles_are_input_errors(identity: Identity) -> None:
    identity.create_user("ann", Role.ADMIN, actor="x")
    with pytest.raises(InputError, match="already exists"):
        identity.create_user("ann", Role.VIEWER, actor="x")
    with pytest.raises(InputError, match="no user named 'zed'"):
        identity.set_role("zed", Role.VIEWER, actor="x")
    with pytest.raises(InputError, match="unknown role 'boss'"):
        identity.create_user("bob", "boss", actor="x")  # type: ignore[arg-type]


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(identity: Identity) -> None:
    identity.create_user("ann", Role.ADMIN, actor="x")
    with pytest.raises(InputError, match="last enabled admin"):
        identity.disable_user("ann", actor="x")
    with pytest.raises(InputError, match="last enabled admin"):
        identity.set_role("ann", Role.ENGINEER, actor="x")
    identity.create_user("bob", Role.ADMIN, actor="x")
    identity.set_role("ann", Role.ENGINEER, actor="x")
    identity.enable_user("ann", actor="x")
    assert {u.name: u.role for u in identity.users()} == {"ann": Role.ENGINEER, "bob": Role.ADMIN}


def test_every_account_change_is_audited_without_secrets(identity: Identity) -> None:
    pw = identity.create_user("ann", Role.ADMIN, actor="cli:root")
    identity.create_user("bob", Role.VIEWER, "a long enough pass", actor="user:ann", source="api")
    new_pw = identity.set_password("bob", actor="user:ann", source="api")
    identity.set_role("bob", Role.OPERATOR, actor="user:ann", source="api")
    identity.disable_user("bob", actor="user:ann", source="api")
    identity.enable_user("bob", actor="user:ann", source="api")
    entries = identity.audit.entries()
    assert [(e.actor, e.source, e.category, e.action, e.target) for e in entries] == [
        ("cli:root", "cli", "identity", "create_user", "ann"),
        ("user:ann", "api", "identity", "create_user", "bob"),
        ("user:ann", "api", "identity", "set_password", "bob"),
        ("user:ann", "api", "identity", "set_role", "bob"),
        ("user:ann", "api", "identity", "disable_user", "bob"),
        ("user:ann", "api", "identity", "enable_user", "bob"),
    ]
    assert entries[3].details == {"from": "viewer", "to": "operator"}
    text = repr(entries)
    assert pw not in text and new_pw not in text and "a long enough pass" not in text
    assert identity.audit.verify().ok


def test_a_failed_write_leaves_no_audit_entry(identity: Identity) -> None:
    identity.create_user("ann", Role.ADMIN, actor="x")
    with pytest.raises(InputError):
        identity.disable_user("ann", actor="x")
    assert [e.action for e in identity.audit.entries()] == ["create_user"]
