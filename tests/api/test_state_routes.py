"""``/api/v1/state/history``: a machine's state intervals with their reasons, and its
changeovers, as the KPIs read them; what operators say shows in it."""

from __future__ import annotations

from itertools import pairwise

import pytest
from api_site import make_site

from andon.api.routes import state as state_routes
from andon.core.clock import NS_PER_S, iso, parse_time
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

START = parse_time("2026-11-23T05:00:00Z")
END = START + 2 * 3600 * NS_PER_S
MILL = "springfield/machining/cell-1/mill-1"
GRINDER = "springfield/machining/cell-1/grinder-1"
STATES = {"running", "idle", "starved", "blocked", "setup", "down", "planned_stop", "micro_stop"}


@pytest.fixture
def site(tmp_path):
    s = make_site(f"sqlite:///{tmp_path}/andon.db", plant=True)
    vp = VirtualPlant(load_plant(example_plant("job_shop")), seed=2, start_ns=START)
    batch, events = vp.advance(END)
    s.historian.write(batch)
    s.historian.write_events(events)
    with s.client:
        yield s
    s.historian.close()


def history(site, asset=MILL, start=START, end=END, role="viewer"):
    return site.client.get(
        "/api/v1/state/history",
        params={"asset": asset, "from": iso(start), "to": iso(end)},
        headers=site.headers(role),
    )


def test_the_intervals_cover_the_range_and_match_the_state_events(site):
    r = history(site)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["asset"], body["from"], body["to"]) == (MILL, iso(START), iso(END))
    assert body["truncated"] is False and body["limit"] == state_routes.MAX_INTERVALS
    rows = body["intervals"]
    assert rows[0]["start_ns"] == START and rows[-1]["end_ns"] == END
    for a, b in pairwise(rows):
        assert a["end_ns"] == b["start_ns"]
    for row in rows:
        assert row["start"] == iso(row["start_ns"]) and row["end"] == iso(row["end_ns"])
        assert row["duration_s"] == pytest.approx((row["end_ns"] - row["start_ns"]) / 1e9)
        assert row["state"] in STATES | {"no_data"}
    # the machine's state events say where the stop began (the history follows its state-code
    # tag, sampled each second, so it sees the change at the next sample)
    events = site.client.get(
        "/api/v1/events",
        params={"asset": MILL, "kind": "state", "from": iso(START), "to": iso(END)},
        headers=site.headers("viewer"),
    ).json()
    down = next(e for e in events if e["payload"]["state"] == "down")
    (stop,) = [row for row in rows if row["state"] == "down"]
    assert 0 <= stop["start_ns"] - parse_time(down["ts"]) <= NS_PER_S


def test_changeovers_are_the_product_changes_of_the_machine(site):
    r = history(site, asset="grinder-1")  # a machine id is enough
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["asset"] == GRINDER
    changes = body["changeovers"]
    assert len(changes) == 3 and body["changeovers_truncated"] is False
    for c in changes:
        assert START <= c["ts_ns"] < END and c["ts"] == iso(c["ts_ns"])
        assert {c["from_product"], c["to_product"]} == {"bracket", "shaft"}
    for a, b in pairwise(changes):
        assert a["to_product"] == b["from_product"] and a["ts_ns"] < b["ts_ns"]
    assert history(site).json()["changeovers"] == []  # mill-1 made one product only


def test_a_reason_and_a_correction_given_through_the_api_show_in_the_history(site):
    (stop,) = [row for row in history(site).json()["intervals"] if row["state"] == "down"]
    inside = iso(stop["start_ns"] + 5 * NS_PER_S)
    r = site.client.post(
        "/api/v1/state/reason",
        json={"asset": MILL, "at": inside, "reason": "coolant pump"},
        headers=site.headers("operator"),
    )
    assert r.status_code == 201, r.text
    running = max(
        (row for row in history(site).json()["intervals"] if row["state"] == "running"),
        key=lambda row: row["duration_s"],
    )
    a = running["start_ns"] + 60 * NS_PER_S
    b = a + 120 * NS_PER_S
    r = site.client.post(
        "/api/v1/state/correction",
        json={"asset": MILL, "from": iso(a), "to": iso(b), "state": "down", "reason": "jam"},
        headers=site.headers("operator"),
    )
    assert r.status_code == 201, r.text
    rows = history(site).json()["intervals"]
    (given,) = [row for row in rows if row["start_ns"] == stop["start_ns"]]
    assert (given["state"], given["reason"]) == ("down", "coolant pump")
    assert given["end_ns"] == stop["end_ns"]
    (split,) = [row for row in rows if row["start_ns"] == a]
    assert (split["end_ns"], split["state"], split["reason"]) == (b, "down", "jam")
    before = next(row for row in rows if row["end_ns"] == a)
    after = next(row for row in rows if row["start_ns"] == b)
    assert before["state"] == after["state"] == "running"


def test_a_long_history_is_cut_and_says_so(site, monkeypatch):
    whole = history(site).json()["intervals"]
    assert len(whole) > 3
    monkeypatch.setattr(state_routes, "MAX_INTERVALS", 3)
    body = history(site).json()
    assert body["truncated"] is True and body["limit"] == 3
    assert body["intervals"] == whole[:3]


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"asset": MILL, "from": iso(END), "to": iso(START)}, 400, "give the earlier time first"),
        ({"asset": MILL, "from": iso(START), "to": iso(START)}, 400, "the range is empty"),
        (
            {"asset": MILL, "from": "2016-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            400,
            "three years",
        ),
        (
            {"asset": MILL, "from": "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
            400,
            "longer than 31 days",
        ),
        ({"asset": MILL, "from": "yesterday-ish", "to": "now"}, 400, "from: expected ISO 8601"),
        ({"asset": "nope", "from": "-1h", "to": "now"}, 400, "asset 'nope'"),
        (
            {"asset": "springfield/machining/cell-1", "from": "-1h", "to": "now"},
            400,
            "name one machine",
        ),
        ({"asset": MILL, "to": "now"}, 422, "from"),
    ],
)
def test_bad_questions_are_refused_with_what_was_expected(site, params, status, says):
    r = site.client.get("/api/v1/state/history", params=params, headers=site.headers("viewer"))
    assert r.status_code == status, r.text
    assert says in str(r.json()["detail"])


def test_it_needs_a_plant_and_a_credential(site, tmp_path):
    r = site.client.get("/api/v1/state/history", params={"asset": MILL, "from": "-1h", "to": "now"})
    assert r.status_code == 401
    bare = make_site(f"sqlite:///{tmp_path}/bare.db")
    with bare.client:
        r = bare.client.get(
            "/api/v1/state/history",
            params={"asset": MILL, "from": "-1h", "to": "now"},
            headers=bare.headers("viewer"),
        )
    bare.historian.close()
    assert r.status_code == 400 and "no plant model" in r.json()["detail"]
