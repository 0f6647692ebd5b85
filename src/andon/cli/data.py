"""``andon data``: which of the plant's data can be trusted, tag by tag, and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from andon.cli.console import console, reported
from andon.core.clock import iso, now_ns, parse_time
from andon.datahealth import check_range
from andon.historian import open_historian
from andon.plant import example_plant, load_plant

app = typer.Typer(help="Data health: gaps, stuck sensors, spikes, scores.", no_args_is_help=True)


@app.command("check")
def check_command(
    asset: str | None = typer.Option(
        None, "--asset", help="Machine, line, area or site path, or a machine id (default: all)."
    ),
    start: str = typer.Option("-24h", "--from", help="Start: ISO 8601 with offset, 'now' or -8h."),
    end: str = typer.Option("now", "--to", help="End (exclusive)."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of tables."),
    plant_file: Path | None = typer.Option(
        None, "--plant", help="plant.yaml (default: the job-shop example)."
    ),
    db: str | None = typer.Option(
        None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
    ),
) -> None:
    """Check every declared tag: gaps, stuck values, out of range, spikes, time, quality
    codes, counters; findings worst first and a score from 0 to 100 per tag and day."""
    with reported():
        plant = load_plant(plant_file or example_plant("job_shop"))
        now = now_ns()
        start_ns = parse_time(start, now=now, field="--from")
        end_ns = parse_time(end, now=now, field="--to")
        with open_historian(db, create=False) as historian:
            report = check_range(plant, historian, asset, start_ns, end_ns, now)
        if as_json:
            out = report.to_dict()
            sys.stdout.write(
                json.dumps({"findings": out["findings"], "scores": out["scores"]}, indent=1) + "\n"
            )
            return
        title = f"Data health of {report.asset}, {iso(start_ns)} to {iso(end_ns)}"
        console.print(f"{title}: {len(report.findings) or 'no'} findings", markup=False)
        for f in report.findings:  # one block each: a table cell is too narrow for a sentence
            where = "/".join(f.tag.split("/")[-2:])
            when = iso(f.start_ns)[:19] + (
                "" if f.end_ns == f.start_ns else f" to {iso(f.end_ns)[:19]}"
            )
            console.print(f"[bold]{f.check}[/] {where}  {when}", markup=True)
            console.print(f"  {f.detail}", markup=False)
        scores = Table(title="Scores (0-100) per day", title_justify="left")
        day_names = list(next(iter(report.machines.values()), {}))
        scores.add_column("asset")
        for d in day_names:
            scores.add_column(d, justify="right")
        for line, by_day in report.lines.items():
            scores.add_row(line, *(f"{by_day.get(d, 0):.1f}" for d in day_names))
            for machine, m_days in report.machines.items():
                if machine.startswith(line + "/"):
                    scores.add_row(
                        "  " + machine.rsplit("/", 1)[-1],
                        *(f"{m_days.get(d, 0):.1f}" for d in day_names),
                    )
        console.print(scores)
