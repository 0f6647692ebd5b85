"""``andon token``: API tokens for machines and integrations.

A token belongs to an integration name (``scada``, ``mes-bridge``), carries the roles it is
given and nothing more, always expires (default 90 days, at most a year) and can be revoked at
once. It is printed a single time; andon keeps only its SHA-256. Every command is recorded in
the audit log as ``cli:<os user>``.
"""

from __future__ import annotations

import typer
from rich.table import Table

from andon.cli.audit import DbOption, cli_actor
from andon.cli.console import console, reported
from andon.cli.user import identity_for, show_secret
from andon.core.clock import NS_PER_S, iso, now_ns, parse_duration
from andon.identity import Role

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def _seconds(ns: int) -> str:
    """A table's time: UTC to the second (the full precision is in the audit log)."""
    return iso(ns)[:19] + "Z"


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The integration using it, e.g. scada."),
    roles: list[Role] = typer.Option(
        ..., "--role", case_sensitive=False, help="A role it acts under; repeat for more."
    ),
    expires: str = typer.Option("90d", "--expires", help="Lifetime: 30d, 12h ... at most 365d."),
    db: str | None = DbOption,
) -> None:
    """Make a token and print it once."""
    with reported():
        lifetime = parse_duration(expires, field="--expires")
        with identity_for(db, create=True) as identity:
            token_id, token = identity.create_token(
                name, roles, expires_in_s=lifetime, actor=cli_actor(), source="cli"
            )
        until = iso(now_ns() + round(lifetime * NS_PER_S))
        names = ", ".join(sorted(r.value for r in roles))
        console.print(f"[green]created[/] token {token_id} for {name} ({names}; expires {until})")
        show_secret("token", token)


@app.command("list")
def list_tokens(db: str | None = DbOption) -> None:
    """Every token with roles, status and dates; never a secret."""
    with reported():
        with identity_for(db, create=False) as identity:
            found = identity.tokens()
            identity.audit.record(
                actor=cli_actor(), source="cli", category="identity", action="list_tokens"
            )
        now = now_ns()
        table = Table(title=f"{len(found)} token(s)", title_justify="left")
        for col in ("id", "name", "roles", "status", "created", "expires", "last used", "by"):
            table.add_column(col, justify="right" if col == "id" else "left")
        for t in found:
            table.add_row(
                str(t.id),
                t.name,
                ",".join(sorted(r.value for r in t.roles)),
                t.status(now),
                _seconds(t.created_ns),
                _seconds(t.expires_ns),
                _seconds(t.last_used_ns) if t.last_used_ns is not None else "never",
                t.created_by,
            )
        console.print(table)


@app.command("revoke")
def revoke(
    token_id: int = typer.Argument(..., metavar="ID", help="The id from `andon token list`."),
    db: str | None = DbOption,
) -> None:
    """End a token at once."""
    with reported():
        with identity_for(db, create=False) as identity:
            identity.revoke_token(token_id, actor=cli_actor(), source="cli")
        console.print(f"[green]revoked[/] token {token_id}")
