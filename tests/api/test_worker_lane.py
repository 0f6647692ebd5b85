"""The worker lane: credential checks and trend reads take turns, first come first served."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from api_site import TAG, make_site
from fastapi import FastAPI

from andon.api import ApiSettings, create_app
from andon.api.access import WORKERS_KEY
from andon.core.clock import NS_PER_S, iso


def trend_url(site) -> str:
    start, end = iso(site.t0), iso(site.t0 + 600 * NS_PER_S)
    return f"/api/v1/tags/{TAG}/history?from={start}&to={end}&every=1m"


async def concurrent_gets(app: FastAPI, url: str, headers: dict[str, str], n: int) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        answers = await asyncio.gather(*(client.get(url, headers=headers) for _ in range(n)))
    return [r.status_code for r in answers]


@pytest.mark.parametrize("lanes", [1, 3])
def test_at_most_worker_threads_reads_run_at_once(tmp_path, monkeypatch, lanes):
    site = make_site(str(tmp_path / "andon.db"))
    context = site.context
    context.settings = ApiSettings(worker_threads=lanes)
    app = create_app(context)
    assert getattr(app.state, WORKERS_KEY).total_tokens == lanes
    running, most = 0, 0
    lock = threading.Lock()
    downsample = context.historian.downsample

    def slow_downsample(*args, **kwargs):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return downsample(*args, **kwargs)

    monkeypatch.setattr(context.historian, "downsample", slow_downsample)
    statuses = asyncio.run(concurrent_gets(app, trend_url(site), site.headers("viewer"), 8))
    site.historian.close()
    assert statuses == [200] * 8
    assert 1 <= most <= lanes


def test_a_revoked_token_is_refused_on_its_next_trend(site):
    url = trend_url(site)
    assert site.client.get(url, headers=site.headers("viewer")).status_code == 200
    token_id = int(site.tokens["viewer"].split("_")[1])
    site.identity.revoke_token(token_id, actor="cli:test")
    assert site.client.get(url, headers=site.headers("viewer")).status_code == 401
