"""The ``andon`` command: one Typer app, a sub-app per concept."""

from __future__ import annotations

import typer

from andon import __version__
from andon.cli import demo, history, plant, sim

app = typer.Typer(
    name="andon",
    help="andon: a factory's central nervous system. Start with `andon demo`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(plant.app, name="plant")
app.add_typer(history.app, name="history")
app.add_typer(sim.app, name="sim")
app.command("demo")(demo.demo)


@app.command("version")
def version() -> None:
    """Print andon's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
