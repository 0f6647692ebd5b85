"""The virtual plant as an OPC UA server, so andon's OPC UA client reads it like a real PLC.

Address space: ``Objects/<site>/<area>/<line>/<machine>/<tag>`` — a folder per level down to
the line, an object per machine and a writable Double variable per configured tag (status
BadWaitingForInitialData until its first value), whose node id is ``ns=<idx>;s=<tag path>``
(so browsing the server suggests the plant's own tag paths).
Each machine also has a writable String variable ``command``; a client writing ``stop`` or
``start`` there reaches the ``on_command`` callback given at construction, which hands it to
the virtual plant the way a PLC would take it.

``publish(batch)`` writes a Batch's samples to their variables in time order with
SourceTimestamp = the sample time and a status code from the sample quality. asyncua's
server queues every written value per monitored item (up to the item's queue size, 10,000
at most) until the next publish, so a subscriber with a big enough queue receives every value,
not only the latest per publishing interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import NodeData
from asyncua.server.user_managers import UserManager

from andon.core.batch import Batch
from andon.core.clock import from_ns
from andon.core.quality import GOOD, UNCERTAIN
from andon.core.tagpath import join
from andon.plant.model import Plant
from andon.plant.sources import OpcUaNode, OpcUaSource
from andon.sim.serve.ports import cannot_listen, check_can_listen

log = logging.getLogger("andon.sim.serve")

COMMANDS = ("stop", "start")
COMMAND_TAG = "command"


def _status(code: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(code))


def _node(ident: str, ns: int) -> ua.NodeId:
    return ua.NodeId(ua.String(ident), ua.Int16(ns))


def _time(dt: datetime) -> ua.DateTime:
    return cast(ua.DateTime, dt)  # asyncua's DateTime is a datetime subclass in name only


_GOOD = _status(ua.StatusCodes.Good)
_UNCERTAIN = _status(ua.StatusCodes.UncertainLastUsableValue)
_BAD = _status(ua.StatusCodes.BadSensorFailure)
_NO_DATA_YET = ua.DataValue(
    ua.Variant(None, ua.VariantType.Null),
    StatusCode=_status(ua.StatusCodes.BadWaitingForInitialData),
)

OnCommand = Callable[[str, str], None]
"""``on_command(machine_path, command)``: a client wrote ``stop`` or ``start``."""


@dataclass(frozen=True)
class ServerSecurity:
    """Basic256Sha256 endpoints with the server's certificate (DER or PEM) and key (PEM)."""

    certificate: Path
    private_key: Path
    modes: Sequence[str] = ("Sign", "SignAndEncrypt")
    allow_none: bool = False
    """Also offer the unsecured endpoint (policy None)."""


