"""Data health: the worst tags first, each with why; each machine's readiness; and one tag's
trend with its findings marked on it.

The same computations as ``andon data check``/``readiness`` and ``/api/v1/data/...``. The trend
is drawn on the server as an inline SVG (min–max band, mean line, each finding's interval
shaded with its sentence as the tooltip) from the historian's downsampled buckets, so the page
needs no script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from andon.api.access import in_worker, require
from andon.api.routes.common import Ctx
from andon.api.routes.datahealth import served_range
from andon.core.clock import NS_PER_H, NS_PER_S, iso, now_ns, parse_time
from andon.core.errors import InputError, UnknownTagError
from andon.datahealth import Finding, Report, check_range, describe, readiness
from andon.datahealth.findings import number
from andon.datahealth.watch import KIND
from andon.historian import Historian
from andon.identity import Permission
from andon.plant import Plant
from andon.web.nav import NavItem
from andon.web.render import site_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(require(Permission.READ))])
NAV = (NavItem("Data health", "/data", Permission.READ, "plant", 30),)
Text = Annotated[str | None, Query(max_length=255)]
MAX_TAGS = 50
"""Most tags listed (the worst); the rest are counted."""
MAX_FINDINGS = 5
"""Findings shown per listed tag (the worst first); the rest are counted."""
POINTS = 300
"""Buckets the trend is drawn from, at most: about one per 3 px of a wide screen."""
WIDTH, HEIGHT = 1000.0, 200.0
"""The trend's drawing units (the SVG scales to the page's width)."""
RECENT = 50
"""Findings opened, closed or found (``andon data watch``'s events) listed, newest first."""
RECENT_NS = 24 * NS_PER_H


@dataclass(frozen=True)
class TagRow:
    """A listed tag: its worst daily score in the range and its findings, worst first."""

    path: str
    score: float
    findings: list[Finding]
    more: int


@dataclass(frozen=True)
class Mark:
    """A finding drawn on the trend: its interval in drawing units."""

    x: float
    width: float
    check: str
    detail: str


@dataclass(frozen=True)
class Trend:
    tag: str
    unit: str
    lines: list[str]
    """Each unbroken run of buckets as SVG polyline points (a gap breaks the line)."""
    bands: list[str]
    """The min–max band of each run as SVG polygon points."""
    marks: list[Mark]
    low: str
    high: str
    every_s: float


def _worst_tags(report: Report) -> tuple[list[TagRow], int]:
    """Tags with a finding or a score below 100, lowest score first; and how many are clean."""
    by_tag: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_tag.setdefault(f.tag, []).append(f)
    rows = []
    clean = 0
    for path, days in report.tags.items():
        score = min(days.values()) if days else 100.0
        found = by_tag.get(path, [])
        if not found and score >= 100.0:
            clean += 1
            continue
        rows.append(TagRow(path, score, found[:MAX_FINDINGS], max(0, len(found) - MAX_FINDINGS)))
    rows.sort(key=lambda r: (r.score, -len(r.findings), r.path))
    return rows, clean


def _bucket_ns(start_ns: int, end_ns: int) -> int:
    """A bucket of at least a second giving at most ``POINTS`` buckets; whole minutes above a
    minute, so that the historian answers from its minute rollups."""
    every = max(NS_PER_S, math.ceil((end_ns - start_ns) / POINTS))
    unit = 60 * NS_PER_S if every > 60 * NS_PER_S else NS_PER_S
    return -(-every // unit) * unit


def _trend(
    historian: Historian, path: str, unit: str, start_ns: int, end_ns: int, found: list[Finding]
) -> Trend | None:
    """The tag's trend over the range with its findings shaded (None: never stored)."""
    every = _bucket_ns(start_ns, end_ns)
    try:
        b = historian.downsample(path, start_ns, end_ns, every)
    except UnknownTagError:
        return None
    span = float(end_ns - start_ns)

    def x(ts: float) -> float:
        return round(min(max((ts - start_ns) / span, 0.0), 1.0) * WIDTH, 2)

    marks = []
    for f in found:
        left, right = x(f.start_ns), x(f.end_ns)
        marks.append(Mark(left, max(right - left, 2.0), f.check, f.detail))
    if not len(b):
        return Trend(path, unit, [], [], marks, "", "", every / NS_PER_S)
    lo, hi = float(np.min(b.min)), float(np.max(b.max))
    pad = (hi - lo) * 0.05 or max(abs(hi) * 0.05, 1.0)
    lo, hi = lo - pad, hi + pad

    def y(v: float) -> float:
        return round(HEIGHT - (v - lo) / (hi - lo) * HEIGHT, 2)

    mids = b.bucket + every // 2
    breaks = np.flatnonzero(np.diff(b.bucket) > every) + 1
    lines, bands = [], []
    for run in np.split(np.arange(len(b)), breaks):
        xs = [x(float(mids[i])) for i in run]
        avg = [y(float(b.avg[i])) for i in run]
        top = [y(float(b.max[i])) for i in run]
        bottom = [y(float(b.min[i])) for i in run]
        lines.append(" ".join(f"{a},{c}" for a, c in zip(xs, avg, strict=True)))
        upper = [f"{a},{c}" for a, c in zip(xs, top, strict=True)]
        lower = [f"{a},{c}" for a, c in zip(reversed(xs), reversed(bottom), strict=True)]
        bands.append(" ".join(upper + lower))
    return Trend(
        path, unit, lines, bands, marks, number(hi - pad), number(lo + pad), every / NS_PER_S
    )


def _tag_of(plant: Plant, path: str) -> tuple[str, str]:
    """A declared tag's machine path and unit; a clear message for any other path."""
    path = path.strip().strip("/")
    for ref in plant.machines():
        for t in ref.machine.tags:
            if ref.tag_path(t.name) == path:
                return ref.path, t.unit
    raise InputError(
        f"tag {path!r} is not declared in plant.yaml; pick a tag from the list of this page"
    )


def _recent(historian: Historian, plant: Plant, asset: str, now: int) -> list[dict[str, str]]:
    """The newest events ``andon data watch`` wrote for the asset over the last day."""
    tz = ZoneInfo(plant.calendar.timezone)
    found = historian.events(asset, KIND, now - RECENT_NS, now + 1, limit=None)
    return [
        {"when": iso(e.ts)[:19] + "Z", "kind": e.kind.rsplit(".", 1)[-1], "line": describe(e, tz)}
        for e in reversed(found[-RECENT:])
    ]


def page_data(ctx: Ctx, asset: str | None, start: str, end: str, tag: str | None) -> dict[str, Any]:
    plant = ctx.plant
    if plant is None:
        raise InputError(
            "no plant model is loaded: data health needs plant.yaml (andon serve --plant)"
        )
    now = now_ns()
    start_ns = parse_time(start, now=now, field="from")
    end_ns = parse_time(end, now=now, field="to")
    if end_ns > start_ns:
        served_range(start_ns, end_ns)
    report = check_range(plant, ctx.historian, asset, start_ns, end_ns, now)
    rows, clean = _worst_tags(report)
    machines = [
        r
        for r in readiness(plant, ctx.historian, now, report=report)
        if r.machine in report.machines
    ]
    trend = None
    if tag:
        machine, unit = _tag_of(plant, tag)
        path = tag.strip().strip("/")
        own = report
        if path not in report.tags:  # a tag outside the asset shown: check its machine
            own = check_range(plant, ctx.historian, machine, start_ns, end_ns, now)
        found = [f for f in own.findings if f.tag == path]
        trend = _trend(ctx.historian, path, unit, start_ns, end_ns, found)
        if trend is None:
            trend = Trend(path, unit, [], [], [], "", "", 0.0)
    return {
        "asset": report.asset,
        "start": start,
        "end": end,
        "start_iso": iso(start_ns)[:19] + "Z",
        "end_iso": iso(end_ns)[:19] + "Z",
        "rows": rows[:MAX_TAGS],
        "hidden": max(0, len(rows) - MAX_TAGS),
        "clean": clean,
        "findings": len(report.findings),
        "machines": machines,
        "recent": _recent(ctx.historian, plant, report.asset, now),
        "trend": trend,
        "tag": tag or "",
        "width": WIDTH,
        "height": HEIGHT,
        "assets": [
            plant.root,
            *sorted({m.path.rsplit("/", 1)[0] for m in plant.machines()}),
            *[m.path for m in plant.machines()],
        ],
    }


@router.get("/data", name="web.datahealth")
async def datahealth_page(
    request: Request,
    ctx: Ctx,
    asset: Text = None,
    start: Annotated[str, Query(alias="from", max_length=64)] = "-24h",
    end: Annotated[str, Query(alias="to", max_length=64)] = "now",
    tag: Text = None,
) -> HTMLResponse:
    """Data health of an asset over a range: worst tags, readiness, and one tag's trend."""
    data = await in_worker(request, lambda: page_data(ctx, asset, start, end, tag))
    return site_of(request).render(request, "datahealth.html", **data)
