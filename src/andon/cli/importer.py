"""``andon import FILE``: backfill history from a long-form CSV or Parquet file.

The file is streamed in chunks (``andon.connect.files``) straight into the historian, with a
progress bar. Rows that cannot be stored are not fatal: the first few are printed and all of
them go to a rejects CSV (``line,field,problem,row``), by default beside the file
(``data.csv`` → ``data.rejects.csv``), so they can be fixed and imported again. Importing the
same file twice stores nothing new (historian writes are idempotent).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from andon.cli.console import console, reported
from andon.connect.files import CHUNK_ROWS, RejectsFile, RowProblem, default_rejects, read_long
from andon.core.errors import InputError
from andon.historian import open_historian

SHOWN_PROBLEMS = 10

DbOption = typer.Option(
    None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
)


def import_file(
    file: Path = typer.Argument(
        ..., help="Long-form file ts,tag,value[,quality][,text]: .csv or .parquet"
    ),
    db: str | None = DbOption,
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Where to write rejected rows (default: FILE.rejects.csv)."
    ),
    chunk_rows: int = typer.Option(
        CHUNK_ROWS, "--chunk-rows", min=1, help="Rows per write to the historian."
    ),
) -> None:
    """Import samples from a CSV or Parquet file (ts, tag, value[, quality]) into the historian.

    ts is ISO 8601 with a UTC offset (2026-03-29T06:00:00+02:00, ...Z) or epoch milliseconds.
    """
    with reported():
        chunks = read_long(file, chunk_rows=chunk_rows)  # checks the file before the database
        rejects_path = rejects or default_rejects(file)
        if rejects_path.resolve() == file.resolve():
            raise InputError(f"--rejects {rejects_path}: that is the file being imported")
        rejected = RejectsFile(rejects_path)
        shown: list[RowProblem] = []
        rows = stored = new = texts = 0
        began = time.perf_counter()
        try:
            with (
                open_historian(db) as historian,
                Progress(
                    TextColumn("[bold]importing[/] {task.description}"),
                    BarColumn(),
                    TaskProgressColumn(),
                    TextColumn("{task.fields[done]}"),
                    TimeRemainingColumn(),
                    console=console,
                    transient=True,
                ) as progress,
            ):
                task = progress.add_task(file.name, total=None, done="")
                for chunk in chunks:
                    if len(chunk.batch):
                        new += historian.write(chunk.batch)
                    rows += chunk.rows
                    stored += len(chunk.batch)
                    texts += len(chunk.batch.strings)
                    rejected.add(chunk.problems)
                    room = SHOWN_PROBLEMS - len(shown)
                    if room > 0:
                        shown.extend(chunk.problems[:room])
                    progress.update(
                        task,
                        completed=chunk.position,
                        total=chunk.total,
                        done=f"{rows:,} rows",
                    )
        finally:
            rejected.close()
        _summary(file, rows, stored, new, texts, rejected, shown, time.perf_counter() - began)


def _summary(
    file: Path,
    rows: int,
    stored: int,
    new: int,
    texts: int,
    rejected: RejectsFile,
    shown: list[RowProblem],
    seconds: float,
) -> None:
    rate = f" in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)" if seconds > 0 and rows else ""
    console.print(
        f"[green]imported[/] {file}: {rows:,} rows read, {stored:,} stored "
        f"({new:,} new to the historian, {stored - new:,} already there), "
        f"{rejected.count:,} rejected{rate}"
    )
    if texts:
        console.print(f"  {texts:,} value(s) were text, stored as string samples")
    if rejected.count:
        console.print(f"[yellow]rejected rows[/] (first {len(shown)} of {rejected.count:,}):")
        for p in shown:
            console.print(f"  line {p.line}: {p.field}: {p.message}", markup=False)
        console.print(f"all rejected rows are in {rejected.path}", markup=False)
