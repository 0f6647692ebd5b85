"""Kept results and the journal of late writes, on both engines."""

from __future__ import annotations

import numpy as np

from andon.core import Batch
from andon.core.clock import NS_PER_H, NS_PER_S, now_ns
from andon.core.event import Event
from andon.historian import open_historian
from andon.historian.kept import NOTE_AFTER_NS, Kept, event_key, sample_key

TAG = "s/a/l/m/temperature"


def test_late_samples_and_events_are_noted_by_the_database_clock(db_url: str) -> None:
    with open_historian(db_url) as h:
        before = h.clock_ns()
        assert abs(before - now_ns()) < 60 * NS_PER_S  # the database's clock, near ours
        late = now_ns() - NOTE_AFTER_NS - 60 * NS_PER_S
        fresh = now_ns() - 60 * NS_PER_S
        h.write(Batch.build((TAG,), np.array([late, fresh]), np.zeros(2, np.int32), np.ones(2)))
        h.write_events(
            [Event(late, "s/a/l/m", "part", {"n": 1}), Event(fresh, "s/a/l/m", "part", {})]
        )
        keys = [sample_key(TAG), event_key("part", "s/a/l/m")]
        notes = h.late_since(keys, late - NS_PER_H, now_ns() + NS_PER_H, before)
        assert sorted((k, b) for k, b, _ in notes) == sorted(
            (k, late - late % NS_PER_H) for k in keys
        )  # the late ones only, by hour
        assert all(w >= before for _, _, w in notes)
        assert h.late_since(keys, late - NS_PER_H, now_ns() + NS_PER_H, h.clock_ns() + 1) == []


def test_kept_results_are_replaced_found_and_forgotten(db_url: str) -> None:
    with open_historian(db_url) as h:
        h.keep(
            [
                Kept("s/a/l/m", "oee", 0, 10, "f1", 1, "{}"),
                Kept("s/a/l2/m", "oee", 0, 10, "f", 1, "{}"),
            ]
        )
        h.keep([Kept("s/a/l/m", "oee", 0, 10, "f2", 2, '{"a":1}')])  # the same key again
        found = {k.asset: k for k in h.kept("oee", ["s/a/l/m", "s/a/l2/m"], 0, 10)}
        assert found["s/a/l/m"].fingerprint == "f2" and found["s/a/l/m"].body == '{"a":1}'
        assert h.kept("oee", ["s/a/l/m"], 1, 10) == []  # lies within the range only
        assert h.forget("oee", "s/a/l") == 1
        assert [k.asset for k in h.kept("oee", ["s/a/l/m", "s/a/l2/m"], 0, 10)] == ["s/a/l2/m"]
