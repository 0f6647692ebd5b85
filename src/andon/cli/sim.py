"""``andon sim``: the virtual plant's extras, such as raw vibration waveforms on demand."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import typer

from andon.cli.console import console, reported
from andon.core.clock import iso, parse_time
from andon.core.errors import InputError
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

app = typer.Typer(help="The virtual plant.", no_args_is_help=True)


@app.command("waveform")
def waveform(
    machine: str = typer.Argument(..., help="Machine id or asset path, e.g. mill-1"),
    out: Path = typer.Argument(..., help="CSV file to write (t_s, acceleration)."),
    plant_file: Path | None = typer.Option(None, "--plant", help="plant.yaml (default: job shop)."),
    start: str = typer.Option(..., "--start", help="Simulated start of the plant (ISO 8601)."),
    at: str = typer.Option(..., "--at", help="When to take the waveform (ISO 8601)."),
    seconds: float = typer.Option(1.0, "--seconds", min=0.01, max=60.0),
    rate: float = typer.Option(25_600.0, "--rate", min=1000.0, max=200_000.0, help="Hz"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Run the virtual plant to --at and write a raw acceleration waveform of MACHINE."""
    with reported():
        plant = load_plant(plant_file or example_plant("job_shop"))
        try:
            ref = plant.machine(machine)
        except KeyError:
            raise InputError(f"no machine {machine!r} in the plant") from None
        start_ns = parse_time(start, field="--start")
        at_ns = parse_time(at, field="--at")
        if at_ns < start_ns:
            raise InputError("--at is before --start")
        virtual = VirtualPlant(plant, seed=seed, start_ns=start_ns)
        virtual.advance(at_ns)
        signal = virtual.waveform(ref.machine.id, at_ns=at_ns, seconds=seconds, rate_hz=rate)
        t = np.arange(len(signal)) / rate
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["t_s", "acceleration"])
            writer.writerows(zip(t.round(7).tolist(), signal.tolist(), strict=True))
        console.print(
            f"[green]wrote[/] {len(signal):,} points of {ref.path} at {iso(at_ns)} "
            f"({seconds:g} s at {rate:g} Hz) to {out}"
        )


@app.command("serve")
def serve(
    plant_file: Path | None = typer.Option(None, "--plant", help="plant.yaml (default: job shop)."),
    speed: float = typer.Option(1.0, "--speed", min=0.01, help="Simulated seconds per second."),
    seed: int = typer.Option(0, "--seed"),
    opcua_port: int = typer.Option(
        4840, "--opcua-port", min=0, max=65535, help="OPC UA server port (0: none)."
    ),
    modbus_port: int = typer.Option(
        5020, "--modbus-port", min=0, max=65535, help="Modbus TCP energy meters port (0: none)."
    ),
    mqtt: str | None = typer.Option(
        None, "--mqtt", help="Also publish to this broker (mqtt://HOST:PORT)."
    ),
    prefix: str = typer.Option("sim", "--prefix", help="Topic prefix of the JSON messages."),
    sparkplug: bool = typer.Option(
        True, "--sparkplug/--no-sparkplug", help="With --mqtt, also publish Sparkplug B."
    ),
) -> None:
    """Serve the virtual plant over OPC UA and Modbus TCP (and MQTT) until Ctrl-C.

    Prints the plant.yaml `sources:` entries that connect andon to it; the plant obeys
    written stop/start commands (OPC UA `command` variables, MQTT `<machine>/command/set`,
    Sparkplug DCMD `command`)."""
    from andon.cli.simserve import check_broker_url, run_servers

    with reported():
        if mqtt is not None:
            check_broker_url(mqtt)
        plant = load_plant(plant_file or example_plant("job_shop"))
        if not plant.machines():
            raise InputError("the plant has no machines to simulate")
        if mqtt is None and opcua_port == 0 and modbus_port == 0:
            raise InputError("nothing to serve: give an --opcua-port, a --modbus-port or --mqtt")
        run_servers(plant, speed, seed, opcua_port, modbus_port, mqtt, prefix, sparkplug)
