"""API tokens (admin): list, create (the secret is shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from andon.api.access import client_address, note_of, require
from andon.api.routes.common import Ctx
from andon.api.schemas import TokenCreate, TokenCreated, TokenOut
from andon.core.clock import NS_PER_S, iso, now_ns
from andon.identity import Permission, Principal

router = APIRouter(tags=["tokens"])
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]


@router.get("/tokens", response_model=list[TokenOut], name="tokens.list")
def list_tokens(ctx: Ctx, admin: Admin) -> list[TokenOut]:
    """Every token with its roles, dates and status (active, expired, revoked); no secrets."""
    now = now_ns()
    return [
        TokenOut(
            id=t.id,
            name=t.name,
            roles=sorted(r.value for r in t.roles),
            created=iso(t.created_ns),
            created_by=t.created_by,
            expires=iso(t.expires_ns),
            revoked=iso(t.revoked_ns) if t.revoked_ns is not None else None,
            last_used=iso(t.last_used_ns) if t.last_used_ns is not None else None,
            status=t.status(now),
        )
        for t in ctx.identity.tokens()
    ]


@router.post("/tokens", response_model=TokenCreated, status_code=201, name="tokens.create")
def create_token(body: TokenCreate, request: Request, ctx: Ctx, admin: Admin) -> TokenCreated:
    """Create a token scoped to ``roles``; its secret is in this answer only."""
    note_of(request).target = body.name
    now = now_ns()
    token_id, secret = ctx.identity.create_token(
        body.name,
        body.roles,
        expires_in_s=body.expires_in_s,
        actor=admin.actor,
        source=client_address(request),
    )
    return TokenCreated(
        id=token_id,
        name=body.name,
        roles=sorted({r.value for r in body.roles}),
        expires=iso(now + round(body.expires_in_s * NS_PER_S)),
        secret=secret,
    )


@router.delete("/tokens/{token_id}", status_code=204, name="tokens.revoke")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**53)], request: Request, ctx: Ctx, admin: Admin
) -> None:
    """Revoke a token: it stops working at once."""
    note_of(request).target = f"token#{token_id}"
    ctx.identity.revoke_token(token_id, actor=admin.actor, source=client_address(request))
