"""``andon kpi``: OEE and its losses for a machine, line, area or the site, per period."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from andon.audit import AuditLog
from andon.cli.audit import cli_actor
from andon.cli.console import console, reported
from andon.core.clock import iso, now_ns, parse_time
from andon.core.errors import InputError
from andon.historian import open_historian
from andon.kpi.assets import AssetOee, asset_oee
from andon.kpi.kept import KIND as KEPT_KIND
from andon.kpi.report import AssetReport, asset_report
from andon.plant import Plant, example_plant, load_plant

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
            # the asset's result holds every machine's problems, each named by its machine
            problems.extend(f"{r.period.name}: {p}" for p in r.result.problems)
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


def _range(start: str, end: str, field: str = "") -> tuple[int, int]:
    now = now_ns()
    return (
        parse_time(start, now=now, field=f"--{field}from" if field else "--from"),
        parse_time(end, now=now, field=f"--{field}to" if field else "--to"),
    )


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit in ("%", "ratio"):
        return f"{100 * v:.1f}%"
    return f"{v:,.3g} {unit}".strip()


def _report(
    plant_file: Path | None, db: str | None, asset: str | None, start: str, end: str
) -> tuple[Plant, AssetReport]:
    """The plant and the ISO 22400 and energy report of ``asset`` over ``--from``/``--to``."""
    plant = load_plant(plant_file or example_plant("job_shop"))
    start_ns, end_ns = _range(start, end)
    if end_ns <= start_ns:
        raise InputError("the range is empty: --to must be after --from")
    with open_historian(db, create=False) as historian:
        return plant, asset_report(plant, historian, asset or plant.root, start_ns, end_ns)


@app.command("iso22400")
def iso22400_command(
    asset: str | None = AssetOption,
    start: str = FromOption,
    end: str = ToOption,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    plant_file: Path | None = PlantOption,
    db: str | None = DbOption,
) -> None:
    """Every ISO 22400-2 KPI andon has the inputs for; the others with what is missing."""
    with reported():
        _, report = _report(plant_file, db, asset, start, end)
        if as_json:
            sys.stdout.write(json.dumps([k.to_dict() for k in report.kpis], indent=1) + "\n")
            return
        table = Table(title=f"ISO 22400-2 KPIs of {report.asset}", title_justify="left")
        for col in ("KPI", "value", "formula", "missing"):
            table.add_column(col, justify="right" if col == "value" else "left")
        for k in report.kpis:
            table.add_row(k.name, _fmt(k.value, k.unit), k.formula, "; ".join(k.missing))
        console.print(table)
        for k in report.kpis:
            for note in k.notes:
                console.print(f"note: {k.name}: {note}", markup=False)


@app.command("energy")
def energy_command(
    asset: str | None = AssetOption,
    start: str = FromOption,
    end: str = ToOption,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    plant_file: Path | None = PlantOption,
    db: str | None = DbOption,
) -> None:
    """kWh, cost (time-of-use tariffs) and kg CO2e per unit, and kWh per machine state."""
    with reported():
        plant, report = _report(plant_file, db, asset, start, end)
        if as_json:
            sys.stdout.write(json.dumps([e.to_dict() for e in report.energy], indent=1) + "\n")
            return
        if not report.energy:
            raise InputError(f"{report.asset}: no machine here has a stored power signal")
        currency = plant.calendar.currency
        table = Table(title=f"Energy of {report.asset}", title_justify="left")
        for col in (
            "machine",
            "kWh",
            "kWh/good",
            currency,
            f"{currency}/good",
            "kg CO2e/good",
            "idle kWh",
        ):
            table.add_column(col, justify="left" if col == "machine" else "right")
        for e in report.energy:
            idle = sum(v for k, v in e.by_state.items() if k in ("idle", "starved", "blocked"))
            table.add_row(
                e.asset.rsplit("/", 1)[-1],
                f"{e.kwh:,.1f}",
                _fmt(e.kwh_per_good, ""),
                f"{e.cost.cost:,.2f}" if e.cost.cost is not None else "-",
                _fmt(e.cost_per_good, ""),
                _fmt(e.kg_co2e_per_good, ""),
                f"{idle:,.1f}",
            )
        console.print(table)
        for e in report.energy:
            for p in e.problems:
                console.print(f"[yellow]note:[/] {p}", markup=True)


@app.command("compare")
def compare_command(
    baseline: str = typer.Option(..., "--baseline", help="FROM..TO of the baseline period."),
    pilot: str = typer.Option(..., "--pilot", help="FROM..TO of the pilot period."),
    asset: str | None = AssetOption,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    plant_file: Path | None = PlantOption,
    db: str | None = DbOption,
) -> None:
    """Each KPI in a baseline and a pilot period, the delta, and an ROI estimate from the
    configured costs (plant.yaml `costs:`); no estimate when a period's OEE is undefined or
    unknown (no planned time, too little state data), and the reason why."""
    from andon.kpi.compare import OEE_KEYS, comparison
    from andon.kpi.iso22400 import as_dict

    with reported():
        plant = load_plant(plant_file or example_plant("job_shop"))
        spans = []
        for name, text in (("baseline", baseline), ("pilot", pilot)):
            lo, sep, hi = text.partition("..")
            if not sep:
                raise InputError(f"--{name}: expected FROM..TO, e.g. -14d..-7d, got {text!r}")
            s, e = _range(lo, hi)
            if e <= s:
                raise InputError(f"--{name}: the end must be after the start")
            spans.append((s, e))
        with open_historian(db, create=False) as historian:
            base, trial = (
                asset_report(plant, historian, asset or plant.root, s, e) for s, e in spans
            )
        result = comparison(
            base.oee,
            trial.oee,
            plant.costs,
            baseline_kpis=as_dict(base.kpis),
            pilot_kpis=as_dict(trial.kpis),
            energy_baseline_kwh=base.kwh,
            energy_pilot_kwh=trial.kwh,
        )
        if as_json:
            sys.stdout.write(json.dumps(result.to_dict(), indent=1) + "\n")
            return
        table = Table(title=f"Baseline against pilot, {base.asset}", title_justify="left")
        for col in ("KPI", "baseline", "pilot", "delta"):
            table.add_column(col, justify="left" if col == "KPI" else "right")
        for d in result.deltas:
            unit = "%" if d.name in OEE_KEYS else ""
            table.add_row(d.name, _fmt(d.baseline, unit), _fmt(d.pilot, unit), _fmt(d.delta, unit))
        console.print(table)
        if result.roi is not None:
            cur = plant.calendar.currency
            total = result.roi.total_saving
            console.print(
                f"ROI estimate: {total:,.0f} {cur} saved over the pilot period", markup=False
            )
            for a in result.roi.assumptions:
                console.print(f"  - {a}", markup=False)
        for p in result.problems:
            console.print(f"note: {p}", markup=False)


@app.command("forget")
def forget_command(
    asset: str | None = typer.Option(
        None, "--asset", help="Only this asset and what is below it (default: everything)."
    ),
    db: str | None = DbOption,
) -> None:
    """Drop the OEE results kept for closed periods: the next question computes them again
    from the historian (after a crash that lost a late write's note, or to check a figure)."""
    with reported():
        with open_historian(db, create=False) as historian:
            n = historian.forget(KEPT_KIND, asset)
            AuditLog(historian.engine).record(
                actor=cli_actor(),
                source="cli",
                category="kpi",
                action="forget_kept",
                target=asset or "",
                details={"dropped": n},
            )
        console.print(f"dropped {n} kept result(s); they are computed again when next asked")
