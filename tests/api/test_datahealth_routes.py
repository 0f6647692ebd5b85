"""``/api/v1/data/check`` and ``/api/v1/data/readiness``: the same findings, scores and
readiness as ``andon data``, behind the read permission, with plain messages for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from api_site import make_site

from andon.core import Batch
from andon.core.clock import NS_PER_S, now_ns

MILL = "springfield/machining/cell-1/mill-1"
VIBRATION = f"{MILL}/spindle_vibration"


@pytest.fixture
def site(tmp_path):
    """The job shop's plant model; mill-1's vibration has 30 minutes of 1 Hz data with five
    readings far above its 50 mm/s limit."""
    s = make_site(f"sqlite:///{tmp_path}/andon.db", plant=True)
    n = 1800
    t0 = now_ns() - (n + 60) * NS_PER_S
    values = 3.0 + 0.1 * np.random.default_rng(1).standard_normal(n)
    values[900:905] = 95.0
    s.historian.write(Batch.build([VIBRATION], t0 + np.arange(n) * NS_PER_S, np.zeros(n), values))
    with s.client:
        yield s
    s.historian.close()


def get(site, url, who="viewer", **params):
    return site.client.get(url, params=params, headers=site.headers(who) if who else {})


def test_check_returns_findings_with_sentences_and_scores(site):
    r = get(site, "/api/v1/data/check", asset="mill-1", **{"from": "-1h", "to": "now"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"asset", "from", "to", "findings", "scores"}
    assert body["asset"] == MILL
    assert set(body["scores"]) == {"tags", "machines", "lines"}
    for f in body["findings"]:
        assert set(f) == {"tag", "check", "start", "end", "detail", "evidence"}
    (high,) = [f for f in body["findings"] if f["check"] == "out_of_range"]
    assert high["tag"] == VIBRATION and "95" in high["detail"]
    # the tags never received are named too, and score 0
    assert any(f["tag"] == f"{MILL}/power" and f["check"] == "gap" for f in body["findings"])
    assert set(body["scores"]["tags"][f"{MILL}/power"].values()) == {0.0}
    assert 0 < min(body["scores"]["tags"][VIBRATION].values()) < 100


def test_readiness_ranks_every_machine_with_a_verdict(site):
    r = get(site, "/api/v1/data/readiness")
    assert r.status_code == 200, r.text
    rows = r.json()
    assert {row["name"] for row in rows} == {"mill-1", "mill-2", "lathe-1", "grinder-1"}
    for row in rows:
        assert set(row) == {"machine", "name", "oee_today", "verdict", "score", "ready", "missing"}
        assert row["verdict"].startswith("OEE today: no (")  # no state data stored anywhere
        assert all(set(m) == {"kpi", "needs"} and m["needs"] for m in row["missing"])
    assert rows[0]["name"] == "mill-1"  # the only machine with a tag that has data
    assert "Vibration trend (ISO 10816-3 zones)" in rows[0]["ready"]


def test_anonymous_is_refused_and_a_viewer_may_read(site):
    for url in ("/api/v1/data/check", "/api/v1/data/readiness"):
        assert get(site, url, who=None).status_code == 401
        assert get(site, url, who="viewer").status_code == 200


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "now", "to": "-1h"}, "give the earlier time first"),
        ({"from": "yesterday-ish", "to": "now"}, "from"),
        ({"from": "-400d", "to": "now"}, "longer than 31 days"),
        ({"from": "-40d", "to": "now"}, "longer than 31 days"),
        ({"from": "-1h", "to": "-1h"}, "the range is empty"),
        ({"asset": "mill-9"}, "no machine of the plant is at or below it"),
    ],
)
def test_a_bad_range_or_asset_is_a_400_with_a_message(site, params, says):
    r = get(site, "/api/v1/data/check", **params)
    assert r.status_code == 400, r.text
    assert says in r.text


def test_without_a_plant_model_the_message_says_so(tmp_path):
    s = make_site(f"sqlite:///{tmp_path}/bare.db")
    with s.client:
        for url in ("/api/v1/data/check", "/api/v1/data/readiness"):
            r = get(s, url)
            assert r.status_code == 400 and "plant.yaml" in r.text
    s.historian.close()
