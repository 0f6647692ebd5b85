"""The demo's showroom: the dashboard served while the virtual plant runs, then the plant live.

``andon demo`` (with ``--serve``, the default) starts the API and dashboard in the same loop as
its pipeline, makes sure a ``demo`` admin exists with a fresh random password that it prints
once, runs the simulated span (the live stream already flows), prints the summary, and then
lets the plant carry on in real time until Ctrl-C, so a newcomer can log in and watch it live.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from andon.api import ApiContext, ApiServer
from andon.cli.console import console
from andon.core.errors import InputError
from andon.core.stream import Item
from andon.identity import Identity, Role
from andon.pipeline import LiveFeed
from andon.web import install as install_pages

if TYPE_CHECKING:
    from andon.cli.demo import DemoRun

DEMO_USER = "demo"
ACTOR = "cli:demo"


def demo_login(identity: Identity) -> str:
    """Create the ``demo`` admin, or give it a fresh random password; returns the password.

    An admin's decision about the account is never undone: a ``demo`` user that was disabled
    or given another role makes the demo refuse to serve, saying how to proceed.
    """
    user = next((u for u in identity.users() if u.name == DEMO_USER), None)
    if user is None:
        return identity.create_user(DEMO_USER, Role.ADMIN, actor=ACTOR)
    if user.disabled or user.role != Role.ADMIN:
        why = "is disabled" if user.disabled else f"has the role {user.role}, not admin"
        raise InputError(
            f"the {DEMO_USER!r} user of this database {why}, and andon demo does not undo an "
            f"admin's decision; use another --db, run with --no-serve, or restore it with "
            f"`andon user enable {DEMO_USER}` / `andon user role {DEMO_USER} admin`"
        )
    return identity.set_password(DEMO_USER, actor=ACTOR)


class KeepOpen:
    """Passes items to the live feed but leaves it open when the first pipeline ends, so the
    real-time phase can keep streaming to the same browsers."""

    name = "live"

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed

    async def write(self, item: Item) -> None:
        await self.feed.write(item)

    async def close(self) -> None:
        return None


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``work`` until it ends (True) or ``stop`` is set (False, work cancelled)."""
    task = asyncio.create_task(work)
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return False
    task.result()  # a failure is reported, not swallowed
    return True


async def serve_demo(run: DemoRun, host: str, port: int, report: Callable[[], None]) -> None:
    """Serve the dashboard around ``run``: the simulated span, then real time until Ctrl-C."""
    live = LiveFeed()
    context = ApiContext.for_historian(run.historian, plant=run.plant, live=live)
    password = await asyncio.to_thread(demo_login, context.identity)
    server = ApiServer(context, host, port)
    install_pages(server.app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        console.print(
            f"Dashboard: [bold]{server.url}[/]  user [bold]{DEMO_USER}[/]  password "
            f"[bold]{password}[/] (shown once; Ctrl-C to stop)"
        )
        if not await _until_stopped(run.run(also=[KeepOpen(live)]), stop):
            return
        report()
        console.print(
            f"The plant keeps running in real time. Watch it at [bold]{server.url}[/]; "
            "Ctrl-C to stop."
        )
        await _until_stopped(run.carry_on(also=[KeepOpen(live)]), stop)
    finally:
        await server.stop()
        await live.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        console.print("andon demo stopped")
