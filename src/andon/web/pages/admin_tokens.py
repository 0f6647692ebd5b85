"""API tokens (admin): the list, create (the secret is shown once), revoke.

A token is scoped to one or more roles and lapses after the days chosen (at most a year).
Its secret appears on the answer to the create form and nowhere else, ever.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from andon.api.access import client_address, note_of, require
from andon.api.routes.common import Ctx
from andon.core.clock import now_ns
from andon.core.errors import InputError
from andon.identity import Permission, Principal, Role, parse_role
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
NAV = (NavItem("Tokens", "/admin/tokens", Permission.MANAGE_USERS, "admin", 20),)
ROLES = [r.value for r in Role]
DEFAULT_DAYS = 90


def tokens_page(request: Request, ctx: Ctx, status: int = 200, **extra: object) -> HTMLResponse:
    now = now_ns()
    context: dict[str, object] = {
        "tokens": [(t, t.status(now)) for t in ctx.identity.tokens()],
        "roles": ROLES,
        "default_days": DEFAULT_DAYS,
        "created": None,
        "error": "",
        "revoked": request.query_params.get("revoked", "")[:20],
        **extra,
    }
    return site_of(request).render(request, "admin_tokens.html", status, **context)


@router.get("/admin/tokens", name="web.tokens")
async def list_tokens(request: Request, ctx: Ctx, admin: Admin) -> HTMLResponse:
    """Every token with its roles, dates and status; never a secret."""
    return await run_in_threadpool(tokens_page, request, ctx)


def parse_days(text: str) -> float:
    try:
        days = float(text) if text else float(DEFAULT_DAYS)
    except ValueError:
        raise InputError(f"expires in: a number of days, got {text[:20]!r}") from None
    return days * 86400


@router.post("/admin/tokens", name="web.tokens_create")
async def create_token(request: Request, ctx: Ctx, admin: Admin) -> HTMLResponse:
    """Create a token; its secret is on this answer only."""
    form = await request.form()
    name = str(form.get("name", "")).strip()
    roles_text = [str(r) for r in form.getlist("roles")][: len(ROLES)]
    days_text = str(form.get("days", "")).strip()[:20]
    note_of(request).target = name[:64]

    def create() -> HTMLResponse:
        try:
            roles = [parse_role(r) for r in roles_text]
            token_id, secret = ctx.identity.create_token(
                name,
                roles,
                expires_in_s=parse_days(days_text),
                actor=admin.actor,
                source=client_address(request),
            )
        except InputError as exc:
            return tokens_page(request, ctx, 400, error=str(exc))
        created = {"id": token_id, "name": name, "secret": secret}
        return tokens_page(request, ctx, 201, created=created)

    return await run_in_threadpool(create)


@router.post("/admin/tokens/{token_id}/revoke", name="web.tokens_revoke")
async def revoke_token(
    request: Request,
    ctx: Ctx,
    admin: Admin,
    token_id: Annotated[int, Path(ge=1, le=2**53)],
) -> Response:
    """Revoke a token: it stops working at once."""
    note_of(request).target = f"token#{token_id}"

    def revoke() -> Response:
        try:
            ctx.identity.revoke_token(token_id, actor=admin.actor, source=client_address(request))
        except InputError as exc:
            return tokens_page(request, ctx, 400, error=str(exc))
        return RedirectResponse(f"/admin/tokens?revoked={token_id}", 303)

    return await run_in_threadpool(revoke)
