"""Where the plant's data comes from: the ``sources:`` section of ``plant.yaml``.

One entry per connection (an MQTT broker, an OPC UA server, a Modbus TCP device). The
connectors in ``andon.connect`` read these models; they live here so that ``andon plant check``
reports a bad source with its file and line like any other part of the plant.

Secrets never sit in plant.yaml: a source names the environment variable that holds its
password (``password_env``), and certificate files by path.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from andon.core.errors import InputError
from andon.core.tagpath import tag_path
from andon.plant.fields import Duration, Id, Model, PositiveDuration


def _tag_path(v: str) -> str:
    try:
        return tag_path(v)
    except InputError as exc:
        raise ValueError(str(exc)) from None


def _url(schemes: tuple[str, ...]) -> AfterValidator:
    def check(v: str) -> str:
        parts = urlsplit(v)
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
    prefix: str = ""
    """Topic prefix above the tag paths (``acme/uns``); empty: topics are tag paths."""
    qos: Literal[0, 1] = 1
    client_id: str | None = None
    clean_session: bool = True
    """False keeps the session (and QoS 1 messages) on the broker while andon is away."""
    share: str | None = None
    """Shared-subscription group (``$share/<share>/...``): several ingest workers, one stream."""
    command_topic: str = "{topic}/set"
    """Where write-back publishes: ``{topic}`` is the tag's own topic."""
    tls: Tls | None = None
    max_payload: Annotated[int, Field(gt=0)] = 1_000_000
    """Larger messages (bytes) go to dead letters without being decoded."""


class SparkplugSource(Login):
    """Sparkplug B host application: edge nodes publish births and data under ``spBv1.0/``."""

    type: Literal["sparkplug"]
    name: Id
    url: Annotated[str, _url(("mqtt", "mqtts"))]
    group: str = "+"
    """Sparkplug group id to follow (``+``: every group)."""
    host_id: Id = "andon"
    """This host application's id, published as its STATE topic."""
    qos: Literal[0, 1] = 1
    client_id: str | None = None
    share: str | None = None
    tls: Tls | None = None
    tag_prefix: str
    """Path above ``group/node/device/metric`` in the historian: 2 or 3 segments, such as
    ``acme/springfield`` (the tag path may have at most 7 segments in all)."""


class OpcUaNode(Model):
    """One monitored item: an OPC UA node and the tag it feeds."""

    tag: TagPath
    node: str
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


WordOrder = Literal["big", "little"]
RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]


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
]
