"""Events: idempotent writes and queries by asset subtree, pattern, kind and time."""

from __future__ import annotations

import pytest

from andon.core import Event, InputError
from andon.historian import Historian

S = 1_000_000_000
T0 = 1_767_225_600 * S
PRESS = "acme/plant/line-1/press"
LATHE = "acme/plant/line-2/lathe"

EVENTS = [
    Event(T0, PRESS, "state", {"from": "idle", "to": "running"}, "state-engine"),
    Event(T0 + S, PRESS, "part", {"count": 1, "good": True}),
    Event(T0 + 2 * S, LATHE, "state", {"to": "down", "reason": "tool"}),
    Event(T0 + 3 * S, LATHE + "/spindle", "truth.failure", {"mode": "bearing"}),
    Event(T0 + 4 * S, "acme/plant/line-10/robot", "state", {"to": "idle"}),
]


def test_repeated_events_are_stored_once(hist: Historian) -> None:
    assert hist.write_events(EVENTS) == 5
    same = [Event(e.ts, e.asset, e.kind, dict(reversed(list(e.payload.items())))) for e in EVENTS]
    assert hist.write_events(same) == 0  # key order and source do not change identity
    changed = Event(T0, PRESS, "state", {"from": "idle", "to": "setup"})
    assert hist.write_events([changed, changed]) == 1
    assert len(hist.events()) == 6
    assert hist.write_events([]) == 0


def test_event_queries(hist: Historian) -> None:
    hist.write_events(EVENTS)
    press = hist.events(PRESS)
    assert [e.kind for e in press] == ["state", "part"]
    assert press[0].payload == {"from": "idle", "to": "running"}
    assert press[0].source == "state-engine"
    # a subtree, never a mere string prefix: line-1 does not include line-10
    assert [e.asset for e in hist.events("acme/plant/line-1")] == [PRESS, PRESS]
    assert [e.asset for e in hist.events(LATHE)] == [LATHE, LATHE + "/spindle"]
    assert [e.asset for e in hist.events("acme/+/+/lathe")] == [LATHE]
    assert len(hist.events("acme/plant/#", kind="state")) == 3
    assert [e.kind for e in hist.events(kind="truth")] == ["truth.failure"]
    assert [e.ts for e in hist.events(start_ns=T0 + S, end_ns=T0 + 3 * S)] == [T0 + S, T0 + 2 * S]
    assert [e.ts for e in hist.events(limit=2)] == [T0, T0 + S]
    assert [e.ts for e in hist.events("acme/#", kind="state", limit=1)] == [T0]


def test_payload_that_is_not_json_is_refused(hist: Historian) -> None:
    with pytest.raises(InputError, match="not JSON"):
        hist.write_events([Event(T0, PRESS, "state", {"when": object()})])
