"""``andon connect``: browse, dead-letters, status and write, against real servers on loopback.

The servers (the virtual plant's OPC UA server and its Modbus energy meters) run in an event
loop of their own on a background thread; the CLI runs in the test's thread as a person would
run it, with its own ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
import pytest
import yaml
from asyncua import ua
from pydantic import TypeAdapter
from pymodbus.client import AsyncModbusTcpClient
from typer.testing import CliRunner

from andon.audit import AuditEntry, AuditLog
from andon.cli import connect as connect_cli
from andon.cli.app import app
from andon.cli.audit import cli_actor
from andon.cli.console import console
from andon.connect.deadletter import DeadLetter
from andon.connect.modbus import ModbusSource
from andon.core.clock import NS_PER_S, iso, now_ns
from andon.historian import open_historian
from andon.plant import example_plant, load_plant
from andon.plant.model import Plant
from andon.plant.sources import ModbusRegister, OpcUaNode, OpcUaSource, Source
from andon.plant.sources import ModbusSource as ModbusConfig
from andon.sim.serve.modbus import EnergyMeterServer
from andon.sim.serve.opcua import PlantOpcUaServer

T = TypeVar("T")
runner = CliRunner()
MILL = "springfield/machining/cell-1/mill-1"
SOURCES: TypeAdapter[Source] = TypeAdapter(Source)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Loop:
    """An asyncio loop on a thread of its own, for the servers the CLI talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_plant(example_plant("job_shop"))


@pytest.fixture(scope="module")
def opcua(loop: Loop, plant: Plant) -> Iterator[PlantOpcUaServer]:
    server = PlantOpcUaServer(plant, port=free_port())
    loop.run(server.start())
    yield server
    loop.run(server.stop())


@pytest.fixture
def meters(loop: Loop, plant: Plant) -> Iterator[EnergyMeterServer]:
    server = EnergyMeterServer(plant, port=0)
    loop.run(server.start())
    yield server
    loop.run(server.stop())


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/andon.db"
    open_historian(url).close()
    return url


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need (CliRunner's terminal is 80 columns)."""
    monkeypatch.setattr(console, "_width", 250)


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["connect", *args])


def plant_file(tmp_path: Path, *sources: Source) -> str:
    """The job shop with a ``sources:`` section."""
    entries = [s.model_dump(mode="json", exclude_none=True) for s in sources]
    text = Path(example_plant("job_shop")).read_text()
    path = tmp_path / "plant.yaml"
    path.write_text(text + "\n" + yaml.safe_dump({"sources": entries}, sort_keys=False))
    return str(path)


def audit_entries(db: str) -> list[AuditEntry]:
    with open_historian(db) as historian:
        return AuditLog(historian.engine).entries(category="command", limit=100)


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return str(lines[0])


# ---------------------------------------------------------------------- browse


def test_browse_prints_a_sources_entry_that_plant_check_accepts(
    opcua: PlantOpcUaServer, tmp_path: Path
) -> None:
    r = invoke("browse", opcua.url, "--name", "mills")
    assert r.exit_code == 0, r.output
    (entry,) = yaml.safe_load(r.stdout)["sources"]
    source = SOURCES.validate_python(entry)
    assert isinstance(source, OpcUaSource)
    assert (source.name, source.url) == ("mills", opcua.url)
    found = {n.tag: n.node for n in source.nodes}
    assert len(found) == 4 * 11  # 10 tags and a command per machine
    assert found[f"{MILL}/spindle_speed"] == opcua.node_id(f"{MILL}/spindle_speed")
    path = tmp_path / "plant.yaml"
    path.write_text(Path(example_plant("job_shop")).read_text() + "\n" + r.stdout)
    check = runner.invoke(app, ["plant", "check", str(path)])
    assert check.exit_code == 0, check.output
    assert [s.name for s in load_plant(path).sources] == ["mills"]


def test_browse_below_a_machine_under_another_site_path(opcua: PlantOpcUaServer) -> None:
    root = f"ns={opcua.ns};s={MILL}"
    r = invoke("browse", opcua.url, "--root", root, "--site-path", "acme/body/weld-2/robot-7")
    assert r.exit_code == 0, r.output
    (entry,) = yaml.safe_load(r.stdout)["sources"]
    tags = [n["tag"] for n in entry["nodes"]]
    assert len(tags) == 11
    assert "acme/body/weld-2/robot-7/spindle_speed" in tags
    assert all(t.startswith("acme/body/weld-2/robot-7/") for t in tags)


