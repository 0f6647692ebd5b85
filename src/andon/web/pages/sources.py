"""Sources: is every connection up, how much is it delivering, and what could it not read.

The health table re-renders itself every few seconds (an HTMX fragment); dead letters are
read from the historian, newest first, so a technician sees the topic, the first bytes and
the reason of whatever a connector had to set aside.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from andon.api.access import require
from andon.api.routes.common import Ctx
from andon.connect import DeadLetter
from andon.connect.deadletter import ASSET_ROOT, KIND
from andon.core.clock import NS_PER_S, now_ns
from andon.identity import Permission
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
NAV = (NavItem("Sources", "/sources", Permission.READ, "plant", 40),)
DEAD_LETTERS_SHOWN = 50
DAY_NS = 86_400 * NS_PER_S


def health_rows(ctx: Ctx) -> list[dict[str, Any]]:
    stored = ctx.historian.count_events(ASSET_ROOT, KIND, "reason")
    rows = []
    for c in ctx.sources:
        snap = c.health.snapshot()
        asset = f"{ASSET_ROOT}/{c.name}"
        snap["dead_letters"] = (
            sum(n for (a, _), n in stored.items() if a == asset) or snap["dead_letters"]
        )
        rows.append(snap)
    return rows


def newest_dead_letters(ctx: Ctx) -> list[DeadLetter]:
    since = now_ns() - DAY_NS
    found = ctx.historian.events(ASSET_ROOT, KIND, since, None, ctx.settings.max_events)
    return [DeadLetter.from_event(e) for e in reversed(found[-DEAD_LETTERS_SHOWN:])]


@router.get("/sources", name="web.sources")
async def sources_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """Health of every source and the newest dead letters of the last day."""

    def render() -> HTMLResponse:
        return site_of(request).render(
            request,
            "sources.html",
            rows=health_rows(ctx),
            dead=newest_dead_letters(ctx),
        )

    return await run_in_threadpool(render)


@router.get("/sources/health", name="web.sources_health")
async def sources_health(request: Request, ctx: Ctx) -> HTMLResponse:
    """The health table alone (the page refreshes it in place)."""

    def render() -> HTMLResponse:
        return site_of(request).render(request, "sources_health.html", rows=health_rows(ctx))

    return await run_in_threadpool(render)
