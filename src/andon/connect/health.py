"""Per-source health: connected or not, last message, rate, errors, dead letters.

Each connector owns one ``SourceHealth`` and tells it what happens; the health logs once when
a source goes unavailable and once when it recovers (never once per failed retry), and keeps
the figures the API and the dashboard show.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("andon.connect")

RATE_WINDOW_S = 10.0


@dataclass
class SourceHealth:
    name: str
    kind: str
    url: str = ""
    connected: bool = False
    since_ns: int = 0
    """When ``connected`` last changed (wall clock, ns)."""
    last_message_ns: int | None = None
    messages: int = 0
    samples: int = 0
    errors: int = 0
    dead_letters: int = 0
    last_error: str = ""
    _window: deque[tuple[float, int]] = field(default_factory=deque, repr=False)
    _reported_down: bool = field(default=False, repr=False)

    def up(self) -> None:
        """The connection is established (again)."""
        if not self.connected:
            if self._reported_down:
                log.warning("source %s (%s) is available again", self.name, self.url)
            else:
                log.info("source %s connected to %s", self.name, self.url)
            self._reported_down = False
            self.connected = True
            self.since_ns = time.time_ns()

    def down(self, reason: str) -> None:
        """The connection is lost or could not be made; logged once until ``up``."""
        self.last_error = reason
        if self.connected or not self._reported_down:
            log.warning("source %s (%s) is unavailable: %s", self.name, self.url, reason)
            self._reported_down = True
        if self.connected:
            self.since_ns = time.time_ns()
        self.connected = False

    def received(self, messages: int, samples: int) -> None:
        now = time.monotonic()
        self.messages += messages
        self.samples += samples
        self.last_message_ns = time.time_ns()
        self._window.append((now, samples))
        while self._window and now - self._window[0][0] > RATE_WINDOW_S:
            self._window.popleft()

    def error(self, reason: str) -> None:
        """Something went wrong that did not drop the connection (a bad read, a refused write)."""
        self.errors += 1
        self.last_error = reason

    def dead_letter(self) -> None:
        self.dead_letters += 1

    def rate(self) -> float:
        """Samples per second over the last ``RATE_WINDOW_S`` seconds."""
        now = time.monotonic()
        total = sum(n for t, n in list(self._window) if now - t <= RATE_WINDOW_S)
        return total / RATE_WINDOW_S

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "connected": self.connected,
            "since_ns": self.since_ns,
            "last_message_ns": self.last_message_ns,
            "messages": self.messages,
            "samples": self.samples,
            "rate": round(self.rate(), 3),
            "errors": self.errors,
            "dead_letters": self.dead_letters,
            "last_error": self.last_error,
        }
