"""``/api/v1/kpi/oee``: the same OEE as the command line, behind the read permission."""

from __future__ import annotations

import pytest
from api_site import make_site

from andon.core.clock import NS_PER_S, iso, parse_time
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

START = parse_time("2026-11-23T05:00:00Z")
END = START + 8 * 3600 * NS_PER_S


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


def test_oee_per_shift_of_a_machine(site):
    r = site.client.get(
        "/api/v1/kpi/oee",
        params={"asset": "mill-1", "from": iso(START), "to": iso(END), "by": "shift"},
        headers=site.headers("viewer"),
    )
    assert r.status_code == 200, r.text
    (row,) = r.json()
    assert row["period"].endswith("early") and row["asset"].endswith("/mill-1")
    assert 0 < row["oee"] < 1 and row["planned_s"] == pytest.approx(7.25 * 3600)
    assert set(row["losses"]) == {
        "breakdowns",
        "setup",
        "small_stops",
        "reduced_speed",
        "startup_rejects",
        "production_rejects",
    }


def test_oee_of_the_site_lists_its_machines_and_says_how_the_line_is_counted(site):
    r = site.client.get(
        "/api/v1/kpi/oee",
        params={"from": iso(START), "to": iso(END)},
        headers=site.headers("viewer"),
    )
    assert r.status_code == 200, r.text
    (row,) = r.json()
    assert len(row["machines"]) == 4 and row["basis"].startswith("bottleneck")


def test_oee_needs_a_plant_and_a_sane_range(site, tmp_path):
    r = site.client.get(
        "/api/v1/kpi/oee",
        params={"from": iso(END), "to": iso(START)},
        headers=site.headers("viewer"),
    )
    assert r.status_code == 400 and "after" in r.json()["detail"]
    r = site.client.get(
        "/api/v1/kpi/oee",
        params={"asset": "nope", "from": "-1h", "to": "now"},
        headers=site.headers("viewer"),
    )
    assert r.status_code == 400 and "asset 'nope'" in r.json()["detail"]
    bare = make_site(f"sqlite:///{tmp_path}/bare.db")
    with bare.client:
        r = bare.client.get(
            "/api/v1/kpi/oee", params={"from": "-1h", "to": "now"}, headers=bare.headers("viewer")
        )
    assert r.status_code == 400 and "no plant model" in r.json()["detail"]
    r = site.client.get("/api/v1/kpi/oee", params={"from": "-1h", "to": "now"})
    assert r.status_code == 401


def test_an_operator_gives_a_stop_its_reason_and_it_shows_in_the_pareto(site):
    mill = "springfield/machining/cell-1/mill-1"
    params = {"asset": mill, "from": iso(START), "to": iso(END)}
    before = site.client.get("/api/v1/kpi/stops", params=params, headers=site.headers("viewer"))
    assert before.status_code == 200, before.text
    # the longest stop of mill-1, whatever its reason was, gets an operator's code
    history = site.client.get(
        "/api/v1/events",
        params={"asset": mill, "kind": "state", "from": iso(START), "to": iso(END)},
        headers=site.headers("viewer"),
    ).json()
    down = next(e for e in history if e["payload"]["state"] == "down")
    inside = iso(parse_time(down["ts"]) + 5 * NS_PER_S)  # a moment inside that stop
    denied = site.client.post(
        "/api/v1/state/reason",
        json={"asset": mill, "at": inside, "reason": "coolant pump"},
        headers=site.headers("viewer"),
    )
    assert denied.status_code == 403
    audited = site.audit_count()
    r = site.client.post(
        "/api/v1/state/reason",
        json={"asset": mill, "at": inside, "reason": "coolant pump"},
        headers=site.headers("operator"),
    )
    assert r.status_code == 201, r.text
    assert site.audit_count() == audited + 1
    entry = site.audit.entries(limit=1, newest_first=True)[0]
    assert entry.target == mill and entry.details["reason"] == "coolant pump"
    after = site.client.get("/api/v1/kpi/stops", params=params, headers=site.headers("viewer"))
    assert "coolant pump" in {x["reason"] for x in after.json()}


