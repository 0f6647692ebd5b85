"""The audit log (admin): entries newest first, a page at a time, and the chain's verdict.

Entry ids run 1, 2, 3 … without gaps (a gap is what ``verify`` reports), so a page "before
id B" is the ids just below B. The verify button walks the whole chain and shows the verdict:
how many entries, the head hash, or the first entry that does not check out and why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from andon.api.access import require
from andon.api.routes.common import Ctx
from andon.audit import AuditEntry, AuditVerdict
from andon.identity import Permission
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ_AUDIT))])
NAV = (NavItem("Audit log", "/admin/audit", Permission.READ_AUDIT, "admin", 30),)
PAGE = 50
Before = Annotated[int | None, Query(ge=2, le=2**62)]


def page_of(ctx: Ctx, before: int | None) -> list[AuditEntry]:
    """Up to PAGE entries with id < ``before`` (the newest when None), newest first."""
    if before is None:
        return ctx.audit.entries(limit=PAGE, newest_first=True)
    found = ctx.audit.entries(after_id=max(0, before - 1 - PAGE), limit=PAGE)
    return [e for e in reversed(found) if e.id < before]


def audit_page(
    request: Request, ctx: Ctx, before: int | None, verdict: AuditVerdict | None
) -> HTMLResponse:
    entries = page_of(ctx, before)
    newest = ctx.audit.entries(limit=1, newest_first=True)
    head = newest[0].id if newest else 0
    older = entries[-1].id if entries and entries[-1].id > 1 else None
    newer = None
    if before is not None and before <= head:
        newer = before + PAGE if before + PAGE <= head else 0
    return site_of(request).render(
        request,
        "admin_audit.html",
        entries=entries,
        older=older,
        newer=newer,
        head=head,
        verdict=verdict,
    )


@router.get("/admin/audit", name="web.audit")
async def audit_entries(request: Request, ctx: Ctx, before: Before = None) -> HTMLResponse:
    """A page of entries, newest first (``?before=<id>`` for older ones)."""
    return await run_in_threadpool(audit_page, request, ctx, before, None)


@router.get("/admin/audit/verify", name="web.audit_verify")
async def audit_verify(request: Request, ctx: Ctx) -> HTMLResponse:
    """Walk the chain and show the verdict above the newest entries."""

    def verified() -> HTMLResponse:
        return audit_page(request, ctx, None, ctx.audit.verify())

    return await run_in_threadpool(verified)
