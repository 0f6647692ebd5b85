"""The OPC UA connector against real asyncua servers on loopback.

Each test starts the virtual plant's OPC UA server (``PlantOpcUaServer``) on a free port and
runs andon's connector against it: subscription into the historian, deadband, bad status
codes, unknown nodes, a server restart, security with certificates and a user login,
write-back, and browse + snippet.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import pytest
import yaml
from asyncua import ua
from asyncua.crypto import cert_gen
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ObjectIdentifier
from cryptography.x509.oid import ExtendedKeyUsageOID

from andon.connect.base import Value, WriteRefused
from andon.connect.deadletter import DeadLetter
from andon.connect.opcua import (
    OpcUaSource,
    browse,
    lost_reason,
    segment_of,
    snippet,
    suggest_tag,
)
from andon.core.batch import Batch
from andon.core.clock import NS_PER_S
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.quality import BAD, GOOD, UNCERTAIN
from andon.core.stream import Emit, Item
from andon.historian import open_historian
from andon.pipeline import HistorianSink, Pipeline
from andon.plant import example_plant, load_plant
from andon.plant.model import Plant
from andon.plant.sources import OpcUaNode, OpcUaSecurity
from andon.plant.sources import OpcUaSource as OpcUaConfig
from andon.sim.plant import VirtualPlant
from andon.sim.serve.opcua import PlantOpcUaServer, ServerSecurity

START_NS = 1_700_000_000 * NS_PER_S
END_NS = START_NS + 86400 * NS_PER_S
MILL = "springfield/machining/cell-1/mill-1"
SPEED = f"{MILL}/spindle_speed"
POWER = f"{MILL}/power"
CURRENT = f"{MILL}/motor_current"


T = TypeVar("T")


def stamp(dt: datetime) -> ua.DateTime:
    return cast(ua.DateTime, dt)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_plant(example_plant("job_shop"))


async def until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Run:
    """A connector as a pipeline source that keeps every item and stops when told."""

    def __init__(self, source: OpcUaSource) -> None:
        self.source = source
        self.name = source.name
        self.items: list[Item] = []
        self.stop = asyncio.Event()

    async def run(self, emit: Emit) -> None:
        async def tee(item: Item) -> None:
            self.items.append(item)
            await emit(item)

        task = asyncio.create_task(self.source.run(tee))
        await self.stop.wait()
        await self.source.close()
        await task

    def batches(self) -> list[Batch]:
        return [i for i in self.items if isinstance(i, Batch)]

    def samples(
        self, tag: str | None = None, start_ns: int = START_NS, end_ns: int = END_NS
    ) -> int:
        """Samples in [start_ns, end_ns): by default the test's window, without the initial
        'no data yet' every node reports at subscription time (that one has the wall time)."""
        n = 0
        for b in self.batches():
            mask = (b.ts >= start_ns) & (b.ts < end_ns)
            if tag is not None:
                mask &= np.array([b.tags[i] == tag for i in b.tag_id.tolist()], dtype=bool)
            n += int(mask.sum())
        return n

    def series(self, tag: str) -> list[tuple[int, float, int]]:
        out = []
        for b in self.batches():
            for t, i, v, q in zip(b.ts, b.tag_id, b.value, b.quality, strict=True):
                if b.tags[i] == tag and START_NS <= t < END_NS:
                    out.append((int(t), float(v), int(q)))
        return sorted(out)

    def dead_letters(self) -> list[DeadLetter]:
        return [
            DeadLetter.from_event(e)
            for i in self.items
            if isinstance(i, tuple)
            for e in i
            if isinstance(e, Event) and e.kind == "dead_letter"
        ]


class Memory:
    name = "memory"

    async def write(self, item: Item) -> None:
        return None

    async def close(self) -> None:
        return None


def nodes(server: PlantOpcUaServer, *tags: str, **extra: float) -> list[OpcUaNode]:
    return [OpcUaNode(tag=t, node=server.node_id(t), **extra) for t in tags]


def config(server: PlantOpcUaServer, node_list: list[OpcUaNode], **fields: object) -> OpcUaConfig:
    fields.setdefault("publishing_interval", 0.05)
    return OpcUaConfig.model_validate(
        {"type": "opcua", "name": "plc", "url": server.url, "nodes": node_list, **fields}
    )


# ---------------------------------------------------------------------- subscription


def test_every_published_value_reaches_the_historian_with_its_source_time(
    plant: Plant, db_url: str
) -> None:
    sim = VirtualPlant(plant, seed=3, start_ns=START_NS)
    batch, _ = sim.advance(START_NS + 300 * NS_PER_S)

    async def main() -> tuple[Run, dict[str, list[tuple[int, float, int]]], int]:
        async with PlantOpcUaServer(plant, port=free_port()) as server:
            run = Run(OpcUaSource(server.source_config(publishing_interval=0.05)))
            historian = open_historian(db_url)
            try:
                pipe = asyncio.create_task(Pipeline([run], [HistorianSink(historian)]).run())
                # the items exist on the server: every value written from now on arrives
                assert await run.source.wait_subscribed(10)
                written = await server.publish(batch)
                await until(lambda: run.samples() >= written)
                run.stop.set()
                await asyncio.wait_for(pipe, 20)
                stored = {t: historian.range(t, START_NS, END_NS) for t in batch.tags}
                count = historian.count_samples(start_ns=START_NS, end_ns=END_NS)
            finally:
                historian.close()
            got = {
                t: list(zip(s.ts.tolist(), s.value.tolist(), s.quality.tolist(), strict=True))
                for t, s in stored.items()
            }
            return run, got, count

    run, stored, count = asyncio.run(main())
    assert count == len(batch)
    for tag in batch.tags:
        sel = batch.select(batch.tag_id == batch.tags.index(tag))
        want = [
            (t // 1000 * 1000, v) for t, v in zip(sel.ts.tolist(), sel.value.tolist(), strict=True)
        ]
        assert [(t, v) for t, v, _ in stored[tag]] == sorted(want), tag
        assert {q for *_, q in stored[tag]} <= {GOOD}
    assert run.source.health.samples >= len(batch)
    assert not run.dead_letters()


def test_deadband_drops_small_changes(plant: Plant) -> None:
    steps = [0.1, 0.2, 1.0, 1.05, 2.0, 2.4]

    async def main() -> Run:
        async with PlantOpcUaServer(plant, port=free_port()) as server:
            cfg = config(
                server,
                [
                    OpcUaNode(tag=SPEED, node=server.node_id(SPEED), deadband=0.5),
                    OpcUaNode(tag=POWER, node=server.node_id(SPEED)),  # same node, no deadband
                ],
            )
            # asyncua's server cannot apply a deadband to a change from "no value" (it
            # subtracts None), so the node has a number before the items are created
            await server.set_value(SPEED, 0.0, ts_ns=START_NS)
            run = Run(OpcUaSource(cfg))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            await until(lambda: run.samples(POWER) == 1)
            for i, v in enumerate(steps, 1):
                await server.set_value(SPEED, v, ts_ns=START_NS + i * NS_PER_S)
            await until(lambda: run.samples(POWER) == 1 + len(steps))
            run.stop.set()
            await pipe
            return run

    run = asyncio.run(main())
    assert [v for _, v, _ in run.series(POWER)] == [0.0, *steps]
    assert [v for _, v, _ in run.series(SPEED)] == [0.0, 1.0, 2.0]


def test_bad_status_codes_and_odd_values_become_bad_samples_or_dead_letters(
    plant: Plant,
) -> None:
    """The OPC UA part of the bad-input corpus: each case is stored with a documented quality
    or goes to dead letters, and the good values written between them all arrive."""
    tags = [t for t in plant.tag_paths() if t.startswith(MILL)][:8]
    t0 = START_NS

    def dv(value: object, vtype: ua.VariantType, status: int = ua.StatusCodes.Good) -> ua.DataValue:
        return ua.DataValue(
            ua.Variant(value, vtype),
            StatusCode=ua.StatusCode(ua.UInt32(status)),
            SourceTimestamp=stamp(datetime.fromtimestamp(t0 / NS_PER_S, UTC)),
        )

    cases: list[tuple[str, ua.DataValue, str]] = [
        ("sensor_failure", dv(None, ua.VariantType.Null, ua.StatusCodes.BadSensorFailure), "bad"),
        ("comm_error", dv(None, ua.VariantType.Null, ua.StatusCodes.BadCommunicationError), "bad"),
        (
            "last_usable",
            dv(3.5, ua.VariantType.Double, ua.StatusCodes.UncertainLastUsableValue),
            "uncertain",
        ),
        (
            "sensor_cal",
            dv(7.0, ua.VariantType.Double, ua.StatusCodes.UncertainSensorNotAccurate),
            "uncertain",
        ),
        ("nan", dv(math.nan, ua.VariantType.Double), "bad"),
        ("infinity", dv(math.inf, ua.VariantType.Double), "bad"),
        ("flag", dv(True, ua.VariantType.Boolean), "one"),
        ("count", dv(42, ua.VariantType.Int32), "42"),
        ("text", dv("running", ua.VariantType.String), "text"),
        ("nul_text", dv("a\x00b", ua.VariantType.String), "dead"),
        ("array", dv([1.0, 2.0], ua.VariantType.Double), "dead"),
        ("blob", dv(b"\x00\xff", ua.VariantType.ByteString), "dead"),
        ("label", dv(ua.LocalizedText("x"), ua.VariantType.LocalizedText), "dead"),
        ("date", dv(datetime(2020, 1, 1, tzinfo=UTC), ua.VariantType.DateTime), "dead"),
    ]
    future = dv(1.0, ua.VariantType.Double)
    future.SourceTimestamp = stamp(datetime(3000, 1, 1, tzinfo=UTC))
    past = dv(1.0, ua.VariantType.Double)
    past.SourceTimestamp = stamp(datetime(1900, 1, 1, tzinfo=UTC))
    cases += [("year_3000", future, "dead"), ("year_1900", past, "dead")]

    async def main() -> Run:
        async with PlantOpcUaServer(plant, port=free_port()) as server:
            folder = await server.server.nodes.objects.add_folder(server.ns, "corpus")
            node_list = []
            for name, value, _ in cases:
                variant = value.Value if value.Value and value.Value.Value is not None else None
                initial = variant or ua.Variant(0.0, ua.VariantType.Double)
                var = await folder.add_variable(
                    ua.NodeId(ua.String(f"corpus/{name}"), ua.Int16(server.ns)), name, initial
                )
                await server.server.write_attribute_value(var.nodeid, value)
                node_list.append(OpcUaNode(tag=f"s/a/l/corpus/{name}", node=var.nodeid.to_string()))
            run = Run(OpcUaSource(config(server, [*nodes(server, *tags), *node_list])))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            await until(lambda: run.source.health.connected)
            for k in range(5):  # good values interleaved with the corpus
                for j, tag in enumerate(tags):
                    await server.set_value(tag, k * 10.0 + j, ts_ns=t0 + (k + 1) * NS_PER_S)
            await until(lambda: run.samples() >= 5 * len(tags) + 8)
            run.stop.set()
            await pipe
            return run

    run = asyncio.run(main())
    for j, tag in enumerate(tags):
        got = [(v, q) for t, v, q in run.series(tag) if t > t0]
        assert got == [(k * 10.0 + j, GOOD) for k in range(5)], tag
    letters = {d.topic.rsplit("/", 1)[-1]: d for d in run.dead_letters()}
    strings = [s for b in run.batches() for _, s in b.strings]
    for name, _, expect in cases:
        series = run.series(f"s/a/l/corpus/{name}")
        if expect == "dead":
            assert name in letters and not series, name
            assert "tag s/a/l/corpus/" in letters[name].reason
            continue
        assert len(series) == 1 and name not in letters, name
        _, v, q = series[0]
        if expect == "bad":
            assert math.isnan(v) and q == BAD, name
        elif expect == "uncertain":
            assert q == UNCERTAIN and v in (3.5, 7.0), name
        elif expect == "one":
            assert (v, q) == (1.0, GOOD)
        elif expect == "42":
            assert (v, q) == (42.0, GOOD)
        else:
            assert math.isnan(v) and q == GOOD and strings == ["running"]
    assert "not a number, boolean or text" in letters["array"].reason
    assert "1970..2262" in letters["year_3000"].reason
    assert "NUL character" in letters["nul_text"].reason
    assert run.source.health.dead_letters == 7


def test_unknown_node_goes_to_dead_letters_and_the_others_keep_working(plant: Plant) -> None:
    async def main() -> Run:
        async with PlantOpcUaServer(plant, port=free_port()) as server:
            bad = [
                OpcUaNode(tag=f"{MILL}/ghost", node=f"ns={server.ns};s=no/such/node"),
                # plant.yaml refuses such a node id; a configuration built in code may still
                # carry one, and the connector must not fail on it
                OpcUaNode.model_construct(tag=f"{MILL}/typo", node="ns=2;x=what"),
            ]
            run = Run(OpcUaSource(config(server, [bad[0], *nodes(server, SPEED, POWER), bad[1]])))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            await until(lambda: run.source.health.connected)
            for k in range(3):
                await server.set_value(SPEED, k, ts_ns=START_NS + k)
                await server.set_value(POWER, k, ts_ns=START_NS + k)
            await until(lambda: run.samples() == 6 and len(run.dead_letters()) == 2)
            with pytest.raises(WriteRefused, match="'ns=2;x=what' is not a valid OPC UA node id"):
                await run.source.write(f"{MILL}/typo", 1.0)
            ghost = await run.source.write(f"{MILL}/ghost", 1.0)
            assert not ghost.ok and "BadNodeIdUnknown" in ghost.detail
            run.stop.set()
            await pipe
            return run

    run = asyncio.run(main())
    letters = sorted(run.dead_letters(), key=lambda d: d.topic)
    assert "BadNodeIdUnknown" in letters[0].reason and "ghost" in letters[0].reason
    assert "is not valid" in letters[1].reason and letters[1].topic == "ns=2;x=what"
    assert run.source.health.errors == 3 and run.source.health.dead_letters == 2


def test_server_restart_reconnects_restores_the_subscription_and_logs_once(
    plant: Plant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="andon.connect")

    async def main() -> Run:
        server = PlantOpcUaServer(plant, port=free_port())
        await server.start()
        run = Run(
            OpcUaSource(config(server, nodes(server, SPEED)), retry_initial=0.1, retry_max=0.4)
        )
        pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
        try:
            await until(lambda: run.source.health.connected)
            await server.set_value(SPEED, 1.0, ts_ns=START_NS + 1)
            await until(lambda: run.samples() == 1)
            await server.stop()
            await until(lambda: not run.source.health.connected)
            await asyncio.sleep(1.0)  # several refused reconnects happen here
            await server.start()
            await until(lambda: run.source.health.connected)
            for k in range(2, 5):
                await server.set_value(SPEED, float(k), ts_ns=START_NS + k)
            # 1.0 comes again: a new subscription starts with the current value (the
            # historian keeps one sample per tag and time), then 2.0, 3.0, 4.0
            await until(lambda: run.samples() == 5)
        finally:
            run.stop.set()
            await pipe
            await server.stop()
        return run

    run = asyncio.run(main())
    assert [v for _, v, _ in run.series(SPEED)] == [1.0, 1.0, 2.0, 3.0, 4.0]
    messages = [r.getMessage() for r in caplog.records if r.name == "andon.connect"]
    assert sum("is unavailable" in m for m in messages) == 1, messages
    assert sum("is available again" in m for m in messages) == 1, messages


def test_a_server_busy_for_seconds_does_not_tear_the_session_down(
    plant: Plant, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncua's default watchdog gives its ServerState probe 1 s: a server (or a client
    loop) busy for longer tore a healthy session down. The server here runs on a loop of its
    own, blocked for 3 s while andon is subscribed."""
    caplog.set_level(logging.INFO, logger="andon.connect")
    server_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=server_loop.run_forever, daemon=True)
    thread.start()
    server = PlantOpcUaServer(plant, port=free_port())

    def on_server(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, server_loop).result(30)

    on_server(server.start())
    try:

        async def main() -> Run:
            run = Run(OpcUaSource(config(server, nodes(server, SPEED))))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            await until(lambda: run.source.health.connected)
            await asyncio.to_thread(on_server, server.set_value(SPEED, 1.0, ts_ns=START_NS))
            await until(lambda: run.samples() == 1)
            server_loop.call_soon_threadsafe(time.sleep, 3.0)  # the server is busy
            await asyncio.sleep(4.0)  # a loss would have happened in here
            connected = run.source.health.connected
            await asyncio.to_thread(on_server, server.set_value(SPEED, 2.0, ts_ns=START_NS + 1))
            await until(lambda: run.samples() == 2)
            run.stop.set()
            await pipe
            assert connected
            return run

        run = asyncio.run(main())
    finally:
        on_server(server.stop())
        server_loop.call_soon_threadsafe(server_loop.stop)
        thread.join(10)
    messages = [r.getMessage() for r in caplog.records if r.name == "andon.connect"]
    assert not any("is unavailable" in m for m in messages), messages
    assert [v for _, v, _ in run.series(SPEED)] == [1.0, 2.0]


