"""The live stream over a real server: pattern filtering, heartbeats, clean endings."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
from api_site import make_site

from andon.api import ApiServer
from andon.core import Batch, Event
from andon.core.clock import NS_PER_S, iso
from andon.pipeline import LiveFeed

MILL = "acme/machining/cell-1/mill-1"
LATHE = "acme/machining/cell-1/lathe-1"


async def read_messages(response: httpx.Response, count: int) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    kind = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            out.append((kind, json.loads(line.removeprefix("data: "))))
            if len(out) == count:
                return out
    return out


def test_only_matching_samples_and_events_arrive(tmp_path):
    feed = LiveFeed()
    site = make_site(str(tmp_path / "a.db"), live=feed)
    t = 1_700_000_000 * NS_PER_S

    async def scenario() -> list[tuple[str, dict]]:
        async with (
            ApiServer(site.context, "127.0.0.1", 0) as server,
            httpx.AsyncClient(base_url=server.url, headers=site.headers("viewer")) as c,
        ):
            params = {"pattern": f"{MILL}/#"}
            async with c.stream("GET", "/api/v1/stream", params=params) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                while feed.subscribers == 0:
                    await asyncio.sleep(0.01)
                tags = (f"{MILL}/temp", f"{LATHE}/temp", f"{MILL}/speed")
                batch = Batch.build(tags, [t, t, t + NS_PER_S], [0, 1, 2], [1.5, 9.0, np.nan])
                await feed.write(batch)
                await feed.write(
                    (
                        Event(t, LATHE, "state", {"state": "down"}),
                        Event(t, MILL, "state", {"state": "running"}),
                    )
                )
                got = await asyncio.wait_for(read_messages(r, 3), 5)
            assert feed.subscribers == 0 or await _gone(feed)
            return got

    got = asyncio.run(scenario())
    assert got == [
        ("sample", {"tag": f"{MILL}/temp", "ts": iso(t), "value": 1.5, "quality": 192}),
        (
            "sample",
            {"tag": f"{MILL}/speed", "ts": iso(t + NS_PER_S), "value": None, "quality": 192},
        ),
        (
            "event",
            {
                "ts": iso(t),
                "asset": MILL,
                "kind": "state",
                "payload": {"state": "running"},
                "source": "",
            },
        ),
    ]
    assert feed.subscribers == 0
    site.historian.close()


async def _gone(feed: LiveFeed) -> bool:
    for _ in range(200):
        if feed.subscribers == 0:
            return True
        await asyncio.sleep(0.01)
    return False


def test_heartbeats_then_the_stream_ends_when_the_feed_closes(tmp_path):
    feed = LiveFeed()
    site = make_site(str(tmp_path / "a.db"), live=feed)

    async def scenario() -> str:
        async with (
            ApiServer(site.context, "127.0.0.1", 0) as server,
            httpx.AsyncClient(base_url=server.url, headers=site.headers("viewer")) as c,
            c.stream("GET", "/api/v1/stream") as r,
        ):
            await asyncio.sleep(0.5)  # heartbeat_s is 0.2 in the test settings
            await feed.close()
            return (await asyncio.wait_for(r.aread(), 5)).decode()

    text = asyncio.run(scenario())
    assert text.startswith("retry: 3000\n: connected\n\n")
    assert ": heartbeat" in text
    site.historian.close()


def test_a_gone_client_unsubscribes_and_shutdown_ends_open_streams(tmp_path):
    feed = LiveFeed()
    site = make_site(str(tmp_path / "a.db"), live=feed)

    async def scenario() -> None:
        server = ApiServer(site.context, "127.0.0.1", 0)
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, headers=site.headers("viewer")) as c:
            async with c.stream("GET", "/api/v1/stream") as r:
                assert r.status_code == 200
                while feed.subscribers == 0:
                    await asyncio.sleep(0.01)
            assert await _gone(feed)  # the client left: its subscription is gone
            async with c.stream("GET", "/api/v1/stream") as r:
                while feed.subscribers == 0:
                    await asyncio.sleep(0.01)
                await asyncio.wait_for(server.stop(), 5)  # an open stream does not hold it up
        assert feed.subscribers == 0

    asyncio.run(scenario())
    site.historian.close()
