"""What operators tell andon: the reason of a stop, a corrected state, parts they judged.

Each is stored as an event on the machine (``andon.state.reasons``) and changes the state
history and the KPIs computed from then on; each request is in the audit log with who did it,
the machine and what they said (the trail records every write; ``details`` carry the input).
The checks and writes are plain functions (``give_reason``, ``correct_span``,
``judged_parts``) so the dashboard's Stops page says the same things the same way.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from andon.api.access import note_of, require
from andon.api.context import ApiContext
from andon.api.encode import event_record
from andon.api.routes.common import Ctx
from andon.api.schemas import EventOut, Schema
from andon.core.clock import now_ns, parse_time
from andon.core.errors import InputError
from andon.core.event import Event
from andon.identity import Permission, Principal
from andon.state.reasons import correct, enter_parts, set_reason

router = APIRouter(tags=["operator"])

StateLabel = Literal[
    "running", "idle", "starved", "blocked", "setup", "down", "planned_stop", "micro_stop"
]
Result = Literal["good", "scrap", "rework"]
STATES: tuple[str, ...] = get_args(StateLabel)
"""The states an operator may set a span to (what the correction form offers)."""
RESULTS: tuple[str, ...] = get_args(Result)


def machine_of(ctx: ApiContext, asset: str) -> str:
    """With a plant model loaded, ``asset`` must be one of its machines (what an operator says
    about an area or an unknown asset could never reach a KPI)."""
    if ctx.plant is None:
        return asset
    machines = [ref.path for ref in ctx.plant.machines()]
    if asset not in machines:
        raise InputError(f"asset {asset!r}: not a machine of the plant; e.g. {machines[0]}")
    return asset


def product_of(ctx: ApiContext, product: str) -> str:
    """With products listed in plant.yaml, ``product`` must be one of them."""
    if ctx.plant is not None and ctx.plant.products:
        known = [p.id for p in ctx.plant.products]
        if product not in known:
            raise InputError(
                f"product {product!r}: not a product of the plant ({', '.join(known)})"
            )
    return product


def give_reason(ctx: ApiContext, asset: str, at: str, reason: str, *, by: str) -> Event:
    """Check what an operator said about a stop and store it (the API and the Stops page)."""
    if not reason.strip():
        raise InputError("reason: say why the machine stopped (a reason code or a few words)")
    at_ns = parse_time(at, now=now_ns(), field="at")
    return set_reason(ctx.historian, machine_of(ctx, asset), at_ns, reason, by=by)


def correct_span(
    ctx: ApiContext, asset: str, start: str, end: str, state: str, reason: str, *, by: str
) -> Event:
    """Check a correction of ``[start, end)`` and store it (the API and the Stops page)."""
    if state not in STATES:
        raise InputError(f"state: expected one of {', '.join(STATES)}, got {state[:40]!r}")
    now = now_ns()
    start_ns = parse_time(start, now=now, field="from")
    end_ns = parse_time(end, now=now, field="to")
    asset = machine_of(ctx, asset)
    return correct(ctx.historian, asset, start_ns, end_ns, state, reason, by=by)


def judged_parts(
    ctx: ApiContext, asset: str, at: str, product: str, result: str, count: int, *, by: str
) -> Event:
    """Check parts an operator judged and store them (the API and the Stops page)."""
    at_ns = parse_time(at, now=now_ns(), field="at")
    asset, product = machine_of(ctx, asset), product_of(ctx, product)
    return enter_parts(ctx.historian, asset, at_ns, product, result, count, by=by)


Operator = Annotated[Principal, Depends(require(Permission.ENTER_DOWNTIME_REASON))]
Time = Annotated[str, Field(max_length=64, description="ISO 8601 with offset, 'now' or -2h")]
Asset = Annotated[str, Field(max_length=255, description="the machine's asset path")]


class ReasonIn(Schema):
    asset: Asset
    at: Time
    reason: Annotated[str, Field(max_length=200)]


class CorrectionIn(Schema):
    asset: Asset
    start: Time = Field(alias="from")
    end: Time = Field(alias="to")
    state: StateLabel
    reason: Annotated[str, Field(max_length=200)] = ""


class PartsIn(Schema):
    asset: Asset
    at: Time
    product: Annotated[str, Field(max_length=200)]
    result: Result
    count: Annotated[int, Field(ge=1, le=1_000_000)] = 1


@router.post("/state/reason", response_model=EventOut, status_code=201, name="state.reason")
def reason(body: ReasonIn, request: Request, ctx: Ctx, who: Operator) -> EventOut:
    """Give the stop that covers ``at`` a reason code (it shows in the Pareto of stops)."""
    note = note_of(request)
    note.target, note.details = body.asset, {"at": body.at, "reason": body.reason}
    event = give_reason(ctx, body.asset, body.at, body.reason, by=who.actor)
    return EventOut(**event_record(event))


@router.post("/state/correction", response_model=EventOut, status_code=201, name="state.correction")
def correction(body: CorrectionIn, request: Request, ctx: Ctx, who: Operator) -> EventOut:
    """Set ``[from, to)`` of a machine to ``state``: split or correct what the signals said."""
    note = note_of(request)
    note.target = body.asset
    note.details = {"from": body.start, "to": body.end, "state": body.state, "reason": body.reason}
    event = correct_span(
        ctx, body.asset, body.start, body.end, body.state, body.reason, by=who.actor
    )
    return EventOut(**event_record(event))


@router.post("/production/parts", response_model=EventOut, status_code=201, name="parts.enter")
def parts(body: PartsIn, request: Request, ctx: Ctx, who: Operator) -> EventOut:
    """Parts an operator judged: good, scrap or rework (counted in quality and OEE)."""
    note = note_of(request)
    note.target = body.asset
    note.details = {
        "at": body.at,
        "product": body.product,
        "result": body.result,
        "count": body.count,
    }
    event = judged_parts(
        ctx, body.asset, body.at, body.product, body.result, body.count, by=who.actor
    )
    return EventOut(**event_record(event))
