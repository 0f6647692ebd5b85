"""Tampering that bypasses the triggers (as a database owner could) is found by verify()."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from andon.audit import AuditLog, audit_log
from andon.historian.engine import open_engine


def without_triggers(engine: Engine, change: Callable[[Connection], object]) -> None:
    """Run ``change`` with the append-only triggers dropped, as an attacker with DDL rights."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log"))
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        change(conn)


def filled(engine: Engine, n: int = 6) -> AuditLog:
    log = AuditLog(engine)
    for i in range(n):
        log.record(actor="cli:ann", source="cli", category="command", action=f"a{i}", target="m")
    assert log.verify().ok
    return log


def test_an_edited_field_is_named(engine: Engine) -> None:
    log = filled(engine)
    without_triggers(
        engine,
        lambda c: c.execute(
            sa.update(audit_log).where(audit_log.c.id == 4).values(result="denied")
        ),
    )
    verdict = log.verify()
    assert not verdict.ok
    assert (verdict.first_bad_id, verdict.entries, verdict.head_id) == (4, 3, 3)
    assert "does not match its hash" in verdict.reason


def test_edited_details_are_named(engine: Engine) -> None:
    log = filled(engine)
    without_triggers(
        engine,
        lambda c: c.execute(
            sa.update(audit_log).where(audit_log.c.id == 2).values(details='{"x":1}')
        ),
    )
    assert log.verify().first_bad_id == 2


def test_an_entry_resealed_after_editing_breaks_the_next_link(engine: Engine) -> None:
    log = filled(engine)
    without_triggers(
        engine,
        lambda c: c.execute(sa.update(audit_log).where(audit_log.c.id == 3).values(hash="ab" * 32)),
    )
    verdict = log.verify()
    assert verdict.first_bad_id == 3  # its own hash no longer matches
    without_triggers(
        engine,
        lambda c: c.execute(
            sa.update(audit_log).where(audit_log.c.id == 4).values(prev_hash="cd" * 32)
        ),
    )
    assert log.verify().first_bad_id == 3


def test_a_deleted_entry_is_named_by_the_gap(engine: Engine) -> None:
    log = filled(engine)
    without_triggers(engine, lambda c: c.execute(sa.delete(audit_log).where(audit_log.c.id == 2)))
    verdict = log.verify()
    assert verdict.first_bad_id == 3 and "entries 2..2 are missing" in verdict.reason


def test_truncating_the_newest_entries_is_not_detectable_without_the_head(engine: Engine) -> None:
    """What the chain cannot prove on its own (docs/SECURITY.md): the noted head can."""
    log = filled(engine)
    noted = log.verify()
    without_triggers(engine, lambda c: c.execute(sa.delete(audit_log).where(audit_log.c.id > 4)))
    after = log.verify()
    assert after.ok and after.entries == 4
    assert (after.head_id, after.head_hash) != (noted.head_id, noted.head_hash)


def test_two_threads_appending_never_fork_the_chain(engine: Engine) -> None:
    logs = [AuditLog(engine), AuditLog(engine)]
    errors: list[BaseException] = []

    def work(log: AuditLog, who: str) -> None:
        try:
            for i in range(25):
                log.record(actor=who, source="api", category="command", action=f"c{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(log, f"t{n}")) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = logs[0].verify()
    assert verdict.ok and verdict.entries == 50 and verdict.head_id == 50


@pytest.mark.parametrize("writers", [2])
def test_two_engines_appending_never_fork_the_chain(db_url: str, writers: int) -> None:
    """Two connection pools (as two processes would have) append concurrently."""
    engines = [open_engine(db_url)[0] for _ in range(writers)]
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(engine: Engine, who: str) -> None:
        log = AuditLog(engine)
        try:
            barrier.wait()
            for i in range(20):
                log.record(actor=who, source="api", category="command", action=f"c{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, f"w{n}")) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        verdict = AuditLog(engines[0]).verify()
        assert verdict.ok and verdict.entries == 20 * writers
    finally:
        for e in engines:
            e.dispose()


def test_verify_streams_page_by_page_and_still_finds_a_gap(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("andon.audit.log.VERIFY_PAGE", 2)
    log = filled(engine, 7)
    assert log.verify().entries == 7
    without_triggers(engine, lambda c: c.execute(sa.delete(audit_log).where(audit_log.c.id == 5)))
    verdict = log.verify()
    assert (verdict.first_bad_id, verdict.entries) == (6, 4)
