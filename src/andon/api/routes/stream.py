"""The live stream: new samples and events as Server-Sent Events, filtered by tag pattern.

Each sample is one ``event: sample`` message whose ``data`` is ``{tag, ts, value, quality}``;
each event one ``event: event`` message with ``{ts, asset, kind, payload, source}``. Events
match a pattern as if they were a tag named ``_event`` under their asset, so
``site/area/line/mill-1/#`` follows everything about mill-1. An idle stream gets a comment
line every ``heartbeat_s`` (proxies keep it open, and a gone client is noticed). The stream
ends when the client goes, when the feed closes, or when the server shuts down.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from andon.api.access import require
from andon.api.context import ApiSettings
from andon.api.encode import event_record, sample_records
from andon.api.routes.common import Ctx
from andon.core.batch import Batch
from andon.core.errors import InputError
from andon.core.stream import Item
from andon.core.tagpath import check_segment
from andon.identity import Permission
from andon.pipeline import EVENT_SEGMENT, Subscription

router = APIRouter(tags=["stream"])
STOPPING = "stopping"
"""``app.state`` flag the server sets on shutdown, so open streams end promptly."""


def check_pattern(pattern: str) -> str:
    """An MQTT-style pattern: segments, ``+`` for one, a final ``#`` for any number, or a
    final ``_event`` for events only."""
    parts = pattern.split("/")
    for i, seg in enumerate(parts):
        last = i == len(parts) - 1
        if (seg == "#" and last) or seg == "+" or (seg == EVENT_SEGMENT and last):
            continue
        try:
            check_segment(seg, what=f"pattern segment {i + 1}")
        except InputError as exc:
            raise InputError(f"pattern {pattern!r}: {exc} ('#' may only come last)") from None
    return pattern


@router.get(
    "/stream",
    name="stream.live",
    response_class=StreamingResponse,
    dependencies=[Depends(require(Permission.READ))],
    responses={200: {"content": {"text/event-stream": {}}, "description": "an SSE stream"}},
)
async def stream(
    request: Request,
    ctx: Ctx,
    pattern: Annotated[str, Query(min_length=1, max_length=255)] = "#",
) -> StreamingResponse:
    """Samples and events as they arrive, for tags (and assets) matching ``pattern``."""
    check_pattern(pattern)
    if ctx.live is None:
        raise HTTPException(503, "this server has no live feed (it is not ingesting)")
    sub = ctx.live.subscribe(pattern)

    def stopping() -> bool:
        return bool(getattr(request.app.state, STOPPING, False))

    return StreamingResponse(
        messages(sub, ctx.settings, stopping),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def messages(
    sub: Subscription, settings: ApiSettings, stopping: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """SSE messages from a subscription, with heartbeats; unsubscribes however it ends."""
    pending: asyncio.Future[Item] | None = None
    try:
        yield b"retry: 3000\n: connected\n\n"
        sent = time.monotonic()
        while not stopping():
            if pending is None:
                pending = asyncio.ensure_future(sub.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=settings.stream_stop_poll_s)
            if not done:
                if time.monotonic() - sent >= settings.heartbeat_s:
                    yield b": heartbeat\n\n"
                    sent = time.monotonic()
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield encode(item)
            sent = time.monotonic()
    finally:
        if pending is not None:
            pending.cancel()
        sub.close()


def encode(item: Item) -> bytes:
    """One SSE message per sample or event."""
    if isinstance(item, Batch):
        chunks = [_message("sample", r) for r in sample_records(item)]
    else:
        chunks = [_message("event", event_record(e)) for e in item]
    return "".join(chunks).encode("utf-8")


def _message(kind: str, record: dict[str, Any]) -> str:
    try:
        text = json.dumps(record, allow_nan=False, separators=(",", ":"))
    except ValueError:  # NaN inside an event payload: JSON has no NaN
        text = json.dumps(
            json.loads(json.dumps(record), parse_constant=lambda _: None), separators=(",", ":")
        )
    return f"event: {kind}\ndata: {text}\n\n"
