"""The ``andon`` command: one Typer app, a sub-app per concept."""

from __future__ import annotations

import typer

from andon import __version__
from andon.cli import (
    audit,
    connect,
    data,
    demo,
    history,
    importer,
    ingest,
    kpi,
    plant,
    serve,
    sim,
    token,
    user,
)

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
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.add_typer(audit.app, name="audit")
app.add_typer(connect.app, name="connect")
app.add_typer(kpi.app, name="kpi")
app.add_typer(data.app, name="data")
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("ingest")(ingest.ingest)
app.command("import")(importer.import_file)


@app.command("version")
def version() -> None:
    """Print andon's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
