"""The andon API: FastAPI app factory, authentication and roles, one router per concept.

``create_app(ApiContext(...))`` makes the app; ``ApiServer`` (or ``serve_api``) serves it inside
a running asyncio loop beside the ingestion pipeline. Floor 5: only this room knows FastAPI.
"""

from andon.api.access import Public, Require, public, require
from andon.api.app import PREFIX, create_app, declared_access, routes_of
from andon.api.context import ApiContext, ApiSettings
from andon.api.server import ApiServer, serve_api

__all__ = [
    "PREFIX",
    "ApiContext",
    "ApiServer",
    "ApiSettings",
    "Public",
    "Require",
    "create_app",
    "declared_access",
    "public",
    "require",
    "routes_of",
    "serve_api",
]
