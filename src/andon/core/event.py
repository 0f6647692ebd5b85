"""Events: something that happened at a time to an asset.

A state change, a part counted, a scrap, a breakdown, an alarm, a command sent, a prediction,
a work order status. Events are few (per state change or per part, not per sample), so they
are plain frozen objects; ``payload`` holds JSON-safe details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSONValue = Any


@dataclass(frozen=True, slots=True)
class Event:
    """``kind`` is a dotted word (``state``, ``part``, ``truth.failure``); ``asset`` a path."""

    ts: int
    asset: str
    kind: str
    payload: Mapping[str, JSONValue] = field(default_factory=dict)
    source: str = ""
