"""Logging in and out of the web UI, and who am I.

``POST /auth/login`` checks the password (identity throttles failures per account and per
address), starts a brand-new session (an earlier session cookie of this browser is ended
first: no session fixation) and sets it as an HttpOnly, Secure, SameSite=Strict cookie; the
CSRF token comes back in the body, for the page to send as ``X-CSRF-Token`` on every write.
Identity records every login outcome in the audit log itself (once per lockout when
throttled), so the API's own trail skips this route rather than double every failure.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from andon.api.access import client_address, note_of, public, require
from andon.api.routes.common import Ctx
from andon.api.schemas import LoginAnswer, LoginRequest, Me
from andon.core.clock import iso
from andon.identity import PERMISSIONS, InvalidCredentials, Permission, Principal, WebSession

router = APIRouter(tags=["auth"])


def describe(principal: Principal) -> Me:
    granted = {p for role in principal.roles for p in PERMISSIONS[role]}
    return Me(
        name=principal.name,
        kind=principal.kind,
        roles=sorted(r.value for r in principal.roles),
        permissions=[p.value for p in Permission if p in granted],
    )


@router.post(
    "/auth/login",
    response_model=LoginAnswer,
    name="auth.login",
    dependencies=[Depends(public())],
    responses={401: {"description": "wrong name or password"}, 429: {"description": "throttled"}},
)
def login(body: LoginRequest, request: Request, response: Response, ctx: Ctx) -> LoginAnswer:
    """Log in with name and password: sets the session cookie, returns the CSRF token."""
    note_of(request).skip = True
    principal = ctx.identity.login(body.name, body.password, address=client_address(request))
    cookie = ctx.settings.cookie_name
    old = request.cookies.get(cookie)
    if old:
        with contextlib.suppress(InvalidCredentials):
            ctx.identity.end_session(old, address=client_address(request))
    session: WebSession = ctx.identity.start_session(principal)
    response.set_cookie(
        cookie,
        session.secret,
        httponly=True,
        secure=ctx.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    me = describe(principal)
    return LoginAnswer(
        **me.model_dump(), csrf_token=session.csrf_token, expires=iso(session.expires_ns)
    )


@router.post("/auth/logout", status_code=204, name="auth.logout")
def logout(
    request: Request,
    response: Response,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require(Permission.READ))],
) -> None:
    """End this browser's session server-side and clear its cookie (a token: nothing to end)."""
    session = getattr(request.state, "session", None)
    if isinstance(session, WebSession):
        ctx.identity.end_session(session.secret, address=client_address(request))
    response.delete_cookie(
        ctx.settings.cookie_name,
        path="/",
        secure=ctx.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


@router.get("/auth/me", response_model=Me, name="auth.me")
def me(principal: Annotated[Principal, Depends(require(Permission.READ))]) -> Me:
    """Who the credentials of this request belong to, with their roles and permissions."""
    return describe(principal)
