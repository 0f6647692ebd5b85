"""Rendering pages: one Jinja2 environment, the static file manifest, the page context.

Templates live in ``andon/web/templates`` and static files in ``andon/web/static``, both
shipped inside the package. Every page gets the same context: who is logged in, the CSRF token
of their session for its forms, the navigation they may see, and ``static(name)`` which gives a
file's URL with a content hash (so a browser may cache it for long and never keep a stale one).

Pages follow ``Content-Security-Policy: default-src 'self'``: no inline script or style
anywhere, every script a static file; a test reads every template to keep it so.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from andon import __version__
from andon.core.clock import NS_PER_S, from_ns
from andon.identity import Principal, WebSession
from andon.web.nav import Navigation

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATE_KEY = "andon_web"


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One static file held in memory: its bytes, media type and content hash."""

    body: bytes
    media_type: str
    digest: str


def load_static(root: Path = STATIC) -> dict[str, StaticFile]:
    """Every file under ``root`` by its relative POSIX path (read once, at install)."""
    files: dict[str, StaticFile] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media.endswith("javascript"):
            media += "; charset=utf-8"
        digest = hashlib.sha256(body).hexdigest()[:16]
        files[path.relative_to(root).as_posix()] = StaticFile(body, media, digest)
    return files


class Site:
    """What the pages render with: templates, static files, navigation (one per app)."""

    def __init__(self, navigation: Navigation, static: dict[str, StaticFile]) -> None:
        self.navigation = navigation
        self.static = static
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(static=self.static_url, version=__version__)
        self.env.filters.update(when=when, duration=duration)

    def static_url(self, name: str) -> str:
        """``/static/<name>?v=<hash>``; a missing file is a template bug, caught at render."""
        found = self.static.get(name)
        if found is None:
            raise LookupError(f"static file {name!r} is not in andon/web/static")
        return f"/static/{name}?v={found.digest}"

    def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """The page ``template`` with the common context; never cached by the browser."""
        principal = principal_of(request)
        session = getattr(request.state, "session", None)
        page = {
            "title": "andon",
            "request": request,
            "principal": principal,
            "csrf_token": session.csrf_token if isinstance(session, WebSession) else "",
            "nav": self.navigation.visible_to(principal),
            "path": request.url.path,
            **context,
        }
        html = self.env.get_template(template).render(page)
        return HTMLResponse(html, status_code, headers={"Cache-Control": "no-store"})


def site_of(request: Request) -> Site:
    """The Site installed on the request's app."""
    site: Site = getattr(request.app.state, STATE_KEY)
    return site


def principal_of(request: Request) -> Principal | None:
    """Who the page is for (set by the route's access rule), if anyone."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def when(ns: int | None) -> str:
    """A UTC time as ``2026-03-29 06:00:00Z`` (pages show UTC; the browser may localise)."""
    if ns is None:
        return "—"
    return from_ns(ns).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float | None) -> str:
    """``42 s``, ``17 min``, ``3 h 05 min``, ``2 d 4 h``: time in a state, for people."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def ns_of(iso_text: str | None) -> int | None:
    """An ISO 8601 UTC time (as the API's schemas carry) back to ns."""
    if iso_text is None:
        return None
    stamp = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    return round(stamp.timestamp() * NS_PER_S)
