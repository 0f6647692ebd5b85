"""The Stops page: one machine's stops with their reasons and its changeovers, the same as
``/api/v1/state/history``; operators give reasons, correct spans and enter parts through its
forms (CSRF-guarded, audited), viewers only read."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode

from fastapi.testclient import TestClient
from web_site import WebSite, log_in

from andon.core.clock import NS_PER_S, iso, now_ns, parse_time
from andon.state.reasons import CORRECTION, ENTRY, REASON
from andon.web.pages.stops import reason_at

WRITES = ("/stops/reason", "/stops/correction", "/stops/parts")


def page(client: TestClient, site: WebSite, **params: str) -> str:
    r = client.get("/stops", params={"asset": site.machine(), **params})
    assert r.status_code == 200, r.text[:500]
    return r.text


def stop_rows(text: str) -> list[tuple[str, str, str]]:
    """(state, start, reason) of each row of the stops table, as shown."""
    table = text.split('id="stops"')[1].split("</table>")[0]
    rows = re.findall(
        r'<tr data-state="([^"]+)" data-start="([^"]+)">.*?<td class="reason">([^<]*)</td>',
        table,
        flags=re.S,
    )
    return [(state, start, html.unescape(reason)) for state, start, reason in rows]


def changeover_rows(text: str) -> list[tuple[str, str]]:
    table = text.split('id="changeovers"')[1].split("</table>")[0]
    return re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td></tr>", table)


def post_actions(text: str) -> list[str]:
    return re.findall(r'<form method="post" action="([^"]+)"', text)


def operator_events(site: WebSite) -> list[object]:
    found = site.historian.events(site.machine(), None, 0, now_ns() + NS_PER_S, limit=None)
    return [e for e in found if e.kind in (REASON, CORRECTION, ENTRY)]


def fields(site: WebSite, token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "asset": site.machine(),
        "view_from": "-24h",
        "view_to": "now",
        **extra,
    }


def test_the_page_lists_the_stops_the_api_reports(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    now = now_ns()
    span = {"from": iso(now - 24 * 3600 * NS_PER_S), "to": iso(now)}
    text = page(client, site, **span)
    api = client.get("/api/v1/state/history", params={"asset": site.machine(), **span}).json()
    stops = [i for i in api["intervals"] if i["state"] != "running"]
    assert stops, "the virtual plant's mill stops at least once (and has no data before)"
    expected = [(i["state"], i["start"], i["reason"] or "—") for i in reversed(stops)]
    assert stop_rows(text) == expected  # every stop, the newest first, with its reason
    assert "No product change in this range." in text
    assert re.search(r"<h1>Stops <small>[^<]+ · " + re.escape(site.machine()), text)


def test_a_viewer_reads_but_gets_no_forms_and_cannot_post(client: TestClient, site: WebSite):
    token = log_in(client, "viewer")
    text = page(client, site)
    assert post_actions(text) == ["/logout"]
    for url in WRITES:
        data = fields(site, token, at="now", reason="x", product="bracket", result="good")
        r = client.post(url, data={**data, "from": "-2m", "to": "-1m", "state": "down"})
        assert r.status_code == 403, url
        assert "Not allowed" in r.text
    assert operator_events(site) == []


def test_an_operator_sets_reasons_and_the_next_page_shows_them(client: TestClient, site: WebSite):
    token = log_in(client, "operator")
    text = page(client, site)
    assert set(post_actions(text)) == {"/logout", *WRITES}
    rows = stop_rows(text)
    ats = re.findall(r'<tr data-state="[^"]+".*?name="at" value="([^"]+)"', text, re.S)
    assert len(ats) == len(rows) >= 2  # one form per stop (the oldest starts at a ns time)
    for i, at in enumerate(ats):
        r = client.post(
            "/stops/reason",
            data=fields(site, token, at=at, reason=f"waiting for material {i}"),
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/stops?" + urlencode(
            {"asset": site.machine(), "from": "-24h", "to": "now", "saved": "reason"}
        )
    shown = client.get(r.headers["location"]).text
    assert "Reason saved." in shown
    after = stop_rows(shown)
    assert [(state, reason) for state, _, reason in after] == [
        (state, f"waiting for material {i}") for i, (state, _, _) in enumerate(rows)
    ]
    entry = site.audit.entries(limit=1, newest_first=True)[0]
    assert (entry.action, entry.actor, entry.target, entry.result) == (
        "web.stops_reason",
        "user:operator",
        site.machine(),
        "ok",
    )
    assert entry.details["reason"] == f"waiting for material {len(rows) - 1}"


def test_an_operator_corrects_a_span_and_it_becomes_a_stop(client: TestClient, site: WebSite):
    token = log_in(client, "operator")
    end = now_ns() - 2 * 60 * NS_PER_S
    end -= end % NS_PER_S
    start = end - 60 * NS_PER_S
    r = client.post(
        "/stops/correction",
        data=fields(
            site,
            token,
            state="down",
            reason="tool change",
            **{
                "from": iso(start),
                "to": iso(end),
            },
        ),
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].endswith("saved=correction")
    shown = client.get(r.headers["location"]).text
    assert "Correction saved." in shown
    assert ("down", iso(start), "tool change") in stop_rows(shown)
    assert site.audit.entries(limit=1, newest_first=True)[0].action == "web.stops_correction"


def test_judged_parts_of_another_product_are_a_changeover(client: TestClient, site: WebSite):
    token = log_in(client, "operator")
    assert changeover_rows(page(client, site)) == []
    r = client.post(
        "/stops/parts",
        data=fields(site, token, at="now", product="housing", result="good", count="2"),
        follow_redirects=False,
    )
    assert r.status_code == 303
    shown = client.get(r.headers["location"]).text
    assert "Parts entered." in shown
    assert changeover_rows(shown) == [("bracket", "housing")]


def test_mistakes_are_said_on_the_page_and_nothing_is_stored(client: TestClient, site: WebSite):
    token = log_in(client, "operator")
    mistakes = [
        ("/stops/reason", {"at": "now", "reason": "  "}, "reason: say why the machine stopped"),
        ("/stops/reason", {"at": "yesterday-ish", "reason": "jam"}, "at: expected ISO 8601"),
        (
            "/stops/correction",
            {"from": "-1m", "to": "-2m", "state": "down"},
            "is not after start",
        ),
        ("/stops/correction", {"from": "-2m", "to": "-1m", "state": "on fire"}, "state: expected"),
        (
            "/stops/parts",
            {"at": "now", "product": "widget", "result": "good", "count": "1"},
            "product &#39;widget&#39;: not a product of the plant",
        ),
        (
            "/stops/parts",
            {"at": "now", "product": "bracket", "result": "good", "count": "many"},
            "count: expected a whole number",
        ),
    ]
    for url, extra, says in mistakes:
        r = client.post(url, data=fields(site, token, **extra), follow_redirects=False)
        assert r.status_code == 400, (url, extra)
        assert says in r.text, (url, r.text[:300])
        assert 'role="alert"' in r.text and 'id="stops"' in r.text  # the page, with the message
        assert "Traceback" not in r.text
    r = client.post(
        "/stops/reason",
        data={**fields(site, token, at="now", reason="jam"), "asset": "nowhere"},
        follow_redirects=False,
    )
    assert r.status_code == 400 and "asset &#39;nowhere&#39;: not a machine" in r.text
    assert operator_events(site) == []
    failed = site.audit.entries(limit=7, newest_first=True)
    assert {e.result for e in failed} == {"failed"}
    bad_view = client.get("/stops", params={"asset": site.machine(), "from": "soon"})
    assert bad_view.status_code == 400 and "from: expected ISO 8601" in bad_view.text


def test_writes_without_the_csrf_token_are_refused(client: TestClient, site: WebSite):
    log_in(client, "operator")
    data = fields(site, "", at="now", reason="jam", product="bracket", result="good")
    data.update({"from": "-2m", "to": "-1m", "state": "down"})
    for url in WRITES:
        for token in (None, "0" * 64):
            sent = {k: v for k, v in data.items() if k != "csrf_token"}
            if token is not None:
                sent["csrf_token"] = token
            r = client.post(url, data=sent, follow_redirects=False)
            assert r.status_code == 403, url
            assert "CSRF" in r.text, url
    assert operator_events(site) == []


def test_the_oee_and_machine_pages_link_to_the_stops(client: TestClient, site: WebSite):
    log_in(client, "viewer")
    oee = client.get("/oee", params={"from": "-15m", "to": "now"}).text
    links = re.findall(r'href="(/stops\?[^"]+)"', oee)
    assert len(links) == len(site.plant.machines())
    assert client.get(html.unescape(links[0])).status_code == 200
    machine = client.get(f"/machines/{site.machine()}").text
    (link,) = re.findall(r'href="/stops\?([^"]+)"', machine)
    assert parse_qs(html.unescape(link)) == {"asset": [site.machine()]}


def test_the_reason_form_names_a_time_inside_the_stop():
    """ISO 8601 is read back to the microsecond: a stop starting at a time with finer digits is
    named by the next microsecond, else its reason would land on the interval before it."""
    start = parse_time("2026-11-23T06:19:41Z") + 123_456_789
    for end in (start + 1000, start + 60 * NS_PER_S):
        back = parse_time(reason_at(start, end))
        assert start <= back < end
    whole = parse_time("2026-11-23T06:19:41.250Z")
    assert reason_at(whole, whole + NS_PER_S) == "2026-11-23T06:19:41.250Z"
