"""Data health: findings and scores per tag over a range, and each machine's readiness.

The same computations as ``andon data check`` and ``andon data readiness``: one computation,
three surfaces (CLI, API, dashboard). Both read the historian at length, so they run in the
worker lane.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from andon.api.access import in_worker, require
from andon.api.routes.common import TIME_HELP, Ctx, span
from andon.core.clock import NS_PER_S, now_ns
from andon.core.errors import InputError
from andon.datahealth import check_range, readiness
from andon.identity import Permission
from andon.plant import Plant

router = APIRouter(tags=["data health"])

FromDefault = Annotated[str, Query(alias="from", max_length=64, description=TIME_HELP)]
ToDefault = Annotated[str, Query(alias="to", max_length=64, description=TIME_HELP)]


MAX_DAYS = 31
"""The longest range one request may check: a month of every tag is minutes of a worker
(``andon data check`` on the command line takes up to a year)."""


def served_range(start_ns: int, end_ns: int) -> tuple[int, int]:
    """``(start_ns, end_ns)`` if a request may check it, else a clear refusal."""
    if end_ns - start_ns > MAX_DAYS * 86_400 * NS_PER_S:
        raise InputError(
            f"the range is longer than {MAX_DAYS} days; ask for a month or less "
            "(`andon data check` checks up to a year)"
        )
    return start_ns, end_ns


def plant_of(ctx: Ctx) -> Plant:
    if ctx.plant is None:
        raise InputError(
            "no plant model is loaded: data health needs plant.yaml (andon serve --plant)"
        )
    return ctx.plant


@router.get("/data/check", name="data.check", dependencies=[Depends(require(Permission.READ))])
async def data_check(
    request: Request,
    ctx: Ctx,
    start: FromDefault = "-24h",
    end: ToDefault = "now",
    asset: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    """Every declared tag of the asset checked over the range (default: the last 24 hours):
    findings worst first, each with a sentence and its evidence, and a score from 0 to 100
    per tag, machine and line and per day."""
    plant = plant_of(ctx)
    start_ns, end_ns = served_range(*span(start, end))
    now = now_ns()
    return await in_worker(
        request,
        lambda: check_range(plant, ctx.historian, asset, start_ns, end_ns, now).to_dict(),
    )


@router.get(
    "/data/readiness", name="data.readiness", dependencies=[Depends(require(Permission.READ))]
)
async def data_readiness(request: Request, ctx: Ctx) -> list[dict[str, Any]]:
    """Per machine, best first: which ISO 22400 KPIs and analyses its data supports today,
    what the others are missing, whether it can have OEE today and its data score over the
    last day."""
    plant = plant_of(ctx)
    now = now_ns()
    found = await in_worker(request, lambda: readiness(plant, ctx.historian, now))
    return [r.to_dict() for r in found]
