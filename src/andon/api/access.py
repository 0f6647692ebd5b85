"""Who is asking, and may they: authentication, CSRF and the one permission of every route.

Every route declares exactly one access rule as a dependency: ``Depends(require(permission))``
or ``Depends(public())``. Both are small callable objects whose ``permission`` attribute names
the rule (``None`` for public), so a test walks ``app.routes`` and fails on any route that
declares none, or two.

A request proves who it is either with ``Authorization: Bearer <token>`` (integrations; no
CSRF, since a browser never adds that header by itself) or with the session cookie set at
login. A state-changing request carried by the cookie must also carry the session's CSRF token,
in the ``X-CSRF-Token`` header or a ``csrf_token`` form field; the comparison is constant-time.

A request the browser makes by itself (the board's and machine page's polling, HTMX refreshes,
the live stream) says so with ``X-Andon-Background: 1`` (the stream route needs no header): it
is authenticated without refreshing the session's idle timer, so a dashboard left open still
logs out after the idle timeout. Navigation and form posts refresh it as before.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import HTTPException, Request

from andon.api.context import ApiContext
from andon.identity import Permission, Principal, WebSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
NOTE_KEY = "andon.audit_note"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BACKGROUND_HEADER = "X-Andon-Background"
"""Sent (value ``1``) by the dashboard's own polling: authenticate without touching the session."""
WORKERS_KEY = "andon_workers"
"""``app.state`` attribute holding the :class:`anyio.CapacityLimiter` of :func:`in_worker`."""
T = TypeVar("T")


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
    denied: bool = False
    """Set when the request was refused even though the status says otherwise (a page's
    303 redirect to /login): the trail then records ``denied``, not ``ok``."""


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


def workers(limit: int) -> anyio.CapacityLimiter:
    """The limiter of :func:`in_worker` for one app (``ApiSettings.worker_threads`` tokens)."""
    return anyio.CapacityLimiter(limit)


async def in_worker(request: Request, func: Callable[[], T]) -> T:
    """Run the blocking ``func`` (credential checks, historian reads) in a worker thread.

    At most ``ApiSettings.worker_threads`` such calls run at once; the others wait their
    turn first come, first served. Under the GIL more threads would not run this work
    faster, they would only interleave it: every request then finishes late (a long tail),
    where taking turns finishes each one as soon as its own work is done.
    """
    limiter = getattr(request.app.state, WORKERS_KEY, None)
    if not isinstance(limiter, anyio.CapacityLimiter):
        limiter = None  # an app not made by create_app: anyio's shared pool
    return await anyio.to_thread.run_sync(func, limiter=limiter)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def is_background(request: Request) -> bool:
    """Did the dashboard's own polling make this request (``X-Andon-Background: 1``)?"""
    return request.headers.get(BACKGROUND_HEADER, "").strip() == "1"


class Require:
    """The dependency of a route guarded by one permission; returns the Principal.

    ``touch=False`` (the live stream) never refreshes a session's idle timer."""

    def __init__(self, permission: Permission, *, touch: bool = True) -> None:
        self.permission: Permission | None = permission
        self.touch = touch

    async def __call__(self, request: Request) -> Principal:
        assert self.permission is not None
        note = note_of(request)
        touch = self.touch and not is_background(request)
        principal = await authenticate(request, note, touch=touch)
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


def require(permission: Permission, *, touch: bool = True) -> Require:
    """Guard a route with ``permission``: 401 without valid credentials, 403 without the right.

    ``touch=False``: a background route whose requests never refresh a session's idle timer."""
    return Require(permission, touch=touch)


def public() -> Public:
    """Declare a route open to anyone (still rate limited and audited where it writes)."""
    return Public()


async def authenticate(request: Request, note: AuditNote, *, touch: bool = True) -> Principal:
    """The Principal behind a bearer token or a session cookie (with its CSRF check).

    ``touch=False`` validates a session without refreshing its idle timer (background
    requests). What was presented is kept in ``request.state.credential`` for
    :func:`revalidator`."""
    ctx = context_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        note.credential = True
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise unauthenticated("the Authorization header must be 'Bearer <token>'")
        token = secret.strip()
        principal: Principal = await in_worker(
            request, lambda: ctx.identity.authenticate_token(token)
        )
        request.state.credential = Credential("token", token)
        return principal
    cookie = request.cookies.get(ctx.settings.cookie_name)
    if not cookie:
        raise unauthenticated("not logged in: log in, or send 'Authorization: Bearer <token>'")
    note.credential = True
    session: WebSession = await in_worker(
        request, lambda: ctx.identity.session(cookie, touch=touch)
    )
    request.state.credential = Credential("session", cookie)
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session)
    request.state.session = session
    return session.principal


@dataclass(frozen=True)
class Credential:
    """What a request authenticated with: a bearer token or a session cookie (its secret)."""

    kind: str
    secret: str = field(repr=False)


def revalidator(request: Request) -> Callable[[], Principal]:
    """A blocking check that the credential this request authenticated with is still good.

    Call it in a thread: it raises ``InvalidCredentials`` once the session has been logged out,
    has expired (idle or absolute) or its user disabled, or the token revoked or expired. A
    session is checked without refreshing its idle timer (a stream is not activity)."""
    ctx = context_of(request)
    credential = getattr(request.state, "credential", None)
    if not isinstance(credential, Credential):
        raise RuntimeError("revalidator() needs a request that passed require()")
    if credential.kind == "token":
        return lambda: ctx.identity.authenticate_token(credential.secret)
    return lambda: ctx.identity.session(credential.secret, touch=False).principal


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
