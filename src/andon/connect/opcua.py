"""OPC UA client connector (asyncua): one subscription, a monitored item per configured node.

How values become samples (documented for the plant engineer):

- Every publish of the server becomes ONE Batch. Each item's queue is large enough
  (``queue_size``) that no change is lost between two publishes, oldest discarded if it ever
  overflows; with deadband 0 the trigger is StatusValueTimestamp, so a repeated value with a new
  source timestamp is a new sample (a historian wants it), with a deadband the trigger is
  StatusValue and the server drops changes smaller than the deadband (absolute, in the tag's
  unit).
- Time: SourceTimestamp, else ServerTimestamp, else the arrival time. OPC UA DateTime has
  100 ns resolution and asyncua keeps microseconds: timestamps arrive to the microsecond. A
  timestamp before 1970 or after 2262 cannot be stored and goes to dead letters.
- Quality: status Good → GOOD, Uncertain → UNCERTAIN, Bad → BAD. A sample with no usable
  value (Bad status, where the server sends no value, or a NaN/infinite number) is stored as
  NaN with BAD quality, so the historian shows *when* the sensor failed.
- Values: numbers as float; booleans as 1/0; strings in the Batch's string side list; any other
  type (arrays, structures, byte strings, dates) goes to dead letters with the node id and the
  reason.
- A node the server refuses to monitor (BadNodeIdUnknown, a malformed node id, a deadband on
  a non-numeric node) is one dead letter plus a health error; the other nodes keep working.

The connection is supervised: on a lost connection (socket closed, keep-alive probe failed,
subscription status Bad) the connector reconnects with back-off (1 s doubling to 30 s),
creating a new session and the subscription with all its items; health logs *down* once and
*up* once.

``browse`` walks a server's address space and ``snippet`` prints a ready-to-paste plant.yaml
``sources:`` entry for what it found (``andon connect browse opc.tcp://...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml
from asyncua import Client, ua
from asyncua.crypto import security_policies, uacrypto
from cryptography import x509

from andon.connect.base import Value, WriteRefused, WriteResult
from andon.connect.deadletter import DeadLetter
from andon.connect.health import SourceHealth
from andon.core.batch import Batch
from andon.core.clock import MAX_NS, to_ns
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.quality import BAD, GOOD, UNCERTAIN
from andon.core.stream import Emit
from andon.core.tagpath import MAX_SEGMENTS, MIN_SEGMENTS, tag_path
from andon.plant.sources import OpcUaNode, OpcUaSecurity
from andon.plant.sources import OpcUaSource as OpcUaConfig

log = logging.getLogger("andon.connect.opcua")

MAX_QUEUE = 10_000
"""Queue size asked per monitored item when sampling as fast as the server can (0)."""
MIN_QUEUE = 100
CONNECT_TIMEOUT_S = 10.0
SESSION_TIMEOUT_MS = 60_000
KEEPALIVE_S = 5.0
"""The server sends an empty publish at least this often, so a silent link is noticed."""
WATCHDOG_S = 10.0
"""How often asyncua probes the server (reading ServerState), and how long the probe may take.
asyncua's default of 1 s tears a healthy session down whenever the event loop is busy for a
second (a large batch being written), losing what the server produced meanwhile."""
_NULL_TIME = datetime(1601, 1, 2, tzinfo=UTC)  # DateTime 0 (1601-01-01) means "not set"
_LOGIN_REFUSED = {
    ua.StatusCodes.BadUserAccessDenied,
    ua.StatusCodes.BadIdentityTokenRejected,
    ua.StatusCodes.BadIdentityTokenInvalid,
}
_SECURITY_FAILED = {
    ua.StatusCodes.BadSecurityChecksFailed,
    ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateUntrusted,
    ua.StatusCodes.BadSecurityPolicyRejected,
    ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadCertificateTimeInvalid,
}


# ---------------------------------------------------------------------- connecting


@dataclass(frozen=True)
class _Login:
    """What the client needs besides the URL, with files checked and the password read."""

    url: str
    security: OpcUaSecurity
    username: str | None
    password: str | None


def _settings(
    where: str,
    url: str,
    security: OpcUaSecurity | None,
    username: str | None,
    password_env: str | None,
) -> _Login:
    """Check certificate files and read the password; raise InputError naming what is wrong."""
    sec = security or OpcUaSecurity()
    if sec.policy != "None":
        for field in ("certificate", "private_key", "server_certificate"):
            path = getattr(sec, field)
            if path is not None and not Path(path).is_file():
                raise InputError(f"{where}: security.{field} file {path!r} does not exist")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise InputError(
                f"{where}: the environment variable {password_env} (password_env) is not set; "
                f"export it with the password of user {username!r}"
            )
    return _Login(url, sec, username, password)


async def _connect(login: _Login, *, timeout: float = CONNECT_TIMEOUT_S) -> Client:
    """A connected asyncua client (secure channel, session, login)."""
    client = Client(login.url, timeout=timeout, watchdog_intervall=WATCHDOG_S)
    client.session_timeout = SESSION_TIMEOUT_MS
    client.name = client.description = "andon"
    sec = login.security
    if sec.policy != "None" and sec.server_certificate is None:
        _warn_unchecked_server(login.url)
    if sec.policy != "None" and sec.certificate and sec.private_key:
        uri = await _application_uri(sec.certificate)
        if uri:
            client.application_uri = uri
        mode = getattr(ua.MessageSecurityMode, sec.mode)
        await asyncio.wait_for(
            client.set_security(
                security_policies.SecurityPolicyBasic256Sha256,
                certificate=sec.certificate,
                private_key=sec.private_key,
                server_certificate=sec.server_certificate,
                mode=mode,
            ),
            timeout,
        )
    if login.username:
        client.set_user(login.username)
    if login.password is not None:
        client.set_password(login.password)
    await asyncio.wait_for(client.connect(), timeout)
    return client


_WARNED: set[str] = set()


def _warn_unchecked_server(url: str) -> None:
    """Once per server: without ``server_certificate`` asyncua encrypts but does not check
    whom it talks to."""
    if url not in _WARNED:
        _WARNED.add(url)
        log.warning(
            "%s: the server's certificate is not checked; set security.server_certificate "
            "to the server's certificate file",
            url,
        )


async def _application_uri(certificate: str) -> str | None:
    """The URI in the client certificate: servers check it against the session's ApplicationUri."""
    cert = await uacrypto.load_certificate(certificate)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