_POLICY = {
    "Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}


class _Users(UserManager):
    """asyncua user manager: user name and password from a mapping, nothing anonymous."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = dict(users)

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class PlantOpcUaServer:
    """An asyncua server on ``host:port`` exposing ``plant``'s machines and tags."""

    def __init__(
        self,
        plant: Plant,
        *,
        host: str = "127.0.0.1",
        port: int = 4840,
        on_command: OnCommand | None = None,
        security: ServerSecurity | None = None,
        users: Mapping[str, str] | None = None,
        name: str = "andon virtual plant",
        command_nodes: bool = True,
    ) -> None:
        self.plant = plant
        self.host = host
        self.port = port
        self.on_command = on_command
        self.security = security
        self.users = users
        self.name = name
        self.command_nodes = command_nodes
        """Whether ``source()`` lists each machine's ``command`` variable (so andon's
        write-back can reach it; its text is then stored like any tag)."""
        self.namespace = f"urn:andon:plant:{plant.root.replace('/', ':')}"
        self.commands: list[tuple[str, str]] = []
        """Every accepted command, in order (machine path, command)."""
        self._server: Server | None = None
        self._ns = 0
        self._node: dict[str, ua.NodeId] = {}
        self._last: dict[str, ua.DataValue] = {}
        self._units = {
            join(ref.path, t.name): t.unit for ref in plant.machines() for t in ref.machine.tags
        }

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}"

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def server(self) -> Server:
        """The running asyncua server (to add nodes or write raw values in tests)."""
        return self._require()

    @property
    def ns(self) -> int:
        """The namespace index of the plant's nodes."""
        return self._ns

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Build the address space and listen. After ``stop`` it starts afresh on the same
        port, each variable holding the last value it had."""
        if self._server is not None:
            return
        check_can_listen("OPC UA", self.host, self.port)
        server = Server(user_manager=_Users(self.users) if self.users is not None else None)
        await server.init()
        server.set_endpoint(self.url + "/")
        server.set_server_name(self.name)
        await server.set_application_uri("urn:andon:sim:opcua")
        policies = []
        if self.security is not None:
            await server.load_certificate(str(self.security.certificate))
            await server.load_private_key(str(self.security.private_key))
            policies = [_POLICY[m] for m in self.security.modes]
        if self.security is None or self.security.allow_none:
            policies.append(ua.SecurityPolicyType.NoSecurity)
        server.set_security_policy(policies)
        server.set_identity_tokens(
            [ua.UserNameIdentityToken] if self.users is not None else [ua.AnonymousIdentityToken]
        )
        self._ns = await server.register_namespace(self.namespace)
        await self._build(server)
        try:
            await server.start()
        except OSError as exc:  # taken between the check and now
            raise cannot_listen("OPC UA", self.host, self.port, exc) from None
        self._server = server
        log.info("OPC UA server for %s listening on %s", self.plant.root, self.url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> PlantOpcUaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _build(self, server: Server) -> None:
        folders: dict[str, Any] = {}
        objects = server.nodes.objects
        for ref in self.plant.machines():
            *above, machine_id = ref.path.split("/")
            parent = objects
            for i, seg in enumerate(above):
                key = join(*above[: i + 1])
                if key not in folders:
                    folders[key] = await parent.add_folder(_node(key, self._ns), seg)
                parent = folders[key]
            machine = await parent.add_object(_node(ref.path, self._ns), machine_id)
            for tag in ref.machine.tags:
                path = join(ref.path, tag.name)
                nodeid = _node(path, self._ns)
                last = self._last.get(path)
                var = await machine.add_variable(
                    nodeid, tag.name, ua.Variant(0.0, ua.VariantType.Double)
                )
                await var.set_writable()  # like a PLC tag: andon's write-back may set it
                await server.write_attribute_value(nodeid, last or _NO_DATA_YET)
                if tag.unit:
                    await var.add_property(
                        self._ns,
                        "EngineeringUnits",
                        ua.EUInformation(DisplayName=ua.LocalizedText(tag.unit)),
                    )
                self._node[path] = nodeid
            command_id = _node(join(ref.path, COMMAND_TAG), self._ns)
            command = await machine.add_variable(
                command_id, COMMAND_TAG, ua.Variant("", ua.VariantType.String)
            )
            await command.set_writable()
            server.set_attribute_value_setter(command_id, self._command_setter(ref.path))

    def _command_setter(
        self, machine: str
    ) -> Callable[[NodeData, ua.AttributeIds, ua.DataValue], None]:
        def setter(node: NodeData, attr: ua.AttributeIds, value: ua.DataValue) -> None:
            node.attributes[attr].value = value
            text = value.Value.Value if value.Value is not None else None
            if not isinstance(text, str) or not text.strip():
                return
            command = text.strip().lower()
            if command not in COMMANDS:
                log.warning(
                    "machine %s: ignored command %r (expected stop or start)", machine, text
                )
                return
            self.commands.append((machine, command))
            if self.on_command is not None:
                try:
                    self.on_command(machine, command)
                except Exception:  # a failing plant must not break the server's write service
                    log.exception("machine %s: command %s failed", machine, command)

        return setter

    # ------------------------------------------------------------------ data

    def endpoint_nodes(self) -> list[tuple[str, str]]:
        """(tag path, node id string) of every tag variable, to write a ``sources:`` entry."""
        if not self._ns:
            raise RuntimeError("start the server first: the namespace index is known then")
        return [(path, nodeid.to_string()) for path, nodeid in self._node.items()]

    def source_config(self, name: str = "plant-opcua", **fields: Any) -> OpcUaSource:
        """An ``OpcUaSource`` (the plant.yaml model) subscribing to every tag of this server."""
        nodes = [OpcUaNode(tag=tag, node=node) for tag, node in self.endpoint_nodes()]
        return OpcUaSource(type="opcua", name=name, url=self.url, nodes=nodes, **fields)

    def source(self) -> OpcUaSource:
        """How andon reaches this server (an Output of ``PlantServer``): every tag, published
        every 0.1 s (the server queues every value written in between)."""
        config = self.source_config(name="sim-opcua", publishing_interval=0.1)
        if not self.command_nodes:
            return config
        commands = [
            OpcUaNode(tag=join(ref.path, COMMAND_TAG), node=self.node_id_of_command(ref.path))
            for ref in self.plant.machines()
        ]
        return config.model_copy(update={"nodes": [*config.nodes, *commands]})

    def node_id_of_command(self, machine: str) -> str:
        """The node id of ``machine``'s writable ``command`` variable."""
        return _node(join(machine, COMMAND_TAG), self._ns).to_string()

    def node_id(self, tag: str) -> str:
        return self._node[tag].to_string()

    async def publish(self, batch: Batch) -> int:
        """Write the batch's samples to their variables in time order (SourceTimestamp = the
        sample time; GOOD → Good, UNCERTAIN → UncertainLastUsableValue, BAD →
        BadSensorFailure with no value). Tags this server does not expose and string samples
        are skipped. Returns the number of values written."""
        server = self._require()
        if not len(batch):
            return 0
        ids = [self._node.get(t) for t in batch.tags]
        order = np.argsort(batch.ts, kind="stable")
        skip = {r for r, _ in batch.strings}
        ts = batch.ts[order].tolist()
        tag_id = batch.tag_id[order].tolist()
        value = batch.value[order].tolist()
        quality = batch.quality[order].tolist()
        rows = order.tolist()
        now = datetime.now(UTC)
        written = 0
        for t, i, v, q, row in zip(ts, tag_id, value, quality, rows, strict=True):
            nodeid = ids[i]
            if nodeid is None or row in skip:
                continue
            status = _GOOD if q >= GOOD else _UNCERTAIN if q >= UNCERTAIN else _BAD
            dv = ua.DataValue(
                ua.Variant(v, ua.VariantType.Double),
                StatusCode=status,
                SourceTimestamp=_time(from_ns(t)),
                ServerTimestamp=_time(now),
            )
            await server.write_attribute_value(nodeid, dv)
            self._last[batch.tags[i]] = dv
            written += 1
        return written

    async def set_value(
        self,
        tag: str,
        value: float | str | None,
        *,
        status: int = ua.StatusCodes.Good,
        ts_ns: int | None = None,
    ) -> None:
        """Write one value with any OPC UA status code (a failed sensor, a stale value)."""
        server = self._require()
        variant = (
            ua.Variant(None, ua.VariantType.Null)
            if value is None
            else ua.Variant(value, ua.VariantType.String)
            if isinstance(value, str)
            else ua.Variant(float(value), ua.VariantType.Double)
        )
        dv = ua.DataValue(
            variant,
            StatusCode=_status(status),
            SourceTimestamp=_time(from_ns(ts_ns) if ts_ns is not None else datetime.now(UTC)),
            ServerTimestamp=_time(datetime.now(UTC)),
        )
        await server.write_attribute_value(self._node[tag], dv)
        self._last[tag] = dv

    def _require(self) -> Server:
        if self._server is None:
            raise RuntimeError(f"the OPC UA server {self.url} is not running")
        return self._server
