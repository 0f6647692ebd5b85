"""The job shop's history for the kept-result tests: filled once per module, copied fresh
for each test."""

from __future__ import annotations

from pathlib import Path

import pytest
from shop_history import fill, fresh_copy


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("shop") / "andon.db"
    fill(db)
    return db


@pytest.fixture
def db(filled: Path, tmp_path: Path) -> str:
    return fresh_copy(filled, tmp_path / "andon.db")
