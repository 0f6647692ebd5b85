"""Tags, history, latest, events, assets and the board, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from api_site import TAG, make_site

from andon.api import __all__ as exported
from andon.core import Event
from andon.core.clock import NS_PER_S, iso, now_ns

MILL = "springfield/machining/cell-1/mill-1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request, tmp_path):
    if request.param == "sqlite":
        url = str(tmp_path / "andon.db")
    else:
        url = request.getfixturevalue("pg_schema_url")
    s = make_site(url, plant=True)
    with s.client:
        yield s
    s.historian.close()


def get(site, url, **params):
    r = site.client.get(url, params=params, headers=site.headers("viewer"))
    assert r.status_code == 200, r.text
    return r.json()


def test_history_raw_and_downsampled(site):
    start, end = iso(site.t0), iso(site.t0 + 600 * NS_PER_S)
    raw = get(site, f"/api/v1/tags/{TAG}/history", **{"from": start, "to": end})
    assert raw["every_s"] is None and len(raw["ts"]) == 600
    assert raw["ts"][0] == start and raw["value"][:3] == [0.0, 1.0, 2.0]
    assert set(raw["quality"]) == {192}
    trend = get(site, f"/api/v1/tags/{TAG}/history", **{"from": start, "to": end, "every": "1m"})
    assert trend["every_s"] == 60 and len(trend["ts"]) == 10
    assert trend["value"][0] == pytest.approx(29.5)
    assert trend["min"][0] == 0 and trend["max"][0] == 59 and trend["count"][0] == 60
    counts = get(
        site,
        f"/api/v1/tags/{TAG}/history",
        **{"from": start, "to": end, "every": "1m", "agg": "count"},
    )
    assert counts["value"] == [60] * 10


def test_tags_latest_and_events(site):
    tags = get(site, "/api/v1/tags", pattern="acme/#")
    assert [t["path"] for t in tags] == [TAG]
    (latest,) = get(site, "/api/v1/latest", pattern="acme/+/+/+/+")
    assert latest["value"] == 3599.0
    events = get(site, "/api/v1/events", asset="acme/machining", kind="part")
    assert [e["payload"] for e in events] == [{"result": "good"}]
    assert get(site, "/api/v1/events", asset="acme/+/+/mill-1", limit=1)[0]["kind"] == "state"


def test_the_board_counts_todays_parts_and_the_time_in_state(site):
    now = now_ns()
    site.historian.write_events(
        [
            Event(now - 600 * NS_PER_S, MILL, "state", {"state": "down", "reason": "breakdown"}),
            Event(now - 900 * NS_PER_S, MILL, "state", {"state": "running", "reason": ""}),
            Event(now - 1 * NS_PER_S, MILL, "part", {"result": "good"}),
            Event(now - 2 * NS_PER_S, MILL, "part", {"result": "scrap"}),
            Event(now - 3 * NS_PER_S, MILL, "part", {"result": "good"}),
        ]
    )
    board = get(site, "/api/v1/machines")
    assert len(board["machines"]) == 4
    mill = next(m for m in board["machines"] if m["path"] == MILL)
    assert (mill["state"], mill["category"], mill["reason"]) == ("down", "down", "breakdown")
    assert 590 < mill["seconds_in_state"] < 700
    if board["day_start"] <= iso(now - 3 * NS_PER_S):  # not just after local midnight
        assert (mill["good"], mill["scrap"], mill["rework"]) == (2, 1, 0)
    other = next(m for m in board["machines"] if m["path"] != MILL)
    assert other["state"] is None and other["good"] == 0


def test_the_asset_tree_follows_the_plant(site):
    (root,) = get(site, "/api/v1/assets")
    assert root["level"] == "site" and root["path"] == "springfield"
    area = root["children"][0]
    line = area["children"][0]
    machine = line["children"][0]
    assert (area["level"], line["level"], machine["level"]) == ("area", "line", "machine")
    assert machine["tags"] and machine["tags"][0]["path"].startswith(machine["path"] + "/")


def test_the_public_names_are_pinned():
    assert set(exported) == {
        "PREFIX",
        "ApiContext",
        "ApiServer",
        "ApiSettings",
        "Public",
        "Require",
        "create_app",
        "declared_access",
        "public",
        "require",
        "routes_of",
        "serve_api",
    }


def test_history_columns_format_and_the_schema(site):
    from andon.api.schemas import History

    start, end = iso(site.t0 + 500_000_000), iso(site.t0 + 600 * NS_PER_S)
    for every in (None, "1m", "15min"):
        params = {"from": start, "to": end} | ({"every": every} if every else {})
        body = get(site, f"/api/v1/tags/{TAG}/history", **params)
        History.model_validate(body)  # the declared schema, field for field
        cols = get(site, f"/api/v1/tags/{TAG}/history", **params, format="columns")
        History.model_validate(cols)
        assert "ts_ms" not in body and cols["ts"] is None  # the default body is as before
        assert len(cols["ts_ms"]) == len(body["ts"]) > 0
        assert [iso(int(ms * 1_000_000)) for ms in cols["ts_ms"]] == body["ts"]
        for key in ("value", "min", "max", "count", "quality", "from", "to", "every_s", "agg"):
            assert cols[key] == body[key], key
    trend = get(site, f"/api/v1/tags/{TAG}/history", **{"from": start, "to": end, "every": "1m"})
    assert trend["quality"] is None and trend["count"][1] == 60
    assert trend["ts"][0] == iso(site.t0)  # the bucket holding the partial first minute
    bad = site.client.get(
        f"/api/v1/tags/{TAG}/history", params={"format": "xml"}, headers=site.headers("viewer")
    )
    assert bad.status_code == 422
