"""Property-based: every operation in /openapi.json, fed generated input with an admin token,
never answers with a server error. In-process via the ASGI app; bounded per operation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from api_site import make_site
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

_DIR = tempfile.TemporaryDirectory(prefix="andon-fuzz-")
SITE = make_site(str(Path(_DIR.name) / "andon.db"), plant=True)
ADMIN = SITE.headers("admin")
schema = schemathesis.openapi.from_asgi("/openapi.json", SITE.app)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case):
    case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])
