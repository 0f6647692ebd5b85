"""The andon board: every machine a tile, coloured by its state, live.

The tiles are rendered on the server from the API's board (newest state event, parts since
local midnight), grouped by area and line, so the first paint already shows the plant. The
page's script then follows the live stream for state and part events of exactly these
machines (the pattern ``site/+/+/+/_event`` matches events only, never the samples) and
updates tiles in place; while the stream is down it re-fetches the tiles fragment every few
seconds with HTMX, and once a minute anyway (a new day resets the counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from andon.api.access import require
from andon.api.board import board
from andon.api.routes.common import Ctx
from andon.api.routes.stream import check_pattern
from andon.api.schemas import Board, MachineOut
from andon.core.clock import now_ns
from andon.core.errors import InputError
from andon.identity import Permission
from andon.pipeline import EVENT_SEGMENT
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
NAV = (NavItem("Board", "/", Permission.READ, "plant", 10),)


@dataclass(frozen=True, slots=True)
class Line:
    """The tiles of one line, as the board groups them."""

    area: str
    line: str
    machines: list[MachineOut]


def lines_of(machines: Sequence[MachineOut]) -> list[Line]:
    """Machines grouped by (area, line), in plant order."""
    out: list[Line] = []
    for m in machines:
        if not out or (out[-1].area, out[-1].line) != (m.area, m.line):
            out.append(Line(m.area, m.line, []))
        out[-1].machines.append(m)
    return out


def stream_pattern(paths: Sequence[str]) -> str:
    """The narrowest pattern the stream accepts that carries every listed machine's events.

    Machines under one root at one depth (the usual plant): ``root/+/…/+/_event``, events
    only. Should the stream refuse that pattern, everything under the root (the samples too,
    which the page ignores); machines under several roots: everything.
    """
    if not paths:
        return "#"
    split = [p.split("/") for p in paths]
    depth = len(split[0])
    first = split[0][0]
    if not all(s[0] == first for s in split):
        return "#"
    if all(len(s) == depth for s in split):
        narrow = "/".join([first, *["+"] * (depth - 1), EVENT_SEGMENT])
        try:
            return check_pattern(narrow)
        except InputError:
            pass
    return f"{first}/#"


async def current_board(ctx: Ctx) -> Board:
    return await run_in_threadpool(board, ctx.historian, ctx.plant, now_ns())


@router.get("/", name="web.board")
async def board_page(request: Request, ctx: Ctx) -> HTMLResponse:
    """The andon board of the whole plant."""
    now = await current_board(ctx)
    return site_of(request).render(
        request,
        "board.html",
        board=now,
        lines=lines_of(now.machines),
        pattern=stream_pattern([m.path for m in now.machines]),
        title=ctx.plant.name if ctx.plant is not None and ctx.plant.name else "Board",
    )


@router.get("/board/tiles", name="web.board_tiles")
async def board_tiles(request: Request, ctx: Ctx) -> HTMLResponse:
    """The tiles alone, for the page to refresh them (HTMX)."""
    now = await current_board(ctx)
    return site_of(request).render(
        request, "board_tiles.html", board=now, lines=lines_of(now.machines)
    )