def test_browse_with_the_readme_site_path_does_not_repeat_it(opcua: PlantOpcUaServer) -> None:
    """The README's example: the sim mirrors the plant, so the site path is not doubled."""
    r = invoke("browse", opcua.url, "--site-path", "springfield/machining/cell-1")
    assert r.exit_code == 0, r.output
    (entry,) = yaml.safe_load(r.stdout)["sources"]
    tags = {n["tag"] for n in entry["nodes"]}
    assert f"{MILL}/state_code" in tags
    assert all(t.startswith("springfield/machining/cell-1/") for t in tags)
    assert not any("springfield_machining" in t or t.count("cell-1") > 1 for t in tags), tags


def test_browse_of_an_unreachable_server_is_one_line_and_exit_1() -> None:
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    r = invoke("browse", url)
    line = one_line_error(r)
    assert url in line and "connection refused" in line
    assert r.stdout == ""


# ---------------------------------------------------------------------- dead letters


def test_dead_letters_table_json_source_filter_and_newest(db: str, wide: None) -> None:
    now = now_ns()
    letters = [
        DeadLetter.of("broker", f"acme/bad/{i}", b'{"value": nope', "not JSON", now - i * NS_PER_S)
        for i in range(30)
    ]
    letters.append(DeadLetter.of("meters", "unit 1 holding 0-9", b"\x83\x02", "exception 2", now))
    with open_historian(db) as historian:
        historian.write_events([d.event() for d in letters])

    table = invoke("dead-letters", "--db", db)
    assert table.exit_code == 0, table.output
    assert "31 dead letters" in table.stdout
    assert "acme/bad/29" in table.stdout and "unit 1 holding 0-9" in table.stdout
    assert "not JSON" in table.stdout and '{"value": nope' in table.stdout

    rows = [
        json.loads(line)
        for line in invoke("dead-letters", "--json", "--db", db).stdout.split("\n")
        if line
    ]
    assert len(rows) == 31
    assert rows[0] == {
        "ts": iso(now - 29 * NS_PER_S),
        "source": "broker",
        "topic": "acme/bad/29",
        "reason": "not JSON",
        "size": 14,
        "head": '{"value": nope',
    }

    only = invoke("dead-letters", "--source", "meters", "--json", "--db", db)
    assert [json.loads(x)["source"] for x in only.stdout.split("\n") if x] == ["meters"]

    newest = invoke("dead-letters", "--source", "broker", "--limit", "5", "--json", "--db", db)
    topics = [json.loads(x)["topic"] for x in newest.stdout.split("\n") if x]
    assert topics == [f"acme/bad/{i}" for i in (4, 3, 2, 1, 0)]  # the newest 5, oldest first

    old = invoke("dead-letters", "--from", "-2h", "--to", "-1h", "--db", db)
    assert old.exit_code == 0 and "0 dead letters" in old.stdout


def test_dead_letters_bad_time_and_missing_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/andon.db"
    open_historian(db).close()
    line = one_line_error(invoke("dead-letters", "--from", "yesterday", "--db", db))
    assert "--from" in line


# ---------------------------------------------------------------------- status


def meter_source(meters: EnergyMeterServer, **extra: Any) -> ModbusConfig:
    return meters.register_map("meters", poll=0.1).model_copy(update=extra)


async def poll_once(config: ModbusConfig) -> Any:
    """One poll of the meters through andon's Modbus connector (as ingest would do)."""
    source = ModbusSource(config)
    client = AsyncModbusTcpClient("127.0.0.1", port=int(config.url.rsplit(":", 1)[1]))
    await client.connect()
    try:
        batch, _ = await source.poll(client)
    finally:
        client.close()
    return batch


