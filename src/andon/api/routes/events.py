"""Events: what happened to which asset, by asset subtree or pattern, kind and time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from andon.api.access import require
from andon.api.encode import event_record
from andon.api.routes.common import Ctx, OptFromQuery, OptToQuery, optional_span
from andon.api.schemas import EventOut
from andon.core.errors import InputError
from andon.identity import Permission

router = APIRouter(tags=["events"])


@router.get(
    "/events",
    response_model=list[EventOut],
    name="events.list",
    dependencies=[Depends(require(Permission.READ))],
)
def list_events(
    ctx: Ctx,
    asset: Annotated[
        str | None,
        Query(max_length=255, description="an asset and everything below it, or a pattern"),
    ] = None,
    kind: Annotated[
        str | None, Query(max_length=64, description="a kind and its dotted sub-kinds")
    ] = None,
    start: OptFromQuery = None,
    end: OptToQuery = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
) -> list[EventOut]:
    """Events in ``[from, to)``, oldest first, at most ``limit``."""
    if limit > ctx.settings.max_events:
        raise InputError(f"limit: at most {ctx.settings.max_events}, got {limit}")
    start_ns, end_ns = optional_span(start, end)
    found = ctx.historian.events(asset or None, kind or None, start_ns, end_ns, limit)
    return [EventOut(**event_record(e)) for e in found]
