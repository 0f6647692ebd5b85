"""The CLI's one console and its translation of andon errors into short messages.

Every command runs inside ``reported``: an ``AndonError`` (a mistake a person can fix) becomes a
red message and exit code 1 — never a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from andon.core.errors import AndonError, ConfigError

console = Console(highlight=False, soft_wrap=True)  # the terminal wraps long lines, not Rich
errors = Console(stderr=True, highlight=False, soft_wrap=True)  # one error, one line


@contextmanager
def reported() -> Iterator[None]:
    """Turn an AndonError into a clear message on stderr and exit code 1."""
    try:
        yield
    except ConfigError as exc:
        n = len(exc.problems)
        errors.print(f"[bold red]error:[/] {n} problem{'s' if n != 1 else ''} found", markup=True)
        for problem in exc.problems:
            errors.print(f"  {problem}", markup=False)
        raise typer.Exit(1) from None
    except AndonError as exc:
        errors.print("[bold red]error:[/] ", end="", markup=True)
        errors.print(str(exc), markup=False)
        raise typer.Exit(1) from None
