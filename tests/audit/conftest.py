"""Audit fixtures: a fresh, migrated database of each engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from andon.historian.engine import open_engine

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """A URL to a new, empty database of each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/andon.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng, _ = open_engine(db_url)
    yield eng
    eng.dispose()
