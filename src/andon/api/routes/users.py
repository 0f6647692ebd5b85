"""Users (admin): list, create (the password is shown once), change role, disable, enable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from andon.api.access import client_address, note_of, require
from andon.api.routes.common import Ctx
from andon.api.schemas import RoleChange, UserCreate, UserCreated, UserOut
from andon.core.clock import iso
from andon.identity import Permission, Principal

router = APIRouter(tags=["users"])
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
UserName = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/users", response_model=list[UserOut], name="users.list")
def list_users(ctx: Ctx, admin: Admin) -> list[UserOut]:
    """Every user, disabled ones included; never a password or its hash."""
    return [
        UserOut(
            name=u.name,
            role=u.role.value,
            disabled=u.disabled,
            created=iso(u.created_ns),
            last_login=iso(u.last_login_ns) if u.last_login_ns is not None else None,
        )
        for u in ctx.identity.users()
    ]


@router.post("/users", response_model=UserCreated, status_code=201, name="users.create")
def create_user(body: UserCreate, request: Request, ctx: Ctx, admin: Admin) -> UserCreated:
    """Create a user; the password (generated unless given) is in this answer only."""
    note_of(request).target = body.name
    password = ctx.identity.create_user(
        body.name, body.role, body.password, actor=admin.actor, source=client_address(request)
    )
    return UserCreated(name=body.name, role=body.role.value, password=password)


@router.put("/users/{name}/role", status_code=204, name="users.set_role")
def set_role(name: UserName, body: RoleChange, request: Request, ctx: Ctx, admin: Admin) -> None:
    """Change a user's role (the last enabled admin cannot be demoted)."""
    note_of(request).target = name
    ctx.identity.set_role(name, body.role, actor=admin.actor, source=client_address(request))


@router.post("/users/{name}/disable", status_code=204, name="users.disable")
def disable_user(name: UserName, request: Request, ctx: Ctx, admin: Admin) -> None:
    """Stop a user from logging in and end their sessions at once."""
    note_of(request).target = name
    ctx.identity.disable_user(name, actor=admin.actor, source=client_address(request))


@router.post("/users/{name}/enable", status_code=204, name="users.enable")
def enable_user(name: UserName, request: Request, ctx: Ctx, admin: Admin) -> None:
    """Let a disabled user log in again."""
    note_of(request).target = name
    ctx.identity.enable_user(name, actor=admin.actor, source=client_address(request))
