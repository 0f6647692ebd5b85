"""Who is asking, and may they: authentication, CSRF and the one permission of every route.

Every route declares exactly one access rule as a dependency: ``Depends(require(permission))``
or ``Depends(public())``. Both are small callable objects whose ``permission`` attribute names
the rule (``None`` for public), so a test walks ``app.routes`` and fails on any route that
declares none, or two.

A request proves who it is either with ``Authorization: Bearer <token>`` (integrations; no
CSRF, since a browser never adds that header by itself) or with the session cookie set at
login. A state-changing request carried by the cookie must also carry the session's CSRF token,
in the ``X-CSRF-Token`` header or a ``csrf_token`` form field; the comparison is constant-time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from andon.api.context import ApiContext
from andon.identity import Permission, Principal, WebSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
NOTE_KEY = "andon.audit_note"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class AuditNote:
    """What the audit trail should say about this request, filled in as it is handled.

    ``credential`` is set when the request presented a token or a cookie; ``target`` and
    ``details`` are set by routes that know better than the URL what they acted on.
    """

    actor: str = "anonymous"
    credential: bool = False
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    skip: bool = False
    """Set by a route whose domain room audits the outcome itself (login)."""


def note_of(request: Request) -> AuditNote:
    """The request's audit note (made by the audit trail middleware; a fresh one in tests)."""
    note = request.scope.get(NOTE_KEY)
    if not isinstance(note, AuditNote):
        note = AuditNote()
        request.scope[NOTE_KEY] = note
    return note


def context_of(request: Request) -> ApiContext:
    """The ApiContext the app was made with."""
    ctx: ApiContext = request.app.state.context
    return ctx


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


class Require:
    """The dependency of a route guarded by one permission; returns the Principal."""

    def __init__(self, permission: Permission) -> None:
        self.permission: Permission | None = permission

    async def __call__(self, request: Request) -> Principal:
        assert self.permission is not None
        note = note_of(request)
        principal = await authenticate(request, note)
        note.actor = principal.actor
        request.state.principal = principal
        if not principal.can(self.permission):
            raise HTTPException(403, f"permission denied: this needs {self.permission.value!r}")
        return principal

    def __repr__(self) -> str:
        assert self.permission is not None
        return f"require({self.permission.value})"


class Public:
    """The dependency of a route anyone may call (login, health, the OpenAPI document)."""

    permission: Permission | None = None

    async def __call__(self) -> None:
        return None

    def __repr__(self) -> str:
        return "public()"


def require(permission: Permission) -> Require:
    """Guard a route with ``permission``: 401 without valid credentials, 403 without the right."""
    return Require(permission)


def public() -> Public:
    """Declare a route open to anyone (still rate limited and audited where it writes)."""
    return Public()


async def authenticate(request: Request, note: AuditNote) -> Principal:
    """The Principal behind a bearer token or a session cookie (with its CSRF check)."""
    ctx = context_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        note.credential = True
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise unauthenticated("the Authorization header must be 'Bearer <token>'")
        principal: Principal = await run_in_threadpool(
            ctx.identity.authenticate_token, secret.strip()
        )
        return principal
    cookie = request.cookies.get(ctx.settings.cookie_name)
    if not cookie:
        raise unauthenticated("not logged in: log in, or send 'Authorization: Bearer <token>'")
    note.credential = True
    session: WebSession = await run_in_threadpool(ctx.identity.session, cookie)
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session)
    request.state.session = session
    return session.principal


async def check_csrf(request: Request, session: WebSession) -> None:
    """Refuse (403) a cookie-carried write without the session's CSRF token."""
    sent: str | None = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise HTTPException(
            403, f"missing or wrong CSRF token: send the {CSRF_HEADER} header given at login"
        )
