"""Fixtures of the API tests (the helpers live in ``api_site``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_site import Site, make_site


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    s = make_site(str(tmp_path / "andon.db"))
    with s.client:
        yield s
    s.historian.close()
