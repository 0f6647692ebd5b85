"""The API's audit trail: every write and every refused attempt.

An ASGI middleware around the routes: it leaves an :class:`AuditNote` in the request scope,
lets the request run, and then records the outcome from the response status: ``ok`` below 400,
``denied`` for 401/403/429 (or when a page marked the note denied: its 303 to /login),
``failed`` otherwise (including a crash). Reads are recorded only when refused to someone who
presented a credential: a browser that merely has not logged in yet must not flood the log,
while a forged cookie or a revoked token on any route is worth knowing.

Every write by an authenticated principal and every refusal of a presented credential gets its
own entry. Anonymous requests (no credential at all) are collapsed, since anyone can send them
by the thousand and each entry is a row of the hash chain: at most one entry per (source
address, action, result) per ``WINDOW_S``, whose ``details.count`` says how many requests it
stands for. The first request of a window is written at once (count 1); the ones after it are
counted in memory and written as one entry when the next request of that key comes after the
window closed, or by the sweep that runs on later requests, or at shutdown (:meth:`flush`).

Entries carry the principal's actor name, the client address, category ``api``, the route's
name as the action and the route's target (a user name, a token id, or the URL path). Bodies,
secrets and query strings are never written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from andon.api.access import NOTE_KEY, SAFE_METHODS, AuditNote
from andon.audit import AuditLog

CATEGORY = "api"
DENIED = frozenset({401, 403, 429})
WINDOW_S = 60.0
"""Anonymous requests of one (source, action, result) collapse into one entry per window."""
MAX_KEYS = 10_000
"""Open windows kept in memory; beyond, new sources share one key per (action, result)."""
SWEEP_S = 5.0
STATE_KEY = "audit_trail"
"""``app.state`` attribute holding the :class:`Collapser` (``flush`` it at shutdown)."""
log = logging.getLogger("andon.api")
Key = tuple[str, str, str]


def outcome(status: int, note: AuditNote | None = None) -> str:
    if note is not None and note.denied:
        return "denied"
    if status < 400:
        return "ok"
    return "denied" if status in DENIED else "failed"


def should_record(method: str, status: int, note: AuditNote) -> bool:
    """Writes always; reads only when refused to a presented credential."""
    if method not in SAFE_METHODS:
        return True
    return status in DENIED and note.credential


@dataclass
class Window:
    """One open window of collapsed anonymous requests."""

    opened: float
    entry: dict[str, Any]
    """The last entry of the window (what a flush writes, with ``count`` replaced)."""
    pending: int = 0
    """Requests since the entry written at the window's start."""


class Collapser:
    """The in-memory windows of anonymous requests (single event loop: no lock)."""

    def __init__(
        self,
        audit: Callable[[], AuditLog],
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.audit = audit
        self.window_s = window_s
        self.clock = clock
        self.windows: dict[Key, Window] = {}
        self._swept = clock()

    def admit(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """The entries to write now for this anonymous request (often none)."""
        now = self.clock()
        out = self._sweep(now) if now - self._swept >= SWEEP_S else []
        key: Key = (str(entry["source"]), str(entry["action"]), str(entry["result"]))
        if key not in self.windows and len(self.windows) >= MAX_KEYS:
            out.extend(self._sweep(now))
            if len(self.windows) >= MAX_KEYS:
                key = ("*", key[1], key[2])
                entry = {**entry, "source": "*"}
        window = self.windows.get(key)
        if window is not None and now - window.opened < self.window_s:
            window.pending += 1
            window.entry = entry
            return out
        earlier = window.pending if window is not None else 0
        self.windows[key] = Window(now, entry)
        out.append(_counted(entry, 1 + earlier))
        return out

    def _sweep(self, now: float) -> list[dict[str, Any]]:
        """Close the windows that ended: their pending counts become entries."""
        self._swept = now
        out: list[dict[str, Any]] = []
        for key, window in list(self.windows.items()):
            if now - window.opened >= self.window_s:
                del self.windows[key]
                if window.pending:
                    out.append(_counted(window.entry, window.pending))
        return out

    def closing(self) -> list[dict[str, Any]]:
        """Every pending count as an entry, and forget all windows (shutdown)."""
        out = [_counted(w.entry, w.pending) for w in self.windows.values() if w.pending]
        self.windows.clear()
        return out

    async def flush(self) -> None:
        """Write every pending count now (at shutdown, or in a test)."""
        await write_entries(self.audit, self.closing())


def _counted(entry: dict[str, Any], count: int) -> dict[str, Any]:
    return {**entry, "details": {**entry["details"], "count": count}}


async def write_entries(audit: Callable[[], AuditLog], entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        try:
            await run_in_threadpool(_record, audit, entry)
        except Exception:  # the response is gone; the operator must hear of a lost entry
            log.exception("could not write the audit entry for %s", entry.get("action"))


def _record(audit: Callable[[], AuditLog], entry: dict[str, Any]) -> None:
    audit().record(**entry)


class AuditTrail:
    """Records the outcome of matched API requests in the audit log (see module docstring)."""

    def __init__(
        self, app: ASGIApp, audit: Callable[[], AuditLog], collapser: Collapser | None = None
    ) -> None:
        self.app = app
        self.audit = audit
        self.collapser = collapser if collapser is not None else Collapser(audit)

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
            "result": outcome(status, note),
            "details": {"method": method, "status": status, **note.details},
        }
        if note.credential:
            await write_entries(self.audit, [entry])
        else:
            await write_entries(self.audit, self.collapser.admit(entry))


def _source(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
