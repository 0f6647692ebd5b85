"""The field types every plant.yaml section shares: durations, ids, units, clock times.

They sit apart from the model so that ``sources.py`` and ``model.py`` can both use them.
"""

from __future__ import annotations

import math
from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from andon.core.clock import parse_duration
from andon.core.errors import InputError
from andon.core.tagpath import check_segment


def _duration(v: object) -> object:
    # pydantic reports ValueError with its location; andon's InputError would escape it.
    if isinstance(v, str):
        try:
            return parse_duration(v)
        except InputError as exc:
            raise ValueError(str(exc).removeprefix("duration: ")) from None
    return v


def _segment(v: str) -> str:
    try:
        return check_segment(v, what="id")
    except InputError as exc:
        raise ValueError(str(exc)) from None


def _positive(v: float) -> float:
    if not math.isfinite(v) or v <= 0:
        raise ValueError("must be greater than zero")
    return v


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty (write the engineering unit, e.g. mm/s, degC, kW)")
    return v.strip()


def _timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {v!r}; use an IANA name such as 'Europe/Berlin' or "
            "'America/Chicago'"
        ) from None
    return v


def _clock_time(v: object) -> object:
    if isinstance(v, int) and not isinstance(v, bool):  # YAML 1.1 reads 06:00 as 360 minutes
        return time(v // 60 % 24, v % 60)
    if isinstance(v, str):
        try:
            return time.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"expected a local time HH:MM, got {v!r}") from None
    return v


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0, allow_inf_nan=False)]
"""Seconds; YAML may say ``90s``, ``5min``, ``2h``, ``1d`` or a plain number of seconds."""
PositiveDuration = Annotated[float, BeforeValidator(_duration), AfterValidator(_positive)]
Id = Annotated[str, AfterValidator(_segment)]
Unit = Annotated[str, AfterValidator(_not_blank)]
ClockTime = Annotated[time, BeforeValidator(_clock_time)]
Fraction = Annotated[float, Field(ge=0, lt=1)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Model(BaseModel):
    """Base of every plant.yaml section: unknown keys are errors (a typo must not pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
