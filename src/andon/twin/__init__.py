"""The twin: a discrete-event kernel (and, later, line models, calibration and what-if)."""

from andon.twin.kernel import (
    INFINITY,
    NORMAL,
    URGENT,
    Condition,
    EmptySchedule,
    Environment,
    Event,
    Interrupt,
    Process,
    ProcessGenerator,
    Timeout,
)
from andon.twin.resources import Store, StoreGet, StorePut

__all__ = [
    "INFINITY",
    "NORMAL",
    "URGENT",
    "Condition",
    "EmptySchedule",
    "Environment",
    "Event",
    "Interrupt",
    "Process",
    "ProcessGenerator",
    "Store",
    "StoreGet",
    "StorePut",
    "Timeout",
]
