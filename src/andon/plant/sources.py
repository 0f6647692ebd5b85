"""Where the plant's data comes from: the ``sources:`` section of ``plant.yaml``.

One entry per connection (an MQTT broker, an OPC UA server, a Modbus TCP device). The
connectors in ``andon.connect`` read these models; they live here so that ``andon plant check``
reports a bad source with its file and line like any other part of the plant.

Secrets never sit in plant.yaml: a source names the environment variable that holds its
password (``password_env``), and certificate files by path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from string import Formatter
from typing import Annotated, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from andon.core.errors import InputError
from andon.core.tagpath import check_segment, tag_path
from andon.plant.fields import Duration, Id, Model, PositiveDuration


def _tag_path(v: str) -> str:
    try:
        return tag_path(v)
    except InputError as exc:
        raise ValueError(str(exc)) from None


def _url(schemes: tuple[str, ...]) -> AfterValidator:
    def check(v: str) -> str:
        parts = urlsplit(v)
        if parts.username is not None or parts.password is not None:
            # a URL is printed in health logs and on the Sources page, and the connectors log
            # in with username/password_env only: a password here would leak and be ignored
            raise ValueError(
                "the URL carries a user name or password; write it without them "
                f"({parts.scheme}://HOST:PORT) and put the user in username and the name of the "
                "environment variable holding the password in password_env"
            )
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"expected a URL like {schemes[0]}://HOST:PORT, got {v!r}")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(f"the port in {v!r} is not a number") from None
        return v

    return AfterValidator(check)


TagPath = Annotated[str, AfterValidator(_tag_path)]
"""A full tag path, ``site/area/line/machine/tag``."""


def error_at(
    loc: tuple[str | int, ...], message: str, value: object, title: str
) -> ValidationError:
    """A validation error at ``loc`` below the field or model being validated, so that
    ``andon plant check`` points at the exact line (a plain ValueError points at its parent)."""
    error = PydanticCustomError("value_error", message)
    return ValidationError.from_exception_data(
        title, [InitErrorDetails(type=error, loc=loc, input=value)]
    )


class _Tagged(Protocol):
    @property
    def tag(self) -> str: ...


def _unique_tags(items: Sequence[_Tagged], what: str) -> None:
    """One entry per tag: a second one would feed the same tag from two places."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.tag in seen:
            raise error_at(
                (i, "tag"),
                f"duplicate tag {item.tag!r} (first at {what}[{seen[item.tag]}])",
                item.tag,
                what,
            )
        seen[item.tag] = i


def _topic_levels(v: str, what: str) -> None:
    """MQTT topic levels for a prefix: no wildcards, no empty level, no leading or trailing /."""
    if not v:
        return
    if "\x00" in v:
        raise ValueError(f"{what} {v!r} contains a NUL character")
    if "+" in v or "#" in v:
        raise ValueError(f"{what} {v!r} contains a wildcard (+ or #); write plain topic levels")
    if v.startswith("/") or v.endswith("/"):
        raise ValueError(
            f"{what} {v!r} starts or ends with '/'; write the levels only, "
            f"e.g. {v.strip('/') or 'acme/uns'!r}"
        )
    if "//" in v:
        raise ValueError(f"{what} {v!r} has an empty topic level ('//')")


def _prefix(v: str) -> str:
    _topic_levels(v, "prefix")
    return v


def _share(v: str | None) -> str | None:
    if v is not None and (not v or any(c in v for c in "/+#\x00")):
        raise ValueError(
            f"share {v!r} must be one non-empty topic level without '/', '+' or '#' "
            "(it becomes $share/<share>/...)"
        )
    return v


def _command_topic(v: str) -> str:
    """Only ``{topic}`` may be substituted: ``{0}`` or ``{x}`` would fail at write time."""
    try:
        parts = list(Formatter().parse(v))
    except ValueError:
        raise ValueError(
            f"command_topic {v!r} has an unmatched brace; the only placeholder is {{topic}}"
        ) from None
    placeholders = 0
    for literal, field, spec, conversion in parts:
        if "{" in literal or "}" in literal:
            raise ValueError(f"command_topic {v!r}: braces are for the {{topic}} placeholder only")
        if field is None:
            continue
        if field != "topic" or spec or conversion:
            raise ValueError(
                f"command_topic {v!r}: unknown placeholder {{{field}}}; the only placeholder is "
                "{topic} (the tag's own topic), e.g. '{topic}/set'"
            )
        placeholders += 1
    if placeholders != 1:
        raise ValueError(
            f"command_topic {v!r} must contain {{topic}} once (the tag's own topic), "
            "e.g. '{topic}/set'; otherwise the machine cannot tell which tag a command is for"
        )
    _topic_levels(v.replace("{topic}", "t"), "command_topic")
    return v


