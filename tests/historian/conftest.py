"""Historian fixtures: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL tests each get their own schema (``pg_schema_url`` in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from andon.historian import Historian, open_historian


@pytest.fixture
def hist(db_url: str) -> Iterator[Historian]:
    with open_historian(db_url) as h:
        yield h
