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
from andon.kpi.compare import comparison
from andon.kpi.iso22400 import as_dict
from andon.kpi.report import AssetReport, asset_report
from andon.plant import Plant

router = APIRouter(tags=["kpi"])

By = Literal["shift", "day", "week", "month"]


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


def _plant_of(ctx: Ctx) -> Plant:
    if ctx.plant is None:
        raise InputError("no plant model is loaded: KPIs need plant.yaml (andon serve --plant)")
    return ctx.plant


async def _report(
    request: Request, ctx: Ctx, asset: str | None, start: str, end: str
) -> AssetReport:
    """The ISO 22400 and energy report of ``asset`` over the range, computed off the loop."""
    plant = _plant_of(ctx)
    start_ns, end_ns = span(start, end)
    if end_ns <= start_ns:
        raise InputError("the range is empty: to must be after from")
    return await in_worker(
        request,
        lambda: asset_report(plant, ctx.historian, asset or plant.root, start_ns, end_ns),
    )


@router.get("/kpi/iso22400", name="kpi.iso22400", dependencies=[Depends(require(Permission.READ))])
async def iso22400_kpis(
    request: Request,
    ctx: Ctx,
    start: FromQuery,
    end: ToQuery,
    asset: Annotated[str | None, Query(max_length=255)] = None,
) -> list[dict[str, Any]]:
    """Every ISO 22400-2 KPI andon has the inputs for; the others with what is missing."""
    report = await _report(request, ctx, asset, start, end)
    return [k.to_dict() for k in report.kpis]


@router.get("/kpi/energy", name="kpi.energy", dependencies=[Depends(require(Permission.READ))])
async def energy(
    request: Request,
    ctx: Ctx,
    start: FromQuery,
    end: ToQuery,
    asset: Annotated[str | None, Query(max_length=255)] = None,
) -> list[dict[str, Any]]:
    """kWh, cost and kg CO2e per unit and per good unit, and kWh per state, per machine."""
    report = await _report(request, ctx, asset, start, end)
    return [e.to_dict() for e in report.energy]


@router.get("/kpi/compare", name="kpi.compare", dependencies=[Depends(require(Permission.READ))])
async def compare_periods(
    request: Request,
    ctx: Ctx,
    baseline_from: Annotated[str, Query(max_length=64)],
    baseline_to: Annotated[str, Query(max_length=64)],
    pilot_from: Annotated[str, Query(max_length=64)],
    pilot_to: Annotated[str, Query(max_length=64)],
    asset: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """Each KPI in a baseline and a pilot period, the deltas, and an ROI estimate: ``roi`` is
    null when a period's OEE is undefined or unknown (no planned time, too little state data),
    and ``problems`` says which period lacks what, then each period's data problems."""
    plant = _plant_of(ctx)
    spans = [span(baseline_from, baseline_to), span(pilot_from, pilot_to)]
    for s, e in spans:
        if e <= s:
            raise InputError("each period's end must be after its start")

    def compute() -> dict[str, Any]:
        base, trial = (
            asset_report(plant, ctx.historian, asset or plant.root, s, e) for s, e in spans
        )
        return comparison(
            base.oee,
            trial.oee,
            plant.costs,
            baseline_kpis=as_dict(base.kpis),
            pilot_kpis=as_dict(trial.kpis),
            energy_baseline_kwh=base.kwh,
            energy_pilot_kwh=trial.kwh,
        ).to_dict()

    return await in_worker(request, compute)