async def _disconnect(client: Client) -> None:
    """Close session, channel and socket; quietly when the link is gone already (asyncua's
    own ``disconnect`` logs a traceback for that)."""
    with contextlib.suppress(Exception):  # the link is gone already: nothing to close politely
        await asyncio.wait_for(client.close_session(), 3.0)
        await asyncio.wait_for(client.close_secure_channel(), 3.0)
    client.disconnect_socket()


def describe(exc: BaseException, login: _Login) -> str:
    """A connection failure in words a person can act on."""
    if isinstance(exc, ua.UaStatusCodeError):
        code = exc.code
        name, doc = ua.status_codes.get_name_and_doc(code)
        if code in _LOGIN_REFUSED:
            who = f"user {login.username!r}" if login.username else "anonymous login"
            return f"login refused for {who} by {login.url} ({name}): check username and password"
        if code in _SECURITY_FAILED:
            return (
                f"security handshake with {login.url} failed ({name}): check the certificate "
                "files and that the server trusts andon's certificate"
            )
        return f"{login.url} answered {name}: {doc}"
    if isinstance(exc, TimeoutError):
        return f"no answer from {login.url} within {CONNECT_TIMEOUT_S:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach {login.url}: connection refused"
    if isinstance(exc, OSError):
        return f"cannot reach {login.url}: {exc.strerror or exc}"
    if isinstance(exc, ua.UaError) and "No matching endpoints" in str(exc):
        return (
            f"{login.url} offers no endpoint with policy {login.security.policy} and mode "
            f"{login.security.mode}"
        )
    return f"{login.url}: {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------- decoding


