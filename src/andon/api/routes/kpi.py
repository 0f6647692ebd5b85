"""KPIs: OEE with its six losses for any asset and period (computed from the historian)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from andon.api.access import in_worker, require
from andon.api.routes.common import Ctx, FromQuery, ToQuery, span
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.identity import Permission
from andon.kpi.assets import AssetOee, asset_oee, asset_stop_reasons

router = APIRouter(tags=["kpi"])

By = Literal["shift", "day", "week", "month"]
MAX_PERIODS = 1000


def _rows(rows: list[AssetOee]) -> list[dict[str, Any]]:
    return [
        {
            "period": r.period.name,
            "from": iso(r.period.start_ns),
            "to": iso(r.period.end_ns),
            **r.result.to_dict(),
            "machines": [m.to_dict() for m in r.machines] if len(r.machines) > 1 else [],
        }
        for r in rows
    ]


@router.get("/kpi/oee", name="kpi.oee", dependencies=[Depends(require(Permission.READ))])
async def oee(
    request: Request,
    ctx: Ctx,
    start: FromQuery,
    end: ToQuery,
    asset: Annotated[str | None, Query(max_length=255)] = None,
    by: By | None = None,
) -> list[dict[str, Any]]:
    """OEE, A, P, Q, TEEP, utilization, the six losses and counts per period; below a line
    each machine's too. Performance above 100% and missing state data come back as
    ``problems``, never hidden."""
    plant = ctx.plant
    if plant is None:
        raise InputError("no plant model is loaded: OEE needs plant.yaml (andon serve --plant)")
    start_ns, end_ns = span(start, end)
    if by == "shift" and end_ns - start_ns > 400 * 86400 * 10**9:
        raise InputError(f"by shift over more than 400 days: at most {MAX_PERIODS} periods")

    def compute() -> list[dict[str, Any]]:
        return _rows(asset_oee(plant, ctx.historian, asset or plant.root, start_ns, end_ns, by))

    return await in_worker(request, compute)


@router.get("/kpi/stops", name="kpi.stops", dependencies=[Depends(require(Permission.READ))])
async def stops(
    request: Request,
    ctx: Ctx,
    start: FromQuery,
    end: ToQuery,
    asset: Annotated[str | None, Query(max_length=255)] = None,
) -> list[dict[str, Any]]:
    """The Pareto of stops: planned time lost per stop reason, longest first."""
    plant = ctx.plant
    if plant is None:
        raise InputError("no plant model is loaded: stops need plant.yaml (andon serve --plant)")
    start_ns, end_ns = span(start, end)

    def compute() -> list[dict[str, Any]]:
        found = asset_stop_reasons(plant, ctx.historian, asset or plant.root, start_ns, end_ns)
        return [{"reason": r.reason, "seconds": r.seconds, "stops": r.stops} for r in found]

    return await in_worker(request, compute)
