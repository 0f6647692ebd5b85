"""Static files (CSS, the page scripts, the vendored uPlot and HTMX) from the package.

Served by an ordinary route that declares ``public()`` like every other route, from a manifest
read at install: only files that ship in ``andon/web/static`` can be named, so no path can
walk out of it. URLs carry the file's content hash (``?v=…``), so a browser may keep a file a
day without ever running a stale one; a revalidation by ETag answers 304.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import Response

from andon.api.access import public
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False)
NAV: tuple[NavItem, ...] = ()
MAX_AGE_S = 86400


@router.get("/static/{name:path}", name="web.static", dependencies=[Depends(public())])
def static_file(request: Request, name: Annotated[str, Path(max_length=200)]) -> Response:
    """One shipped static file, or 404."""
    found = site_of(request).static.get(name)
    if found is None:
        raise HTTPException(404, f"no static file {name!r}")
    etag = f'"{found.digest}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={MAX_AGE_S}"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
