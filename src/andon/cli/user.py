"""``andon user``: people who log in to the dashboard and API.

There are no default accounts: ``andon user create NAME --role admin`` makes the first admin on
a new database. A generated password is printed once, here, and never again (only its argon2id
hash is kept); ``--password-stdin`` takes one from a pipe instead, so it never appears in the
shell history or the process list. Every command is recorded in the audit log as
``cli:<os user>``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.table import Table

from andon.cli.audit import DbOption, cli_actor, opened_engine
from andon.cli.console import console, reported
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.identity import Identity, Role

app = typer.Typer(help="Create and manage users (no default accounts).", no_args_is_help=True)

RoleOption = typer.Option(..., "--role", case_sensitive=False, help="viewer ... admin")
StdinOption = typer.Option(
    False, "--password-stdin", help="Read the password from standard input (else generate one)."
)


@contextmanager
def identity_for(db: str | None, *, create: bool) -> Iterator[Identity]:
    """An Identity on the command's database (created if ``create`` and it is a new file)."""
    with opened_engine(db, create=create) as engine:
        yield Identity(engine)


def read_password() -> str:
    """One line from standard input, the line ending removed."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InputError("--password-stdin: no password on standard input")
    return password


def show_secret(what: str, secret: str) -> None:
    """Print a secret the one time it can be seen, unmistakably."""
    console.print(f"[bold yellow]{what} (shown once; store it now, it cannot be shown again):[/]")
    typer.echo(f"  {secret}")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Lowercase letters, digits, '.', '_' or '-'."),
    role: Role = RoleOption,
    password_stdin: bool = StdinOption,
    db: str | None = DbOption,
) -> None:
    """Add a user; prints a generated password once unless --password-stdin."""
    with reported():
        password = read_password() if password_stdin else None
        with identity_for(db, create=True) as identity:
            shown = identity.create_user(name, role, password, actor=cli_actor(), source="cli")
            no_admin = not identity.has_admin()
        console.print(f"[green]created[/] user {name} with role {role.value}", markup=True)
        if password is None:
            show_secret(f"password for {name}", shown)
        if no_admin:
            console.print("[yellow]no admin yet:[/] andon user create NAME --role admin")


@app.command("list")
def list_users(db: str | None = DbOption) -> None:
    """Every user with role, status, creation and last login."""
    with reported():
        with identity_for(db, create=False) as identity:
            found = identity.users()
            identity.audit.record(
                actor=cli_actor(), source="cli", category="identity", action="list_users"
            )
        table = Table(title=f"{len(found)} user(s)", title_justify="left")
        for col in ("name", "role", "status", "created", "last login"):
            table.add_column(col)
        for u in found:
            last = iso(u.last_login_ns) if u.last_login_ns is not None else "never"
            status = "disabled" if u.disabled else "active"
            table.add_row(u.name, u.role.value, status, iso(u.created_ns), last)
        console.print(table)


@app.command("disable")
def disable(name: str = typer.Argument(...), db: str | None = DbOption) -> None:
    """Stop NAME from logging in and end their sessions now."""
    with reported():
        with identity_for(db, create=False) as identity:
            identity.disable_user(name, actor=cli_actor(), source="cli")
        console.print(f"[green]disabled[/] {name}; their sessions have ended")


@app.command("enable")
def enable(name: str = typer.Argument(...), db: str | None = DbOption) -> None:
    """Let a disabled user log in again."""
    with reported():
        with identity_for(db, create=False) as identity:
            identity.enable_user(name, actor=cli_actor(), source="cli")
        console.print(f"[green]enabled[/] {name}")


@app.command("password")
def password(
    name: str = typer.Argument(...),
    password_stdin: bool = StdinOption,
    db: str | None = DbOption,
) -> None:
    """Give NAME a new password (generated unless --password-stdin); ends their sessions."""
    with reported():
        chosen = read_password() if password_stdin else None
        with identity_for(db, create=False) as identity:
            shown = identity.set_password(name, chosen, actor=cli_actor(), source="cli")
        console.print(f"[green]new password set[/] for {name}; their sessions have ended")
        if chosen is None:
            show_secret(f"password for {name}", shown)


@app.command("role")
def role(
    name: str = typer.Argument(...),
    new_role: Role = typer.Argument(..., case_sensitive=False, metavar="ROLE"),
    db: str | None = DbOption,
) -> None:
    """Change NAME's role (takes effect on their next request)."""
    with reported():
        with identity_for(db, create=False) as identity:
            identity.set_role(name, new_role, actor=cli_actor(), source="cli")
        console.print(f"[green]{name}[/] is now {new_role.value}")
