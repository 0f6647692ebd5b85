"""Stops of one machine: every interval it was not running, with its reason, its changeovers,
and — for operators — the forms to give a stop its reason, correct a span and enter parts.

The page reads the machine as ``/api/v1/state/history`` does (``read_machine``) and writes
through the API's own checks (``give_reason``, ``correct_span``, ``judged_parts``), so the
dashboard and the API accept and refuse the same things. Each form carries the session's CSRF
token (checked by the access rule) and the view it came from; a write lands back on that view
with a notice, a mistake shows the page again with the message (status 400), nothing stored.
The audit trail records every post with the machine and what was said, as for the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from andon.api.access import in_worker, note_of, require
from andon.api.context import ApiContext
from andon.api.routes.common import Ctx
from andon.api.routes.operator import (
    RESULTS,
    STATES,
    correct_span,
    give_reason,
    judged_parts,
)
from andon.api.routes.state import changeover_rows, intervals, plant_of, read_machine
from andon.api.schemas import StateIntervalOut
from andon.core.clock import iso, now_ns, parse_time
from andon.core.errors import InputError
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.identity import Permission, Principal
from andon.state.reasons import MAX_COUNT, MAX_REASON
from andon.web.nav import NavItem
from andon.web.render import principal_of, site_of

router = APIRouter(include_in_schema=False)
NAV: tuple[NavItem, ...] = ()  # one machine's page: reached from the OEE and machine pages
Operator = Annotated[Principal, Depends(require(Permission.ENTER_DOWNTIME_REASON))]
MAX_STOPS = 500
"""Most stops (and changeovers) the page lists, the newest first."""
TIME_CHARS = 64
ASSET_CHARS = 255
SAVED = {
    "reason": "Reason saved.",
    "correction": "Correction saved.",
    "parts": "Parts entered.",
}
"""The notices a write lands back with (only these: nothing from the URL is echoed)."""


@dataclass(frozen=True)
class View:
    """What the page shows: a machine (its path; the plant's first when none) and a range."""

    asset: str | None = None
    start: str = "-24h"
    end: str = "now"

    def url(self, saved: str = "") -> str:
        query = {"asset": self.asset or "", "from": self.start, "to": self.end}
        if saved:
            query["saved"] = saved
        return "/stops?" + urlencode(query)


@dataclass(frozen=True)
class Stop:
    """One stop as the page lists it; ``at`` is the time its reason form names it by."""

    interval: StateIntervalOut
    category: str
    at: str


def reason_at(start_ns: int, end_ns: int) -> str:
    """A time inside ``[start_ns, end_ns)`` that survives the form: ISO 8601 is read to the
    microsecond, so a start with finer digits is rounded up (else it would name the interval
    before)."""
    at = -(-start_ns // 1000) * 1000
    return iso(at if at < end_ns else start_ns)


def category_of(state: str) -> str:
    return "unknown" if state == "no_data" else MachineState.from_label(state).category


def page_data(ctx: ApiContext, view: View) -> dict[str, Any]:
    plant = plant_of(ctx)
    now = now_ns()
    start_ns = parse_time(view.start, now=now, field="from")
    end_ns = parse_time(view.end, now=now, field="to")
    machines = [ref.path for ref in plant.machines()]
    found = read_machine(plant, ctx.historian, view.asset or machines[0], start_ns, end_ns)
    history = found.history
    index = np.flatnonzero(history.states != int(MachineState.RUNNING))
    newest = index[::-1][:MAX_STOPS].tolist()
    stops = [
        Stop(s, category_of(s.state), reason_at(s.start_ns, s.end_ns))
        for s in intervals(history, newest)
    ]
    changes = changeover_rows(found.parts)
    return {
        "asset": found.ref.path,
        "name": found.ref.machine.name or found.ref.machine.id,
        "start": view.start,
        "end": view.end,
        "machines": machines,
        "stops": stops,
        "stop_count": len(index),
        "stopped_s": float(np.sum((history.ends() - history.starts)[index])) / 1e9,
        "changeovers": changes[::-1][:MAX_STOPS],
        "changeover_count": len(changes),
        "max_shown": MAX_STOPS,
        "states": STATES,
        "results": RESULTS,
        "products": [p.id for p in plant.products],
        "max_reason": MAX_REASON,
        "max_count": MAX_COUNT,
    }


def stops_page(
    request: Request, ctx: ApiContext, view: View, status: int = 200, **extra: object
) -> HTMLResponse:
    principal = principal_of(request)
    context: dict[str, Any] = {
        "error": "",
        "notice": "",
        "can_enter": principal is not None and principal.can(Permission.ENTER_DOWNTIME_REASON),
        **page_data(ctx, view),
        **extra,
    }
    title = f"Stops · {context['name']}"
    return site_of(request).render(request, "stops.html", status, title=title, **context)


@router.get("/stops", name="web.stops", dependencies=[Depends(require(Permission.READ))])
async def stops(
    request: Request,
    ctx: Ctx,
    asset: Annotated[str | None, Query(max_length=ASSET_CHARS)] = None,
    start: Annotated[str, Query(alias="from", max_length=TIME_CHARS)] = "-24h",
    end: Annotated[str, Query(alias="to", max_length=TIME_CHARS)] = "now",
    saved: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """One machine's stops with their reasons, and its changeovers, over a range."""
    view = View(asset or None, start, end)
    notice = SAVED.get(saved or "", "")
    return await in_worker(request, lambda: stops_page(request, ctx, view, notice=notice))


# ---------------------------------------------------------------- the operator's writes


class Form:
    """A posted form's text fields (the first value of each, trimmed), read with limits."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = fields

    @classmethod
    async def of(cls, request: Request) -> Form:
        fields: dict[str, str] = {}
        for key, value in (await request.form()).multi_items():
            if isinstance(value, str) and key not in fields:
                fields[key] = value.strip()
        return cls(fields)

    def get(self, name: str, limit: int) -> str:
        """The field ``name`` ('' when absent); longer than ``limit`` is a mistake to name."""
        value = self.fields.get(name, "")
        if len(value) > limit:
            raise InputError(f"{name}: at most {limit} characters, got {len(value)}")
        return value

    def view(self) -> View:
        """The view the form was posted from (cut to size: it is only where to go back to)."""
        return View(
            self.fields.get("asset", "")[:ASSET_CHARS] or None,
            self.fields.get("view_from", "")[:TIME_CHARS] or "-24h",
            self.fields.get("view_to", "")[:TIME_CHARS] or "now",
        )

    def count(self) -> int:
        text = self.get("count", 20) or "1"
        try:
            return int(text)
        except ValueError:
            raise InputError(
                f"count: expected a whole number from 1 to {MAX_COUNT}, got {text!r}"
            ) from None


async def write(
    request: Request, ctx: ApiContext, form: Form, saved: str, act: Callable[[], Event]
) -> Response:
    """Store what ``act`` stores (off the loop) and go back to the view with a notice; on a
    mistake, the page again with the message (or, when the view itself is wrong, the error
    page with the same message)."""
    view = form.view()

    def run() -> Response:
        try:
            act()
        except InputError as exc:
            try:
                return stops_page(request, ctx, view, 400, error=str(exc))
            except InputError:
                raise exc from None
        return RedirectResponse(view.url(saved), 303)

    return await in_worker(request, run)


@router.post("/stops/reason", name="web.stops_reason")
async def post_reason(request: Request, ctx: Ctx, who: Operator) -> Response:
    """Give the stop that covers ``at`` a reason code."""
    form = await Form.of(request)
    note = note_of(request)
    note.target = form.fields.get("asset", "")[:ASSET_CHARS]
    note.details = {
        "at": form.fields.get("at", "")[:TIME_CHARS],
        "reason": form.fields.get("reason", "")[:MAX_REASON],
    }

    def act() -> Event:
        return give_reason(
            ctx,
            form.get("asset", ASSET_CHARS),
            form.get("at", TIME_CHARS),
            form.get("reason", MAX_REASON),
            by=who.actor,
        )

    return await write(request, ctx, form, "reason", act)


@router.post("/stops/correction", name="web.stops_correction")
async def post_correction(request: Request, ctx: Ctx, who: Operator) -> Response:
    """Set ``[from, to)`` of the machine to a state with a reason (split or correct a stop)."""
    form = await Form.of(request)
    note = note_of(request)
    note.target = form.fields.get("asset", "")[:ASSET_CHARS]
    note.details = {
        key: form.fields.get(key, "")[:limit]
        for key, limit in (
            ("from", TIME_CHARS),
            ("to", TIME_CHARS),
            ("state", 20),
            ("reason", MAX_REASON),
        )
    }

    def act() -> Event:
        return correct_span(
            ctx,
            form.get("asset", ASSET_CHARS),
            form.get("from", TIME_CHARS),
            form.get("to", TIME_CHARS),
            form.get("state", 20),
            form.get("reason", MAX_REASON),
            by=who.actor,
        )

    return await write(request, ctx, form, "correction", act)


@router.post("/stops/parts", name="web.stops_parts")
async def post_parts(request: Request, ctx: Ctx, who: Operator) -> Response:
    """Parts an operator judged: good, scrap or rework, of a product, at a time."""
    form = await Form.of(request)
    note = note_of(request)
    note.target = form.fields.get("asset", "")[:ASSET_CHARS]
    note.details = {
        key: form.fields.get(key, "")[:limit]
        for key, limit in (("at", TIME_CHARS), ("product", 200), ("result", 20), ("count", 20))
    }

    def act() -> Event:
        return judged_parts(
            ctx,
            form.get("asset", ASSET_CHARS),
            form.get("at", TIME_CHARS),
            form.get("product", MAX_REASON),
            form.get("result", 20),
            form.count(),
            by=who.actor,
        )

    return await write(request, ctx, form, "parts", act)
