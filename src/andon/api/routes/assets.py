"""The plant: its asset tree with tags, and the andon board of machines."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from andon.api.access import in_worker, require
from andon.api.board import asset_tree, board
from andon.api.routes.common import Ctx
from andon.api.schemas import AssetNode, Board
from andon.core.clock import now_ns
from andon.identity import Permission

router = APIRouter(tags=["assets"], dependencies=[Depends(require(Permission.READ))])


@router.get("/assets", response_model=list[AssetNode], name="assets.tree")
def assets(ctx: Ctx) -> list[AssetNode]:
    """Sites, areas, lines and machines, each machine with its tags."""
    return asset_tree(ctx.plant, ctx.historian.tags())


@router.get("/machines", response_model=Board, name="assets.machines")
async def machines(request: Request, ctx: Ctx) -> Board:
    """The andon board: every machine's state, time in state, and parts good/scrap today."""
    return await in_worker(request, lambda: board(ctx.historian, ctx.plant, now_ns()))
