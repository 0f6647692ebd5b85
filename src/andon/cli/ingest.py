"""``andon ingest``: a worker that only ingests — connectors to the historian, no API.

It runs the plant's ``sources:`` (and, with ``--mqtt``, one more MQTT JSON source given on the
command line) into the historian, through the disk queue while the historian is away.
Several workers can share one MQTT subscription (``--share GROUP`` or ``share:`` in the
source) and write into one PostgreSQL: the broker hands each message to one of them, and the
historian's idempotent writes make a redelivered message harmless. Ctrl-C or SIGTERM stops
it cleanly: connectors close, what was received is written (or left in the disk queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

import typer
from pydantic import ValidationError

from andon.cli.console import console, reported
from andon.connect import Connector
from andon.connect.registry import open_connectors
from andon.connect.spool import DiskQueue, StoreAndForward
from andon.core.errors import InputError
from andon.core.stream import Sink
from andon.datahealth.live import ArrivalCheck
from andon.historian import Historian, open_historian
from andon.pipeline import HistorianSink, LiveFeed, Pipeline
from andon.plant import Plant, load_plant
from andon.plant.sources import MqttSource, Source

SPOOL_BYTES = 1 << 30
"""Default bound of the disk queue: 1 GiB (hours of a plant's data; oldest dropped beyond)."""
log = logging.getLogger("andon.ingest")


def mqtt_source(url: str, prefix: str, share: str | None, client_id: str | None) -> MqttSource:
    """The MQTT JSON source given on the command line (validated like plant.yaml's)."""
    try:
        return MqttSource(
            type="mqtt",
            name="cli-mqtt",
            url=url,
            prefix=prefix,
            share=share,
            client_id=client_id,
            clean_session=client_id is None,
        )
    except ValidationError as exc:
        problems = [
            f"{_OPTIONS.get(str(err['loc'][0]), str(err['loc'][0]))}: "
            + str(err["msg"]).removeprefix("Value error, ")
            for err in exc.errors()
        ]
        raise InputError("; ".join(problems)) from None


_OPTIONS = {"url": "--mqtt", "prefix": "--prefix", "share": "--share", "client_id": "--client-id"}
"""The command-line option behind each field of the MQTT source it builds."""


def configure_logging() -> None:
    """andon's own loggers at INFO (a source down or back, a subscription confirmed, the disk
    queue); the libraries' (alembic, asyncua, paho, pymodbus) at WARNING, where their
    per-connection chatter stays out of the way."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("andon").setLevel(logging.INFO)


def configured_sources(plant: Plant | None, extra: Sequence[Source] = ()) -> list[Source]:
    found = list(plant.sources) if plant is not None else []
    found.extend(extra)
    names = [s.name for s in found]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"sources: the name {dupes[0]!r} is used twice; names must be unique")
    return found


def ingestion(
    historian: Historian,
    connectors: Sequence[Connector],
    *,
    spool: Path,
    spool_bytes: int = SPOOL_BYTES,
    live: LiveFeed | None = None,
    arrival: bool = True,
) -> Pipeline:
    """Connectors → (disk queue while the historian is away) → historian [+ live feed]; with
    ``arrival``, each Batch's times are checked against its arrival (``datahealth.live``): only
    for sources that stamp in real time."""
    durable = StoreAndForward(HistorianSink(historian), DiskQueue(spool, max_bytes=spool_bytes))
    sinks: list[Sink] = [durable]
    if live is not None:
        sinks.append(live)
    if arrival:
        sinks.append(ArrivalCheck(historian))
    return Pipeline(list(connectors), sinks)


def default_spool(historian: Historian) -> Path:
    """The disk queue beside a SQLite file, else under the working directory."""
    url = historian.url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        db = Path(url.removeprefix("sqlite:///"))
        return db.with_name(db.name + ".spool")
    return Path("andon-spool")


def ingest(
    plant_file: Path | None = typer.Option(None, "--plant", help="plant.yaml with sources:."),
    db: str | None = typer.Option(
        None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
    ),
    mqtt: str | None = typer.Option(
        None, "--mqtt", help="Also subscribe to MQTT JSON at this broker (mqtt://HOST:PORT)."
    ),
    prefix: str = typer.Option("", "--prefix", help="Topic prefix above the tag paths."),
    share: str | None = typer.Option(
        None, "--share", help="Shared-subscription group: workers of one group split the load."
    ),
    client_id: str | None = typer.Option(
        None, "--client-id", help="Fixed MQTT client id: a persistent session on the broker."
    ),
    spool: Path | None = typer.Option(
        None, "--spool", help="Disk-queue directory (default: beside the database)."
    ),
    spool_mb: int = typer.Option(1024, "--spool-mb", min=1, help="Disk-queue bound in MiB."),
) -> None:
    """Ingest the configured sources into the historian until Ctrl-C (no API)."""
    configure_logging()
    with reported():
        plant = load_plant(plant_file) if plant_file is not None else None
        extra = [mqtt_source(mqtt, prefix, share, client_id)] if mqtt else []
        sources = configured_sources(plant, extra)
        if not sources:
            raise InputError(
                "nothing to ingest: give --plant with a sources: section, or --mqtt URL"
            )
        with open_historian(db) as historian:
            connectors = open_connectors(sources)
            pipeline = ingestion(
                historian,
                connectors,
                spool=spool or default_spool(historian),
                spool_bytes=spool_mb << 20,
            )
            names = ", ".join(f"{s.name} ({s.type})" for s in sources)
            console.print(f"andon ingest: {names} -> {historian.url} (Ctrl-C to stop)")
            asyncio.run(run_until_stopped(pipeline, connectors))
            total = pipeline.stats.get(pipeline.sinks[0].name)
            stored = total.samples if total else 0
            console.print(f"stopped: {stored} samples handed to the historian")


async def run_until_stopped(pipeline: Pipeline, connectors: Sequence[Connector]) -> None:
    """Run until SIGINT/SIGTERM, then close the connectors and let the sinks drain."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(pipeline.run(), name="ingest")
    waiter = asyncio.create_task(stop.wait())
    watchers = [asyncio.create_task(_subscribed(c)) for c in connectors]
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in watchers:
            w.cancel()
        for c in connectors:
            with contextlib.suppress(Exception):
                await c.close()
        waiter.cancel()
        if not task.done():
            try:
                await asyncio.wait_for(task, timeout=30)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        elif task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _subscribed(connector: Connector) -> None:
    """Log once a subscribing connector's subscription is confirmed by the broker."""
    wait = getattr(connector, "wait_subscribed", None)
    if wait is None:
        return
    while not await wait(60.0):
        pass
    log.info("source %s subscribed", connector.name)
