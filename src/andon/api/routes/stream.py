"""The live stream: new samples and events as Server-Sent Events, filtered by tag pattern.

Each sample is one ``event: sample`` message whose ``data`` is ``{tag, ts, value, quality}``;
each event one ``event: event`` message with ``{ts, asset, kind, payload, source}``. Events
match a pattern as if they were a tag named ``_event`` under their asset, so
``site/area/line/mill-1/#`` follows everything about mill-1. An idle stream gets a comment
line every ``heartbeat_s`` (proxies keep it open, and a gone client is noticed). The stream
ends when the client goes, when the feed closes, or when the server shuts down, and also when
its credential stops being good: every ``stream_recheck_s`` (and at each heartbeat) the
session or token it opened with is checked again in a thread, without refreshing the session's
idle timer, so logout, a disabled user, an expired session and a revoked token end it.

Streams are capped: ``max_streams_per_principal`` per user or token and ``max_streams`` in
all; one more answers 429 (the feed fans out inside the ingestion loop, so each stream costs
the plant a little).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from andon.api.access import require, revalidator
from andon.api.context import ApiSettings
from andon.api.encode import event_record, sample_records
from andon.api.routes.common import Ctx
from andon.core.batch import Batch
from andon.core.errors import InputError
from andon.core.stream import Item
from andon.core.tagpath import check_segment
from andon.identity import IdentityError, Permission, Principal
from andon.pipeline import EVENT_SEGMENT, Subscription

router = APIRouter(tags=["stream"])
STOPPING = "stopping"
"""``app.state`` flag the server sets on shutdown, so open streams end promptly."""
SLOTS = "stream_slots"
"""``app.state`` attribute holding the :class:`StreamSlots` of the app."""
log = logging.getLogger("andon.api")
StillValid = Callable[[], Awaitable[bool]]


class StreamSlots:
    """Counts open streams per principal and in all (single event loop: no lock needed)."""

    def __init__(self) -> None:
        self.per_principal: Counter[str] = Counter()
        self.total = 0

    def take(self, who: str, settings: ApiSettings) -> Callable[[], None]:
        """Reserve a slot for ``who`` (429 if none is left); returns its idempotent release."""
        if self.total >= settings.max_streams:
            raise HTTPException(
                429,
                "too many live streams are open on this server; try again later",
                headers={"Retry-After": "30"},
            )
        if self.per_principal[who] >= settings.max_streams_per_principal:
            raise HTTPException(
                429,
                f"at most {settings.max_streams_per_principal} live streams per user or token; "
                "close one first",
                headers={"Retry-After": "30"},
            )
        self.per_principal[who] += 1
        self.total += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.total -= 1
            self.per_principal[who] -= 1
            if self.per_principal[who] <= 0:
                del self.per_principal[who]

        return release


def slots_of(request: Request) -> StreamSlots:
    slots = getattr(request.app.state, SLOTS, None)
    if not isinstance(slots, StreamSlots):
        slots = StreamSlots()
        setattr(request.app.state, SLOTS, slots)
    return slots


class LiveResponse(StreamingResponse):
    """A streaming response that runs ``on_close`` however it ends (even if never started)."""

    def __init__(
        self, content: AsyncIterator[bytes], on_close: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


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
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "an SSE stream"},
        429: {"description": "too many open streams (per user or token, or in all)"},
    },
)
async def stream(
    request: Request,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(require(Permission.READ, touch=False))],
    pattern: Annotated[str, Query(min_length=1, max_length=255)] = "#",
) -> StreamingResponse:
    """Samples and events as they arrive, for tags (and assets) matching ``pattern``."""
    check_pattern(pattern)
    if ctx.live is None:
        raise HTTPException(503, "this server has no live feed (it is not ingesting)")
    release = slots_of(request).take(principal.actor, ctx.settings)
    sub = ctx.live.subscribe(pattern)
    check = revalidator(request)

    def stopping() -> bool:
        return bool(getattr(request.app.state, STOPPING, False))

    async def still_valid() -> bool:
        try:
            again: Principal = await run_in_threadpool(check)
        except IdentityError:
            return False
        except Exception:  # the database is briefly unavailable: keep the stream, try again
            log.warning("could not re-check a live stream's credential", exc_info=True)
            return True
        return again.can(Permission.READ)

    def closed() -> None:
        sub.close()
        release()

    return LiveResponse(
        messages(sub, ctx.settings, stopping, still_valid),
        closed,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def messages(
    sub: Subscription,
    settings: ApiSettings,
    stopping: Callable[[], bool],
    still_valid: StillValid | None = None,
) -> AsyncIterator[bytes]:
    """SSE messages from a subscription, with heartbeats; unsubscribes however it ends.

    ``still_valid`` is awaited at each heartbeat and at least every ``stream_recheck_s``; the
    stream ends (the client sees it close) as soon as it answers False."""
    pending: asyncio.Future[Item] | None = None
    try:
        yield b"retry: 3000\n: connected\n\n"
        sent = checked = time.monotonic()
        while not stopping():
            if pending is None:
                pending = asyncio.ensure_future(sub.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=settings.stream_stop_poll_s)
            now = time.monotonic()
            beat = not done and now - sent >= settings.heartbeat_s
            if still_valid is not None and (beat or now - checked >= settings.stream_recheck_s):
                if not await still_valid():
                    return
                checked = time.monotonic()
            if not done:
                if beat:
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
