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


def test_newest_event_of_each_asset(hist: Historian) -> None:
    old = Event(T0 - 90 * 86_400 * S, "acme/plant/line-3/oven", "state", {"to": "idle"})
    hist.write_events([*EVENTS, old])
    later = Event(T0 + 9 * S, PRESS, "state", {"from": "running", "to": "down"})
    tie = Event(T0 + 9 * S, PRESS, "state", {"from": "running", "to": "blocked"})
    hist.write_events([later])
    hist.write_events([tie])  # same time: the one stored later wins, as in ``events``
    hist.write_events([Event(T0 + 10 * S, PRESS, "part", {"good": True})])
    assets = [PRESS, LATHE, old.asset, "acme/plant/line-1", "acme/plant/none", PRESS]
    newest = hist.newest_events(assets, "state")
    assert set(newest) == {PRESS, LATHE, old.asset}  # exact assets: line-1 has none of its own
    assert newest[PRESS].payload == {"from": "running", "to": "blocked"}
    assert newest[PRESS] == hist.events(PRESS, "state")[-1]
    assert newest[old.asset].ts == old.ts  # however old
    assert newest[LATHE].payload == {"to": "down", "reason": "tool"}
    # a kind takes its dotted sub-kinds, as everywhere
    assert set(hist.newest_events([LATHE + "/spindle"], "truth")) == {LATHE + "/spindle"}
    assert hist.newest_events([], "state") == {}


def test_count_events_by_payload_field(hist: Historian) -> None:
    parts = [
        Event(T0 + i * S, PRESS if i % 3 else LATHE, "part", {"result": r, "serial": i})
        for i, r in enumerate(["good", "scrap", "good", "rework", "good", "good", "scrap"])
    ]
    odd = [
        Event(T0 + 20 * S, PRESS, "part", {"serial": 20}),  # no result
        Event(T0 + 21 * S, PRESS, "part", {"result": None}),
        Event(T0 + 22 * S, PRESS, "part", {"result": 3}),
        Event(T0 + 23 * S, PRESS, "part", {"result": True}),
        Event(T0 + 24 * S, PRESS, "part", {"result": {"a": [1, 2]}}),
        Event(T0 + 25 * S, "acme/plant/line-10/robot", "part", {"result": "good"}),
        Event(T0 + 26 * S, PRESS, "part.rework", {"result": "good"}),  # a sub-kind
    ]
    hist.write_events(parts + odd + EVENTS)
    everything = hist.count_events(None, "part", "result")
    # the same counts as decoding every event
    expected: dict[tuple[str, object], int] = {}
    for e in hist.events(kind="part", limit=None):
        result = e.payload.get("result")
        key = (e.asset, '{"a":[1,2]}' if isinstance(result, dict) else result)
        expected[key] = expected.get(key, 0) + 1
    assert everything == expected
    assert everything[(PRESS, True)] == 1 and everything[(PRESS, 3)] == 1
    assert everything[(PRESS, None)] == 3  # missing (twice) or null
    line1 = hist.count_events("acme/plant/line-1", "part", "result", T0, T0 + 7 * S)
    # line-10 is not under line-1; EVENTS' part at T0 + 1 s has no result
    assert line1 == {(PRESS, "scrap"): 1, (PRESS, "good"): 3, (PRESS, None): 1}
    assert hist.count_events(PRESS, "state", "to") == {(PRESS, "running"): 1}
    with pytest.raises(InputError, match="plain payload key"):
        hist.count_events(None, "part", "result') OR 1=1 --")
    with pytest.raises(InputError, match="not a pattern"):
        hist.count_events("acme/+/line-1", "part", "result")
