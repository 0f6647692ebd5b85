"""Serving the API inside a running asyncio loop, beside the ingestion pipeline.

``ApiServer`` binds the socket itself (a busy port is an ``InputError`` naming it, not
uvicorn's ``sys.exit``), runs uvicorn's server as a task in the *current* loop, and leaves
signals to its owner: ``andon serve`` and ``andon demo`` decide what Ctrl-C means.

``X-Forwarded-For``/``X-Forwarded-Proto`` are ignored unless the TCP peer is one of
``forwarded_allow_ips`` (a TLS proxy in front of andon): otherwise any client could fake its
address in the audit log and in the per-address login throttle. Connections are capped at
``ApiSettings.max_connections`` (uvicorn answers 503 beyond).

    async with ApiServer(context, "127.0.0.1", 8000) as server:
        print(server.url)
        await pipeline.run()          # or any other work in the same loop

``serve_api`` is the same as one coroutine that runs until cancelled, setting ``started`` once
the socket listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator, Sequence
from types import TracebackType

import uvicorn

from andon.api.app import create_app
from andon.api.context import ApiContext
from andon.api.routes.stream import STOPPING
from andon.api.trail import STATE_KEY as TRAIL_KEY
from andon.api.trail import Collapser
from andon.core.errors import InputError

GRACE_S = 3
"""Seconds open requests get to finish at shutdown before they are cancelled."""


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the owner of the loop handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror}; is another server running there? "
            "Choose another --port"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer:
    """The andon API served from the running loop (see the module docstring)."""

    def __init__(
        self,
        context: ApiContext,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        log_level: str = "warning",
        forwarded_allow_ips: Sequence[str] | None = None,
    ) -> None:
        self.context = context
        self.host = host
        self.port = port
        self.app = create_app(context)
        settings = context.settings
        proxies = list(
            settings.forwarded_allow_ips if forwarded_allow_ips is None else forwarded_allow_ips
        )
        self.forwarded_allow_ips = tuple(proxies)
        config = uvicorn.Config(
            self.app,
            log_level=log_level,
            access_log=False,
            # X-Forwarded-For from a client must not fake the audit source or the throttle's
            # address: believed only from the listed proxies (never the env's default)
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or [],
            limit_concurrency=settings.max_connections,
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACE_S,
        )
        self._server = _Server(config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The address to open, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen and serve in the background; returns once requests are being answered."""
        self._socket = bind(self.host, self.port)
        self.port = int(self._socket.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="api")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what went wrong
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """End open streams, let requests finish (up to GRACE_S), close the socket."""
        self.app.state.stopping = True
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        collapser = getattr(self.app.state, TRAIL_KEY, None)
        if isinstance(collapser, Collapser):
            await collapser.flush()  # anonymous requests counted but not yet written

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve_api(
    context: ApiContext,
    host: str = "127.0.0.1",
    port: int = 8000,
    started: asyncio.Event | None = None,
) -> None:
    """Serve the API until cancelled; ``started`` is set once it listens (see ``ApiServer.url``
    for the address: with port 0, read it from the server instead)."""
    server = ApiServer(context, host, port)
    await server.start()
    if started is not None:
        started.set()
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.shield(server.stop())


__all__ = ["STOPPING", "ApiServer", "bind", "serve_api"]