def _group(v: str) -> str:
    if v != "+" and (not v or any(c in v for c in "/+#\x00")):
        raise ValueError(
            f"group {v!r} must be '+' (every group) or one Sparkplug group id without "
            "'/', '+' or '#'"
        )
    return v


def _tag_prefix(v: str) -> str:
    segments = v.split("/")
    if not 2 <= len(segments) <= 3:
        raise ValueError(
            f"tag_prefix {v!r} must have 2 or 3 segments (e.g. 'acme/springfield'), leaving "
            "room for group/node/device/metric in a tag path of at most 7"
        )
    for i, seg in enumerate(segments):
        try:
            check_segment(seg)
        except InputError as exc:
            raise ValueError(f"tag_prefix {v!r}, segment {i + 1}: {exc}") from None
    return v


_NODE_ID = re.compile(
    r"(?:ns=(?P<ns>\d{1,5});)?"
    r"(?:i=(?P<i>\d{1,10})"
    r"|s=(?P<s>.+)"
    r"|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|b=(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==))",
    re.DOTALL,
)


def _node_id(v: str) -> str:
    """An OPC UA node id as the standard writes it (``ns=2;s=Mill1.Speed``, ``ns=3;i=1002``,
    ``i=85``, ``ns=2;g=<guid>``, ``ns=2;b=<base64>``); ``nsu=`` URIs are not resolved."""
    if v.startswith("nsu="):
        raise ValueError(
            f"node {v!r}: andon does not resolve namespace URIs (nsu=); write the namespace "
            "index, e.g. ns=2;s=... (andon connect browse prints it)"
        )
    m = _NODE_ID.fullmatch(v)
    ok = (
        m is not None
        and (m["ns"] is None or int(m["ns"]) <= 65535)
        and (m["i"] is None or int(m["i"]) <= 2**32 - 1)
    )
    if not ok:
        raise ValueError(
            f"node {v!r} is not an OPC UA node id; expected ns=<index>;i=<number>, "
            "ns=<index>;s=<text>, ns=<index>;g=<guid> or ns=<index>;b=<base64> "
            "(without ns= for namespace 0), e.g. ns=2;s=Mill1.SpindleSpeed"
        )
    return v


class Tls(Model):
    """TLS for MQTT: the CA that signed the broker's certificate, and an optional client pair."""

    ca: str | None = None
    certificate: str | None = None
    private_key: str | None = None
    insecure: bool = False
    """Skip the host-name check (a lab broker with a self-signed certificate); never in a plant."""


class Login(Model):
    """User name and the *name* of the environment variable that holds the password."""

    username: str | None = None
    password_env: str | None = None


class MqttSource(Login):
    """JSON over the unified namespace: the topic below ``prefix`` is the tag path."""

    type: Literal["mqtt"]
    name: Id
    url: Annotated[str, _url(("mqtt", "mqtts"))]
    prefix: Annotated[str, AfterValidator(_prefix)] = ""
    """Topic prefix above the tag paths (``acme/uns``); empty: topics are tag paths. Plain topic
    levels: no wildcard, no empty level, no leading or trailing ``/`` (refused, not stripped:
    ``/acme`` and ``acme`` are different topics to a broker)."""
    qos: Literal[0, 1] = 1
    client_id: str | None = None
    clean_session: bool = True
    """False keeps the session (and QoS 1 messages) on the broker while andon is away."""
    share: Annotated[str | None, AfterValidator(_share)] = None
    """Shared-subscription group (``$share/<share>/...``): several ingest workers, one stream."""
    command_topic: Annotated[str, AfterValidator(_command_topic)] = "{topic}/set"
    """Where write-back publishes: ``{topic}`` is the tag's own topic."""
    tls: Tls | None = None
    max_payload: Annotated[int, Field(gt=0)] = 1_000_000
    """Larger messages (bytes) go to dead letters without being decoded."""


def _no_share(v: str | None) -> str | None:
    if v is not None:
        raise ValueError(
            "Sparkplug B cannot use a shared subscription (seq checking needs one host to see "
            "every message of an edge node); give each worker its own group instead"
        )
    return v


