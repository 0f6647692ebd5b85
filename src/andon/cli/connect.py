"""``andon connect``: browse an OPC UA server, read dead letters, see sources, write a value."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import typer
from rich.table import Table

from andon.api.routes.sources import newest_dead_letters
from andon.audit import AuditLog
from andon.cli.audit import cli_actor
from andon.cli.console import console, reported
from andon.connect import Connector, Value, WriteRefused, WriteResult
from andon.connect.deadletter import ASSET_ROOT, KIND, source_asset
from andon.connect.registry import open_connector
from andon.core.clock import iso, now_ns, parse_time
from andon.core.errors import AndonError, InputError
from andon.core.stream import Item
from andon.historian import open_historian
from andon.plant import load_plant
from andon.plant.sources import ModbusSource as ModbusSourceConfig
from andon.plant.sources import MqttSource as MqttSourceConfig
from andon.plant.sources import OpcUaSource as OpcUaSourceConfig
from andon.plant.sources import Source
from andon.plant.sources import SparkplugSource as SparkplugSourceConfig

app = typer.Typer(help="Connections to the shop floor.", no_args_is_help=True)

DbOption = typer.Option(
    None, "--db", envvar="ANDON_DB", help="Database URL (default: SQLite file andon.db)."
)


@app.command("browse")
def browse(
    url: str = typer.Argument(..., help="opc.tcp://HOST:PORT of the OPC UA server."),
    name: str = typer.Option("opcua", "--name", help="Source name in the snippet."),
    root: str | None = typer.Option(None, "--root", help="Node id to start from (Objects)."),
    depth: int = typer.Option(6, "--depth", min=1, max=20, help="How deep to browse."),
    max_nodes: int = typer.Option(2000, "--max-nodes", min=1, help="Stop after this many."),
    site_path: str | None = typer.Option(
        None, "--site-path", help="Path above the suggested tags, e.g. acme/machining/cell-1."
    ),
    username: str | None = typer.Option(None, "--username", help="OPC UA user name."),
    password_env: str | None = typer.Option(
        None, "--password-env", help="Name of the environment variable holding the password."
    ),
) -> None:
    """Browse an OPC UA server and print a plant.yaml `sources:` entry to paste."""
    from andon.connect.opcua import browse as browse_server
    from andon.connect.opcua import snippet

    with reported():
        variables = asyncio.run(
            browse_server(
                url,
                root=root,
                max_depth=depth,
                max_nodes=max_nodes,
                username=username,
                password_env=password_env,
            )
        )
        if not variables:
            raise InputError(f"{url}: no variables found under {root or 'Objects'}")
        sys.stdout.write(
            snippet(
                url,
                variables,
                source_name=name,
                site_path=site_path,
                username=username,
                password_env=password_env,
            )
        )


@app.command("dead-letters")
def dead_letters(
    source: str | None = typer.Option(None, "--source", help="Only this source's."),
    start: str = typer.Option("-24h", "--from", help="Start: ISO 8601 with offset or -2h."),
    end: str = typer.Option("now", "--to", help="End (exclusive)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    db: str | None = DbOption,
) -> None:
    """Messages the connectors could not decode: when, which source and topic, and why (the
    newest --limit of the span, oldest first)."""
    with reported():
        now = now_ns()
        start_ns = parse_time(start, now=now, field="--from")
        end_ns = parse_time(end, now=now, field="--to")
        with open_historian(db, create=False) as historian:
            found = newest_dead_letters(historian, source, start_ns, end_ns, limit)
        if as_json:
            for d in found:
                row = {
                    "ts": iso(d.ts),
                    "source": d.source,
                    "topic": d.topic,
                    "reason": d.reason,
                    "size": d.size,
                    "head": d.head,
                }
                sys.stdout.write(json.dumps(row) + "\n")
            return
        table = Table(title=f"{len(found)} dead letters", title_justify="left")
        for col in ("time", "source", "topic", "reason", "size", "first bytes"):
            table.add_column(col, overflow="fold")
        for d in found:
            table.add_row(iso(d.ts), d.source, d.topic, d.reason, str(d.size), d.head[:60])
        console.print(table)


@app.command("status")
def status(
    plant_file: str = typer.Option(..., "--plant", help="plant.yaml with sources:."),
    db: str | None = DbOption,
) -> None:
    """Each configured source: its tags, the newest sample stored from them, dead letters."""
    with reported():
        plant = load_plant(plant_file)
        if not plant.sources:
            raise InputError(f"{plant_file}: no sources: section")
        with open_historian(db, create=False) as historian:
            counts = historian.count_events(ASSET_ROOT, KIND, "reason")
            stored = {t.path for t in historian.tags()}
            table = Table(title="sources", title_justify="left")
            for col in ("source", "type", "url", "tags", "newest sample", "dead letters"):
                table.add_column(col)
            for s in plant.sources:
                tags = _tags_of(s)
                known = [t for t in tags if t in stored]  # a tag never stored has no newest
                latest = historian.latest(known) if known else []
                newest = max((x.ts for x in latest), default=None)
                dead = sum(n for (a, _), n in counts.items() if a == source_asset(s.name))
                table.add_row(
                    s.name,
                    s.type,
                    s.url,
                    str(len(tags)) if tags else "by topic",
                    iso(newest) if newest else "-",
                    str(dead),
                )
        console.print(table)


def _tags_of(source: object) -> list[str]:
    items = getattr(source, "nodes", None) or getattr(source, "registers", None) or []
    return [i.tag for i in items]


@app.command("write")
def write(
    tag: str = typer.Argument(..., help="Tag path to write."),
    value: str = typer.Argument(..., help="Value: a number, true/false, or text."),
    source_name: str = typer.Option(..., "--source", help="The source that reaches the tag."),
    plant_file: str = typer.Option(..., "--plant", help="plant.yaml with sources:."),
    db: str | None = DbOption,
) -> None:
    """Write a value to a machine through a configured source (audited)."""
    with reported():
        plant = load_plant(plant_file)
        config = next((s for s in plant.sources if s.name == source_name), None)
        if config is None:
            raise InputError(f"--source: no source named {source_name!r} in {plant_file}")
        parsed = value_for(config, value)
        with open_historian(db) as historian:
            audit = AuditLog(historian.engine)
            outcome, answer = "failed", "interrupted before the machine answered"
            try:
                result = asyncio.run(_write_once(config, tag, parsed))
                outcome = "ok" if result.ok else "failed"
                answer = result.detail
            except WriteRefused as exc:
                outcome, answer = "denied", str(exc)
                raise InputError(str(exc)) from None
            except AndonError as exc:
                answer = str(exc)
                raise
            except Exception as exc:  # a bug or a library's surprise: audited, one line
                answer = f"{type(exc).__name__}: {exc}"
                raise InputError(
                    f"{tag}: the write through {source_name} failed: {answer}"
                ) from exc
            finally:
                audit.record(
                    actor=cli_actor(),
                    source="cli",
                    category="command",
                    action="write",
                    target=tag,
                    result=outcome,
                    details={"source": source_name, "value": parsed, "answer": answer},
                )
        if not result.ok:
            raise InputError(f"{tag}: the machine refused or did not answer: {result.detail}")
        console.print(f"{tag} = {value} written through {source_name}: {result.detail}")


def value_for(config: Source, text: str) -> Value:
    """The value to write, as typed. OPC UA gets the text itself: the connector converts it
    to the node's own data type (so ``12`` is the text "12" for a String node and the number
    12 for a Double or Int32 node); other protocols get a number, a boolean or text."""
    if isinstance(config, OpcUaSourceConfig):
        return text
    return _parse_value(text)


CONNECT_TIMEOUT_S = 15.0
"""How long a one-off write waits for the connection before it gives up."""


def _write_config(config: Source) -> Source:
    """The configuration a one-off write connects with. MQTT: a throwaway client (random id,
    clean session, no shared group), so a write typed here can never take over the persistent
    session of a running ingest worker (the broker would drop the worker's connection)."""
    if isinstance(config, MqttSourceConfig):
        return config.model_copy(update={"client_id": None, "clean_session": True, "share": None})
    if isinstance(config, SparkplugSourceConfig):
        raise WriteRefused(
            f"source {config.name} is Sparkplug B: a command needs the edge node's birth "
            "(metric names and types), which only a running host has; write through the API "
            "of andon serve (POST /api/v1/sources/write)"
        )
    return config


async def _discard(item: Item) -> None:
    """Where a one-off write's connection sends what it reads: nowhere (it only writes)."""


async def _write_once(config: Source, tag: str, value: Value) -> WriteResult:
    """One write on a connection of its own, closed afterwards.

    Modbus opens a connection for the write itself. MQTT connects with ``start``; OPC UA has
    no session until ``run``, so the connector runs (its readings discarded) until it is
    connected, then writes."""
    connector = open_connector(_write_config(config))
    if isinstance(config, ModbusSourceConfig):
        try:
            return await connector.write(tag, value)
        finally:
            await connector.close()
    running: asyncio.Task[None] | None = None
    try:
        start = getattr(connector, "start", None)
        if start is not None:
            await start()
        else:
            running = asyncio.create_task(connector.run(_discard))
        problem = await _connected(connector, running)
        if problem:
            return WriteResult(connector.name, tag, value, False, problem)
        return await connector.write(tag, value)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connector.close(), CONNECT_TIMEOUT_S)
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running


async def _connected(connector: Connector, running: asyncio.Task[None] | None) -> str | None:
    """None once ``connector`` is connected; else why not: the first failed attempt (a new
    ``last_error`` that counted no error: ``health.down``, not a node's ``health.error``
    while subscribing), the end of ``run``, or the timeout."""
    health = connector.health
    deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S
    seen = (health.last_error, health.errors)
    while not health.connected:
        if running is not None and running.done():
            exc = running.exception()
            if isinstance(exc, AndonError):
                raise exc
            return health.last_error or f"the connection to {health.url} ended"
        now = (health.last_error, health.errors)
        if now != seen:
            if now[1] == seen[1]:
                return health.last_error
            seen = now
        if asyncio.get_running_loop().time() > deadline:
            return f"no connection to {health.url} within {CONNECT_TIMEOUT_S:g} s"
        await asyncio.sleep(0.02)
    return None


def _parse_value(text: str) -> float | bool | str:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return float(text)
    except ValueError:
        return text
