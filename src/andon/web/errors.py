"""Errors on pages: the API's answers turned into what a person in a browser needs.

The API's handlers answer JSON; for a page (any path outside ``/api/`` and the OpenAPI
document) these wrappers answer instead:

    not logged in (401), or a session that ended    → 303 to /login?next=<this page>
                                                      (HTMX: HX-Redirect, so the whole page goes)
    forbidden (403), CSRF token missing or wrong      → the 403 page, saying which
    unknown page, machine or tag (404)                → the 404 page
    a person's mistake (400, 422)                     → the error page with the message
    the historian unavailable (503), anything else    → the error page, nothing leaked

The login redirect and the 403/429 pages mark the request's audit note ``denied``, so the trail
records a refused page action as ``denied`` rather than the ``ok`` a 303 status suggests.

``safe_next`` keeps the login redirect on this site: only a relative path is followed, never
``//evil.example`` or ``https://…`` (no open redirect).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from andon.api.access import note_of
from andon.api.errors import status_of
from andon.core.errors import AndonError, StorageError
from andon.identity import IdentityError, LoginThrottled
from andon.web.render import site_of

log = logging.getLogger("andon.web")
Handler = Callable[[Request, Any], Response | Awaitable[Response]]
TITLES = {
    400: "That did not work",
    403: "Not allowed",
    404: "Not found",
    422: "That did not work",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "The historian is unavailable",
}


def is_page(request: Request) -> bool:
    """True for the dashboard's pages, false for the JSON API and its OpenAPI document."""
    path = request.url.path
    return not (path == "/api" or path.startswith("/api/") or path == "/openapi.json")


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (``/machines/x?y=1``), else ``default``."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return default
    if value.startswith("//") or "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def login_url(request: Request) -> str:
    """Where to log in and come back to the page asked for."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", "/"))
        here = current.path + (f"?{current.query}" if current.query else "")
    target = safe_next(here)
    return "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"


def refused(request: Request) -> None:
    """Mark the request's audit note denied: a 303 to /login is a refusal, not an ``ok``."""
    note_of(request).denied = True


def to_login(request: Request) -> Response:
    refused(request)
    url = login_url(request)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, 303)


def error_page(request: Request, status: int, message: str) -> Response:
    title = TITLES.get(status, "That did not work")
    return site_of(request).render(
        request, "error.html", status, title=title, status=status, message=message
    )


async def delegate(handler: Handler, request: Request, exc: Exception) -> Response:
    """Hand the error to the API's own handler (sync or async)."""
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        return await answer
    return answer


def install_errors(app: FastAPI) -> None:
    """Wrap the app's error handlers so that pages get pages and the API keeps its JSON."""
    handlers = app.exception_handlers
    http_prev: Handler = handlers.get(HTTPException, http_exception_handler)
    andon_prev = handlers.get(AndonError)
    invalid_prev = handlers.get(RequestValidationError)
    crash_prev = handlers.get(Exception)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not is_page(request):
            return await delegate(http_prev, request, exc)
        if exc.status_code == 401:
            return to_login(request)
        if exc.status_code in (403, 429):
            refused(request)
        message = str(exc.detail) if exc.status_code < 500 else "internal error"
        return error_page(request, exc.status_code, message)

    async def andon_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AndonError)
        if not is_page(request) and andon_prev is not None:
            return await delegate(andon_prev, request, exc)
        if isinstance(exc, IdentityError) and not isinstance(exc, LoginThrottled):
            return to_login(request)
        if isinstance(exc, LoginThrottled):
            refused(request)
        if isinstance(exc, StorageError):
            log.error("storage error on %s %s: %s", request.method, request.url.path, exc)
            return error_page(request, 503, "the historian is unavailable; try again")
        return error_page(request, status_of(exc), str(exc))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_page(request) and invalid_prev is not None:
            return await delegate(invalid_prev, request, exc)
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return error_page(request, 400, f"the request was not understood ({where})")

    async def crash(request: Request, exc: Exception) -> Response:
        if not is_page(request) and crash_prev is not None:
            return await delegate(crash_prev, request, exc)
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_page(request, 500, "internal error; the details are in the server's log")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(AndonError, andon_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, crash)
