"""``andon audit``: prove the audit log untouched, and read it.

Also home of what every security command shares: who the command-line actor is
(``cli:<os user>``, the name the audit log records for commands typed on the server) and how
the database is opened for them. Reading the audit log is itself recorded, since who looked at
it is part of the story.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import typer
from rich.table import Table
from sqlalchemy.engine import Engine

from andon.audit import AuditEntry, AuditLog
from andon.cli.console import console, errors, reported
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.historian.engine import open_engine

app = typer.Typer(help="Verify and read the audit log.", no_args_is_help=True)

DbOption = typer.Option(
    None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
)


class Format(StrEnum):
    table = "table"
    json = "json"


def cli_actor() -> str:
    """``cli:<os user>``: whoever typed the command on the server."""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        who = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{who}"


@contextmanager
def opened_engine(db: str | None, *, create: bool) -> Iterator[Engine]:
    """The database's engine, migrated; disposed afterwards. ``create=False`` for readers."""
    engine, _ = open_engine(db, create=create)
    try:
        yield engine
    finally:
        engine.dispose()


def _parse_expected(text: str) -> tuple[int, str]:
    entry_id, _, digest = text.partition(":")
    if not entry_id.isdigit() or len(digest) != 64:
        raise InputError(f"--expect-head: expected ID:HASH as printed by verify, got {text!r}")
    return int(entry_id), digest.lower()


@app.command("verify")
def verify(
    expect_head: str | None = typer.Option(
        None, "--expect-head", help="ID:HASH noted from an earlier verify; must still be there."
    ),
    db: str | None = DbOption,
) -> None:
    """Recompute the whole hash chain; exit 1 naming the first bad entry."""
    with reported():
        expected = _parse_expected(expect_head) if expect_head else None
        with opened_engine(db, create=False) as engine:
            log = AuditLog(engine)
            verdict = log.verify()
            problem = "" if verdict.ok else f"entry {verdict.first_bad_id}: {verdict.reason}"
            if verdict.ok and expected is not None:
                found = log.entries(after_id=expected[0] - 1, limit=1)
                if not found or found[0].id != expected[0] or found[0].hash != expected[1]:
                    problem = f"entry {expected[0]} no longer has the noted hash (log rewritten?)"
            log.record(
                actor=cli_actor(),
                source="cli",
                category="audit",
                action="verify",
                result="failed" if problem else "ok",
                details={"entries": verdict.entries, "problem": problem},
            )
        if problem:
            errors.print(f"audit log NOT verified: {problem}", markup=False)
            errors.print(
                f"{verdict.entries} entries before it verify; head {verdict.head_id}:"
                f"{verdict.head_hash}",
                markup=False,
            )
            raise typer.Exit(1)
        typer.echo(f"verified {verdict.entries} entries, head {verdict.head_hash}")
        typer.echo(
            f"note the head elsewhere (entry {verdict.head_id}:{verdict.head_hash}); "
            "pass it to --expect-head later to detect a rewritten or truncated log"
        )


def _row(e: AuditEntry) -> dict[str, object]:
    return {
        "id": e.id,
        "time": iso(e.ts_ns),
        "actor": e.actor,
        "source": e.source,
        "category": e.category,
        "action": e.action,
        "target": e.target,
        "result": e.result,
        "details": dict(e.details),
    }


@app.command("show")
def show(
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="The newest N entries."),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor, e.g. cli:ann."),
    category: str | None = typer.Option(None, "--category", help="Only this category, e.g. auth."),
    fmt: Format = typer.Option(Format.table, "--format", help="table or json."),
    db: str | None = DbOption,
) -> None:
    """The newest audit entries, oldest first."""
    with reported():
        with opened_engine(db, create=False) as engine:
            log = AuditLog(engine)
            found = log.entries(limit=limit, actor=actor, category=category, newest_first=True)
            log.record(
                actor=cli_actor(),
                source="cli",
                category="audit",
                action="show",
                details={"limit": limit, "actor": actor, "category": category},
            )
        rows = [_row(e) for e in reversed(found)]
        if fmt is Format.json:
            sys.stdout.write(json.dumps(rows, ensure_ascii=False, separators=(",", ":")) + "\n")
            return
        table = Table(title=f"{len(rows)} audit entr{'y' if len(rows) == 1 else 'ies'}")
        for col in ("id", "time", "actor", "source", "category", "action", "target", "result"):
            table.add_column(col, justify="right" if col == "id" else "left")
        table.add_column("details")
        for row in rows:
            cells = [str(row[c]) for c in list(row)[:-1]]
            cells[1] = cells[1][:19] + "Z"  # to the second in a table; json keeps it all
            table.add_row(*cells, json.dumps(row["details"], ensure_ascii=False), style=None)
        console.print(table, markup=False)
