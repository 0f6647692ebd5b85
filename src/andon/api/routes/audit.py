"""The audit log (admin): read entries, verify the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from andon.api.access import require
from andon.api.routes.common import Ctx
from andon.api.schemas import AuditEntryOut, AuditVerdictOut
from andon.core.clock import iso
from andon.identity import Permission

router = APIRouter(tags=["audit"], dependencies=[Depends(require(Permission.READ_AUDIT))])


@router.get("/audit", response_model=list[AuditEntryOut], name="audit.list")
def entries(
    ctx: Ctx,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    newest_first: bool = False,
) -> list[AuditEntryOut]:
    """Entries after ``after_id`` (oldest first, or newest first), optionally filtered."""
    found = ctx.audit.entries(
        after_id=after_id, limit=limit, actor=actor, category=category, newest_first=newest_first
    )
    return [
        AuditEntryOut(
            id=e.id,
            ts=iso(e.ts_ns),
            actor=e.actor,
            source=e.source,
            category=e.category,
            action=e.action,
            target=e.target,
            result=e.result,
            details=dict(e.details),
            hash=e.hash,
        )
        for e in found
    ]


@router.get("/audit/verify", response_model=AuditVerdictOut, name="audit.verify")
def verify(ctx: Ctx) -> AuditVerdictOut:
    """Walk the whole chain and recompute every hash; names the first bad entry if any."""
    v = ctx.audit.verify()
    return AuditVerdictOut(
        ok=v.ok,
        entries=v.entries,
        head_hash=v.head_hash,
        first_bad_id=v.first_bad_id,
        reason=v.reason,
    )
