"""The app factory: one FastAPI app over an ApiContext, every route under ``/api/v1``.

Reading ``create_app`` tells the whole story: translations of andon's errors, the audit trail
and security headers around every request, the body limit before any parsing, then one router
per concept. The OpenAPI document is served at ``/openapi.json`` by a route of our own, so it
too declares its access rule (public) like every other route; there is no Swagger UI (it
would need a CDN, and plants are often air-gapped).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from andon import __version__
from andon.api import errors
from andon.api.access import WORKERS_KEY, Public, Require, public, workers
from andon.api.context import ApiContext
from andon.api.routes import (
    assets,
    audit,
    auth,
    datahealth,
    events,
    kpi,
    operator,
    sources,
    state,
    stream,
    tags,
    tokens,
    users,
)
from andon.api.schemas import Health
from andon.api.trail import STATE_KEY as TRAIL_KEY
from andon.api.trail import AuditTrail, Collapser

PREFIX = "/api/v1"
SECURITY_HEADERS = {
    b"content-security-policy": (
        b"default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """Adds the security headers to every response (errors included); API answers are
    never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith(PREFIX)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k not in SECURITY_HEADERS
                ]
                headers.extend(SECURITY_HEADERS.items())
                if api and not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def create_app(context: ApiContext) -> FastAPI:
    """The andon API over ``context``."""
    app = FastAPI(
        title="andon",
        version=__version__,
        summary="A factory's central nervous system: plant, history, events, live stream.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        max_body_size=context.settings.max_body_bytes,
    )
    app.state.context = context
    setattr(app.state, WORKERS_KEY, workers(context.settings.worker_threads))
    errors.install(app)
    collapser = Collapser(lambda: context.audit)
    setattr(app.state, TRAIL_KEY, collapser)  # ApiServer.stop flushes its pending counts
    app.add_middleware(AuditTrail, audit=lambda: context.audit, collapser=collapser)
    app.add_middleware(SecurityHeaders)

    api = APIRouter(prefix=PREFIX)
    api.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=Health,
        name="health",
        dependencies=[Depends(public())],
        tags=["health"],
    )
    for module in (
        assets,
        tags,
        events,
        stream,
        sources,
        kpi,
        datahealth,
        state,
        operator,
        auth,
        users,
        tokens,
        audit,
    ):
        api.include_router(module.router)
    app.include_router(api)

    def openapi_document() -> dict[str, Any]:
        return app.openapi()

    app.add_api_route(
        "/openapi.json",
        openapi_document,
        methods=["GET"],
        name="openapi",
        include_in_schema=False,
        dependencies=[Depends(public())],
    )
    return app


async def health() -> Health:
    """Liveness: the API answers (no database access, no credentials needed)."""
    return Health(version=__version__)


def routes_of(app: FastAPI) -> list[tuple[str, BaseRoute]]:
    """Every route of ``app`` with its full path (routers included with a prefix resolved)."""
    return [(str(rc.path), rc.original_route) for rc in iter_route_contexts(app.routes)]


def declared_access(route: BaseRoute) -> list[Require | Public]:
    """The access rules a route declares (a correct route declares exactly one)."""
    if not isinstance(route, APIRoute):
        return []
    return [d.call for d in route.dependant.dependencies if isinstance(d.call, Require | Public)]