def test_status_shows_each_source_with_its_newest_sample_and_dead_letters(
    loop: Loop,
    meters: EnergyMeterServer,
    opcua: PlantOpcUaServer,
    tmp_path: Path,
    db: str,
    wide: None,
) -> None:
    config = meter_source(meters)
    batch = loop.run(poll_once(config))
    assert len(batch) == 8
    with open_historian(db) as historian:
        historian.write(batch)
        historian.write_events(
            [DeadLetter.of("meters", "unit 1 holding 90-99", b"\x83\x02", "exception 2").event()]
        )
    plant = plant_file(tmp_path, config, opcua.source_config(name="mills"))
    r = invoke("status", "--plant", plant, "--db", db)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    row = next(line for line in lines if "meters" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == ["meters", "modbus", meters.url, "8", iso(int(batch.ts[0])), "1"]
    mills = next(line for line in lines if "mills" in line)
    cells = [c.strip() for c in mills.strip("│ ").split("│")]
    assert cells == ["mills", "opcua", opcua.url, "40", "-", "0"]


def test_status_of_a_plant_without_sources(db: str) -> None:
    line = one_line_error(invoke("status", "--plant", example_plant("job_shop"), "--db", db))
    assert "no sources: section" in line


# ---------------------------------------------------------------------- write


async def holding(port: int, address: int, count: int) -> list[int]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    try:
        rr = await client.read_holding_registers(address, count=count, device_id=1)
        return list(rr.registers)
    finally:
        client.close()


def float32(words: list[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", *words))[0])


def test_write_through_modbus_changes_the_register_and_is_audited(
    loop: Loop, meters: EnergyMeterServer, tmp_path: Path, db: str
) -> None:
    extra = [
        ModbusRegister(tag=f"{MILL}/setpoint", address=100, type="uint16"),  # not served
        ModbusRegister(tag=f"{MILL}/counter", address=0, function="input", type="uint16"),
    ]
    config = meter_source(meters)
    config = config.model_copy(update={"registers": [*config.registers, *extra]})
    plant = plant_file(tmp_path, config)
    tag = f"{MILL}/meter_power"
    r = invoke("write", tag, "12.5", "--source", "meters", "--plant", plant, "--db", db)
    assert r.exit_code == 0, r.output
    assert f"{tag} = 12.5 written through meters" in r.stdout
    assert float32(loop.run(holding(meters.port, 0, 2))) == 12.5
    (entry,) = audit_entries(db)
    assert (entry.actor, entry.source, entry.action, entry.target, entry.result) == (
        cli_actor(),
        "cli",
        "write",
        tag,
        "ok",
    )
    assert entry.details["value"] == 12.5 and entry.details["source"] == "meters"

    # refused before anything is sent: read-only input register, unknown tag
    r = invoke("write", f"{MILL}/counter", "1", "--source", "meters", "--plant", plant, "--db", db)
    assert "input registers are read-only" in one_line_error(r)
    r = invoke("write", f"{MILL}/nothing", "1", "--source", "meters", "--plant", plant, "--db", db)
    assert f"no Modbus register is mapped to tag {MILL}/nothing" in one_line_error(r)
    # refused by the device: it has no holding register 100
    r = invoke("write", f"{MILL}/setpoint", "7", "--source", "meters", "--plant", plant, "--db", db)
    line = one_line_error(r)
    assert "the device refused the write to holding register 100" in line
    assert "illegal data address" in line
    entries = audit_entries(db)
    assert [(e.target, e.result) for e in entries[1:]] == [
        (f"{MILL}/counter", "denied"),
        (f"{MILL}/nothing", "denied"),
        (f"{MILL}/setpoint", "failed"),
    ]
    assert "read-only" in entries[1].details["answer"]
    assert "illegal data address" in entries[3].details["answer"]
    assert float32(loop.run(holding(meters.port, 0, 2))) == 12.5


def test_write_names_a_source_that_is_not_configured(
    meters: EnergyMeterServer, tmp_path: Path, db: str
) -> None:
    plant = plant_file(tmp_path, meter_source(meters))
    r = invoke("write", f"{MILL}/meter_power", "1", "--source", "nope", "--plant", plant)
    assert "--source: no source named 'nope'" in one_line_error(r)


def test_write_a_command_through_opcua_reaches_the_machine(
    opcua: PlantOpcUaServer, tmp_path: Path, db: str
) -> None:
    tag = f"{MILL}/command"
    config = opcua.source_config(name="mills")
    command = OpcUaNode(tag=tag, node=f"ns={opcua.ns};s={tag}")
    config = config.model_copy(update={"nodes": [*config.nodes, command]})
    plant = plant_file(tmp_path, config)
    before = len(opcua.commands)
    began = time.monotonic()
    r = invoke("write", tag, "stop", "--source", "mills", "--plant", plant, "--db", db)
    assert r.exit_code == 0, r.output
    assert time.monotonic() - began < 10
    assert opcua.commands[before:] == [(MILL, "stop")]
    (entry,) = audit_entries(db)
    assert (entry.target, entry.result, entry.details["value"]) == (tag, "ok", "stop")
    # a number to a Double variable, converted to the node's type
    r = invoke(
        "write", f"{MILL}/tool_wear", "0.25", "--source", "mills", "--plant", plant, "--db", db
    )
    assert r.exit_code == 0, r.output
    assert value_of(opcua, f"{MILL}/tool_wear") == 0.25
    # a number typed for a String variable is written as the text typed: "12", not "12.0"
    r = invoke("write", tag, "12", "--source", "mills", "--plant", plant, "--db", db)
    assert r.exit_code == 0, r.output
    assert value_of(opcua, tag) == "12"
    assert audit_entries(db)[-1].details["value"] == "12"
    # an unknown tag is refused with the source named
    r = invoke("write", f"{MILL}/nothing", "1", "--source", "mills", "--plant", plant, "--db", db)
    assert f"source mills has no OPC UA node for tag '{MILL}/nothing'" in one_line_error(r)
    assert audit_entries(db)[-1].result == "denied"


def value_of(server: PlantOpcUaServer, tag: str) -> object:
    dv = server.server.read_attribute_value(ua.NodeId.from_string(f"ns={server.ns};s={tag}"))
    return dv.Value.Value if dv.Value is not None else None


def test_an_unexpected_failure_of_a_write_is_audited_and_one_line(
    meters: EnergyMeterServer, tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt is in the audit log, even one that fails in a way andon does not expect
    (a bug, a library's surprise): injected here, as no real peer fails like that on demand."""

    async def broken(*_: object) -> None:
        raise RuntimeError("the library was surprised")

    monkeypatch.setattr(connect_cli, "_write_once", broken)
    plant = plant_file(tmp_path, meter_source(meters))
    tag = f"{MILL}/meter_power"
    r = invoke("write", tag, "1", "--source", "meters", "--plant", plant, "--db", db)
    line = one_line_error(r)
    assert "RuntimeError: the library was surprised" in line and tag in line
    (entry,) = audit_entries(db)
    assert (entry.target, entry.result) == (tag, "failed")
    assert entry.details["answer"] == "RuntimeError: the library was surprised"


def test_write_to_an_unreachable_opcua_server_fails_fast(
    opcua: PlantOpcUaServer, tmp_path: Path, db: str
) -> None:
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    config = opcua.source_config(name="mills").model_copy(update={"url": url})
    plant = plant_file(tmp_path, config)
    began = time.monotonic()
    r = invoke(
        "write", f"{MILL}/command", "stop", "--source", "mills", "--plant", plant, "--db", db
    )
    line = one_line_error(r)
    assert time.monotonic() - began < 5
    assert "connection refused" in line
    assert audit_entries(db)[-1].result == "failed"


def test_write_through_sparkplug_is_refused_with_the_reason(tmp_path: Path, db: str) -> None:
    config = SOURCES.validate_python(
        {"type": "sparkplug", "name": "edge", "url": "mqtt://127.0.0.1:1", "tag_prefix": "acme/x"}
    )
    plant = plant_file(tmp_path, config)
    r = invoke("write", "acme/x/g/n/d/m", "1", "--source", "edge", "--plant", plant, "--db", db)
    assert "needs the edge node's birth" in one_line_error(r)
    assert audit_entries(db)[-1].result == "denied"


def test_write_through_mqtt_leaves_the_worker_session_alone(
    mqtt_broker: tuple[str, int], tmp_path: Path, db: str
) -> None:
    """The source's fixed client id belongs to the running ingest worker; a CLI write with the
    same id would make the broker drop the worker. The write uses a client of its own."""
    host, port = mqtt_broker
    prefix = f"test-{time.time_ns()}"
    worker_id = f"andon-worker-{time.time_ns()}"
    config = SOURCES.validate_python(
        {
            "type": "mqtt",
            "name": "broker",
            "url": f"mqtt://{host}:{port}",
            "prefix": prefix,
            "client_id": worker_id,
            "clean_session": False,
        }
    )
    got: list[paho.MQTTMessage] = []
    dropped = threading.Event()
    subscribed = threading.Event()
    worker = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=worker_id, clean_session=True)
    worker.on_message = lambda c, u, m: got.append(m)
    worker.on_subscribe = lambda *a: subscribed.set()
    worker.on_disconnect = lambda *a: dropped.set()
    worker.connect(host, port)
    worker.loop_start()
    try:
        worker.subscribe(f"{prefix}/#", qos=1)
        assert subscribed.wait(10)
        plant = plant_file(tmp_path, config)
        tag = f"{MILL}/command"
        r = invoke("write", tag, "stop", "--source", "broker", "--plant", plant, "--db", db)
        assert r.exit_code == 0, r.output
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m.topic for m in got] == [f"{prefix}/{tag}/set"]
        assert json.loads(got[0].payload)["value"] == "stop"
        assert not dropped.is_set()
    finally:
        worker.disconnect()
        worker.loop_stop()
    assert audit_entries(db)[-1].result == "ok"
