"""Fixtures shared by every room's tests: the services they may need.

A test that needs PostgreSQL takes ``pg_url``. When the server cannot be reached the test is
skipped with the reason, unless ``ANDON_REQUIRE_SERVICES=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from andon.historian.engine import open_engine

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _service_missing(reason: str) -> None:
    if os.environ.get("ANDON_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (ANDON_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL server (``ANDON_TEST_PG``), checked to answer."""
    url = os.environ.get("ANDON_TEST_PG", PG_DEFAULT)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: no usable server
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _service_missing(f"PostgreSQL at {shown} is not reachable: {first}")
    return url


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a new, empty schema (dropped afterwards)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A URL to a new, empty database of each engine (a test takes it to run on both)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/andon.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated SQLAlchemy engine on ``db_url`` (for the rooms that take an engine)."""
    eng, _ = open_engine(db_url)
    yield eng
    eng.dispose()
