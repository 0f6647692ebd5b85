"""Errors translated at the boundary: andon's error tree to clear JSON, nothing leaked.

    AndonError                  → 400 {"detail": message}
    ├── InputError              → 400 (a person's mistake; the message says what was expected)
    │   └── UnknownTagError     → 404
    ├── IdentityError           → 401 (LoginFailed, InvalidCredentials)
    │   └── LoginThrottled      → 429 with Retry-After
    ├── ConfigError             → 400 with every problem
    └── StorageError            → 503 "the historian is unavailable" (details only in the log)
    RequestValidationError      → 422 with where and what, without echoing the input
    anything else               → 500 "internal error" (the traceback only in the log)

Every body is ``{"detail": ...}``, as FastAPI's own errors are.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from andon.core.errors import AndonError, StorageError, UnknownTagError
from andon.identity import IdentityError, LoginThrottled

log = logging.getLogger("andon.api")


def status_of(exc: AndonError) -> int:
    if isinstance(exc, UnknownTagError):
        return 404
    if isinstance(exc, LoginThrottled):
        return 429
    if isinstance(exc, IdentityError):
        return 401
    if isinstance(exc, StorageError):
        return 503
    return 400


async def andon_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AndonError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, StorageError):
        log.error("storage error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "the historian is unavailable; try again"}, 503)
    if isinstance(exc, LoginThrottled):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": str(exc)}, status, headers=headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, without the offending input (it may be a password)."""
    assert isinstance(exc, RequestValidationError)
    detail: list[dict[str, Any]] = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, 422)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, 500)


def install(app: FastAPI) -> None:
    """Register the translations on ``app``."""
    app.add_exception_handler(AndonError, andon_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
