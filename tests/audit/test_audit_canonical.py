"""Canonical JSON: whatever details are recorded, the stored text hashes the same when re-read."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from andon.audit.chain import GENESIS, canonical_details, entry_hash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_stored_details_reread_give_the_same_text_and_hash(details: dict[str, object]) -> None:
    text, parsed = canonical_details(details)
    again, reparsed = canonical_details(json.loads(text))
    assert again == text and reparsed == parsed
    fields = dict(ts_ns=1, actor="a", source="s", category="c", action="x", target="", result="ok")
    first = entry_hash(id=1, details=parsed, prev_hash=GENESIS, **fields)
    assert first == entry_hash(id=1, details=json.loads(text), prev_hash=GENESIS, **fields)
