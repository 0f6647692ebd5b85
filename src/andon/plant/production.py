"""How a machine's state and production are read from its signals, and what time and scrap
cost: the parts of plant.yaml that state derivation and the KPIs need.

A machine's state comes either from a **state-code tag** (a controller's state word, mapped
code by code; andon's own codes by default) or from **rules** on its signals, first match
wins (``spindle_speed > 0 and power > 2 → running``). Rules are data — a tag, an operator
and a number — never code. Without a ``state:`` section a tag with ``signal: state_code`` is
used when the machine has one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from andon.core.machine_state import MachineState
from andon.plant.fields import Duration, Id, Model

StateLabel = Literal[
    "running", "idle", "starved", "blocked", "setup", "down", "planned_stop", "micro_stop"
]
assert set(StateLabel.__args__) == {s.label for s in MachineState}  # type: ignore[attr-defined]

Operator = Literal[">", ">=", "<", "<=", "==", "!="]


class Condition(Model):
    """``<tag> <op> <value>`` on the newest value of one of the machine's tags."""

    tag: Id
    op: Operator
    value: Annotated[float, Field(allow_inf_nan=False)]


class StateRule(Model):
    """The machine is in ``state`` while all of ``all`` (and at least one of ``any``) hold."""

    state: StateLabel
    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> StateRule:
        if not self.all and not self.any:
            raise ValueError("a rule needs conditions under all: or any:")
        return self


class StateConfig(Model):
    """Where a machine's state comes from, and how stops are classed for OEE."""

    tag: Id | None = None
    """A state-code tag of this machine."""
    codes: dict[int, StateLabel] = Field(default_factory=dict)
    """Code → state for ``tag``; empty: andon's codes (1 running ... 8 micro_stop)."""
    rules: list[StateRule] = Field(default_factory=list)
    otherwise: StateLabel = "idle"
    """The state when no rule matches."""
    micro_stop: Duration = 120.0
    """Unplanned stops shorter than this are small stops (a performance loss), longer ones
    availability losses."""
    startup_window: Duration = 0.0
    """Parts made within this time after a setup are start-up parts: their rejects are
    start-up rejects, not production rejects."""

    @model_validator(mode="after")
    def _one_source(self) -> StateConfig:
        if (self.tag is None) == (not self.rules):
            raise ValueError("give either tag: (a state-code tag) or rules:, not both or neither")
        if self.codes and self.tag is None:
            raise ValueError("codes: maps the values of tag:; give tag: too")
        return self

    def tag_references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every tag this section names, with where it is named (keys below ``state:``), so
        that a tag the machine does not declare is reported at its own line."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        if self.tag is not None:
            found.append((("tag",), self.tag))
        for ri, rule in enumerate(self.rules):
            for kind, conditions in (("all", rule.all), ("any", rule.any)):
                found.extend(
                    (("rules", ri, kind, ci, "tag"), c.tag) for ci, c in enumerate(conditions)
                )
        return found


class CounterConfig(Model):
    """A part counter tag: increments count parts; resets and rollover are recognised."""

    tag: Id
    rollover: Annotated[int, Field(ge=2)] = 65536
    """The counter wraps to 0 after ``rollover - 1`` (65536 for a 16-bit counter)."""


class Costs(Model):
    """What losses cost, for ``andon kpi compare``'s ROI estimate (in the calendar's currency)."""

    downtime_per_hour: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    scrap_per_part: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    energy_per_kwh: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """The price of a kWh outside every tariff window of the calendar (tariffs come first)."""


class Carbon(Model):
    """Scope 2, location based: the grid's emission factor."""

    grid_kg_co2e_per_kwh: Annotated[float, Field(ge=0, allow_inf_nan=False)]
