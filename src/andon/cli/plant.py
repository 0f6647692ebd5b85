"""``andon plant``: check a plant.yaml and show what it declares."""

from __future__ import annotations

from pathlib import Path

import typer

from andon.cli.console import console, reported
from andon.plant import load_plant

app = typer.Typer(help="Check and inspect plant.yaml files.", no_args_is_help=True)


@app.command("check")
def check(file: Path = typer.Argument(..., help="The plant.yaml to check.")) -> None:
    """Validate FILE; report every problem with its line and field, or what it declares."""
    with reported():
        plant = load_plant(file)
    machines = plant.machines()
    lines = {(m.area.id, m.line.id) for m in machines}
    console.print(
        f"[green]ok[/] {file}: site {plant.root}, {len(plant.areas)} area(s), {len(lines)} "
        f"line(s), {len(machines)} machine(s), {len(plant.tag_paths())} tag(s), "
        f"{len(plant.calendar.shifts)} shift(s) in {plant.calendar.timezone}"
    )
