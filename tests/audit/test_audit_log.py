"""The audit log: entries, the hash chain, filters, and what the database refuses."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.audit import GENESIS, AuditLog, audit_log
from andon.core.errors import InputError, StorageError


def fill(log: AuditLog, n: int, **overrides: object) -> None:
    for i in range(n):
        fields: dict[str, object] = {
            "actor": f"user:u{i % 3}",
            "source": "api",
            "category": "identity" if i % 2 else "command",
            "action": f"act{i}",
            "target": f"t{i}",
            "details": {"i": i},
        }
        fields.update(overrides)
        log.record(**fields)  # type: ignore[arg-type]


def test_an_empty_log_verifies_with_the_genesis_head(engine: Engine) -> None:
    verdict = AuditLog(engine).verify()
    assert verdict.ok and verdict.entries == 0 and verdict.head_hash == GENESIS


def test_the_hash_is_sha256_over_canonical_json_of_the_fields(engine: Engine) -> None:
    log = AuditLog(engine, clock=lambda: 1_795_000_000_000_000_000)
    first = log.record(
        actor="cli:ann",
        source="cli",
        category="identity",
        action="create_user",
        target="bob",
        details={"role": "viewer", "ü": [1, 2.5]},
    )
    body = {
        "action": "create_user",
        "actor": "cli:ann",
        "category": "identity",
        "details": {"role": "viewer", "ü": [1, 2.5]},
        "id": 1,
        "prev_hash": "0" * 64,
        "result": "ok",
        "source": "cli",
        "target": "bob",
        "ts_ns": 1_795_000_000_000_000_000,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert "\\u00fc" in text  # ASCII only: non-ASCII characters are escaped
    assert first.hash == hashlib.sha256(text.encode()).hexdigest()
    second = log.record(actor="cli:ann", source="cli", category="auth", action="login")
    assert (second.id, second.prev_hash) == (2, first.hash)
    assert log.entries() == [first, second]


def test_entries_filter_page_and_read_newest_first(engine: Engine) -> None:
    log = AuditLog(engine)
    fill(log, 10)
    assert [e.id for e in log.entries(after_id=3, limit=4)] == [4, 5, 6, 7]
    assert {e.actor for e in log.entries(actor="user:u1")} == {"user:u1"}
    assert [e.id for e in log.entries(category="identity")] == [2, 4, 6, 8, 10]
    assert [e.id for e in log.entries(limit=3, newest_first=True)] == [10, 9, 8]
    with pytest.raises(InputError, match="limit"):
        log.entries(limit=0)


def test_bad_result_and_non_json_details_are_refused(engine: Engine) -> None:
    log = AuditLog(engine)
    with pytest.raises(InputError, match="result"):
        log.record(actor="a", source="s", category="c", action="x", result="maybe")
    with pytest.raises(InputError, match="JSON"):
        log.record(actor="a", source="s", category="c", action="x", details={"v": float("nan")})
    assert log.verify().entries == 0


def test_long_fields_and_details_are_cut_not_refused(engine: Engine) -> None:
    log = AuditLog(engine)
    entry = log.record(
        actor="a" * 500, source="s", category="c", action="x", details={"blob": "x" * 100_000}
    )
    assert len(entry.actor) == 200 and entry.actor.endswith("…")
    hostile = log.record(actor="a\x00b\ud800", source="s", category="c", action="x", target="\x00")
    assert (hostile.actor, hostile.target) == ("a\ufffdb\ufffd", "\ufffd")
    assert entry.details["chars"] > 100_000
    assert log.verify().ok


def test_the_database_refuses_update_delete(engine: Engine) -> None:
    log = AuditLog(engine)
    fill(log, 3)
    for statement in (
        sa.update(audit_log).where(audit_log.c.id == 2).values(actor="someone else"),
        sa.delete(audit_log).where(audit_log.c.id == 3),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE audit_log"))
    assert log.verify().entries == 3


def test_a_refused_write_surfaces_as_storage_error_through_the_log(engine: Engine) -> None:
    log = AuditLog(engine)
    fill(log, 1)
    with pytest.raises(StorageError, match="append-only"), log.transaction() as conn:
        conn.execute(sa.delete(audit_log))
