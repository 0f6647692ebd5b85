"""``andon user`` and ``andon token``: secrets shown once, errors without tracebacks, audited."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from andon.cli.audit import cli_actor
from andon.cli.token import app as token_app
from andon.cli.user import app as user_app
from andon.historian.engine import open_engine
from andon.identity import Identity, Role

runner = CliRunner()
TOKEN = re.compile(r"andon_\d+_[A-Za-z0-9_-]{43}")


@pytest.fixture
def db(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/andon.db"


def user(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(user_app, list(args), input=stdin)


def token(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(token_app, list(args))


def identity(db: str) -> Identity:
    engine, _ = open_engine(db)
    return Identity(engine)


def test_the_first_admin_gets_a_generated_password_printed_once(db: str) -> None:
    r = user("create", "ann", "--role", "admin", "--db", db)
    assert r.exit_code == 0, r.output
    assert "shown once" in r.output
    password = r.output.strip().splitlines()[-1].strip()
    assert len(password) >= 16
    assert identity(db).login("ann", password, address="cli-test").name == "ann"
    r = user("list", "--db", db)
    assert r.exit_code == 0 and "ann" in r.output and password not in r.output


def test_password_from_stdin_is_not_printed(db: str) -> None:
    r = user(
        "create",
        "bob",
        "--role",
        "viewer",
        "--password-stdin",
        "--db",
        db,
        stdin="s3cret-and-long\n",
    )
    assert r.exit_code == 0, r.output
    assert "s3cret" not in r.output and "no admin yet" in r.output
    assert identity(db).login("bob", "s3cret-and-long", address="x").roles == {Role.VIEWER}
    r = user("password", "bob", "--password-stdin", "--db", db, stdin="another-long-one\n")
    assert r.exit_code == 0, r.output
    assert identity(db).login("bob", "another-long-one", address="x").name == "bob"


def test_role_disable_enable_and_password_reset(db: str) -> None:
    user("create", "ann", "--role", "admin", "--db", db)
    user("create", "bob", "--role", "viewer", "--db", db)
    assert user("role", "bob", "ENGINEER", "--db", db).exit_code == 0
    assert user("disable", "bob", "--db", db).exit_code == 0
    assert [(u.name, u.role, u.disabled) for u in identity(db).users()] == [
        ("ann", Role.ADMIN, False),
        ("bob", Role.ENGINEER, True),
    ]
    assert user("enable", "bob", "--db", db).exit_code == 0
    r = user("password", "bob", "--db", db)
    new = r.output.strip().splitlines()[-1].strip()
    assert identity(db).login("bob", new, address="x").name == "bob"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "Ann Smith", "--role", "admin"], "lowercase letters"),
        (["role", "zed", "viewer"], "no user named 'zed'"),
        (["disable", "ann"], "last enabled admin"),
        (["create", "ann", "--role", "admin"], "already exists"),
    ],
)
def test_mistakes_are_one_line_errors_not_tracebacks(
    db: str, args: list[str], message: str
) -> None:
    user("create", "ann", "--role", "admin", "--db", db)
    r = user(*args, "--db", db)
    assert r.exit_code == 1
    assert message in r.output and "Traceback" not in r.output


def test_reading_a_missing_database_says_so(tmp_path: object) -> None:
    r = user("list", "--db", f"sqlite:///{tmp_path}/nothing.db")
    assert r.exit_code == 1 and "no database at" in r.output


def test_a_token_is_printed_once_and_can_be_revoked(db: str) -> None:
    r = token(
        "create", "scada", "--role", "viewer", "--role", "operator", "--expires", "30d", "--db", db
    )
    assert r.exit_code == 0, r.output
    (secret,) = TOKEN.findall(r.output)
    principal = identity(db).authenticate_token(secret)
    assert principal.roles == {Role.VIEWER, Role.OPERATOR}
    r = token("list", "--db", db)
    assert r.exit_code == 0 and "scada" in r.output and "active" in r.output
    # the secret is what follows "andon_<id>_" (it may hold "_" itself)
    assert secret not in r.output and secret.split("_", 2)[2] not in r.output
    assert token("revoke", str(principal.token_id), "--db", db).exit_code == 0
    assert "revoked" in token("list", "--db", db).output


def test_token_mistakes_are_reported(db: str) -> None:
    r = token("create", "scada", "--role", "viewer", "--expires", "2y", "--db", db)
    assert r.exit_code == 1 and "--expires" in r.output
    r = token("create", "scada", "--role", "viewer", "--expires", "400d", "--db", db)
    assert r.exit_code == 1 and "365 days" in r.output
    r = token("revoke", "42", "--db", db)
    assert r.exit_code == 1 and "no API token with id 42" in r.output


def test_every_command_is_audited_as_the_os_user(db: str) -> None:
    user("create", "ann", "--role", "admin", "--db", db)
    user("list", "--db", db)
    token("create", "scada", "--role", "viewer", "--db", db)
    token("list", "--db", db)
    entries = identity(db).audit.entries()
    assert {(e.actor, e.source) for e in entries} == {(cli_actor(), "cli")}
    assert [e.action for e in entries] == [
        "create_user",
        "list_users",
        "create_token",
        "list_tokens",
    ]


@pytest.mark.postgres
def test_user_commands_work_on_postgresql(pg_schema_url: str) -> None:
    assert user("create", "ann", "--role", "admin", "--db", pg_schema_url).exit_code == 0
    assert "ann" in user("list", "--db", pg_schema_url).output
