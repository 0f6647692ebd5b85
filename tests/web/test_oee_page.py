"""The OEE page: trend per period, loss waterfall and Pareto, the same numbers as the API."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from web_site import WebSite, log_in


def test_the_oee_page_shows_the_waterfall_pareto_and_trend(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    page = client.get("/oee", params={"from": "-15m", "to": "now", "by": "day"})
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert re.search(r'id="oee-value">\d+\.\d%<', html), "the OEE figure is shown"
    waterfall = html.split('id="waterfall"')[1].split("</table>")[0]
    for label in (
        "Planned production time",
        "Breakdowns and unplanned stops",
        "Setup and adjustments",
        "Small stops",
        "Reduced speed",
        "Start-up rejects",
        "Production rejects",
        "Fully productive time",
    ):
        assert label in waterfall, label
    assert 'id="pareto"' in html and 'id="oee-trend"' in html
    assert len(re.findall(r'<tr><td><a href="/oee\?asset=', html)) == 4  # the four machines
    api = client.get("/api/v1/kpi/oee", params={"from": "-15m", "to": "now"}).json()
    shown = re.search(r'id="oee-value">([\d.]+)%<', html)
    assert shown and abs(float(shown.group(1)) - 100 * api[0]["oee"]) < 0.2


def test_one_machine_and_a_bad_range(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    machine = site.machine(0)
    page = client.get("/oee", params={"asset": machine, "from": "-15m", "to": "now"})
    assert page.status_code == 200 and machine in page.text
    bad = client.get("/oee", params={"from": "tomorrow-ish", "to": "now"})
    assert bad.status_code == 400 and "from" in bad.text


def test_the_oee_page_shows_energy_per_unit(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    html = client.get("/oee", params={"from": "-15m", "to": "now"}).text
    energy = html.split('id="energy"')[1].split("</table>")[0]
    assert energy.count("<tr><td>") == 4  # every machine of the job shop has a power signal
    assert "kWh per good part" in energy
