"""``andon sim serve``: the virtual plant as OPC UA and Modbus servers, read by andon."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from andon.connect.registry import open_connectors
from andon.core.batch import Batch
from andon.core.stream import Item
from andon.plant.sources import Source
from conftest import free_port


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
