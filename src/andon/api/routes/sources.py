"""Sources: the health of every connection, its dead letters, and write-back to machines.

Health is what the running connectors report (``andon serve`` hands them to the context);
dead letters are read from the historian, so they outlive the process that kept them.
Writing a value to a machine needs ``send_command``: the audit trail records every attempt
with the tag, the value and what the machine answered.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from andon.api.access import note_of, require
from andon.api.routes.common import Ctx, OptFromQuery, OptToQuery, optional_span
from andon.api.schemas import DeadLetterOut, SourceHealthOut, WriteIn, WriteOut
from andon.connect import Connector, DeadLetter, WriteRefused
from andon.connect.deadletter import ASSET_ROOT, KIND, source_asset
from andon.core.clock import iso
from andon.core.errors import InputError
from andon.identity import Permission

router = APIRouter(tags=["sources"])


@router.get(
    "/sources",
    response_model=list[SourceHealthOut],
    name="sources.list",
    dependencies=[Depends(require(Permission.READ))],
)
def list_sources(ctx: Ctx) -> list[SourceHealthOut]:
    """Each configured source: connected, last message, rate, errors and dead letters."""
    stored = ctx.historian.count_events(ASSET_ROOT, KIND, "reason")
    per_source: dict[str, int] = {}
    for (asset, _), n in stored.items():
        name = asset.removeprefix(ASSET_ROOT + "/")
        per_source[name] = per_source.get(name, 0) + n
    out = []
    for c in ctx.sources:
        snap = c.health.snapshot()
        out.append(
            SourceHealthOut(
                name=snap["name"],
                kind=snap["kind"],
                url=snap["url"],
                connected=snap["connected"],
                since=iso(snap["since_ns"]) if snap["since_ns"] else None,
                last_message=iso(snap["last_message_ns"]) if snap["last_message_ns"] else None,
                messages=snap["messages"],
                samples=snap["samples"],
                rate=snap["rate"],
                errors=snap["errors"],
                last_error=snap["last_error"],
                dead_letters=per_source.get(c.name, snap["dead_letters"]),
            )
        )
    return out


@router.get(
    "/sources/dead-letters",
    response_model=list[DeadLetterOut],
    name="sources.dead_letters",
    dependencies=[Depends(require(Permission.READ))],
)
def dead_letters(
    ctx: Ctx,
    source: Annotated[str | None, Query(max_length=64, description="one source's")] = None,
    start: OptFromQuery = None,
    end: OptToQuery = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> list[DeadLetterOut]:
    """Messages that could not be decoded, newest last: topic, first bytes, reason, time."""
    if limit > ctx.settings.max_events:
        raise InputError(f"limit: at most {ctx.settings.max_events}, got {limit}")
    start_ns, end_ns = optional_span(start, end)
    asset = source_asset(source) if source else ASSET_ROOT
    found = ctx.historian.events(asset, KIND, start_ns, end_ns, limit)
    out = []
    for e in found:
        d = DeadLetter.from_event(e)
        out.append(
            DeadLetterOut(
                ts=iso(d.ts),
                source=d.source,
                topic=d.topic,
                head=d.head,
                size=d.size,
                reason=d.reason,
            )
        )
    return out


def connector_for(sources: list[Connector], tag: str, name: str | None) -> Connector:
    if name is not None:
        for c in sources:
            if c.name == name:
                return c
        raise InputError(f"source: no source named {name!r}")
    owners = [c for c in sources if tag in getattr(c, "tags", ())]
    if len(owners) == 1:
        return owners[0]
    if not owners:
        raise InputError(f"tag {tag!r}: no source writes it here; name the source")
    names = ", ".join(c.name for c in owners)
    raise InputError(f"tag {tag!r}: several sources have it ({names}); name the source")


@router.post(
    "/sources/write",
    response_model=WriteOut,
    name="sources.write",
    dependencies=[Depends(require(Permission.SEND_COMMAND))],
)
async def write_value(ctx: Ctx, body: WriteIn, request: Request) -> WriteOut:
    """Write a value to a machine through the source that reads that tag. 502 when the
    machine refused or did not answer; every attempt is in the audit log."""
    note = note_of(request)
    note.target = body.tag
    note.details = {"value": body.value, "source": body.source}
    connector = connector_for(list(ctx.sources), body.tag, body.source)
    note.details["source"] = connector.name
    try:
        result = await connector.write(body.tag, body.value)
    except WriteRefused as exc:
        raise InputError(str(exc)) from None
    note.details.update(ok=result.ok, answer=result.detail)
    out = WriteOut(source=result.source, tag=result.tag, ok=result.ok, detail=result.detail)
    if not result.ok:
        raise HTTPException(status_code=502, detail=f"{result.tag}: {result.detail}")
    return out
