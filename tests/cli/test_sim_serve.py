"""``andon sim serve``: the virtual plant as OPC UA and Modbus servers, read by andon."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from typer.testing import CliRunner

from andon.cli.app import app
from andon.connect.registry import open_connectors
from andon.core.batch import Batch
from andon.core.errors import InputError
from andon.core.stream import Item
from andon.plant import example_plant, load_plant
from andon.plant.sources import Source
from andon.sim.serve.modbus import EnergyMeterServer
from andon.sim.serve.opcua import PlantOpcUaServer
from andon.sim.serve.sparkplug import SparkplugPublisher


def free_port() -> int:
    """A port nobody listens on (this test module may be collected beside another conftest)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _served_sources(proc: subprocess.Popen[str], timeout: float = 30) -> list[Source]:
    """The ``sources:`` YAML the command prints before it starts serving."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if lines and not line.strip():
            break
        if line.startswith("sources:") or lines:
            lines.append(line)
    entries = yaml.safe_load("".join(lines))["sources"]
    return [TypeAdapter(Source).validate_python(e) for e in entries]


def test_sim_serve_speaks_opcua_and_modbus_and_obeys_a_stop(tmp_path: Path) -> None:
    opcua, modbus = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "andon", "sim", "serve", "--speed", "30"),
            *("--opcua-port", str(opcua), "--modbus-port", str(modbus)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sources = _served_sources(proc)
        assert [s.type for s in sources] == ["opcua", "modbus"]
        assert sources[0].url == f"opc.tcp://127.0.0.1:{opcua}"

        async def read() -> tuple[dict[str, int], bool]:
            connectors = open_connectors(sources)
            got: dict[str, int] = {}

            async def emit(item: Item) -> None:
                if isinstance(item, Batch):
                    for path in item.tag_paths():
                        got[path] = got.get(path, 0) + 1

            tasks = [asyncio.create_task(c.run(emit)) for c in connectors]
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                meter = next((t for t in got if t.endswith("/meter_energy")), None)
                speeds = [t for t in got if t.endswith("/spindle_speed")]
                if meter and speeds and sum(got[t] for t in speeds) > 20:
                    break
                await asyncio.sleep(0.1)
            opc = connectors[0]
            mill = sources[0].nodes[0].tag.rsplit("/", 1)[0]  # type: ignore[union-attr]
            result = await opc.write(f"{mill}/command", "stop")
            for c in connectors:
                await c.close()
            await asyncio.gather(*tasks)
            return got, result.ok

        got, wrote = asyncio.run(read())
        assert any(t.endswith("/meter_energy") for t in got), sorted(got)[:5]
        assert sum(n for t, n in got.items() if t.endswith("/spindle_speed")) > 20
        assert wrote
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "samples served, 1 commands" in out, out[-300:]


# ---------------------------------------------------------------------- clear errors

runner = CliRunner()


def one_line_error(result: Any) -> str:
    """Exit 1 with one line on stderr, never a traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def serve(*args: str) -> Any:
    return runner.invoke(app, ["sim", "serve", *args])


def test_an_opcua_port_in_use_is_one_clear_line(taken: int) -> None:
    line = one_line_error(serve("--opcua-port", str(taken), "--modbus-port", "0"))
    assert f"OPC UA port {taken} on 127.0.0.1 is in use; choose another port" in line


def test_a_modbus_port_in_use_is_one_clear_line_and_the_opcua_server_stops(taken: int) -> None:
    opcua = free_port()
    line = one_line_error(serve("--opcua-port", str(opcua), "--modbus-port", str(taken)))
    assert f"Modbus TCP port {taken} on 127.0.0.1 is in use; choose another port" in line
    with socket.socket() as s:  # the OPC UA server that had started is gone again
        s.bind(("127.0.0.1", opcua))


def test_the_modbus_server_itself_refuses_a_port_in_use(taken: int) -> None:
    """Without the CLI (andon demo and the tests start the servers directly)."""
    plant = load_plant(example_plant("job_shop"))
    with pytest.raises(InputError, match=f"Modbus TCP port {taken} on 127.0.0.1 is in use"):
        asyncio.run(EnergyMeterServer(plant, port=taken).start())
    with pytest.raises(InputError, match=f"OPC UA port {taken} on 127.0.0.1 is in use"):
        asyncio.run(PlantOpcUaServer(plant, port=taken).start())


@pytest.mark.parametrize("sparkplug", ["--sparkplug", "--no-sparkplug"])
def test_no_broker_answering_is_one_clear_line(sparkplug: str) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nobody listens there
    began = time.monotonic()
    result = serve("--opcua-port", "0", "--modbus-port", "0", "--mqtt", url, sparkplug)
    line = one_line_error(result)
    assert f"no MQTT broker answered at {url}" in line and "--mqtt" in line
    assert time.monotonic() - began < 8  # a refused connection is known at once


def test_the_sparkplug_publisher_alone_says_no_broker() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    plant = load_plant(example_plant("job_shop"))
    with pytest.raises(InputError, match=f"no MQTT broker answered at {url}"):
        asyncio.run(SparkplugPublisher(plant, url).start())


@pytest.mark.parametrize("url", ["foo", "tcp://127.0.0.1:1883", "mqtt://127.0.0.1:port"])
def test_a_bad_broker_url_is_refused_like_the_demo_does(url: str) -> None:
    line = one_line_error(serve("--mqtt", url))
    assert line.startswith("error: --mqtt: ")


def test_the_demo_without_a_broker_is_one_clear_line(tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    result = runner.invoke(
        app,
        [
            *("demo", "--db", f"sqlite:///{tmp_path / 'd.db'}", "--minutes", "10"),
            *("--speed", "0", "--no-serve", "--quiet", "--mqtt", url),
        ],
    )
    assert f"no MQTT broker answered at {url}" in one_line_error(result)
