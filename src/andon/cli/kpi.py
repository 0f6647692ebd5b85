"""``andon kpi``: OEE and its losses for a machine, line, area or the site, per period."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from andon.cli.console import console, reported
from andon.core.clock import iso, now_ns, parse_time
from andon.historian import open_historian
from andon.kpi.assets import AssetOee, asset_oee
from andon.plant import example_plant, load_plant

app = typer.Typer(help="OEE, its six losses, and more KPIs.", no_args_is_help=True)

LOSSES = (
    ("breakdowns", "breakdowns and unplanned stops"),
    ("setup", "setup and adjustments"),
    ("small_stops", "small stops"),
    ("reduced_speed", "reduced speed"),
    ("startup_rejects", "start-up rejects"),
    ("production_rejects", "production rejects"),
)


class By(StrEnum):
    shift = "shift"
    day = "day"
    week = "week"
    month = "month"


PlantOption = typer.Option(None, "--plant", help="plant.yaml (default: the job-shop example).")
DbOption = typer.Option(
    None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
)
AssetOption = typer.Option(
    None, "--asset", help="Machine, line, area or site path (default: site)."
)
FromOption = typer.Option("-24h", "--from", help="Start: ISO 8601 with offset, 'now' or -8h.")
ToOption = typer.Option("now", "--to", help="End (exclusive).")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _compute(
    plant_file: Path | None, db: str | None, asset: str | None, start: str, end: str, by: By | None
) -> list[AssetOee]:
    plant = load_plant(plant_file or example_plant("job_shop"))
    now = now_ns()
    start_ns = parse_time(start, now=now, field="--from")
    end_ns = parse_time(end, now=now, field="--to")
    with open_historian(db, create=False) as historian:
        return asset_oee(
            plant, historian, asset or plant.root, start_ns, end_ns, by.value if by else None
        )


@app.command("oee")
def oee_command(
    asset: str | None = AssetOption,
    start: str = FromOption,
    end: str = ToOption,
    by: By | None = typer.Option(None, "--by", help="One row per shift, day, week or month."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    plant_file: Path | None = PlantOption,
    db: str | None = DbOption,
) -> None:
    """OEE = availability × performance × quality, with TEEP and utilization."""
    with reported():
        rows = _compute(plant_file, db, asset, start, end, by)
        if as_json:
            out = [
                {
                    "period": r.period.name,
                    "from": iso(r.period.start_ns),
                    "to": iso(r.period.end_ns),
                    **r.result.to_dict(),
                    "machines": [m.to_dict() for m in r.machines] if len(r.machines) > 1 else [],
                }
                for r in rows
            ]
            sys.stdout.write(json.dumps(out, indent=1) + "\n")
            return
        table = Table(title=f"OEE of {rows[0].asset if rows else asset}", title_justify="left")
        for col in ("period", "asset", "planned h", "A", "P", "Q", "OEE", "TEEP", "good", "total"):
            table.add_column(col, justify="left" if col in ("period", "asset") else "right")
        problems: list[str] = []
        for r in rows:
            for res in (r.result, *(r.machines if len(r.machines) > 1 else ())):
                name = r.asset if res is r.result else "  " + res.asset.rsplit("/", 1)[-1]
                table.add_row(
                    r.period.name if res is r.result else "",
                    name,
                    f"{res.planned_s / 3600:.2f}",
                    _pct(res.availability),
                    _pct(res.performance),
                    _pct(res.quality),
                    _pct(res.oee),
                    _pct(res.teep),
                    str(res.good),
                    str(res.total),
                )
                problems.extend(f"{r.period.name} {name}: {p}" for p in res.problems)
        console.print(table)
        for p in dict.fromkeys(problems):
            console.print(f"[yellow]note:[/] {p}", markup=True)


@app.command("losses")
def losses_command(
    asset: str | None = AssetOption,
    start: str = FromOption,
    end: str = ToOption,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a waterfall."),
    plant_file: Path | None = PlantOption,
    db: str | None = DbOption,
) -> None:
    """The waterfall from planned production time to fully productive time."""
    with reported():
        (row,) = _compute(plant_file, db, asset, start, end, None)
        r = row.result
        if as_json:
            sys.stdout.write(json.dumps(r.to_dict(), indent=1) + "\n")
            return
        table = Table(title=f"Losses of {row.asset}", title_justify="left")
        for col in ("", "hours", "% of planned"):
            table.add_column(col, justify="left" if not col else "right")
        planned = r.planned_s

        def share(s: float) -> str:
            return f"{100 * s / planned:.1f}%" if planned else "-"

        table.add_row("planned production time", f"{planned / 3600:.2f}", share(planned))
        for key, label in LOSSES:
            s = r.losses[key]
            table.add_row(f"  − {label}", f"{s / 3600:.2f}", share(s))
        table.add_row(
            "fully productive time",
            f"{r.fully_productive_s / 3600:.2f}",
            share(r.fully_productive_s),
        )
        console.print(table)
        if r.stops_by_state:
            stops = ", ".join(
                f"{k} {v / 60:.0f} min"
                for k, v in sorted(r.stops_by_state.items(), key=lambda kv: -kv[1])
            )
            console.print(f"breakdowns and unplanned stops by state: {stops}", markup=False)
        for p in r.problems:
            console.print(f"[yellow]note:[/] {p}", markup=True)
