"""Tags and their history: list by pattern, raw or downsampled history, latest values."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, Path, Query

from andon.api.access import require
from andon.api.context import ApiContext
from andon.api.encode import finite_or_none, iso_array, values
from andon.api.routes.common import Ctx, FromQuery, ToQuery, check_order, span
from andon.api.schemas import History, SampleOut, TagOut
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


@router.get("/tags/{path:path}/history", response_model=History, name="tags.history")
def history(
    ctx: Ctx,
    path: Annotated[str, Path(max_length=255, description="the tag path")],
    start: FromQuery = "-1h",
    end: ToQuery = "now",
    every: Annotated[
        str | None,
        Query(max_length=32, description="bucket width (1m, 15min, 1h); omit for raw samples"),
    ] = None,
    agg: Literal["avg", "min", "max", "count", "sum"] = "avg",
) -> History:
    """Raw samples of one tag in ``[from, to)``, or one value per ``every`` bucket."""
    tag = tag_path(path)
    start_ns, end_ns = span(start, end)
    if every is None:
        series = ctx.historian.range(tag, start_ns, end_ns)
        return History(
            tag=tag,
            start=iso(start_ns),
            end=iso(end_ns),
            every_s=None,
            agg=None,
            ts=iso_array(series.ts),
            value=values(series.value, series.text),
            quality=series.quality.tolist(),
        )
    return _buckets(ctx, tag, start_ns, end_ns, every, agg)


def _buckets(
    ctx: ApiContext, tag: str, start_ns: int, end_ns: int, every: str, agg: Agg
) -> History:
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
    chosen = b.series(agg)
    return History(
        tag=tag,
        start=iso(start_ns),
        end=iso(end_ns),
        every_s=every_ns / NS_PER_S,
        agg=agg,
        ts=iso_array(b.bucket),
        value=b.count.tolist() if agg == "count" else values(chosen.astype(np.float64)),
        min=[finite_or_none(x) for x in b.min.tolist()],
        max=[finite_or_none(x) for x in b.max.tolist()],
        count=b.count.tolist(),
    )


@router.get("/latest", response_model=list[SampleOut], name="tags.latest")
def latest(ctx: Ctx, pattern: Pattern = "#") -> list[SampleOut]:
    """The newest sample of each tag matching ``pattern`` (or of one tag path)."""
    return [
        SampleOut(tag=s.tag, ts=iso(s.ts), value=finite_or_none(s.value), quality=s.quality)
        for s in ctx.historian.latest(pattern or "#")
    ]
