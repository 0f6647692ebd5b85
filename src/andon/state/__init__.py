"""Machine state and production counts, derived from signals (or given by operators)."""

from andon.state.counts import counter_increments, read_parts
from andon.state.derive import changeovers, derive, states_from_codes, states_from_rules
from andon.state.history import NO_DATA, Parts, StateHistory
from andon.state.reasons import apply, correct, enter_parts, set_reason

__all__ = [
    "NO_DATA",
    "Parts",
    "StateHistory",
    "apply",
    "changeovers",
    "correct",
    "counter_increments",
    "derive",
    "enter_parts",
    "read_parts",
    "set_reason",
    "states_from_codes",
    "states_from_rules",
]
