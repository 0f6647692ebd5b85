"""OEE: the trend per period, the loss waterfall, the Pareto of stops and the energy per unit,
for any asset (``kpi.overview``: the whole range is its periods added up, and closed shifts
are read from what was kept for them).

Everything is drawn on the server (bars are plain HTML widths, the trend an inline SVG), so
the page needs no script and shows the same numbers as ``andon kpi oee`` and
``/api/v1/kpi/oee``: one computation, three surfaces.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from andon.api.access import in_worker, require
from andon.api.routes.common import Ctx
from andon.core.clock import now_ns, parse_time
from andon.core.errors import InputError
from andon.identity import Permission
from andon.kpi.overview import overview
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
NAV = (NavItem("OEE", "/oee", Permission.READ, "plant", 20),)
LOSSES = (
    ("breakdowns", "Breakdowns and unplanned stops"),
    ("setup", "Setup and adjustments"),
    ("small_stops", "Small stops"),
    ("reduced_speed", "Reduced speed"),
    ("startup_rejects", "Start-up rejects"),
    ("production_rejects", "Production rejects"),
)
Text = Annotated[str | None, Query(max_length=255)]


def page_data(ctx: Ctx, asset: str | None, start: str, end: str, by: str | None) -> dict[str, Any]:
    plant = ctx.plant
    if plant is None:
        raise InputError("no plant model is loaded: OEE needs plant.yaml (andon serve --plant)")
    now = now_ns()
    start_ns = parse_time(start, now=now, field="from")
    end_ns = parse_time(end, now=now, field="to")
    target = asset or plant.root
    found = overview(plant, ctx.historian, target, start_ns, end_ns, by)
    rows, r = found.rows, found.whole
    planned = r.planned_s or 1.0
    waterfall = [("Planned production time", r.planned_s, 100.0 * r.planned_s / planned, "")]
    for key, label in LOSSES:
        waterfall.append((label, r.losses[key], 100.0 * r.losses[key] / planned, "loss"))
    waterfall.append(
        ("Fully productive time", r.fully_productive_s, 100 * r.fully_productive_s / planned, "ok")
    )
    pareto = [(x.reason, x.seconds, x.stops) for x in found.stops]
    top = pareto[0][1] if pareto else 1.0
    trend = [(row.period.name, row.result.oee) for row in rows]
    return {
        "asset": found.asset,
        "start": start,
        "end": end,
        "by": by or "",
        "rows": rows,
        "whole": r,
        "waterfall": waterfall if r.planned_s > 0 else [],
        "pareto": [(k, v, n, 100.0 * v / top if top else 0.0) for k, v, n in pareto],
        "trend": trend,
        "energy": found.energy,
        "currency": plant.calendar.currency,
        "machines": found.machines if len(found.machines) > 1 else (),
        "machine": found.asset if len(found.machines) == 1 else "",  # links to its stops
        "assets": [
            plant.root,
            *sorted({m.path.rsplit("/", 1)[0] for m in plant.machines()}),
            *[m.path for m in plant.machines()],
        ],
    }


@router.get("/oee", name="web.oee")
async def oee_page(
    request: Request,
    ctx: Ctx,
    asset: Text = None,
    start: Annotated[str, Query(alias="from", max_length=64)] = "-24h",
    end: Annotated[str, Query(alias="to", max_length=64)] = "now",
    by: Literal["shift", "day", "week", "month"] | None = "shift",
) -> HTMLResponse:
    """OEE of an asset over a range, per period, with its losses."""

    data = await in_worker(request, lambda: page_data(ctx, asset, start, end, by))
    return site_of(request).render(request, "oee.html", **data)
