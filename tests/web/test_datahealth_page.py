"""The data-health page: the worst tags first with why, each machine's readiness, and a tag's
trend with its findings marked on it, drawn on the server."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from web_site import WebSite, log_in

from andon.core import Batch
from andon.core.clock import NS_PER_S, now_ns
from andon.datahealth import HealthWatch

OUTSIDE = "outside its physical limits 0.00..50.00 mm/s"


@pytest.fixture
def bad_tag(site: WebSite) -> str:
    """mill-1's spindle vibration with ten readings of 99 mm/s (its limit is 50) written
    between its own samples."""
    tag = site.machine(0) + "/spindle_vibration"
    ts = site.historian.range(tag, 0, now_ns()).ts[300:310] + NS_PER_S // 2
    site.historian.write(Batch.build([tag], ts, np.zeros(10), np.full(10, 99.0)))
    return tag


def test_the_worst_tags_come_first_each_with_its_sentence(client: TestClient, bad_tag: str):
    log_in(client, "viewer")
    page = client.get("/data", params={"from": "-20m", "to": "now"})
    assert page.status_code == 200, page.text[:500]
    table = page.text.split('id="worst-tags"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-tag="([^"]+)"><td class="score">([\d.]+)</td>', table)
    assert rows[0][0] == bad_tag
    scores = [float(s) for _, s in rows]
    assert scores == sorted(scores) and scores[0] < 100
    first = table.split("<tr data-tag=")[1]
    assert f"spindle_vibration on mill-1 read 99.00 mm/s, {OUTSIDE}" in first
    readiness = page.text.split('id="readiness"')[1].split("</table>")[0]
    assert readiness.count("<tr data-machine=") == 4
    assert len(re.findall(r'class="verdict">OEE today: (yes|no \()', readiness)) == 4
    assert 'href="/data"' in page.text  # the navigation offers the page


def test_a_tags_trend_shows_its_findings_marked(client: TestClient, bad_tag: str):
    log_in(client, "viewer")
    page = client.get("/data", params={"from": "-20m", "to": "now", "tag": bad_tag})
    assert page.status_code == 200, page.text[:500]
    svg = page.text.split('<svg id="tag-trend"')[1].split("</svg>")[0]
    assert re.search(r'<polyline class="mean" points="[\d.]+,[\d.]+ ', svg)
    marks = re.findall(
        r'<rect class="finding check-out_of_range" x="([\d.]+)"[^>]*><title>([^<]*)</title>', svg
    )
    assert marks and all(OUTSIDE in title for _, title in marks)
    # the readings were written about 5 of the 15 minutes of data in, so 10 of 20 minutes in
    assert all(450 < float(x) < 560 for x, _ in marks)
    assert "<script" not in page.text.split("</head>")[1]


def test_a_bad_tag_or_range_is_said_plainly(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    r = client.get("/data", params={"tag": site.machine(0) + "/no_such_tag"})
    assert r.status_code == 400 and "is not declared in plant.yaml" in r.text
    r = client.get("/data", params={"from": "now", "to": "-1h"})
    assert r.status_code == 400 and "runs backwards" in r.text


def test_anonymous_is_sent_to_log_in(client: TestClient):
    r = client.get("/data", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_findings_opened_and_closed_are_listed_newest_first(
    client: TestClient, site: WebSite, bad_tag: str
):
    """What ``andon data watch`` wrote: each out-of-range reading opened and closed."""
    written = HealthWatch(site.plant, site.historian, asset="mill-1").step(now_ns())
    assert written
    log_in(client, "viewer")
    page = client.get("/data", params={"from": "-20m", "to": "now"})
    assert page.status_code == 200, page.text[:500]
    listed = page.text.split('id="recent-findings"')[1].split("</ul>")[0]
    items = re.findall(r'<li class="(\w+)"><time>([^<]+)</time> ([^<]*)</li>', listed)
    assert len(items) == len(written)
    assert [t for _, t, _ in items] == sorted((t for _, t, _ in items), reverse=True)
    assert "opened out_of_range spindle_vibration on mill-1 since " in listed
    assert any(kind == "closed" for kind, _, _ in items)
