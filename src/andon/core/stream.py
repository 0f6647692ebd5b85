"""The shape of the stream between sources and sinks (what ``andon.pipeline`` connects).

An item is a Batch of samples or a tuple of Events. A source calls ``emit`` for each item and
waits while the pipeline applies backpressure; a sink takes items one by one. Sources and sinks
live in many rooms (``sim``, ``connect``, ``historian`` adapters), so the protocol lives here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from andon.core.batch import Batch
from andon.core.event import Event

Item = Batch | tuple[Event, ...]
Emit = Callable[[Item], Awaitable[None]]


class Source(Protocol):
    """Anything that produces items until it is done (or is cancelled)."""

    name: str

    async def run(self, emit: Emit) -> None: ...


class Sink(Protocol):
    """Anything that consumes items; ``close`` is called once after the last item."""

    name: str

    async def write(self, item: Item) -> None: ...

    async def close(self) -> None: ...