def test_a_lost_connection_says_why_even_when_the_exception_has_no_text() -> None:
    url = "opc.tcp://127.0.0.1:4840"
    assert lost_reason(url, TimeoutError()) == f"connection to {url} lost: TimeoutError"
    assert lost_reason(url, ConnectionError("transport lost")).endswith("lost: transport lost")


# ---------------------------------------------------------------------- security


def make_pair(directory: Path, name: str, uri: str, use: ObjectIdentifier) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        name,
        {"organizationName": "andon tests"},
        [cert_gen.x509.UniformResourceIdentifier(uri), cert_gen.x509.DNSName("localhost")],
        extended=[use],
    )
    cert_path, key_path = directory / f"{name}.der", directory / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


@pytest.mark.parametrize("mode", ["SignAndEncrypt", "Sign"])
def test_basic256sha256_with_certificates_and_user_login(
    plant: Plant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="andon.connect.opcua")
    server_cert, server_key = make_pair(
        tmp_path, "server", "urn:andon:sim:opcua", ExtendedKeyUsageOID.SERVER_AUTH
    )
    client_cert, client_key = make_pair(
        tmp_path, "client", "urn:andon:client", ExtendedKeyUsageOID.CLIENT_AUTH
    )
    monkeypatch.setenv("OPCUA_TEST_PW", "s3cret")
    monkeypatch.setenv("OPCUA_TEST_WRONG", "guess")
    security = OpcUaSecurity.model_validate(
        {
            "policy": "Basic256Sha256",
            "mode": mode,
            "certificate": str(client_cert),
            "private_key": str(client_key),
        }
    )

    async def main() -> tuple[Run, OpcUaSource, str]:
        server = PlantOpcUaServer(
            plant,
            port=free_port(),
            security=ServerSecurity(server_cert, server_key, modes=(mode,)),
            users={"operator": "s3cret"},
        )
        async with server:
            good = config(
                server,
                nodes(server, SPEED),
                security=security,
                username="operator",
                password_env="OPCUA_TEST_PW",
            )
            run = Run(OpcUaSource(good))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            await until(lambda: run.source.health.connected)
            await server.set_value(SPEED, 12.5, ts_ns=START_NS)
            await until(lambda: run.samples() == 1)
            run.stop.set()
            await pipe

            wrong = OpcUaSource(
                good.model_copy(update={"password_env": "OPCUA_TEST_WRONG"}), retry_initial=5
            )
            task = asyncio.create_task(wrong.run(Memory().write))
            await until(lambda: bool(wrong.health.last_error))
            await wrong.close()
            await task
            with pytest.raises(InputError) as refused:
                await browse(
                    server.url,
                    security=security,
                    username="operator",
                    password_env="OPCUA_TEST_WRONG",
                )
            return run, wrong, str(refused.value)

    run, wrong, browse_error = asyncio.run(main())
    assert run.series(SPEED) == [(START_NS, 12.5, GOOD)]
    assert not wrong.health.connected
    assert "login refused for user 'operator'" in wrong.health.last_error
    assert "login refused for user 'operator'" in browse_error
    # no server_certificate: asyncua does not check whom it talks to; said once, not per connect
    unchecked = [r for r in caplog.records if "certificate is not checked" in r.getMessage()]
    assert len(unchecked) == 1 and unchecked[0].levelno == logging.WARNING
    assert "security.server_certificate" in unchecked[0].getMessage()