def test_a_correction_changes_the_oee_and_bad_input_is_refused(site):
    mill = "springfield/machining/cell-1/mill-1"
    params = {"asset": mill, "from": iso(START), "to": iso(END)}
    (before,) = site.client.get(
        "/api/v1/kpi/oee", params=params, headers=site.headers("viewer")
    ).json()
    hour = START + 2 * 3600 * NS_PER_S
    r = site.client.post(
        "/api/v1/state/correction",
        json={
            "asset": mill,
            "from": iso(hour),
            "to": iso(hour + 1800 * NS_PER_S),
            "state": "setup",
            "reason": "die change",
        },
        headers=site.headers("operator"),
    )
    assert r.status_code == 201, r.text
    (after,) = site.client.get(
        "/api/v1/kpi/oee", params=params, headers=site.headers("viewer")
    ).json()
    assert after["losses"]["setup"] == pytest.approx(before["losses"]["setup"] + 1800, abs=60)
    bad = site.client.post(
        "/api/v1/state/correction",
        json={"asset": mill, "from": iso(hour), "to": iso(hour), "state": "down"},
        headers=site.headers("operator"),
    )
    assert bad.status_code == 400 and "end" in bad.json()["detail"]
    bad = site.client.post(
        "/api/v1/production/parts",
        json={"asset": mill, "at": iso(hour), "product": "A", "result": "lost", "count": 1},
        headers=site.headers("operator"),
    )
    assert bad.status_code == 422


def test_iso22400_energy_and_compare_routes(site):
    params = {"asset": "mill-1", "from": iso(START), "to": iso(END)}
    viewer = site.headers("viewer")
    kpis = site.client.get("/api/v1/kpi/iso22400", params=params, headers=viewer)
    assert kpis.status_code == 200, kpis.text
    names = {k["name"] for k in kpis.json()}
    assert "Mean time to repair (MTTR)" in names and len(names) == 21
    energy = site.client.get("/api/v1/kpi/energy", params=params, headers=viewer)
    assert energy.status_code == 200, energy.text
    (report,) = energy.json()
    assert report["kwh"] > 0 and report["kwh_per_good"] > 0
    mid = START + 4 * 3600 * NS_PER_S
    cmp = site.client.get(
        "/api/v1/kpi/compare",
        params={
            "asset": "mill-1",
            "baseline_from": iso(START),
            "baseline_to": iso(mid),
            "pilot_from": iso(mid),
            "pilot_to": iso(END),
        },
        headers=viewer,
    )
    assert cmp.status_code == 200, cmp.text
    assert {"deltas", "roi"} <= set(cmp.json())


def test_questions_too_big_to_answer_are_refused(site):
    viewer = site.headers("viewer")
    r = site.client.get(
        "/api/v1/kpi/oee",
        params={"from": "2016-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=viewer,
    )
    assert r.status_code == 400 and "three years" in r.json()["detail"]
    r = site.client.get(
        "/api/v1/kpi/oee",
        params={"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "by": "shift"},
        headers=viewer,
    )
    assert r.status_code == 400 and "periods by shift" in r.json()["detail"]


def test_the_line_is_counted_the_same_by_oee_and_by_iso22400(site):
    line = "springfield/machining/cell-1"
    params = {"asset": line, "from": iso(START), "to": iso(END)}
    viewer = site.headers("viewer")
    (oee,) = site.client.get("/api/v1/kpi/oee", params=params, headers=viewer).json()
    kpis = site.client.get("/api/v1/kpi/iso22400", params=params, headers=viewer).json()
    index = next(k for k in kpis if k["name"].startswith("Overall equipment effectiveness"))
    assert oee["basis"].startswith("bottleneck")
    assert index["value"] == pytest.approx(oee["oee"], abs=0.01)


def test_operators_speak_of_machines_of_the_plant(site):
    op = site.headers("operator")
    for body in (
        {"asset": "nosuch", "at": iso(START), "reason": "x"},
        {"asset": "springfield/machining", "at": iso(START), "reason": "x"},
        {"asset": "springfield/machining/cell-1/mill-1", "at": iso(START), "reason": "  "},
    ):
        r = site.client.post("/api/v1/state/reason", json=body, headers=op)
        assert r.status_code == 400, body
    r = site.client.post(
        "/api/v1/production/parts",
        json={
            "asset": "springfield/machining/cell-1/mill-1",
            "at": iso(START),
            "product": "no-such-product",
            "result": "scrap",
        },
        headers=op,
    )
    assert r.status_code == 400 and "not a product" in r.json()["detail"]
