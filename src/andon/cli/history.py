"""``andon history``: read what the historian holds — tags, samples, trends, events, exports."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from andon.cli.console import console, reported
from andon.core.clock import NS_PER_S, iso, now_ns, parse_duration, parse_time
from andon.core.errors import InputError
from andon.historian import open_historian

app = typer.Typer(help="Query and export the historian.", no_args_is_help=True)

DbOption = typer.Option(
    None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
)
FromOption = typer.Option("-24h", "--from", help="Start: ISO 8601 with offset, 'now' or -2h.")
ToOption = typer.Option("now", "--to", help="End (exclusive): ISO 8601 with offset, 'now' or -1h.")


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Agg(StrEnum):
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    SUM = "sum"


def _range(start: str, end: str) -> tuple[int, int]:
    now = now_ns()
    return parse_time(start, now=now, field="--from"), parse_time(end, now=now, field="--to")


def _value(v: float) -> float | None:
    return None if v != v else v  # NaN -> null in JSON


def _emit(rows: list[dict[str, object]], columns: list[str], fmt: Format, title: str) -> None:
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, separators=(",", ":")) + "\n")
    elif fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col, justify="left" if col in ("ts", "bucket", "tag") else "right")
        for row in rows:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
        console.print(table)


@app.command("query")
def query(
    tag: str = typer.Argument(..., help="Tag path, e.g. springfield/machining/cell-1/mill-1/power"),
    start: str = FromOption,
    end: str = ToOption,
    every: str | None = typer.Option(
        None, "--every", help="Downsample into buckets of this length (1m, 15min, 1h)."
    ),
    agg: Agg = typer.Option(Agg.AVG, "--agg", help="Aggregate per bucket (with --every)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many raw rows."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv or json."),
    db: str | None = DbOption,
) -> None:
    """Samples of TAG in a time range: raw, or downsampled with --every."""
    with reported():
        start_ns, end_ns = _range(start, end)
        with open_historian(db, create=False) as historian:
            if every is None:
                series = historian.range(tag, start_ns, end_ns, limit=limit)
                rows: list[dict[str, object]] = [
                    {"ts": iso(t), "value": _value(v), "quality": q}
                    for t, v, q in zip(
                        series.ts.tolist(),
                        series.value.tolist(),
                        series.quality.tolist(),
                        strict=True,
                    )
                ]
                _emit(rows, ["ts", "value", "quality"], fmt, tag)
                return
            every_ns = round(parse_duration(every, field="--every") * NS_PER_S)
            if every_ns <= 0:
                raise InputError("--every: must be longer than zero")
            buckets = historian.downsample(tag, start_ns, end_ns, every_ns)
            values = buckets.series(agg.value).tolist()
            rows = [
                {"bucket": iso(b), agg.value: _value(float(v)), "count": n}
                for b, v, n in zip(
                    buckets.bucket.tolist(), values, buckets.count.tolist(), strict=True
                )
            ]
            _emit(rows, ["bucket", agg.value, "count"], fmt, f"{tag} ({agg.value} per {every})")


@app.command("tags")
def tags(
    pattern: str | None = typer.Argument(None, help="MQTT-style pattern, e.g. springfield/#"),
    counts: bool = typer.Option(False, "--counts", help="Also count samples (slower)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv or json."),
    db: str | None = DbOption,
) -> None:
    """The tags the historian knows, with unit and first/last sample time."""
    with reported():
        with open_historian(db, create=False) as historian:
            infos = historian.tags(pattern, counts=counts)
        rows: list[dict[str, object]] = [
            {
                "tag": t.path,
                "unit": t.unit,
                "source": t.source,
                "first": iso(t.first_ns) if t.first_ns is not None else None,
                "last": iso(t.last_ns) if t.last_ns is not None else None,
                "samples": t.count,
                "auto_created": t.auto_created,
            }
            for t in infos
        ]
        columns = ["tag", "unit", "source", "first", "last"] + (["samples"] if counts else [])
        _emit(rows, columns, fmt, f"{len(rows)} tag(s)")


@app.command("events")
def events(
    asset: str | None = typer.Option(None, "--asset", help="Asset path or pattern."),
    kind: str | None = typer.Option(None, "--kind", help="Event kind, e.g. state or part."),
    start: str = FromOption,
    end: str = ToOption,
    limit: int = typer.Option(1000, "--limit", min=1),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv or json."),
    db: str | None = DbOption,
) -> None:
    """Events (state changes, parts, breakdowns, ...) in a time range."""
    with reported():
        start_ns, end_ns = _range(start, end)
        with open_historian(db, create=False) as historian:
            found = historian.events(asset, kind, start_ns, end_ns, limit)
        rows: list[dict[str, object]] = [
            {
                "ts": iso(e.ts),
                "asset": e.asset,
                "kind": e.kind,
                "payload": json.dumps(dict(e.payload), separators=(",", ":")),
            }
            for e in found
        ]
        _emit(rows, ["ts", "asset", "kind", "payload"], fmt, f"{len(rows)} event(s)")


@app.command("export")
def export(
    out: Path = typer.Argument(..., help="Output file: .csv or .parquet"),
    tags_: str = typer.Option("#", "--tags", help="Tag path or MQTT-style pattern."),
    start: str = FromOption,
    end: str = ToOption,
    db: str | None = DbOption,
) -> None:
    """Export samples in long form (ts, tag, value, quality, text) to CSV or Parquet."""
    with reported():
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise InputError(f"{out}: expected a file name ending in .csv or .parquet")
        start_ns, end_ns = _range(start, end)
        with open_historian(db, create=False) as historian:
            rows = historian.export(out, tags_, start_ns, end_ns)
        console.print(f"[green]wrote[/] {rows:,} samples to {out}")
