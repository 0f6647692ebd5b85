"""Machine state and production counts, derived from signals (or given by operators)."""

from andon.state.history import NO_DATA, Parts, StateHistory

__all__ = ["NO_DATA", "Parts", "StateHistory"]