_WAITING = ua.StatusCodes.BadWaitingForInitialData


def quality_of(status: ua.StatusCode | None) -> int:
    """OPC UA status severity → andon quality (Good, Uncertain, Bad)."""
    if status is None or status.is_good():
        return GOOD
    if status.is_uncertain():
        return UNCERTAIN
    return BAD


def time_of(dv: ua.DataValue, arrival_ns: int) -> int | None:
    """Source, else server, else arrival time in ns; None when it cannot be stored."""
    dt = dv.SourceTimestamp
    if dt is None or dt < _NULL_TIME:
        dt = dv.ServerTimestamp
        if dt is None or dt < _NULL_TIME:
            return arrival_ns
    ns = to_ns(dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC))
    return ns if 0 <= ns <= MAX_NS else None


class _Decoded:
    """Columns of one publish, filled notification by notification."""

    __slots__ = ("dead", "quality", "strings", "tag_id", "ts", "value", "waiting")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.tag_id: list[int] = []
        self.value: list[float] = []
        self.quality: list[int] = []
        self.strings: list[tuple[int, str]] = []
        self.dead: list[tuple[int, Any, str]] = []
        self.waiting = 0

    def add(self, handle: int, dv: ua.DataValue, arrival_ns: int) -> None:
        v = dv.Value.Value if dv.Value is not None else None
        if v is None and dv.StatusCode is not None and dv.StatusCode.value == _WAITING:
            # "no value yet" (a server that has not read its device) is not a measurement:
            # nothing is stored until the first value comes
            self.waiting += 1
            return
        ts = time_of(dv, arrival_ns)
        if ts is None:
            self.dead.append((handle, dv, "timestamp outside 1970..2262 cannot be stored"))
            return
        q = quality_of(dv.StatusCode)
        if v is None:
            x, q = math.nan, BAD
        elif isinstance(v, bool):
            x = 1.0 if v else 0.0
        elif isinstance(v, int | float):
            x = float(v)
            if not math.isfinite(x):
                x, q = math.nan, BAD
        elif isinstance(v, str):
            if "\x00" in v:
                self.dead.append((handle, dv, "text with a NUL character cannot be stored"))
                return
            self.strings.append((len(self.ts), v))
            x = math.nan
        else:
            kind = dv.Value.VariantType.name if dv.Value is not None else type(v).__name__
            self.dead.append((handle, dv, f"value of type {kind} is not a number, boolean or text"))
            return
        self.ts.append(ts)
        self.tag_id.append(handle)
        self.value.append(x)
        self.quality.append(q)

    def batch(self, tags: tuple[str, ...]) -> Batch:
        return Batch(
            tags,
            np.array(self.ts, dtype=np.int64),
            np.array(self.tag_id, dtype=np.int32),
            np.array(self.value, dtype=np.float64),
            np.array(self.quality, dtype=np.uint8),
            tuple(self.strings),
        )


# ---------------------------------------------------------------------- the connector


def lost_reason(url: str, exc: BaseException) -> str:
    """Why the link went: the exception's text, or its kind when it has none (a timeout)."""
    return f"connection to {url} lost: {str(exc) or type(exc).__name__}"


class _Lost(Exception):
    """The connection or the subscription went away; reconnect."""


