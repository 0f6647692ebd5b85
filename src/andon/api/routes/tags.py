"""Tags and their history: list by pattern, raw or downsampled history, latest values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from andon.api.access import in_worker, require
from andon.api.context import ApiContext
from andon.api.encode import columns_json, epoch_ms, finite_or_none, iso_json, values
from andon.api.routes.common import Ctx, FromQuery, ToQuery, check_order, span
from andon.api.schemas import History, SampleOut, TagOut
from andon.core.batch import I64
from andon.core.clock import NS_PER_S, iso, parse_duration
from andon.core.errors import InputError
from andon.core.tagpath import tag_path
from andon.historian import Agg
from andon.identity import Permission

router = APIRouter(tags=["tags"], dependencies=[Depends(require(Permission.READ))])

Pattern = Annotated[
    str | None,
    Query(max_length=255, description="MQTT-style: '+' one segment, a final '#' any number"),
]


@router.get("/tags", response_model=list[TagOut], name="tags.list")
def list_tags(ctx: Ctx, pattern: Pattern = None) -> list[TagOut]:
    """Stored tags, all or those matching ``pattern``, with their first and last sample time."""
    return [
        TagOut(
            path=t.path,
            unit=t.unit,
            description=t.description,
            source=t.source,
            auto_created=t.auto_created,
            first=iso(t.first_ns) if t.first_ns is not None else None,
            last=iso(t.last_ns) if t.last_ns is not None else None,
        )
        for t in ctx.historian.tags(pattern)
    ]


Format = Literal["json", "columns"]


@router.get(
    "/tags/{path:path}/history",
    response_model=History,
    name="tags.history",
)
async def history(
    request: Request,
    ctx: Ctx,
    path: Annotated[str, Path(max_length=255, description="the tag path")],
    start: FromQuery = "-1h",
    end: ToQuery = "now",
    every: Annotated[
        str | None,
        Query(max_length=32, description="bucket width (1m, 15min, 1h); omit for raw samples"),
    ] = None,
    agg: Literal["avg", "min", "max", "count", "sum"] = "avg",
    fmt: Annotated[
        Format,
        Query(
            alias="format",
            description="json: times as ISO 8601 strings in `ts`; columns: times as epoch "
            "milliseconds in `ts_ms` instead (half the bytes, no date parsing in a browser)",
        ),
    ] = "json",
) -> Response:
    """Raw samples of one tag in ``[from, to)``, or one value per ``every`` bucket.

    Encoded column by column straight from the historian's numpy arrays (see ``encode``); the
    body is the ``History`` schema. The read and the encoding are one call in a worker
    thread (one hop off the event loop, in turn with the other requests: see ``in_worker``).
    """
    tag = tag_path(path)
    start_ns, end_ns = span(start, end)
    if every is None:
        body = await in_worker(request, lambda: _raw(ctx, tag, start_ns, end_ns, fmt))
    else:
        body = await in_worker(
            request, lambda: _buckets(ctx, tag, start_ns, end_ns, every, agg, fmt)
        )
    return Response(body, media_type="application/json")


def _raw(ctx: ApiContext, tag: str, start_ns: int, end_ns: int, fmt: Format) -> bytes:
    check_raw_size(ctx, tag, start_ns, end_ns)
    series = ctx.historian.range(tag, start_ns, end_ns)
    body = _head(tag, start_ns, end_ns, None, None)
    body.update(_times(series.ts, fmt))
    # string values sit among the floats: those (rare) series go through a list
    body["value"] = values(series.value, series.text) if series.text else series.value
    body.update(quality=series.quality, min=None, max=None, count=None)
    return columns_json(body)


def check_raw_size(ctx: ApiContext, tag: str, start_ns: int, end_ns: int) -> None:
    """Refuse (400) a raw range holding more than ``max_raw_points`` samples, counted on the
    index before anything is fetched (the historian's own bound is 1,000,000)."""
    check_order(start_ns, end_ns)
    limit = ctx.settings.max_raw_points
    found = ctx.historian.count_samples(tag, start_ns, end_ns)
    if found > limit:
        raise InputError(
            f"{tag}: {found} raw samples between {iso(start_ns)} and {iso(end_ns)}, more than "
            f"the {limit} this API returns raw; pass 'every' (e.g. every=1m) for downsampled "
            "values, or ask for a shorter range"
        )


def _head(
    tag: str, start_ns: int, end_ns: int, every_s: float | None, agg: str | None
) -> dict[str, Any]:
    return {"tag": tag, "from": iso(start_ns), "to": iso(end_ns), "every_s": every_s, "agg": agg}


def _times(ts: I64, fmt: Format) -> dict[str, Any]:
    if fmt == "columns":
        return {"ts": None, "ts_ms": epoch_ms(ts)}
    return {"ts": orjson.Fragment(iso_json(ts))}


def _buckets(
    ctx: ApiContext, tag: str, start_ns: int, end_ns: int, every: str, agg: Agg, fmt: Format
) -> bytes:
    every_s = parse_duration(every, field="every")
    every_ns = round(every_s * NS_PER_S)
    if every_ns <= 0:
        raise InputError(f"every: must be a positive duration such as 1m or 1h, got {every!r}")
    check_order(start_ns, end_ns)
    limit = ctx.settings.max_buckets
    if (end_ns - start_ns) // every_ns > limit:
        raise InputError(
            f"{tag}: more than {limit} buckets of {every} between {iso(start_ns)} and "
            f"{iso(end_ns)}; use wider buckets or a shorter range"
        )
    b = ctx.historian.downsample(tag, start_ns, end_ns, every_ns)
    body = _head(tag, start_ns, end_ns, every_ns / NS_PER_S, agg)
    body.update(_times(b.bucket, fmt))
    body.update(
        value=b.count if agg == "count" else b.series(agg).astype(np.float64),
        quality=None,
        min=b.min,
        max=b.max,
        count=b.count,
    )
    return columns_json(body)


@router.get("/latest", response_model=list[SampleOut], name="tags.latest")
def latest(ctx: Ctx, pattern: Pattern = "#") -> list[SampleOut]:
    """The newest sample of each tag matching ``pattern`` (or of one tag path)."""
    return [
        SampleOut(tag=s.tag, ts=iso(s.ts), value=finite_or_none(s.value), quality=s.quality)
        for s in ctx.historian.latest(pattern or "#")
    ]
