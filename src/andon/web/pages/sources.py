"""Sources: is every connection up, how much is it delivering, and what could it not read.

The health table re-renders itself every few seconds (an HTMX fragment); dead letters are
read from the historian, newest first, so a technician sees the topic, the first bytes and
the reason of whatever a connector had to set aside.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from andon.api.access import require
from andon.api.routes.common import Ctx
from andon.api.routes.sources import (
    health_snapshots,
    newest_dead_letters,
    stored_dead_letters,
    with_stored,
)
from andon.connect import DeadLetter
from andon.core.clock import NS_PER_S, now_ns
from andon.identity import Permission
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
NAV = (NavItem("Sources", "/sources", Permission.READ, "plant", 40),)
DEAD_LETTERS_SHOWN = 50
DAY_NS = 86_400 * NS_PER_S


def latest_dead_letters(ctx: Ctx) -> list[DeadLetter]:
    """The newest dead letters of the last day, newest first."""
    since = now_ns() - DAY_NS
    return newest_dead_letters(ctx.historian, None, since, None, DEAD_LETTERS_SHOWN)[::-1]


@router.get("/sources", name="web.sources")
async def sources_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """Health of every source and the newest dead letters of the last day."""
    snapshots = health_snapshots(ctx.sources)  # on the loop, where the connectors update them

    def render() -> HTMLResponse:
        return site_of(request).render(
            request,
            "sources.html",
            rows=with_stored(snapshots, stored_dead_letters(ctx.historian)),
            dead=latest_dead_letters(ctx),
        )

    return await run_in_threadpool(render)


@router.get("/sources/health", name="web.sources_health")
async def sources_health(request: Request, ctx: Ctx) -> HTMLResponse:
    """The health table alone (the page refreshes it in place)."""
    snapshots = health_snapshots(ctx.sources)

    def render() -> HTMLResponse:
        rows = with_stored(snapshots, stored_dead_letters(ctx.historian))
        return site_of(request).render(request, "sources_health.html", rows=rows)

    return await run_in_threadpool(render)
