"""The API's audit trail: every write and every refused attempt, one entry each.

An ASGI middleware around the routes: it leaves an :class:`AuditNote` in the request scope,
lets the request run, and then records the outcome from the response status: ``ok`` below 400,
``denied`` for 401/403/429, ``failed`` otherwise (including a crash). Reads are recorded only
when refused to someone who presented a credential: a browser that merely has not logged in yet
must not flood the log, while a forged cookie or a revoked token on any route is worth knowing.

Entries carry the principal's actor name, the client address, category ``api``, the route's
name as the action and the route's target (a user name, a token id, or the URL path). Bodies,
secrets and query strings are never written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from andon.api.access import NOTE_KEY, SAFE_METHODS, AuditNote
from andon.audit import AuditLog

CATEGORY = "api"
DENIED = frozenset({401, 403, 429})
log = logging.getLogger("andon.api")


def outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "denied" if status in DENIED else "failed"


def should_record(method: str, status: int, note: AuditNote) -> bool:
    """Writes always; reads only when refused to a presented credential."""
    if method not in SAFE_METHODS:
        return True
    return status in DENIED and note.credential


class AuditTrail:
    """Records the outcome of matched API requests in the audit log (see module docstring)."""

    def __init__(self, app: ASGIApp, audit: Callable[[], AuditLog]) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = AuditNote()
        scope[NOTE_KEY] = note
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            await self._record(scope, status, note)

    async def _record(self, scope: Scope, status: int, note: AuditNote) -> None:
        route = scope.get("route")
        name = getattr(route, "name", None)
        method = str(scope.get("method", "GET"))
        if not name or note.skip or not should_record(method, status, note):
            return
        entry: dict[str, Any] = {
            "actor": note.actor,
            "source": _source(scope),
            "category": CATEGORY,
            "action": name,
            "target": note.target if note.target is not None else str(scope.get("path", "")),
            "result": outcome(status),
            "details": {"method": method, "status": status, **note.details},
        }
        try:
            await run_in_threadpool(lambda: self.audit().record(**entry))
        except Exception:  # the response is gone; the operator must hear of a lost entry
            log.exception("could not write the audit entry for %s %s", method, name)


def _source(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
