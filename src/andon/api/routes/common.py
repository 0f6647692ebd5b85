"""What every router shares: the context dependency and the time-range parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from andon.api.access import context_of
from andon.api.context import ApiContext
from andon.core.clock import iso, now_ns, parse_time
from andon.core.errors import InputError


async def get_context(request: Request) -> ApiContext:
    return context_of(request)


Ctx = Annotated[ApiContext, Depends(get_context)]

TIME_HELP = "ISO 8601 with offset (2026-03-29T06:00:00Z), 'now', or relative like -2h"
FromQuery = Annotated[str, Query(alias="from", max_length=64, description=TIME_HELP)]
ToQuery = Annotated[str, Query(alias="to", max_length=64, description=TIME_HELP)]
OptFromQuery = Annotated[str | None, Query(alias="from", max_length=64, description=TIME_HELP)]
OptToQuery = Annotated[str | None, Query(alias="to", max_length=64, description=TIME_HELP)]


def check_order(start_ns: int, end_ns: int) -> None:
    """A backwards range is a mistake to name, not an empty answer."""
    if start_ns > end_ns:
        raise InputError(
            f"from {iso(start_ns)} is after to {iso(end_ns)}; give the earlier time first"
        )


def span(start: str, end: str) -> tuple[int, int]:
    """``from`` and ``to`` as UTC ns (relative times against one ``now``), in order."""
    now = now_ns()
    start_ns = parse_time(start, now=now, field="from")
    end_ns = parse_time(end, now=now, field="to")
    check_order(start_ns, end_ns)
    return start_ns, end_ns


def optional_span(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    now = now_ns()
    start_ns = None if start is None else parse_time(start, now=now, field="from")
    end_ns = None if end is None else parse_time(end, now=now, field="to")
    if start_ns is not None and end_ns is not None:
        check_order(start_ns, end_ns)
    return start_ns, end_ns
