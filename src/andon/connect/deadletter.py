"""Dead letters: what a connector could not decode, kept so that nothing vanishes silently.

A dead letter records the source, the topic (or node, or register), the first bytes of the
message, the reason and the time. It travels as an ``Event`` of kind ``dead_letter`` on the
asset ``_sources/<source>``, so it takes the same road as everything else — the pipeline, the
disk queue while the historian is away, the historian — and is found again with an ordinary
event query (``andon connect dead-letters``, ``GET /api/v1/sources/dead-letters``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from andon.core.event import Event

KIND = "dead_letter"
ASSET_ROOT = "_sources"
HEAD_BYTES = 256
"""How much of a message is kept: enough to see what it was, never a 10 MB payload."""


def source_asset(source: str) -> str:
    return f"{ASSET_ROOT}/{source}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source: str
    topic: str
    head: str
    """The first ``HEAD_BYTES`` bytes, decoded as UTF-8 with invalid bytes shown as ``\\xNN``."""
    size: int
    reason: str
    ts: int

    @classmethod
    def of(
        cls, source: str, topic: str, payload: bytes, reason: str, ts: int | None = None
    ) -> DeadLetter:
        head = payload[:HEAD_BYTES].decode("utf-8", errors="backslashreplace")
        return cls(source, topic, head, len(payload), reason, time.time_ns() if ts is None else ts)

    def event(self) -> Event:
        return Event(
            ts=self.ts,
            asset=source_asset(self.source),
            kind=KIND,
            payload={
                "topic": self.topic,
                "head": self.head,
                "size": self.size,
                "reason": self.reason,
            },
            source=self.source,
        )

    @classmethod
    def from_event(cls, event: Event) -> DeadLetter:
        p = event.payload
        return cls(
            source=event.asset.removeprefix(ASSET_ROOT + "/"),
            topic=str(p.get("topic", "")),
            head=str(p.get("head", "")),
            size=int(p.get("size", 0)),
            reason=str(p.get("reason", "")),
            ts=event.ts,
        )