class OpcUaSource:
    """Connector for one configured OPC UA server (see the module docstring)."""

    acknowledges = False

    def __init__(
        self,
        config: OpcUaConfig,
        *,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        self.config = config
        self.name = config.name
        self.health = SourceHealth(config.name, "opcua", config.url)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.tags: tuple[str, ...] = tuple(n.tag for n in config.nodes)
        self._by_tag: dict[str, OpcUaNode] = {n.tag: n for n in config.nodes}
        self._client: Client | None = None
        self._inbox: asyncio.Queue[tuple[Batch, tuple[Event, ...]]] = asyncio.Queue(64)
        self._lost: asyncio.Event = asyncio.Event()
        self._lost_reason = ""
        self._stop = asyncio.Event()
        self._failed_nodes: set[int] = set()
        self._vtypes: dict[str, ua.VariantType] = {}
        self._subscription_id: int | None = None
        self._running = False
        self._idle = asyncio.Event()
        self._subscribed = asyncio.Event()

    def _login(self) -> _Login:
        c = self.config
        return _settings(f"source {c.name}", c.url, c.security, c.username, c.password_env)

    # ------------------------------------------------------------------ run

    async def run(self, emit: Emit) -> None:
        """Connect, subscribe and stream until ``close``; reconnect with back-off."""
        login = self._login()  # a missing file or password: nothing a retry can fix
        self._running = True
        self._idle.clear()
        try:
            await self._loop(login, emit)
        finally:
            self._running = False
            self._idle.set()

    async def _loop(self, login: _Login, emit: Emit) -> None:
        delay = self.retry_initial
        while not self._stop.is_set():
            try:
                client = await _connect(login)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.health.down(describe(exc, login))
            else:
                delay = self.retry_initial
                try:
                    await self._serve(client, emit)
                except _Lost as lost:
                    self.health.down(str(lost))
                finally:
                    self._client = None
                    await _disconnect(client)
                    await self._drain(emit)
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, self.retry_max)

    async def _serve(self, client: Client, emit: Emit) -> None:
        """Subscribe and pump publishes into ``emit`` until the link is lost or closed."""
        self._lost = asyncio.Event()
        self._lost_reason = ""

        async def on_lost(exc: Exception) -> None:
            self._mark_lost(lost_reason(self.config.url, exc))

        client.connection_lost_callback = on_lost
        dead = await self._subscribe(client)
        self._client = client
        self._subscribed.set()
        self.health.up()
        if dead:
            await emit(dead)
        stop = asyncio.ensure_future(self._stop.wait())
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while True:
                got = asyncio.ensure_future(self._inbox.get())
                await asyncio.wait({got, stop, lost}, return_when=asyncio.FIRST_COMPLETED)
                if got.done():
                    await self._emit(emit, *got.result())
                    continue
                got.cancel()
                if self._stop.is_set():
                    return
                raise _Lost(self._lost_reason)
        finally:
            stop.cancel()
            lost.cancel()

    async def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """True once the monitored items exist on the server (values written after this are
        all delivered); false after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _mark_lost(self, reason: str) -> None:
        self._subscribed.clear()
        if not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    async def _emit(self, emit: Emit, batch: Batch, dead: tuple[Event, ...]) -> None:
        if len(batch):
            await emit(batch)
        if dead:
            await emit(dead)

    async def _drain(self, emit: Emit) -> None:
        """Emit what arrived before the link broke: nothing received is dropped."""
        while not self._inbox.empty():
            await self._emit(emit, *self._inbox.get_nowait())

    async def _subscribe(self, client: Client) -> tuple[Event, ...]:
        """One subscription, one monitored item per node; dead letters for refused nodes."""
        c = self.config
        period_ms = c.publishing_interval * 1000.0
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=period_ms,
            RequestedLifetimeCount=max(30, 3 * math.ceil(KEEPALIVE_S * 1000 / period_ms) * 3),
            RequestedMaxKeepAliveCount=max(1, math.ceil(KEEPALIVE_S * 1000 / period_ms)),
            MaxNotificationsPerPublish=0,
            PublishingEnabled=True,
            Priority=0,
        )
        result = await client.uaclient.create_subscription(params, self._on_publish)
        self._subscription_id = result.SubscriptionId
        dead: list[Event] = []
        handles: list[int] = []
        requests: list[ua.MonitoredItemCreateRequest] = []
        for handle, node in enumerate(c.nodes):
            try:
                nodeid = ua.NodeId.from_string(node.node)
            except Exception:
                dead.extend(self._node_failed(handle, f"node id {node.node!r} is not valid"))
                continue
            handles.append(handle)
            requests.append(self._item(handle, node, nodeid))
        if requests:
            created = await client.uaclient.create_monitored_items(
                ua.CreateMonitoredItemsParameters(
                    SubscriptionId=result.SubscriptionId,
                    ItemsToCreate=requests,
                    TimestampsToReturn=ua.TimestampsToReturn.Both,
                )
            )
            for handle, res in zip(handles, created, strict=True):
                if res.StatusCode.is_good():
                    self._failed_nodes.discard(handle)
                else:
                    why = f"the server refused to monitor it: {res.StatusCode.name}"
                    dead.extend(self._node_failed(handle, why))
        return tuple(dead)

    def _item(
        self, handle: int, node: OpcUaNode, nodeid: ua.NodeId
    ) -> ua.MonitoredItemCreateRequest:
        c = self.config
        sampling = (
            node.sampling_interval if node.sampling_interval is not None else c.sampling_interval
        )
        if sampling > 0:
            queue = max(MIN_QUEUE, min(MAX_QUEUE, math.ceil(4 * c.publishing_interval / sampling)))
        else:
            queue = MAX_QUEUE
        if node.deadband > 0:
            flt = ua.DataChangeFilter(
                Trigger=ua.DataChangeTrigger.StatusValue,
                DeadbandType=ua.DeadbandType.Absolute,
                DeadbandValue=node.deadband,
            )
        else:
            flt = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        return ua.MonitoredItemCreateRequest(
            ItemToMonitor=ua.ReadValueId(NodeId=nodeid, AttributeId=ua.AttributeIds.Value),
            MonitoringMode=ua.MonitoringMode.Reporting,
            RequestedParameters=ua.MonitoringParameters(
                ClientHandle=handle,
                SamplingInterval=sampling * 1000.0,
                Filter=flt,
                QueueSize=queue,
                DiscardOldest=True,
            ),
        )

    def _node_failed(self, handle: int, why: str) -> tuple[Event, ...]:
        node = self.config.nodes[handle]
        reason = f"tag {node.tag}: {why}"
        self.health.error(reason)
        if handle in self._failed_nodes:
            return ()  # already reported: a reconnect does not repeat the dead letter
        self._failed_nodes.add(handle)
        self.health.dead_letter()
        return (DeadLetter.of(self.name, node.node, node.node.encode(), reason).event(),)

    async def _on_publish(self, result: ua.PublishResult) -> None:
        """Called by asyncua's publish loop: one publish → one Batch (+ dead letters)."""
        if result.SubscriptionId != self._subscription_id:
            return
        arrival = time.time_ns()
        out = _Decoded()
        notifications = 0
        for data in result.NotificationMessage.NotificationData or ():
            if isinstance(data, ua.DataChangeNotification):
                for item in data.MonitoredItems:
                    if 0 <= item.ClientHandle < len(self.tags):
                        out.add(item.ClientHandle, item.Value, arrival)
                        notifications += 1
            elif isinstance(data, ua.StatusChangeNotification) and not data.Status.is_good():
                self._mark_lost(f"subscription on {self.config.url} ended: {data.Status.name}")
        if not notifications:
            return
        dead = tuple(self._dead(handle, dv, why, arrival) for handle, dv, why in out.dead)
        batch = out.batch(self.tags)
        self.health.received(notifications, len(batch))
        # Waiting here holds asyncio's publish loop: the server keeps the values meanwhile.
        await self._inbox.put((batch, dead))

    def _dead(self, handle: int, dv: ua.DataValue, why: str, arrival: int) -> Event:
        node = self.config.nodes[handle]
        self.health.dead_letter()
        return DeadLetter.of(
            self.name, node.node, repr(dv).encode(), f"tag {node.tag}: {why}", arrival
        ).event()

    # ------------------------------------------------------------------ write-back

    async def write(self, tag: str, value: Value) -> WriteResult:
        """Write ``value`` to the tag's node, converted to the node's own data type."""
        node_cfg = self._by_tag.get(tag)
        if node_cfg is None:
            raise WriteRefused(f"source {self.name} has no OPC UA node for tag {tag!r}")
        client = self._client
        if client is None:
            return WriteResult(self.name, tag, value, False, f"not connected to {self.config.url}")
        try:
            nodeid = ua.NodeId.from_string(node_cfg.node)
        except Exception:  # asyncua raises several kinds for a malformed string
            raise WriteRefused(
                f"source {self.name}, tag {tag}: node id {node_cfg.node!r} is not a valid "
                "OPC UA node id"
            ) from None
        try:
            node = client.get_node(nodeid)
            vtype = self._vtypes.get(tag)
            if vtype is None:
                vtype = self._vtypes[tag] = await node.read_data_type_as_variant_type()
            converted = _convert(value, vtype, tag)
            await node.write_attribute(
                ua.AttributeIds.Value, ua.DataValue(ua.Variant(converted, vtype))
            )
        except ua.UaStatusCodeError as exc:
            name, doc = ua.status_codes.get_name_and_doc(exc.code)
            self.health.error(f"write {tag}: {name}")
            return WriteResult(self.name, tag, value, False, f"{name}: {doc}")
        except (OSError, TimeoutError, ConnectionError) as exc:
            why = str(exc) or type(exc).__name__
            self.health.error(f"write {tag}: {why}")
            return WriteResult(self.name, tag, value, False, f"connection failed: {why}")
        except ua.UaError as exc:
            why = f"{type(exc).__name__}: {exc}"
            self.health.error(f"write {tag}: {why}")
            return WriteResult(self.name, tag, value, False, why)
        return WriteResult(self.name, tag, value, True, f"Good ({node_cfg.node} = {converted!r})")

    async def close(self) -> None:
        """Stop ``run`` (it disconnects and emits what it still holds); safe to call twice."""
        self._stop.set()
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), 10.0)