class SparkplugSource(Login):
    """Sparkplug B host application: edge nodes publish births and data under ``spBv1.0/``."""

    type: Literal["sparkplug"]
    name: Id
    url: Annotated[str, _url(("mqtt", "mqtts"))]
    group: Annotated[str, AfterValidator(_group)] = "+"
    """Sparkplug group id to follow (``+``: every group)."""
    host_id: Id = "andon"
    """This host application's id, published as its STATE topic."""
    qos: Literal[0, 1] = 1
    client_id: str | None = None
    share: Annotated[str | None, AfterValidator(_no_share)] = None
    """Not allowed: seq checking needs one host to see every message of a node."""
    tls: Tls | None = None
    tag_prefix: Annotated[str, AfterValidator(_tag_prefix)]
    """Path above ``group/node/device/metric`` in the historian: 2 or 3 segments, such as
    ``acme/springfield`` (the tag path may have at most 7 segments in all)."""


class OpcUaNode(Model):
    """One monitored item: an OPC UA node and the tag it feeds."""

    tag: TagPath
    node: Annotated[str, AfterValidator(_node_id)]
    """Node id, e.g. ``ns=2;s=Mill1.SpindleSpeed`` or ``ns=3;i=1002``."""
    sampling_interval: Duration | None = None
    deadband: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Absolute deadband in the tag's unit (0: every change)."""


class OpcUaSecurity(Model):
    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    certificate: str | None = None
    private_key: str | None = None
    server_certificate: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSecurity:
        if (self.policy == "None") != (self.mode == "None"):
            raise ValueError(
                "policy and mode go together: both None, or Basic256Sha256 with "
                "Sign or SignAndEncrypt"
            )
        if self.policy != "None" and not (self.certificate and self.private_key):
            raise ValueError(f"policy {self.policy} needs certificate and private_key files")
        return self


class OpcUaSource(Login):
    type: Literal["opcua"]
    name: Id
    url: Annotated[str, _url(("opc.tcp",))]
    publishing_interval: PositiveDuration = 1.0
    sampling_interval: Duration = 0.0
    """Default for nodes without their own (0: the server's fastest)."""
    security: OpcUaSecurity = Field(default_factory=OpcUaSecurity)
    nodes: Annotated[list[OpcUaNode], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_node_per_tag(self) -> OpcUaSource:
        try:
            _unique_tags(self.nodes, "nodes")
        except ValidationError as exc:
            raise _below("nodes", exc) from None
        return self


WordOrder = Literal["big", "little"]
RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]
WORDS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "bool": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
}
"""Registers (or bits) a value of each type takes."""


class ModbusRegister(Model):
    """One value in a Modbus device's register map."""

    tag: TagPath
    address: Annotated[int, Field(ge=0, le=65535)]
    function: Literal["holding", "input", "coil", "discrete"] = "holding"
    type: RegisterType = "uint16"
    word_order: WordOrder = "big"
    byte_order: WordOrder = "big"
    scale: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    offset: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    unit: str | None = None

    @model_validator(mode="after")
    def _bits(self) -> ModbusRegister:
        bit_function = self.function in ("coil", "discrete")
        if bit_function != (self.type == "bool"):
            raise ValueError(
                "coils and discrete inputs hold type bool; holding and input registers hold "
                "numbers (int16, uint16, int32, uint32, float32, float64)"
            )
        last = self.address + WORDS[self.type] - 1
        if last > 65535:
            raise error_at(
                ("address",),
                f"a {self.type} at address {self.address} ends at {last}, past the last "
                "Modbus address 65535",
                self.address,
                "ModbusRegister",
            )
        return self


class ModbusSource(Model):
    type: Literal["modbus"]
    name: Id
    url: Annotated[str, _url(("modbus", "modbus+tcp"))]
    unit_id: Annotated[int, Field(ge=0, le=255)] = 1
    poll: PositiveDuration = 1.0
    timeout: PositiveDuration = 3.0
    max_gap: Annotated[int, Field(ge=0, le=100)] = 8
    """Registers a coalesced read may skip over between two wanted ones."""
    registers: Annotated[list[ModbusRegister], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_register_per_tag(self) -> ModbusSource:
        try:
            _unique_tags(self.registers, "registers")
        except ValidationError as exc:
            raise _below("registers", exc) from None
        return self


def _below(field: str, exc: ValidationError) -> ValidationError:
    """``exc`` (from a check of a list's items) placed under the list's field."""
    err = exc.errors()[0]
    return error_at((field, *err["loc"]), err["msg"], err["input"], exc.title)


Source = Annotated[
    MqttSource | SparkplugSource | OpcUaSource | ModbusSource,
    Field(discriminator="type"),
]

__all__ = [
    "Login",
    "ModbusRegister",
    "ModbusSource",
    "MqttSource",
    "OpcUaNode",
    "OpcUaSecurity",
    "OpcUaSource",
    "Source",
    "SparkplugSource",
    "TagPath",
    "Tls",
    "error_at",
]
