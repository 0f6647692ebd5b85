"""``andon serve``: ingestion and the API in one process and one asyncio loop.

The pipeline (historian sink + live feed) and uvicorn's server run as tasks of the same loop:
the live stream reads what the pipeline just wrote without any broker in between. Ingestion is
the plant's ``sources:`` (its connectors, through the disk queue while the historian is away;
their health and write-back are in the API) and, with ``--simulate``, the virtual plant paced at
``--speed``, until Ctrl-C. The server refuses to start without an admin user (there are no
default accounts) and listens on 127.0.0.1 unless told otherwise. Ctrl-C or SIGTERM stops both
cleanly.

Behind a TLS proxy, ``--forwarded-allow-ips`` lists the proxy's addresses: only from those is
``X-Forwarded-For`` believed (so the audit log and the per-address login throttle see the real
client, not the proxy). By default it is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from collections.abc import Sequence
from pathlib import Path

import typer

from andon.api import ApiContext, ApiServer, ApiSettings
from andon.cli.console import console, reported
from andon.cli.ingest import configured_sources, default_spool, ingestion
from andon.connect import Connector
from andon.connect.registry import open_connectors
from andon.core.clock import MAX_NS, NS_PER_S, now_ns
from andon.core.errors import InputError
from andon.core.stream import Source
from andon.historian import Historian, open_historian
from andon.pipeline import LiveFeed, Pipeline
from andon.plant import Plant, example_plant, load_plant
from andon.sim import VirtualPlant, VirtualPlantSource
from andon.web import install as install_pages

NO_ADMIN = (
    "no admin user exists yet, and andon has no default account; create one first:\n"
    "  andon user create NAME --role admin{db}\n"
    "then run `andon serve` again"
)


def serve(
    plant_file: Path | None = typer.Option(
        None, "--plant", help="plant.yaml (default with --simulate: the CNC job-shop example)."
    ),
    db: str | None = typer.Option(
        None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    simulate: bool = typer.Option(
        False, "--simulate", help="Feed the virtual plant into the historian while serving."
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.01, help="Simulated seconds per wall second (with --simulate)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the virtual plant."),
    forwarded_allow_ips: str = typer.Option(
        "",
        "--forwarded-allow-ips",
        envvar="ANDON_FORWARDED_ALLOW_IPS",
        help="Comma-separated addresses (or networks) of the TLS proxy in front of andon whose "
        "X-Forwarded-For/-Proto headers are believed. Default: none (the headers are ignored).",
    ),
) -> None:
    """Serve the API (and, with --simulate, ingest the virtual plant) until Ctrl-C."""
    with reported():
        proxies = parse_proxies(forwarded_allow_ips)
        plant = _plant(plant_file, simulate)
        with open_historian(db) as historian:
            live = LiveFeed()
            settings = ApiSettings(forwarded_allow_ips=proxies)
            connectors = open_connectors(configured_sources(plant))
            context = ApiContext.for_historian(
                historian, plant=plant, live=live, settings=settings, sources=connectors
            )
            if not context.identity.has_admin():
                raise InputError(NO_ADMIN.format(db=f" --db '{db}'" if db else ""))
            asyncio.run(_run(context, historian, live, host, port, simulate, speed, seed))


def parse_proxies(text: str) -> tuple[str, ...]:
    """``--forwarded-allow-ips``: addresses or networks, comma-separated (``*`` is refused:
    it would let every client choose its own address)."""
    out: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "*":
            raise InputError(
                "--forwarded-allow-ips '*' would let any client fake its address; "
                "list the proxy's address instead"
            )
        try:
            ipaddress.ip_network(item)
        except ValueError:
            raise InputError(
                f"--forwarded-allow-ips: {item!r} is not an IP address or network"
            ) from None
        out.append(item)
    return tuple(out)


def _plant(plant_file: Path | None, simulate: bool) -> Plant | None:
    if plant_file is not None:
        return load_plant(plant_file)
    return load_plant(example_plant("job_shop")) if simulate else None


def _pipeline(
    historian: Historian,
    live: LiveFeed,
    plant: Plant | None,
    connectors: Sequence[Connector],
    simulate: bool,
    speed: float,
    seed: int,
) -> Pipeline:
    """The plant's connectors (and, with --simulate, the virtual plant) into the historian,
    through the disk queue, and into the live feed."""
    sources: list[Source] = list(connectors)
    if plant is not None:
        historian.ensure_tags(
            (ref.tag_path(t.name), t.unit, t.description, t.source)
            for ref in plant.machines()
            for t in ref.machine.tags
        )
    if simulate and plant is not None:
        start = now_ns()
        start -= start % NS_PER_S
        virtual = VirtualPlant(plant, seed=seed, start_ns=start)
        sources.append(VirtualPlantSource(virtual, MAX_NS - 10**18, speed=speed))
    # the virtual plant away from real time stamps by its own clock: no arrival check then
    real_time = not simulate or speed == 1
    pipeline = ingestion(
        historian, connectors, spool=default_spool(historian), live=live, arrival=real_time
    )
    pipeline.sources = sources
    return pipeline


async def _run(
    context: ApiContext,
    historian: Historian,
    live: LiveFeed,
    host: str,
    port: int,
    simulate: bool,
    speed: float,
    seed: int,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ingest: asyncio.Task[None] | None = None
    try:
        server = ApiServer(context, host, port)
        install_pages(server.app)
        async with server:
            console.print(f"andon dashboard and API at [bold]{server.url}[/] (Ctrl-C to stop)")
            console.print(f"historian {historian.url}", markup=False)
            simulating = simulate and context.plant is not None
            if simulating and speed != 1:
                console.print(
                    f"[yellow]note:[/] simulating at {speed}x: simulated time runs "
                    "apart from the wall clock"
                )
            for c in context.sources:
                console.print(f"source {c.name} ({c.health.kind}) {c.health.url}", markup=False)
            if simulating or context.sources:
                pipeline = _pipeline(
                    historian, live, context.plant, context.sources, simulate, speed, seed
                )
                ingest = asyncio.create_task(pipeline.run(), name="ingest")
                ingest.add_done_callback(lambda _: stop.set())
            await stop.wait()
            if ingest is not None and ingest.done() and not ingest.cancelled():
                ingest.result()  # an ingestion failure is reported, not swallowed
    finally:
        for c in context.sources:  # connectors end their run: the sinks drain what came
            with contextlib.suppress(Exception):
                await c.close()
        if ingest is not None and not ingest.done():
            try:
                await asyncio.wait_for(asyncio.shield(ingest), timeout=10)
            except (TimeoutError, Exception):
                ingest.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ingest
        await live.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    console.print("andon serve stopped")
