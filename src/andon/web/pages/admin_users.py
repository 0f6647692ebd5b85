"""Users (admin): the list, create (the password is shown once), change role, disable, enable.

Every form posts the session's CSRF token (checked by the access rule before the route runs).
Each change goes through identity, which audits it in the same transaction; the API's trail
records the request too, as it does for every write. A mistake (a taken name, demoting the
last admin) comes back as the page with the message, nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from andon.api.access import client_address, note_of, require
from andon.api.routes.common import Ctx
from andon.core.errors import InputError
from andon.identity import Permission, Principal, Role, parse_role
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
UserName = Annotated[str, Path(min_length=1, max_length=64)]
NAV = (NavItem("Users", "/admin/users", Permission.MANAGE_USERS, "admin", 10),)
ROLES = [r.value for r in Role]


async def field(request: Request, name: str) -> str:
    """One text field of the posted form ('' when absent)."""
    value = (await request.form()).get(name, "")
    return value.strip() if isinstance(value, str) else ""


def users_page(request: Request, ctx: Ctx, status: int = 200, **extra: object) -> HTMLResponse:
    context: dict[str, object] = {
        "users": ctx.identity.users(),
        "roles": ROLES,
        "created": None,
        "error": "",
        "changed": request.query_params.get("changed", "")[:64],
        **extra,
    }
    return site_of(request).render(request, "admin_users.html", status, **context)


@router.get("/admin/users", name="web.users")
async def list_users(request: Request, ctx: Ctx, admin: Admin) -> HTMLResponse:
    """Every user with their role and status, and the forms to change them."""
    return await run_in_threadpool(users_page, request, ctx)


@router.post("/admin/users", name="web.users_create")
async def create_user(request: Request, ctx: Ctx, admin: Admin) -> HTMLResponse:
    """Create a user with a generated password, shown on this answer only."""
    name, role_text = await field(request, "name"), await field(request, "role")
    note_of(request).target = name[:64]

    def create() -> HTMLResponse:
        try:
            role = parse_role(role_text)
            password = ctx.identity.create_user(
                name, role, None, actor=admin.actor, source=client_address(request)
            )
        except InputError as exc:
            return users_page(request, ctx, 400, error=str(exc))
        created = {"name": name, "role": role.value, "password": password}
        return users_page(request, ctx, 201, created=created)

    return await run_in_threadpool(create)


def _done(name: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/users?changed={quote(name, safe='')}", 303)


async def _change(request: Request, ctx: Ctx, name: str, act: Callable[[str], object]) -> Response:
    """Apply one change to user ``name`` (``act`` gets the client address) in a worker
    thread: back to the list on success, the page with the message on a mistake."""
    note_of(request).target = name
    address = client_address(request)

    def change() -> Response:
        try:
            act(address)
        except InputError as exc:
            return users_page(request, ctx, 400, error=str(exc))
        return _done(name)

    return await run_in_threadpool(change)


@router.post("/admin/users/{name}/role", name="web.users_role")
async def set_role(request: Request, ctx: Ctx, admin: Admin, name: UserName) -> Response:
    """Give a user another role (the last enabled admin keeps theirs)."""
    role_text = await field(request, "role")
    return await _change(
        request,
        ctx,
        name,
        lambda source: ctx.identity.set_role(
            name, parse_role(role_text), actor=admin.actor, source=source
        ),
    )


@router.post("/admin/users/{name}/disable", name="web.users_disable")
async def disable_user(request: Request, ctx: Ctx, admin: Admin, name: UserName) -> Response:
    """Stop a user from logging in; their sessions end at once."""
    return await _change(
        request,
        ctx,
        name,
        lambda source: ctx.identity.disable_user(name, actor=admin.actor, source=source),
    )


@router.post("/admin/users/{name}/enable", name="web.users_enable")
async def enable_user(request: Request, ctx: Ctx, admin: Admin, name: UserName) -> Response:
    """Let a disabled user log in again."""
    return await _change(
        request,
        ctx,
        name,
        lambda source: ctx.identity.enable_user(name, actor=admin.actor, source=source),
    )
