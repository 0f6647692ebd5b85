"""``andon data``: which of the plant's data can be trusted, tag by tag, and why."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from andon.cli.console import console, reported
from andon.core.clock import NS_PER_S, iso, now_ns, parse_duration, parse_time
from andon.core.errors import InputError
from andon.datahealth import HealthWatch, check_range, describe, readiness
from andon.historian import open_historian
from andon.plant import example_plant, load_plant

app = typer.Typer(
    help="Data health: gaps, stuck sensors, spikes, scores, readiness.", no_args_is_help=True
)


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


@app.command("readiness")
def readiness_command(
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    plant_file: Path | None = typer.Option(
        None, "--plant", help="plant.yaml (default: the job-shop example)."
    ),
    db: str | None = typer.Option(
        None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
    ),
) -> None:
    """Which ISO 22400 KPIs and analyses each machine's data supports today and what the rest
    lack; machines that can have OEE today and have the cleanest data first."""
    with reported():
        plant = load_plant(plant_file or example_plant("job_shop"))
        with open_historian(db, create=False) as historian:
            found = readiness(plant, historian, now_ns())
        if as_json:
            sys.stdout.write(json.dumps([r.to_dict() for r in found], indent=1) + "\n")
            return
        table = Table(
            title="Readiness: best first (OEE today, then data score over the last day)",
            title_justify="left",
            show_lines=True,
        )
        table.add_column("machine")
        table.add_column("score", justify="right")
        table.add_column("verdict")
        table.add_column("ready")
        table.add_column("missing")
        for r in found:
            cells = (
                r.machine,
                "-" if r.score is None else f"{r.score:.1f}",
                r.verdict,
                f"{len(r.ready)}: " + ", ".join(r.ready),
                "\n".join(f"{m.kpi}: {'; '.join(m.needs)}" for m in r.missing),
            )
            table.add_row(*(Text(c) for c in cells))  # plain text: no markup in names
        console.print(table)


@app.command("watch")
def watch_command(
    asset: str | None = typer.Option(
        None, "--asset", help="Machine, line, area or site path, or a machine id (default: all)."
    ),
    every: str = typer.Option("60s", "--every", help="Time between checks (90s, 5min)."),
    window: str = typer.Option("1h", "--window", help="How far back each check looks."),
    once: bool = typer.Option(False, "--once", help="Check once and stop (for cron)."),
    plant_file: Path | None = typer.Option(
        None, "--plant", help="plant.yaml (default: the job-shop example)."
    ),
    db: str | None = typer.Option(
        None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
    ),
) -> None:
    """Check the last --window every --every and write each finding as an event when it opens
    and when it closes (and each spike or counter glitch once); one line per event written.
    Ctrl-C stops it."""
    with reported():
        plant = load_plant(plant_file or example_plant("job_shop"))
        every_s = parse_duration(every, field="--every")
        if every_s <= 0:
            raise InputError(f"--every must be longer than 0, got {every!r}")
        window_ns = round(parse_duration(window, field="--window") * NS_PER_S)
        tz = ZoneInfo(plant.calendar.timezone)
        with open_historian(db, create=False) as historian:
            watch = HealthWatch(plant, historian, window_ns=window_ns, asset=asset)
            if not once:
                console.print(
                    f"andon data watch: every {every}, over the last {window} "
                    f"({historian.url}; Ctrl-C to stop)",
                    markup=False,
                )
            try:
                while True:
                    began = time.monotonic()
                    for event in watch.step(now_ns()):
                        console.print(describe(event, tz), markup=False)
                    if once:
                        return
                    time.sleep(max(0.0, every_s - (time.monotonic() - began)))
            except KeyboardInterrupt:
                console.print("stopped", markup=False)
