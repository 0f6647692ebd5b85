"""``andon demo``: the virtual plant into the historian over real protocols, told as it happens.

Runs a plant.yaml (the job-shop example by default) on the virtual plant, serves it as a plant
would — an OPC UA server on loopback, or JSON over MQTT with ``--mqtt URL`` — and reads it back
through andon's own connectors into the historian, the same path a real plant's data takes. It
shows a live table of machines and a progress bar of simulated time, narrates what happens on
the shop floor, then prints a summary. After the simulated span (with ``--serve``), the plant
keeps running in real time, with its energy meters served over Modbus TCP too (a Modbus reading
has no timestamp of its own, so meters join only when simulated time is the wall clock).

Unless ``--start`` is given, the simulated span is placed so that it ends when the run ends:
the virtual plant never reports a time that has not yet come.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from andon.cli.console import console, reported
from andon.cli.demo_oee import oee_table
from andon.cli.showroom import serve_demo
from andon.cli.simserve import check_broker_url
from andon.cli.story import Narrator, state_style
from andon.core.clock import MAX_NS, NS_PER_S, check_ns, from_ns, iso, now_ns, parse_time
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.stream import Emit, Item, Sink
from andon.historian import Historian, open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import Plant, example_plant, load_plant
from andon.plant.model import PlantSimulation
from andon.sim import MachineStatus, VirtualPlant
from andon.sim.faults import TRUTH_KIND, demo_faults
from andon.sim.serve.modbus import EnergyMeterServer, meters_of
from andon.sim.serve.mqtt_json import UnsPublisher
from andon.sim.serve.opcua import PlantOpcUaServer
from andon.sim.serve.over_protocols import OverProtocols
from andon.sim.serve.plant_server import Output

REFRESH_S = 0.25
MAX_MINUTES = 10 * 366 * 24 * 60  # ten years of simulated time


def demo(
    plant_file: Path | None = typer.Option(
        None, "--plant", help="plant.yaml to run (default: the CNC job-shop example)."
    ),
    minutes: float = typer.Option(
        240.0, "--minutes", min=1, max=MAX_MINUTES, help="Simulated minutes to run."
    ),
    speed: float = typer.Option(
        600.0, "--speed", min=0, help="Simulated seconds per wall second; 0 = as fast as possible."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed tells the same story."),
    db: str | None = typer.Option(
        None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
    ),
    start: str | None = typer.Option(
        None, "--start", help="Simulated start time (ISO 8601); default: so the run ends now."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No live display; summary only."),
    serve: bool = typer.Option(
        True,
        "--serve/--no-serve",
        help="Serve the dashboard while it runs, then keep the plant running live until Ctrl-C.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address of the dashboard."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free one)."),
    mqtt: str | None = typer.Option(
        None,
        "--mqtt",
        help="Go through this MQTT broker (mqtt://HOST:PORT) as JSON; default: OPC UA on "
        "loopback, no broker needed.",
    ),
    faults: bool = typer.Option(
        False,
        "--faults",
        help="Inject one data fault of every kind (dropout, stuck, spikes, drift, counter "
        "glitch, fast clock), each on its own sensor, for `andon data check` to find.",
    ),
) -> None:
    """Run the virtual plant into the historian and watch the shop floor.

    With --serve (the default) the dashboard is served while it runs: log in with the printed
    password; after the simulated span the plant keeps running in real time until Ctrl-C."""
    with reported():
        plant = load_plant(plant_file or example_plant("job_shop"))
        if not plant.machines():
            raise InputError("the plant has no machines to simulate")
        span_ns = round(minutes * 60 * NS_PER_S)
        if start is not None:
            start_ns = parse_time(start, field="--start")
        else:
            lead = 1.0 - (1.0 / speed if speed > 0 else 0.0)
            start_ns = now_ns() - round(span_ns * lead)
        start_ns -= start_ns % NS_PER_S
        check_ns(start_ns + span_ns, field="--start plus --minutes")
        if faults:
            injected = [*plant.simulation.faults, *demo_faults(plant, span_ns / NS_PER_S)]
            plant = plant.model_copy(update={"simulation": PlantSimulation(faults=injected)})
        with open_historian(db) as historian:
            historian.ensure_tags(_tag_specs(plant))
            virtual = VirtualPlant(plant, seed=seed, start_ns=start_ns)
            for path in virtual.unsimulated:
                console.print(f"[yellow]note:[/] {path} has no simulated signal; it stays empty")
            run = DemoRun(plant, virtual, historian, start_ns + span_ns, speed, quiet)
            run.db = db
            run.mqtt = check_broker_url(mqtt) if mqtt else None
            if serve:
                asyncio.run(
                    serve_demo(run, host, port, lambda: summary(plant, virtual, historian, run))
                )
            else:
                asyncio.run(run.run())
                summary(plant, virtual, historian, run)
            if run.missing:
                raise typer.Exit(1)


def _tag_specs(plant: Plant) -> list[tuple[str, str, str, str]]:
    return [
        (ref.tag_path(t.name), t.unit, t.description, t.source)
        for ref in plant.machines()
        for t in ref.machine.tags
    ]


class DemoRun:
    """One demo run: the pipeline plus the live display fed from the virtual plant."""

    def __init__(
        self,
        plant: Plant,
        virtual: VirtualPlant,
        historian: Historian,
        until_ns: int,
        speed: float,
        quiet: bool,
    ) -> None:
        self.plant = plant
        self.virtual = virtual
        self.historian = historian
        self.until_ns = until_ns
        self.speed = speed
        self.quiet = quiet
        self.tz = ZoneInfo(plant.calendar.timezone)
        self.narrator = Narrator(plant, self.tz)
        self.sent = 0
        self.sent_events = 0
        self.new = 0
        self.new_events = 0
        self.received = 0
        self.missing = 0
        self.db: str | None = None
        self.mqtt: str | None = None
        self.path = ""
        """How the samples travelled (``OPC UA opc.tcp://…``), for the summary."""

    def outputs(self, *, meters: bool) -> list[Output]:
        """The protocol servers the plant is served by (fresh ones for every phase)."""
        plant = self.plant
        outputs: list[Output] = []
        if self.mqtt is not None:
            prefix = f"andon-demo/{uuid.uuid4().hex[:8]}"
            outputs.append(UnsPublisher(self.mqtt, prefix, name="demo-mqtt"))
        else:
            outputs.append(
                PlantOpcUaServer(
                    plant, port=free_port(), name="andon demo plant", command_nodes=False
                )
            )
        if meters and meters_of(plant):
            outputs.append(EnergyMeterServer(plant, name="demo-meters"))
        return outputs

    async def run(self, also: Sequence[Sink] = ()) -> None:
        """Run the simulated span over the protocols into the historian (and ``also`` into
        other sinks)."""
        source = OverProtocols(
            self.virtual, self.outputs(meters=False), self.until_ns, speed=self.speed
        )
        sink = HistorianSink(self.historian)
        async with source:
            self.path = ", ".join(f"{c.health.kind} {c.health.url}" for c in source.connectors)
            pipeline = Pipeline([Narrated(source, self)], [sink, *also])
            if self.quiet:
                await pipeline.run()
            else:
                await self._live(pipeline)
        self.sent, self.sent_events = source.server.counts.samples, source.server.counts.events
        self.received = source.received()
        self.missing = source.missing
        self.new, self.new_events = sink.new_samples, sink.new_events

    async def carry_on(self, also: Sequence[Sink] = ()) -> None:
        """Keep the plant running in real time after the span, telling its story, until
        cancelled; its energy meters are read over Modbus TCP now."""
        until = MAX_NS - NS_PER_S * 10**9
        source = OverProtocols(self.virtual, self.outputs(meters=True), until, speed=1.0)
        async with source:
            pipeline = Pipeline([Narrated(source, self)], [HistorianSink(self.historian), *also])
            await pipeline.run()

    async def _live(self, pipeline: Pipeline) -> None:
        progress = Progress(
            TextColumn("simulated [bold]{task.fields[clock]}[/]"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
        )
        start = self.virtual.start_ns
        task = progress.add_task("sim", total=(self.until_ns - start) / NS_PER_S, clock="")
        with Live(console=console, refresh_per_second=8, transient=False) as live:
            runner = asyncio.create_task(pipeline.run())
            while not runner.done():
                now = self.virtual.now_ns
                progress.update(task, completed=(now - start) / NS_PER_S, clock=self._clock(now))
                live.update(Group(self._table(self.virtual.machines()), progress))
                await asyncio.wait({runner}, timeout=REFRESH_S)
            await runner
            now = self.virtual.now_ns
            progress.update(task, completed=(now - start) / NS_PER_S, clock=self._clock(now))
            live.update(Group(self._table(self.virtual.machines()), progress))

    def _clock(self, ns: int) -> str:
        return from_ns(ns).astimezone(self.tz).strftime("%a %H:%M:%S")

    def _table(self, machines: Sequence[MachineStatus]) -> Table:
        table = Table(title=self.plant.name or self.plant.root, title_justify="left")
        for col in ("machine", "state", "for", "good", "scrap", "rework", "last event"):
            table.add_column(
                col, justify="right" if col in ("for", "good", "scrap", "rework") else "left"
            )
        now = self.virtual.now_ns
        for m in machines:
            mins = max(0, now - m.since_ns) / NS_PER_S / 60
            table.add_row(
                m.id,
                f"[{state_style(m.state)}]{m.state.label}[/]",
                f"{mins:.0f} min",
                str(m.good),
                str(m.scrap),
                str(m.rework),
                m.last_event,
            )
        return table

    def tell(self, events: tuple[Event, ...]) -> None:
        for line in self.narrator.tell(events):
            if not self.quiet:
                console.print(line)


class Narrated:
    """Passes the virtual plant's items on, letting the narrator read the events first."""

    def __init__(self, source: OverProtocols, run: DemoRun) -> None:
        self.source = source
        self.run_ = run
        self.name = source.name
        self.acknowledges = source.acknowledges

    async def run(self, emit: Emit) -> None:
        async def narrated(item: Item) -> None:
            if isinstance(item, tuple):
                self.run_.tell(item)
            await emit(item)

        await self.source.run(narrated)


_SUMMARY_STATES = (
    ("running", "run"),
    ("micro_stop", "µstop"),
    ("idle", "idle"),
    ("starved", "starved"),
    ("blocked", "blocked"),
    ("setup", "setup"),
    ("down", "down"),
    ("planned_stop", "planned"),
)


def summary(plant: Plant, virtual: VirtualPlant, historian: Historian, run: DemoRun) -> None:
    states = Table(title="Minutes in each state", title_justify="left")
    parts = Table(title="Parts, and samples the historian holds for the run", title_justify="left")
    states.add_column("machine")
    parts.add_column("machine")
    for _, header in _SUMMARY_STATES:
        states.add_column(header, justify="right")
    for header in ("good", "scrap", "rework", "samples"):
        parts.add_column(header, justify="right")
    by_path = {ref.path: ref for ref in plant.machines()}
    produced = set(virtual.tags)  # unsimulated tags were never stored
    for m in virtual.machines():
        paths = [by_path[m.path].tag_path(t.name) for t in by_path[m.path].machine.tags]
        stored = sum(
            historian.count_samples(path, virtual.start_ns, virtual.now_ns)
            for path in paths
            if path in produced
        )
        states.add_row(
            m.id, *(f"{m.seconds.get(label, 0.0) / 60:.0f}" for label, _ in _SUMMARY_STATES)
        )
        parts.add_row(m.id, str(m.good), str(m.scrap), str(m.rework), f"{stored:,}")
    console.print()
    console.print(states)
    console.print(parts)
    table, worst = oee_table(plant, historian, virtual.start_ns, virtual.now_ns)
    if table.row_count:
        console.print(table)
        console.print(
            f"derived OEE is within {worst:.2f} percentage points of the plant's ground truth"
        )
    hours = (virtual.now_ns - virtual.start_ns) / NS_PER_S / 3600
    console.print(
        f"{run.sent:,} samples and {run.sent_events:,} events of {hours:.1f} simulated hours "
        f"produced; {run.new:,} samples and {run.new_events:,} events were new to "
        f"{historian.url}"
    )
    console.print(f"the samples travelled over {run.path}: {run.received:,} received", markup=False)
    if run.missing:
        console.print(
            f"[bold red]{run.missing:,} samples served never arrived through the connectors[/]"
            " (see the warnings above): the historian lacks them"
        )
    db = "" if run.db is None else f" --db '{run.db if '***' not in historian.url else 'URL'}'"
    injected = [e for e in virtual.ground_truth if e.kind == TRUTH_KIND]
    if injected:
        console.print(f"{len(injected)} data faults were injected (ground truth):")
        for e in injected:
            p = e.payload
            console.print(
                f"  {p['kind']:<15} {'/'.join(str(p['tag']).split('/')[-2:])}  "
                f"{iso(int(p['start_ns']))[:19]} to {iso(int(p['end_ns']))[:19]}",
                markup=False,
            )
        span = f"--from {iso(virtual.start_ns)} --to {iso(virtual.now_ns)}"
        console.print(f"Next: [bold]andon data check {span}{db}[/]")
        return
    first = plant.machines()[0]
    vib = next((t.name for t in first.machine.tags if t.signal == "vibration_rms"), None)
    if vib:
        span = f"--from {iso(virtual.start_ns)} --to {iso(virtual.now_ns)}"
        console.print(
            f"Next: [bold]andon history query {first.tag_path(vib)} {span} --every 10m{db}[/]"
        )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (for the demo's servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