def test_configuration_mistakes_are_clear_errors(plant: Plant, tmp_path: Path) -> None:
    base = {
        "type": "opcua",
        "name": "plc",
        "url": "opc.tcp://127.0.0.1:1",
        "nodes": [{"tag": SPEED, "node": "ns=2;s=x"}],
    }
    missing_cert = OpcUaConfig.model_validate(
        base
        | {
            "security": {
                "policy": "Basic256Sha256",
                "mode": "Sign",
                "certificate": str(tmp_path / "nope.der"),
                "private_key": str(tmp_path / "nope.pem"),
            }
        }
    )
    unset_env = OpcUaConfig.model_validate(
        base | {"username": "op", "password_env": "ANDON_NO_SUCH_VAR"}
    )

    async def first_error(cfg: OpcUaConfig) -> str:
        with pytest.raises(InputError) as err:
            await OpcUaSource(cfg).run(Memory().write)
        return str(err.value)

    assert "security.certificate file" in asyncio.run(first_error(missing_cert))
    assert "nope.der" in asyncio.run(first_error(missing_cert))
    msg = asyncio.run(first_error(unset_env))
    assert "ANDON_NO_SUCH_VAR" in msg and "not set" in msg


# ---------------------------------------------------------------------- write-back


def test_write_back_changes_the_node_and_commands_reach_the_plant(plant: Plant) -> None:
    received: list[tuple[str, str]] = []

    async def main() -> list[object]:
        server = PlantOpcUaServer(
            plant, port=free_port(), on_command=lambda m, c: received.append((m, c))
        )
        async with server:
            command = OpcUaNode(
                tag=f"{MILL}/command",
                node=server.node_id(SPEED).replace("spindle_speed", "command"),
            )
            run = Run(OpcUaSource(config(server, [*nodes(server, SPEED), command])))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            await until(lambda: run.source.health.connected)
            ok = await run.source.write(SPEED, 1500)
            value = server.server.read_attribute_value(ua.NodeId.from_string(server.node_id(SPEED)))
            cmd = await run.source.write(f"{MILL}/command", "stop")
            await until(lambda: len(received) == 1)
            refused: list[str] = []
            attempts: list[tuple[str, Value]] = [
                ("nowhere/a/l/m/t", 1.0),
                (SPEED, "fast"),
                (SPEED, math.inf),
            ]
            for tag, v in attempts:
                try:
                    await run.source.write(tag, v)
                except WriteRefused as exc:
                    refused.append(str(exc))
            await until(lambda: "stop" in [t for b in run.batches() for _, t in b.strings])
            run.stop.set()
            await pipe
            return [ok, value, cmd, refused, run]

    ok, value, cmd, refused, run = asyncio.run(main())
    assert ok.ok and value.Value.Value == 1500.0  # type: ignore[attr-defined]
    assert cmd.ok  # type: ignore[attr-defined]
    assert received == [(MILL, "stop")]
    assert len(refused) == 3  # type: ignore[arg-type]
    assert "no OPC UA node for tag" in refused[0]  # type: ignore[index]
    assert "'fast' is not a number" in refused[1]  # type: ignore[index]
    texts = [s for b in run.batches() for _, s in b.strings]  # type: ignore[attr-defined]
    assert "stop" in texts  # the command variable is itself subscribable text


