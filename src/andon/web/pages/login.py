"""Logging in and out from a browser: the login form, its CSRF guard, and logout.

The login form is guarded before anyone is logged in by a double-submit token: ``GET /login``
sets a random token in a SameSite=Strict, HttpOnly cookie and the same token in the form's
hidden ``csrf_token`` field; ``POST /login`` goes on only if the two agree (another site can
neither read the cookie nor set it). The login itself is the API's own login route, called
as a function: the same throttling, the same fresh session (an earlier one of this browser is
ended: no session fixation), the same cookie. Identity audits every outcome.

Failures are said plainly and answered with their status: 401 for a wrong name or password,
429 with ``Retry-After`` when throttled, 403 when the form's token does not match.
"""

from __future__ import annotations

import hmac
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from andon.api.access import CSRF_FIELD, context_of, note_of, public, require
from andon.api.context import ApiSettings
from andon.api.routes import auth
from andon.api.routes.common import Ctx
from andon.api.schemas import LoginRequest
from andon.identity import LoginFailed, LoginThrottled, Permission, Principal
from andon.web.errors import safe_next
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False)
NAV: tuple[NavItem, ...] = ()
LOGIN_TOKEN_MAX_AGE_S = 3600


def login_cookie(request: Request) -> str:
    """The login form's token cookie (``__Host-`` prefixed when the session cookie is)."""
    secure = auth_settings(request).cookie_secure
    return "__Host-andon_login" if secure else "andon_login"


def auth_settings(request: Request) -> ApiSettings:
    return context_of(request).settings


def login_form(
    request: Request, status: int = 200, *, message: str = "", name: str = ""
) -> HTMLResponse:
    """The form with a fresh token in its hidden field and in the token cookie."""
    token = secrets.token_urlsafe(32)
    page = site_of(request).render(
        request,
        "login.html",
        status,
        title="Log in",
        login_token=token,
        next=safe_next(request.query_params.get("next")),
        message=message,
        name=name,
    )
    page.set_cookie(
        login_cookie(request),
        token,
        max_age=LOGIN_TOKEN_MAX_AGE_S,
        httponly=True,
        secure=auth_settings(request).cookie_secure,
        samesite="strict",
        path="/",
    )
    return page


@router.get("/login", name="web.login_form", dependencies=[Depends(public())])
def show_login(request: Request) -> HTMLResponse:
    """The login page (``?next=/path`` comes back there after logging in)."""
    return login_form(request)


@router.post("/login", name="web.login", dependencies=[Depends(public())])
async def do_login(request: Request, ctx: Ctx) -> Response:
    """Check the form's token, log in, set the session cookie, go to ``next``."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD, ""))
    expected = request.cookies.get(login_cookie(request), "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return login_form(request, 403, message="The login form had expired. Please try again.")
    note_of(request).skip = True  # identity audits every login outcome itself
    name = str(form.get("name", "")).strip()
    target = safe_next(str(form.get("next", "")))
    try:
        body = LoginRequest(name=name, password=str(form.get("password", "")))
    except ValidationError:
        return login_form(request, 400, message="Enter your name and password.", name=name)
    answer = Response()
    try:
        await run_in_threadpool(auth.login, body, request, answer, ctx)
    except LoginThrottled as exc:
        wait = max(1, math.ceil(exc.retry_after_s))
        page = login_form(
            request,
            429,
            message=f"Too many failed logins. Try again in {wait} seconds.",
            name=name,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    except LoginFailed:
        return login_form(request, 401, message="Wrong name or password.", name=name)
    done = RedirectResponse(target, 303)
    for value in answer.headers.getlist("set-cookie"):
        done.headers.append("set-cookie", value)
    done.delete_cookie(
        login_cookie(request),
        path="/",
        secure=auth_settings(request).cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return done


@router.post("/logout", name="web.logout")
def do_logout(
    request: Request,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require(Permission.READ))],
) -> Response:
    """End the session (the form carries its CSRF token) and go to the login page."""
    done = RedirectResponse("/login", 303)
    auth.logout(request, done, ctx, principal)
    return done