_INTEGERS = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}


def _convert(value: Value, vtype: ua.VariantType, tag: str) -> Any:
    """``value`` as the node's data type, or WriteRefused saying why it does not fit."""
    what = f"tag {tag} is {vtype.name}"
    if vtype == ua.VariantType.String:
        return str(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if vtype == ua.VariantType.Boolean and text in ("true", "false", "1", "0"):
            return text in ("true", "1")
        try:
            value = float(text)
        except ValueError:
            raise WriteRefused(f"{what}; {value!r} is not a number") from None
    if vtype == ua.VariantType.Boolean:
        if value in (0, 1):
            return bool(value)
        raise WriteRefused(f"{what}; write true/false or 1/0, not {value!r}")
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        x = float(value)
        if not math.isfinite(x):
            raise WriteRefused(f"{what}; {value!r} is not a finite number")
        return x
    if vtype in _INTEGERS:
        lo, hi = _INTEGERS[vtype]
        x = float(value)
        if not x.is_integer() or not lo <= x <= hi:
            raise WriteRefused(f"{what}; {value!r} is not a whole number in {lo}..{hi}")
        return int(x)
    raise WriteRefused(f"{what}; andon writes numbers, booleans and text only")


# ---------------------------------------------------------------------- browse and snippet


@dataclass(frozen=True)
class BrowsedVariable:
    """A variable found by ``browse``: its node id, browse path below the root, data type."""

    node: str
    path: tuple[str, ...]
    data_type: str
    writable: bool

    @property
    def supported(self) -> bool:
        """andon can store it: a number, a boolean or a string."""
        return self.data_type in _SUPPORTED


_SUPPORTED = {
    "Boolean",
    "SByte",
    "Byte",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
    "Float",
    "Double",
    "String",
    "Number",
    "Integer",
    "UInteger",
}


async def browse(
    url: str,
    *,
    root: str | None = None,
    max_depth: int = 10,
    max_nodes: int = 10_000,
    security: OpcUaSecurity | None = None,
    username: str | None = None,
    password_env: str | None = None,
    include_standard: bool = False,
) -> list[BrowsedVariable]:
    """Every variable below ``root`` (default: the Objects folder), breadth first.

    Nodes of namespace 0 (the standard Server object) are skipped unless
    ``include_standard``; properties (HasProperty, e.g. EngineeringUnits) are not variables of
    the plant and are skipped too. Raises InputError with a clear message when the server
    cannot be reached or refuses the login."""
    login = _settings(f"browse {url}", url, security, username, password_env)
    try:
        client = await _connect(login)
    except Exception as exc:
        raise InputError(describe(exc, login)) from exc
    try:
        start = client.get_node(root) if root else client.nodes.objects
        found: list[tuple[ua.NodeId, tuple[str, ...]]] = []
        level: list[tuple[ua.NodeId, tuple[str, ...]]] = [(start.nodeid, ())]
        seen = {start.nodeid}
        for _depth in range(max_depth):
            nxt: list[tuple[ua.NodeId, tuple[str, ...]]] = []
            for nodeid, path in level:
                refs = await client.get_node(nodeid).get_references(
                    refs=ua.ObjectIds.HierarchicalReferences,
                    direction=ua.BrowseDirection.Forward,
                    nodeclassmask=cast(ua.NodeClass, ua.NodeClass.Object | ua.NodeClass.Variable),
                )
                for ref in refs:
                    child = ref.NodeId
                    if child in seen or ref.ReferenceTypeId == _HAS_PROPERTY:
                        continue
                    if child.NamespaceIndex == 0 and not include_standard:
                        continue
                    seen.add(child)
                    child_path = (*path, ref.BrowseName.Name or str(child.Identifier))
                    if ref.NodeClass == ua.NodeClass.Variable:
                        found.append((child, child_path))
                    nxt.append((child, child_path))
                if len(found) >= max_nodes:
                    break
            level = nxt
            if not level or len(found) >= max_nodes:
                break
        found = found[:max_nodes]
        return await _describe_variables(client, found)
    finally:
        await _disconnect(client)


async def _describe_variables(
    client: Client, found: list[tuple[ua.NodeId, tuple[str, ...]]]
) -> list[BrowsedVariable]:
    out: list[BrowsedVariable] = []
    for i in range(0, len(found), 500):
        chunk = found[i : i + 500]
        nodes = [client.get_node(nid) for nid, _ in chunk]
        types = await client.read_attributes(nodes, ua.AttributeIds.DataType)
        access = await client.read_attributes(nodes, ua.AttributeIds.UserAccessLevel)
        for (nid, path), t, a in zip(chunk, types, access, strict=True):
            out.append(
                BrowsedVariable(
                    node=nid.to_string(),
                    path=path,
                    data_type=_type_name(t.Value.Value if t.Value is not None else None),
                    writable=bool(
                        a.Value is not None
                        and isinstance(a.Value.Value, int)
                        and a.Value.Value & ua.AccessLevel.CurrentWrite.mask
                    ),
                )
            )
    return out


def _type_name(nodeid: Any) -> str:
    if isinstance(nodeid, ua.NodeId) and nodeid.NamespaceIndex == 0:
        ident = nodeid.Identifier
        if isinstance(ident, int) and ident in ua.ObjectIdNames:
            return str(ua.ObjectIdNames[ident])
    return nodeid.to_string() if isinstance(nodeid, ua.NodeId) else "unknown"


_HAS_PROPERTY = ua.NodeId(ua.Int32(ua.ObjectIds.HasProperty))
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INVALID = re.compile(r"[^a-z0-9_-]+")
_LEVELS = ("site", "area", "line", "machine", "tag")


def segment_of(name: str) -> str:
    """A browse name as a tag path segment: ``SpindleSpeed`` → ``spindle_speed``."""
    s = _INVALID.sub("_", _CAMEL.sub("_", name).lower()).strip("_-")
    s = re.sub(r"_+", "_", s)
    return s or "x"


def suggest_tag(path: Sequence[str], site_path: str | None = None) -> str:
    """A tag path for a browse path: ``site_path`` in front, the browse names as segments.

    Browse levels that repeat the end of ``site_path`` are not repeated: a server that
    mirrors the plant (``springfield/machining/cell-1/mill-1/...`` browsed with site path
    ``springfield/machining/cell-1``) gives ``springfield/machining/cell-1/mill-1/...``. Too
    deep: the upper browse levels are joined into one segment. Too shallow: the missing ISA-95
    levels are filled with their names (``site/area/line/...``) for you to rename."""
    prefix = [p for p in (site_path or "").split("/") if p]
    segs = [segment_of(p) for p in path] or ["x"]
    segs = segs[_overlap(prefix, segs) :]
    room = MAX_SEGMENTS - len(prefix)
    if room < 1:
        raise InputError(f"site path {site_path!r} leaves no room for the tag")
    if len(segs) > room:
        keep = room - 1
        head = segs[: len(segs) - keep]
        segs = ["_".join(head)[:64].strip("_-") or "x", *segs[len(segs) - keep :]]
    missing = MIN_SEGMENTS - len(prefix) - len(segs)
    if missing > 0:
        segs = [*_LEVELS[len(prefix) : len(prefix) + missing], *segs]
    return tag_path("/".join([*prefix, *segs]))


def _overlap(prefix: Sequence[str], segs: Sequence[str]) -> int:
    """How many leading ``segs`` repeat the last segments of ``prefix`` (the tag itself is
    always kept)."""
    for k in range(min(len(prefix), len(segs) - 1), 0, -1):
        if list(segs[:k]) == list(prefix[-k:]):
            return k
    return 0


def snippet(
    url: str,
    variables: Sequence[BrowsedVariable],
    *,
    source_name: str = "opcua",
    site_path: str | None = None,
    publishing_interval: float = 1.0,
    security: OpcUaSecurity | None = None,
    username: str | None = None,
    password_env: str | None = None,
) -> str:
    """A ready-to-paste plant.yaml ``sources:`` entry subscribing to ``variables``.

    Tags are suggestions made from the browse path: rename them to your plant's
    ``site/area/line/machine/tag``. Variables andon cannot store (arrays, structures) are
    listed as comments."""
    entry: dict[str, Any] = {"type": "opcua", "name": source_name, "url": url}
    entry["publishing_interval"] = publishing_interval
    if username:
        entry["username"] = username
    if password_env:
        entry["password_env"] = password_env
    if security is not None and security.policy != "None":
        entry["security"] = security.model_dump(exclude_none=True)
    nodes: list[dict[str, str]] = []
    used: set[str] = set()
    skipped: list[str] = []
    for var in variables:
        if not var.supported:
            skipped.append(f"#   {var.node}  ({'/'.join(var.path)}: {var.data_type})")
            continue
        tag = suggest_tag(var.path, site_path)
        base, n = tag, 1
        while tag in used:
            n += 1
            tag = f"{base}-{n}"
        used.add(tag)
        nodes.append({"tag": tag, "node": var.node})
    entry["nodes"] = nodes
    head = [
        f"# OPC UA server {url}: {len(nodes)} variables.",
        "# The tags are suggestions made from the browse path: rename them to your plant's",
        "# site/area/line/machine/tag.",
    ]
    body = yaml.safe_dump({"sources": [entry]}, sort_keys=False, default_flow_style=False)
    tail = ["# Not subscribed (not a number, boolean or text):", *skipped] if skipped else []
    return "\n".join([*head, body.rstrip("\n"), *tail]) + "\n"
