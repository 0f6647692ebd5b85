"""Tells the shop floor's story from events: one plain sentence per thing worth noticing.

Breakdowns, repairs, changeovers, tool changes, scrap, planned stops, and — only once they are
over and only if they lasted — waits for parts (starved) and waits for space (blocked).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from andon.core.clock import NS_PER_S, from_ns
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.plant import Plant

WAIT_WORTH_TELLING_S = 5 * 60

_STYLE = {
    "running": "green",
    "idle": "yellow",
    "setup": "blue",
    "down": "bold red",
    "planned_stop": "bright_black",
}


def state_style(state: MachineState) -> str:
    """The andon colour of a state (Rich style name)."""
    if state is MachineState.MICRO_STOP:
        return "dark_orange"
    return _STYLE[state.category]


class Narrator:
    """Turns events into sentences; remembers when each wait began to tell its length."""

    def __init__(self, plant: Plant, tz: ZoneInfo) -> None:
        self.tz = tz
        self.names = {ref.path: ref.machine.id for ref in plant.machines()}
        self.waiting: dict[str, tuple[MachineState, int]] = {}
        self.down_since: dict[str, int] = {}
        self.lines = {ref.path: ref.line.id for ref in plant.machines()}
        self.told_stops: set[tuple[str, str, int]] = set()

    def _when(self, ns: int) -> str:
        return from_ns(ns).astimezone(self.tz).strftime("%H:%M")

    def tell(self, events: Iterable[Event]) -> Iterator[str]:
        for ev in events:
            line = self._sentence(ev)
            if line:
                yield f"[bright_black]{self._when(ev.ts)}[/] {line}"

    def _sentence(self, ev: Event) -> str | None:
        who = self.names.get(ev.asset, ev.asset)
        p = ev.payload
        if ev.kind == "part" and p.get("result") == "scrap":
            return f"[red]{who}[/] scrapped a {p.get('product', 'part')}"
        if ev.kind == "truth.failure":
            return None
        if ev.kind != "state":
            return None
        try:
            state = MachineState.from_label(str(p.get("state")))
        except ValueError:
            return None
        reason = str(p.get("reason") or "")
        told = self._end_of_wait(ev, who)
        if state in (MachineState.STARVED, MachineState.BLOCKED):
            self.waiting[ev.asset] = (state, ev.ts)
        if state is MachineState.DOWN:
            self.down_since[ev.asset] = ev.ts
            return f"[bold red]{who} is down[/]: {reason or 'breakdown'}"
        if ev.asset in self.down_since:
            mins = (ev.ts - self.down_since.pop(ev.asset)) / NS_PER_S / 60
            return f"[green]{who} is repaired[/] after {mins:.0f} min"
        if state is MachineState.SETUP:
            return f"[blue]{who}[/] {reason or 'setup'}"
        if state is MachineState.PLANNED_STOP and reason:
            # One sentence per line and stop, not one per machine.
            line = self.lines.get(ev.asset, who)
            key = (line, reason, ev.ts // (60 * NS_PER_S))
            if key in self.told_stops:
                return told
            self.told_stops.add(key)
            what = "the shift ends" if reason == "no shift" else f"stops for {reason}"
            return f"[bright_black]{line}: {what}[/]"
        return told

    def _end_of_wait(self, ev: Event, who: str) -> str | None:
        waited = self.waiting.pop(ev.asset, None)
        if waited is None:
            return None
        state, since = waited
        mins = (ev.ts - since) / NS_PER_S / 60
        if mins * 60 < WAIT_WORTH_TELLING_S:
            return None
        what = (
            "for parts (starved)"
            if state is MachineState.STARVED
            else "for space downstream (blocked)"
        )
        return f"[yellow]{who}[/] waited {mins:.0f} min {what}"
