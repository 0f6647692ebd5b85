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
