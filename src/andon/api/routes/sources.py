"""Sources: the health of every connection, its dead letters, and write-back to machines.

Health is what the running connectors report (``andon serve`` hands them to the context);
dead letters are read from the historian, so they outlive the process that kept them.
Writing a value to a machine needs ``send_command``: the audit trail records every attempt
with the tag, the value and what the machine answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from andon.api.access import in_worker, note_of, require
from andon.api.routes.common import Ctx, OptFromQuery, OptToQuery, optional_span
from andon.api.schemas import DeadLetterOut, SourceHealthOut, WriteIn, WriteOut
from andon.connect import Connector, DeadLetter, WriteRefused
from andon.connect.deadletter import ASSET_ROOT, KIND, source_asset
from andon.core.clock import iso, now_ns
from andon.core.errors import InputError
from andon.historian import Historian
from andon.identity import Permission

router = APIRouter(tags=["sources"])


@router.get(
    "/sources",
    response_model=list[SourceHealthOut],
    name="sources.list",
    dependencies=[Depends(require(Permission.READ))],
)
async def list_sources(ctx: Ctx, request: Request) -> list[SourceHealthOut]:
    """Each configured source: connected, last message, rate, errors and dead letters."""
    snapshots = health_snapshots(ctx.sources)
    stored = await in_worker(request, lambda: stored_dead_letters(ctx.historian))
    return [
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
            dead_letters=snap["dead_letters"],
        )
        for snap in with_stored(snapshots, stored)
    ]


def health_snapshots(sources: Sequence[Connector]) -> list[dict[str, Any]]:
    """Every connector's health figures. Call it on the event loop: that is where the
    connectors update their health, so a worker thread could catch one mid-update."""
    return [c.health.snapshot() for c in sources]


def stored_dead_letters(historian: Historian) -> dict[str, int]:
    """Dead letters in the historian per source name (all time)."""
    out: dict[str, int] = {}
    for (asset, _), n in historian.count_events(ASSET_ROOT, KIND, "reason").items():
        name = asset.removeprefix(ASSET_ROOT + "/")
        out[name] = out.get(name, 0) + n
    return out


def with_stored(snapshots: list[dict[str, Any]], stored: dict[str, int]) -> list[dict[str, Any]]:
    """The snapshots with the dead letters counted from the historian, which keeps those of
    earlier runs too; the connector's own count when it is higher (some still on their way
    through the disk queue)."""
    return [
        {**s, "dead_letters": max(s["dead_letters"], stored.get(s["name"], 0))} for s in snapshots
    ]


@router.get(
    "/sources/dead-letters",
    response_model=list[DeadLetterOut],
    name="sources.dead_letters",
    dependencies=[Depends(require(Permission.READ))],
)
async def dead_letters(
    ctx: Ctx,
    request: Request,
    source: Annotated[str | None, Query(max_length=64, description="one source's")] = None,
    start: OptFromQuery = None,
    end: OptToQuery = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> list[DeadLetterOut]:
    """The newest ``limit`` messages that could not be decoded in the span, oldest first:
    topic, first bytes, reason, time."""
    if limit > ctx.settings.max_events:
        raise InputError(f"limit: at most {ctx.settings.max_events}, got {limit}")
    start_ns, end_ns = optional_span(start, end)
    found = await in_worker(
        request, lambda: newest_dead_letters(ctx.historian, source, start_ns, end_ns, limit)
    )
    return [
        DeadLetterOut(
            ts=iso(d.ts), source=d.source, topic=d.topic, head=d.head, size=d.size, reason=d.reason
        )
        for d in found
    ]


def newest_dead_letters(
    historian: Historian,
    source: str | None,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
) -> list[DeadLetter]:
    """The newest ``limit`` dead letters in ``[start_ns, end_ns)`` (of one source or all), in
    time order. The historian's event query gives the *oldest* first; when there are more
    than ``limit``, the start is moved forward by bisection on the stored counts until about
    ``limit`` remain, so a source that has set aside thousands still shows its latest."""
    asset = source_asset(source) if source else ASSET_ROOT

    def count(lo: int | None) -> int:
        return sum(historian.count_events(asset, KIND, "reason", lo, end_ns).values())

    total = count(start_ns)
    cut, fetch = start_ns, limit
    if total > limit:
        if start_ns is None:
            oldest = historian.events(asset, KIND, None, end_ns, 1)
            lo = oldest[0].ts if oldest else now_ns()
        else:
            lo = start_ns
        hi = max(lo, end_ns if end_ns is not None else now_ns()) + 1
        cut, fetch = lo, total
        for _ in range(64):  # count(lo) > 2 * limit >= ... >= count(hi): narrow [lo, hi)
            if fetch <= 2 * limit or hi - lo <= 1:
                break
            mid = (lo + hi) // 2
            n = count(mid)
            if n >= limit:
                lo, cut, fetch = mid, mid, n
            else:
                hi = mid
        fetch = min(fetch, 2 * limit)
    found = historian.events(asset, KIND, cut, end_ns, fetch)
    return [DeadLetter.from_event(e) for e in found[-limit:]]


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
    machine refused or did not answer; every attempt is in the audit log. The connector is
    awaited here, on the app's event loop: the loop it runs on (``andon serve`` runs both)."""
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
