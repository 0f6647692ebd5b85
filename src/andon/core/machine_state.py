"""The states a machine can be in: one vocabulary for the virtual plant, state derivation,
KPIs and the andon board.

Codes are what a controller's state-code tag carries (and what the virtual plant writes to its
``state_code`` tags). ``category`` folds the detail into the five board colours; ``STARVED`` and
``BLOCKED`` are the two reasons a machine in a line stands idle.
"""

from __future__ import annotations

from enum import IntEnum


class MachineState(IntEnum):
    RUNNING = 1
    IDLE = 2
    STARVED = 3
    BLOCKED = 4
    SETUP = 5
    DOWN = 6
    PLANNED_STOP = 7
    MICRO_STOP = 8

    @property
    def label(self) -> str:
        """Lowercase name as written in events, APIs and plant.yaml (``planned_stop``)."""
        return self.name.lower()

    @property
    def category(self) -> str:
        """One of running, idle, setup, down, planned_stop (the andon board's colours);
        a micro-stop counts as running on the board but as a small stop in OEE."""
        return _CATEGORY[self]

    @classmethod
    def from_label(cls, label: str) -> MachineState:
        try:
            return cls[label.upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown machine state {label!r}; expected one of {names}") from None


_CATEGORY = {
    MachineState.RUNNING: "running",
    MachineState.IDLE: "idle",
    MachineState.STARVED: "idle",
    MachineState.BLOCKED: "idle",
    MachineState.SETUP: "setup",
    MachineState.DOWN: "down",
    MachineState.PLANNED_STOP: "planned_stop",
    MachineState.MICRO_STOP: "running",
}
