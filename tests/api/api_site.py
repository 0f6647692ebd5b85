"""The API tests' site: a real historian in tmp_path, identity with a fast hasher, an app.

Passwords are hashed with argon2id at its cheapest settings here: the production parameters
are the identity room's to test, and would make every login in these tests take 50 ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from andon.api import ApiContext, ApiSettings, create_app
from andon.audit import AuditLog
from andon.core import Batch, Event
from andon.core.clock import NS_PER_S, now_ns
from andon.historian import Historian, open_historian
from andon.identity import Identity, Role
from andon.pipeline import LiveFeed
from andon.plant import example_plant, load_plant

ROLES = [r.value for r in Role]
TAG = "acme/machining/cell-1/mill-1/spindle_speed"


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Site:
    """A historian with a little data, identity, an app and a bearer token per role."""

    historian: Historian
    identity: Identity
    audit: AuditLog
    context: ApiContext
    app: FastAPI
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    t0: int = 0

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def audit_count(self) -> int:
        entries = self.audit.entries(limit=10_000)
        return len(entries)


def closed_feed() -> LiveFeed:
    """A live feed that has ended: a stream on it answers at once and finishes."""
    feed = LiveFeed()
    feed.closed = True
    return feed


def make_site(url: str, *, live: LiveFeed | None = None, plant: bool = False) -> Site:
    historian = open_historian(url)
    engine = historian._engine
    identity = Identity(engine, password_hasher=fast_hasher())
    audit = AuditLog(engine)
    context = ApiContext(
        historian=historian,
        identity=identity,
        audit=audit,
        plant=load_plant(example_plant("job_shop")) if plant else None,
        live=live if live is not None else closed_feed(),
        settings=ApiSettings(heartbeat_s=0.2, stream_stop_poll_s=0.05),
    )
    app = create_app(context)
    client = TestClient(app, base_url="https://testserver")
    site = Site(historian, identity, audit, context, app, client)
    identity.create_user("root", Role.ADMIN, "correct horse battery staple", actor="cli:test")
    for role in ROLES:
        _, secret = identity.create_token(
            f"{role}-token", [Role(role)], expires_in_s=3600, actor="cli:test"
        )
        site.tokens[role] = secret
    site.t0 = now_ns() - 3600 * NS_PER_S
    site.t0 -= site.t0 % (60 * NS_PER_S)
    n = 3600
    historian.write(
        Batch.build([TAG], site.t0 + np.arange(n) * NS_PER_S, np.zeros(n), np.arange(n) * 1.0)
    )
    historian.write_events(
        [
            Event(site.t0, "acme/machining/cell-1/mill-1", "state", {"state": "running"}),
            Event(
                site.t0 + 5 * NS_PER_S, "acme/machining/cell-1/mill-1", "part", {"result": "good"}
            ),
        ]
    )
    return site
