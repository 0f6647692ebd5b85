"""The API's request and response bodies (pydantic), kept apart from the domain types.

Times are ISO 8601 strings in UTC with a ``Z``; durations are seconds. Series come as columns
(``ts``, ``value`` ...) rather than as lists of point objects: a day of a 1 Hz tag is 86,400
points, and columns are both smaller on the wire and what a chart library wants.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from andon.identity import Role

Name = Field(min_length=1, max_length=64)


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(Schema):
    status: Literal["ok"] = "ok"
    version: str


# ---------------------------------------------------------------- identity


class LoginRequest(Schema):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(Schema):
    name: str
    kind: str
    roles: list[str]
    permissions: list[str]


class LoginAnswer(Me):
    """The session cookie is set on the response; send ``csrf_token`` back as X-CSRF-Token."""

    csrf_token: str
    expires: str


class UserOut(Schema):
    name: str
    role: str
    disabled: bool
    created: str | None = None
    last_login: str | None = None


class UserCreate(Schema):
    name: str = Field(min_length=1, max_length=64)
    role: Role
    password: str | None = Field(
        default=None, min_length=1, max_length=1024, description="omit to generate one"
    )


class UserCreated(Schema):
    name: str
    role: str
    password: str = Field(description="shown once: store it now")


class RoleChange(Schema):
    role: Role


class TokenOut(Schema):
    id: int
    name: str
    roles: list[str]
    created: str
    created_by: str
    expires: str
    revoked: str | None
    last_used: str | None
    status: str


class TokenCreate(Schema):
    name: str = Field(min_length=1, max_length=64)
    roles: list[Role] = Field(min_length=1, max_length=5)
    expires_in_s: float = Field(default=90 * 86400, gt=0, le=10 * 366 * 86400)


class TokenCreated(Schema):
    id: int
    name: str
    roles: list[str]
    expires: str
    secret: str = Field(description="shown once: send it as 'Authorization: Bearer <secret>'")


class AuditEntryOut(Schema):
    id: int
    ts: str
    actor: str
    source: str
    category: str
    action: str
    target: str
    result: str
    details: dict[str, Any]
    hash: str


class AuditVerdictOut(Schema):
    ok: bool
    entries: int
    head_hash: str
    first_bad_id: int | None
    reason: str


# ---------------------------------------------------------------- plant and data


class TagOut(Schema):
    path: str
    unit: str | None
    description: str
    source: str
    auto_created: bool
    first: str | None
    last: str | None


class History(Schema):
    """Raw samples (``every_s`` null: ``value`` and ``quality`` per sample, strings as text) or
    buckets (``value`` is ``agg`` of each bucket, with ``min``, ``max`` and ``count`` too).

    Times are in ``ts`` (ISO 8601), or in ``ts_ms`` (epoch milliseconds) with
    ``format=columns``."""

    tag: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    every_s: float | None
    agg: str | None
    ts: list[str] | None = Field(description="UTC ISO 8601 times (null with format=columns)")
    ts_ms: list[int | float] | None = Field(
        default=None, description="epoch milliseconds, with format=columns (instead of ts)"
    )
    value: list[float | str | None]
    quality: list[int] | None = None
    min: list[float | None] | None = None
    max: list[float | None] | None = None
    count: list[int] | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class SampleOut(Schema):
    tag: str
    ts: str
    value: float | str | None
    quality: int


class EventOut(Schema):
    ts: str
    asset: str
    kind: str
    payload: dict[str, Any]
    source: str


class TagRef(Schema):
    path: str
    name: str
    unit: str | None
    description: str


class AssetNode(Schema):
    id: str
    path: str
    level: str
    name: str
    children: list[AssetNode] = Field(default_factory=list)
    tags: list[TagRef] = Field(default_factory=list)


class MachineOut(Schema):
    path: str
    id: str
    name: str
    area: str
    line: str
    state: str | None = Field(description="the last state event's state, e.g. running, down")
    category: str | None = Field(description="board colour: running/idle/setup/down/planned_stop")
    since: str | None
    seconds_in_state: float | None
    reason: str | None
    good: int
    scrap: int
    rework: int


class Board(Schema):
    as_of: str
    day_start: str = Field(description="local midnight of the plant's time zone, in UTC")
    machines: list[MachineOut]


class SourceHealthOut(Schema):
    name: str
    kind: str
    url: str
    connected: bool
    since: str | None
    last_message: str | None
    messages: int
    samples: int
    rate: float
    """Samples per second over the last 10 s."""
    errors: int
    last_error: str
    dead_letters: int


class DeadLetterOut(Schema):
    ts: str
    source: str
    topic: str
    head: str
    size: int
    reason: str


class WriteIn(Schema):
    tag: str = Field(max_length=255)
    value: (
        bool | Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, Field(max_length=255)]
    )
    """A number, true/false, or text (a command word); converted to the target's own type."""
    source: str | None = Field(default=None, max_length=64)
    """The source to write through; needed only when no single source reads the tag."""


class WriteOut(Schema):
    source: str
    tag: str
    ok: bool
    detail: str


# ---------------------------------------------------------------- machine state


class StateIntervalOut(Schema):
    """One interval of a machine's state history (clipped to the range asked for)."""

    start: str
    end: str
    start_ns: int
    end_ns: int
    state: str = Field(description="running, idle, …, or no_data where andon knows nothing")
    reason: str = Field(description="the operator's reason code, else the signal's; '' if none")
    duration_s: float


class ChangeoverOut(Schema):
    """A product change: the first part of ``to_product`` after parts of ``from_product``."""

    ts: str
    ts_ns: int
    from_product: str
    to_product: str


class StateHistoryOut(Schema):
    """A machine's states over ``[from, to)`` with reasons, and its changeovers, in time order.

    At most ``limit`` intervals (and changeovers) come back; ``truncated`` says more followed:
    ask again from the last interval's ``end``."""

    asset: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    limit: int
    intervals: list[StateIntervalOut]
    truncated: bool
    changeovers: list[ChangeoverOut]
    changeovers_truncated: bool

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