# ---------------------------------------------------------------------- browse and snippet


def test_browse_and_snippet_round_trip_into_a_working_source(plant: Plant) -> None:
    async def main() -> tuple[str, OpcUaConfig, Run]:
        async with PlantOpcUaServer(plant, port=free_port()) as server:
            found = await browse(server.url)
            text = snippet(server.url, found, source_name="mills", publishing_interval=0.05)
            cfg = OpcUaConfig.model_validate(yaml.safe_load(text)["sources"][0])
            run = Run(OpcUaSource(cfg))
            pipe = asyncio.create_task(Pipeline([run], [Memory()]).run())
            assert await run.source.wait_subscribed(10)
            tag = plant.tag_paths()[0]
            await server.set_value(tag, 42.0)
            await until(lambda: run.samples(tag, start_ns=0, end_ns=2**62) == 1)
            run.stop.set()
            await pipe
            return text, cfg, run

    text, cfg, run = asyncio.run(main())
    commands = [f"{m.path}/command" for m in plant.machines()]
    assert sorted(n.tag for n in cfg.nodes) == sorted(plant.tag_paths() + commands)
    assert text.startswith("# OPC UA server opc.tcp://127.0.0.1:")
    assert not run.dead_letters() and run.source.health.errors == 0


def test_tag_suggestions_are_valid_tag_paths() -> None:
    assert segment_of("SpindleSpeed") == "spindle_speed"
    assert segment_of("Temp.°C (PV)") == "temp_c_pv"
    assert segment_of("__") == "x"
    assert suggest_tag(["MyObject", "MyVariable"]) == "site/area/line/my_object/my_variable"
    assert suggest_tag(["Temp"], "acme/plant1") == "acme/plant1/line/machine/temp"
    deep = suggest_tag(["A", "B", "C", "D", "E", "F", "G", "H"], "acme/plant1")
    assert deep == "acme/plant1/a_b_c_d/e/f/g/h"
    assert suggest_tag(list("abcdefgh")) == "a_b/c/d/e/f/g/h"


def test_tag_suggestions_do_not_repeat_the_site_path() -> None:
    site = "springfield/machining/cell-1"
    want = "springfield/machining/cell-1/mill-1/state_code"
    assert suggest_tag(["springfield", "machining", "cell-1", "mill-1", "state_code"], site) == want
    assert suggest_tag(["Machining", "Cell-1", "mill-1", "StateCode"], site) == want  # a tail
    assert suggest_tag(["cell-1", "mill-1", "state_code"], site) == want
    assert suggest_tag(["mill-1", "state_code"], site) == want  # nothing repeated
    # only a run that repeats the END of the site path is dropped
    other = suggest_tag(["springfield", "machining", "cell-2", "lathe-1", "x"], site)
    assert other == "springfield/machining/cell-1/springfield_machining/cell-2/lathe-1/x"
    # the tag itself is never dropped, even when it repeats the last site segment
    assert (
        suggest_tag(["cell-1"], "acme/plant/area/line/cell-1")
        == "acme/plant/area/line/cell-1/cell-1"
    )
