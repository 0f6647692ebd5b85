"""Historian fixtures: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL tests each get their own schema (``pg_schema_url`` in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from andon.historian import Historian, open_historian

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A URL to a new, empty database of each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/andon.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def hist(db_url: str) -> Iterator[Historian]:
    with open_historian(db_url) as h:
        yield h
