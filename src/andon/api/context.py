"""What the API serves from: the historian, identity, audit log, plant model and live feed.

The app factory takes one :class:`ApiContext`; nothing in the API opens a database or reads a
file itself, so tests hand it a historian in a temporary directory and ``andon serve`` hands it
the real one. :class:`ApiSettings` holds the knobs a deployment may turn (cookie, limits,
heartbeat), each with a safe default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from andon.audit import AuditLog
from andon.connect import Connector
from andon.historian import Historian
from andon.identity import Identity
from andon.pipeline import LiveFeed
from andon.plant import Plant

MIB = 1024 * 1024


@dataclass(frozen=True)
class ApiSettings:
    """Deployment knobs of the API.

    ``cookie_secure`` sends the session cookie with ``Secure`` under the ``__Host-`` prefix
    (browsers accept it over http on 127.0.0.1 and localhost, which they count as secure
    contexts); switch it off only for plain http on another address, where the cookie is then
    named ``andon_session``.
    """

    cookie_secure: bool = True
    max_body_bytes: int = MIB
    max_buckets: int = 100_000
    """Widest downsampled answer: ``(to - from) / every`` beyond this is refused (400)."""
    max_events: int = 10_000
    heartbeat_s: float = 15.0
    """Seconds between SSE heartbeat comments on an idle stream."""
    stream_stop_poll_s: float = 0.5
    stream_recheck_s: float = 5.0
    """Seconds between re-checks of an open stream's credential (logout, disable, expiry and
    revocation end the stream within about this long)."""
    max_streams: int = 256
    """Open live streams in all; one more is refused with 429."""
    max_streams_per_principal: int = 8
    """Open live streams of one user or token; one more is refused with 429."""
    max_connections: int = 1024
    """uvicorn's ``limit_concurrency``: connections and tasks beyond it get 503."""
    worker_threads: int = 1
    """Worker threads that check credentials and read trends for requests at once (the
    others queue, first come, first served). Under the GIL more threads do the same work
    no faster, only interleaved, so every request finishes late; raise it on PostgreSQL,
    whose reads wait on the network with the GIL released."""
    max_raw_points: int = 200_000
    """Most raw samples ``/tags/{path}/history`` returns without ``every`` (400 beyond,
    counted before anything is fetched)."""
    forwarded_allow_ips: tuple[str, ...] = ()
    """Addresses of TLS proxies whose ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed
    (uvicorn's ``forwarded_allow_ips``). Empty (the default): those headers are ignored and the
    client address is the TCP peer's."""

    @property
    def cookie_name(self) -> str:
        return "__Host-andon_session" if self.cookie_secure else "andon_session"


@dataclass
class ApiContext:
    """Everything the routes read from. ``plant``, ``live`` and ``sources`` are optional:
    without a plant the asset tree is derived from the stored tag paths; without a live feed
    ``/stream`` answers 503; without sources there is no health to show and nothing to write
    to."""

    historian: Historian
    identity: Identity
    audit: AuditLog
    plant: Plant | None = None
    live: LiveFeed | None = None
    settings: ApiSettings = field(default_factory=ApiSettings)
    sources: Sequence[Connector] = ()
    """The running connectors (their health; write-back goes through them)."""

    @classmethod
    def for_historian(
        cls,
        historian: Historian,
        *,
        plant: Plant | None = None,
        live: LiveFeed | None = None,
        settings: ApiSettings | None = None,
        sources: Sequence[Connector] = (),
    ) -> ApiContext:
        """A context whose identity and audit log share the historian's database."""
        engine = engine_of(historian)
        return cls(
            historian=historian,
            identity=Identity(engine),
            audit=AuditLog(engine),
            plant=plant,
            live=live,
            settings=settings or ApiSettings(),
            sources=sources,
        )


def engine_of(historian: Historian) -> Engine:
    """The historian's SQLAlchemy engine (identity and audit live in the same database)."""
    engine = getattr(historian, "engine", None)
    if isinstance(engine, Engine):
        return engine
    return historian._engine
