"""One machine: live trends of its tags, its state timeline, its recent events.

The page renders the machine's tags and the first state timeline on the server; its script
draws a uPlot chart per tag from ``/api/v1/tags/{path}/history`` with a bucket width chosen so
that about 1000–2000 points come back for any range (an hour to a year, downsampled by the
historian), refetches on every zoom, and appends live samples from the stream while the view
ends at now. The timeline and the events list are HTMX fragments the script refreshes when
the range changes or a new event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from andon.api.access import require
from andon.api.board import machine_slots
from andon.api.context import ApiContext
from andon.api.routes.common import Ctx
from andon.core.clock import NS_PER_H, NS_PER_MIN, NS_PER_S, iso, now_ns, parse_time
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.identity import Permission
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
NAV: tuple[NavItem, ...] = ()  # machines are reached from the board's tiles
RECENT = 50
PAGE = 2000
"""Most events one query of ``newest_before`` reads."""
FIRST_LOOK = 15 * NS_PER_MIN
STATE_HORIZON = 31 * 24 * NS_PER_H
TIMELINE_MAX_EVENTS = 20_000
WIDTH = 1000.0
"""The timeline's SVG viewBox width: segments are drawn with x/width attributes (no inline
style, so nothing needs 'unsafe-inline')."""
AssetQuery = Annotated[str, Query(min_length=1, max_length=255)]


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of one state on the timeline."""

    state: str
    category: str
    x: float
    width: float
    start: str
    end: str


def check_machine(ctx: ApiContext, path: str) -> str:
    """``path`` if it names a machine of this plant, else 404."""
    slots = machine_slots(ctx.plant, ctx.historian.tags() if ctx.plant is None else [])
    if path not in {s.path for s in slots}:
        raise HTTPException(404, f"no machine {path!r}; pick one on the board")
    return path


def category_of(state: str) -> str:
    try:
        return MachineState.from_label(state).category
    except ValueError:
        return "unknown"


def timeline(events: list[Event], before: Event | None, start: int, end: int) -> list[Segment]:
    """The states between ``start`` and ``end`` as segments of a WIDTH-wide bar."""
    span = max(1, end - start)
    marks = ([before] if before is not None else []) + [e for e in events if start <= e.ts < end]
    out: list[Segment] = []
    for i, e in enumerate(marks):
        a = max(e.ts, start)
        b = marks[i + 1].ts if i + 1 < len(marks) else end
        if b <= a:
            continue
        state = str(e.payload.get("state", "unknown"))
        x, width = (a - start) / span * WIDTH, (b - a) / span * WIDTH
        out.append(Segment(state, category_of(state), round(x, 2), round(width, 3), iso(a), iso(b)))
    return out


def shares(segments: list[Segment]) -> list[tuple[str, str, float]]:
    """(state, category, percent of the range) for each state seen, largest first."""
    total: dict[tuple[str, str], float] = {}
    for s in segments:
        total[(s.state, s.category)] = total.get((s.state, s.category), 0.0) + s.width
    ranked = sorted(total.items(), key=lambda kv: -kv[1])
    return [(state, cat, w / WIDTH * 100) for (state, cat), w in ranked]


def newest_before(
    ctx: ApiContext, asset: str, kind: str | None, end: int, n: int, horizon: int
) -> list[Event]:
    """The newest ``n`` events (oldest first) of ``asset`` and ``kind`` before ``end``, at most
    ``horizon`` back, reading at most PAGE events per query: a short tail window first, widened
    only while it holds fewer than ``n``, narrowed while it holds too many to know its end
    (the historian reads in time order only)."""
    span, narrowing = min(FIRST_LOOK, horizon), False
    while True:
        found = ctx.historian.events(asset, kind, end - span, end, limit=PAGE)
        if len(found) >= PAGE and span > NS_PER_S:
            span, narrowing = max(NS_PER_S, span // 8), True
            continue
        if len(found) >= n or narrowing or span >= horizon:
            return found[-n:]
        span = min(span * 8, horizon)


def state_before(ctx: ApiContext, asset: str, start: int) -> Event | None:
    """The state the machine was in at ``start``: its newest state event before it."""
    newest = ctx.historian.newest_events([asset], "state").get(asset)
    if newest is None or newest.ts < start:
        return newest  # one index lookup, however old (the usual case for a quiet machine)
    found = newest_before(ctx, asset, "state", start, 1, STATE_HORIZON)
    return found[-1] if found else None


def timeline_context(ctx: ApiContext, asset: str, start: int, end: int) -> dict[str, Any]:
    events = ctx.historian.events(asset, "state", start, end, limit=TIMELINE_MAX_EVENTS)
    segments = timeline(events, state_before(ctx, asset, start), start, end)
    return {
        "asset": asset,
        "segments": segments,
        "shares": shares(segments),
        "truncated": len(events) >= TIMELINE_MAX_EVENTS,
        "start": iso(start),
        "end": iso(end),
        "start_label": _minute(start),
        "end_label": _minute(end),
    }


def _minute(ns: int) -> str:
    """A time for an axis label: to the minute, UTC."""
    return iso(ns)[:16].replace("T", " ") + " UTC"


def recent_events(ctx: ApiContext, asset: str) -> list[Event]:
    """The newest events of the machine (the last day), newest first."""
    return newest_before(ctx, asset, None, now_ns() + 1, RECENT, 24 * NS_PER_H)[::-1]


@router.get("/machines/{path:path}", name="web.machine")
async def machine_page(
    request: Request, ctx: Ctx, path: Annotated[str, Path(max_length=255)]
) -> HTMLResponse:
    """The machine's trends, state timeline and recent events."""

    def gather() -> dict[str, Any]:
        asset = check_machine(ctx, path)
        end = now_ns()
        start = end - 8 * NS_PER_H
        tags = ctx.historian.tags(f"{asset}/+")
        return {
            "tags": tags,
            "events": recent_events(ctx, asset),
            **timeline_context(ctx, asset, start, end),
        }

    found = await run_in_threadpool(gather)
    name = path.rsplit("/", 1)[-1]
    if ctx.plant is not None:
        named = {r.path: r.machine.name for r in ctx.plant.machines()}
        name = named.get(path) or name
    stops_link = ctx.plant is not None  # the Stops page reads states as the plant says
    return site_of(request).render(
        request, "machine.html", title=name, path=path, stops_link=stops_link, **found
    )


@router.get("/machine/timeline", name="web.machine_timeline")
async def machine_timeline(
    request: Request,
    ctx: Ctx,
    asset: AssetQuery,
    start: Annotated[str, Query(alias="from", max_length=64)] = "-8h",
    end: Annotated[str, Query(alias="to", max_length=64)] = "now",
) -> HTMLResponse:
    """The state timeline between ``from`` and ``to`` (a fragment)."""

    def gather() -> dict[str, Any]:
        check_machine(ctx, asset)
        now = now_ns()
        a = parse_time(start, now=now, field="from")
        b = parse_time(end, now=now, field="to")
        if b <= a:
            raise HTTPException(400, "the timeline's 'from' must be before its 'to'")
        return timeline_context(ctx, asset, a, b)

    found = await run_in_threadpool(gather)
    return site_of(request).render(request, "machine_timeline.html", **found)


@router.get("/machine/events", name="web.machine_events")
async def machine_events(request: Request, ctx: Ctx, asset: AssetQuery) -> HTMLResponse:
    """The machine's recent events (a fragment)."""

    def gather() -> list[Event]:
        check_machine(ctx, asset)
        return recent_events(ctx, asset)

    found = await run_in_threadpool(gather)
    return site_of(request).render(request, "machine_events.html", events=found, asset=asset)
