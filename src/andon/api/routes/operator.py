"""What operators tell andon: the reason of a stop, a corrected state, parts they judged.

Each is stored as an event on the machine (``andon.state.reasons``) and changes the state
history and the KPIs computed from then on; each request is in the audit log with who did it,
the machine and what they said (the trail records every write; ``details`` carry the input).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from andon.api.access import note_of, require
from andon.api.encode import event_record
from andon.api.routes.common import Ctx
from andon.api.schemas import EventOut, Schema
from andon.core.clock import now_ns, parse_time
from andon.core.errors import InputError
from andon.identity import Permission, Principal
from andon.state.reasons import correct, enter_parts, set_reason

router = APIRouter(tags=["operator"])


def _machine(ctx: Ctx, asset: str) -> str:
    """With a plant model loaded, ``asset`` must be one of its machines (what an operator says
    about an area or an unknown asset could never reach a KPI)."""
    if ctx.plant is None:
        return asset
    machines = [ref.path for ref in ctx.plant.machines()]
    if asset not in machines:
        raise InputError(f"asset {asset!r}: not a machine of the plant; e.g. {machines[0]}")
    return asset


def _product(ctx: Ctx, product: str) -> str:
    if ctx.plant is not None and ctx.plant.products:
        known = [p.id for p in ctx.plant.products]
        if product not in known:
            raise InputError(
                f"product {product!r}: not a product of the plant ({', '.join(known)})"
            )
    return product


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
    state: Literal[
        "running", "idle", "starved", "blocked", "setup", "down", "planned_stop", "micro_stop"
    ]
    reason: Annotated[str, Field(max_length=200)] = ""


class PartsIn(Schema):
    asset: Asset
    at: Time
    product: Annotated[str, Field(max_length=200)]
    result: Literal["good", "scrap", "rework"]
    count: Annotated[int, Field(ge=1, le=1_000_000)] = 1


@router.post("/state/reason", response_model=EventOut, status_code=201, name="state.reason")
def reason(body: ReasonIn, request: Request, ctx: Ctx, who: Operator) -> EventOut:
    """Give the stop that covers ``at`` a reason code (it shows in the Pareto of stops)."""
    note = note_of(request)
    note.target, note.details = body.asset, {"at": body.at, "reason": body.reason}
    if not body.reason.strip():
        raise InputError("reason: say why the machine stopped (a reason code or a few words)")
    at = parse_time(body.at, now=now_ns(), field="at")
    event = set_reason(ctx.historian, _machine(ctx, body.asset), at, body.reason, by=who.actor)
    return EventOut(**event_record(event))


@router.post("/state/correction", response_model=EventOut, status_code=201, name="state.correction")
def correction(body: CorrectionIn, request: Request, ctx: Ctx, who: Operator) -> EventOut:
    """Set ``[from, to)`` of a machine to ``state``: split or correct what the signals said."""
    note = note_of(request)
    note.target = body.asset
    note.details = {"from": body.start, "to": body.end, "state": body.state, "reason": body.reason}
    now = now_ns()
    start = parse_time(body.start, now=now, field="from")
    end = parse_time(body.end, now=now, field="to")
    asset = _machine(ctx, body.asset)
    event = correct(ctx.historian, asset, start, end, body.state, body.reason, by=who.actor)
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
    at = parse_time(body.at, now=now_ns(), field="at")
    asset, product = _machine(ctx, body.asset), _product(ctx, body.product)
    event = enter_parts(ctx.historian, asset, at, product, body.result, body.count, by=who.actor)
    return EventOut(**event_record(event))
