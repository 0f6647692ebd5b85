"""The andon board's time to first render in Chromium, beside the raw HTML fetch.

    python bench/board_render.py [--runs 15] [--plants job_shop assembly_line]

For each example plant: fills a SQLite historian with four simulated hours, starts the API
with the dashboard in a *separate* process (the same ``ApiServer`` + ``andon.web.install``
that ``andon serve`` runs; an idle live feed, so the page's stream connects), logs in once
through the login form in Debian's Chromium (Playwright, headless, never a downloaded
browser), then loads ``/`` ``--runs`` times and reports medians of:

- tiles painted: navigation start → the first animation frame after the last machine tile is
  in the DOM (a MutationObserver injected before the page loads, outside its CSP);
- first contentful paint, DOMContentLoaded, load (the browser's own navigation timing);
- cold: a fresh browser context per run (empty HTTP cache, only the session cookie);
  warm: one context, the static files cached;
- HTML (httpx): GET ``/`` with the session cookie, the raw server time for the same page;
  ``/api/v1/machines`` (the board's JSON) for comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher

from andon.core.clock import NS_PER_S, now_ns
from andon.historian import open_historian
from andon.identity import Identity, Role
from andon.plant import example_plant, load_plant
from andon.sim import VirtualPlant

CHROMIUM = os.environ.get("ANDON_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "bench password long enough"
SIM_HOURS = 4
WATCH = """
(() => {
  const expected = %d;
  const seen = () => document.querySelectorAll('.tile').length >= expected;
  const mark = () => requestAnimationFrame(() => { window.__tilesPainted = performance.now(); });
  const observer = new MutationObserver(() => {
    if (seen()) { observer.disconnect(); mark(); }
  });
  observer.observe(document, { childList: true, subtree: true });
})();
"""
TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return { tiles: window.__tilesPainted ?? null, fcp: fcp ? fcp.startTime : null,
           dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
           ttfb: nav.responseStart };
}"""
SERVER = """
import asyncio, sys
from andon.api import ApiContext, ApiServer
from andon.historian import open_historian
from andon.pipeline import LiveFeed
from andon.plant import example_plant, load_plant
from andon.web import install

async def main():
    historian = open_historian(sys.argv[1], create=False)
    plant = load_plant(example_plant(sys.argv[2]))
    ctx = ApiContext.for_historian(historian, plant=plant, live=LiveFeed())
    server = ApiServer(ctx, "127.0.0.1", 0)
    install(server.app)
    async with server:
        print(server.url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def prepare(db: str, plant_name: str) -> int:
    """Four simulated hours of ``plant_name`` ending now, and an admin; the machine count."""
    plant = load_plant(example_plant(plant_name))
    end = now_ns()
    start = end - SIM_HOURS * 3600 * NS_PER_S
    with open_historian(db) as historian:
        virtual = VirtualPlant(plant, seed=1, start_ns=start)
        step = 600 * NS_PER_S
        for t in range(start + step, end + step, step):
            batch, events = virtual.advance(min(t, end))
            historian.write(batch)
            historian.write_events(events)
        fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        identity = Identity(historian.engine, password_hasher=fast)
        identity.create_user("bench", Role.ADMIN, PASSWORD, actor="cli:bench")
    return len(plant.machines())


def median_ms(values: list[float]) -> str:
    found = [v for v in values if v is not None]
    return f"{statistics.median(found):.0f}" if found else "—"


def browser_runs(browser: Any, url: str, machines: int, runs: int) -> dict[str, list[float]]:
    setup = browser.new_context(base_url=url)
    page = setup.new_page()
    page.goto("/login")
    page.fill("input[name=name]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".tile")
    state = setup.storage_state()
    setup.close()
    out: dict[str, list[float]] = {}

    def one(context: Any, label: str) -> None:
        page = context.new_page()
        page.goto("/", wait_until="load")
        page.wait_for_function("() => window.__tilesPainted !== undefined")
        timing = page.evaluate(TIMING)
        assert page.locator(".tile").count() == machines
        for key, value in timing.items():
            out.setdefault(f"{label} {key}", []).append(value)
        page.close()

    warm = browser.new_context(base_url=url, storage_state=state)
    warm.add_init_script(WATCH % machines)
    one(warm, "warm")  # fills the cache; not counted
    out.clear()
    for _ in range(runs):
        cold = browser.new_context(base_url=url, storage_state=state)
        cold.add_init_script(WATCH % machines)
        one(cold, "cold")
        cold.close()
        one(warm, "warm")
    warm.close()
    out["cookie"] = [c for c in state["cookies"] if "session" in c["name"]]  # type: ignore[list-item]
    return out


def http_runs(url: str, cookie: dict[str, str], runs: int) -> dict[str, list[float]]:
    headers = {"Cookie": f"{cookie['name']}={cookie['value']}"}
    out: dict[str, list[float]] = {"html": [], "json": []}
    with httpx.Client(base_url=url, headers=headers) as client:
        for path in ("/", "/api/v1/machines"):
            assert client.get(path).status_code == 200, path  # warm up
        for _ in range(runs):
            for key, path in (("html", "/"), ("json", "/api/v1/machines")):
                began = time.perf_counter()
                r = client.get(path)
                out[key].append((time.perf_counter() - began) * 1000)
                assert r.status_code == 200
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plants", nargs="+", default=["job_shop", "assembly_line"])
    args = parser.parse_args()
    if not Path(CHROMIUM).is_file():
        sys.exit(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for plant in args.plants:
            db = f"sqlite:///{tmp}/{plant}.db"
            machines = prepare(db, plant)
            server = subprocess.Popen(
                [sys.executable, "-c", SERVER, db, plant], stdout=subprocess.PIPE, text=True
            )
            try:
                assert server.stdout is not None
                url = server.stdout.readline().strip()
                got = browser_runs(browser, url, machines, args.runs)
                cookie = got.pop("cookie")[0]
                http = http_runs(url, cookie, args.runs)  # type: ignore[arg-type]
            finally:
                server.terminate()
                server.wait(10)
            rows.append(
                f"| {plant} | {machines} | {median_ms(got['cold tiles'])} | "
                f"{median_ms(got['warm tiles'])} | {median_ms(got['cold fcp'])} | "
                f"{median_ms(got['warm fcp'])} | "
                f"{median_ms(got['cold dcl'])} | {median_ms(got['cold load'])} | "
                f"{median_ms(got['cold ttfb'])} | {median_ms(http['html'])} | "
                f"{median_ms(http['json'])} |"
            )
        browser.close()
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{args.runs} runs each, medians in ms"
    )
    print(
        "| plant | machines | last tile +1 frame (cold) | last tile +1 frame (warm) | "
        "FCP (cold) | FCP (warm) | "
        "DOMContentLoaded (cold) | load (cold) | TTFB (cold) | HTML via httpx | "
        "/api/v1/machines via httpx |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
