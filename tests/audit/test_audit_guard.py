"""Migration 0003: an insert into the audit log can only extend the chain, on both engines.

Without it, SQLite's ``INSERT OR REPLACE`` deletes the row it conflicts with *without* firing
the DELETE trigger, so an entry could be rewritten (and every later hash recomputed) by any
client that may insert: the append-only triggers alone were not enough.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from andon.audit import GENESIS, AuditLog, audit_log, entry_hash
from andon.historian.engine import open_engine


def filled(engine: Engine, n: int = 4) -> AuditLog:
    log = AuditLog(engine)
    for i in range(n):
        log.record(actor="cli:ann", source="cli", category="command", action=f"a{i}", target="m")
    return log


def forged(entry_id: int, prev_hash: str, action: str = "forged") -> dict[str, Any]:
    """A well-formed row whose hash is right for its fields: only the guard can refuse it."""
    fields: dict[str, Any] = {
        "id": entry_id,
        "ts_ns": 1,
        "actor": "cli:mallory",
        "source": "cli",
        "category": "command",
        "action": action,
        "target": "m",
        "result": "ok",
        "prev_hash": prev_hash,
    }
    return {**fields, "details": "{}", "hash": entry_hash(**fields, details={})}


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.id))]


def test_sqlite_insert_or_replace_cannot_rewrite_an_entry(tmp_path: object) -> None:
    engine, _ = open_engine(f"sqlite:///{tmp_path}/andon.db")
    try:
        log = filled(engine)
        before = snapshot(engine)
        entries = log.entries()
        # replace entry 2 with new content sealed onto entry 1: the rewrite the review found
        row = forged(2, entries[0].hash)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.insert(audit_log).prefix_with("OR REPLACE").values(**row))
        # a new id whose prev_hash collides with entry 3's: REPLACE would delete entry 3
        row = forged(5, entries[2].prev_hash)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.insert(audit_log).prefix_with("OR REPLACE").values(**row))
        assert snapshot(engine) == before
        assert log.verify().ok and log.verify().entries == 4
    finally:
        engine.dispose()


def test_an_insert_that_does_not_extend_the_chain_is_refused(engine: Engine) -> None:
    log = filled(engine)
    head = log.verify()
    before = snapshot(engine)
    for row in (
        forged(head.head_id + 2, head.head_hash),  # a gap in the ids
        forged(head.head_id + 1, "ab" * 32),  # a wrong prev_hash
        forged(head.head_id + 1, GENESIS),  # a second genesis
        forged(0, head.head_hash),  # before the first entry
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.insert(audit_log).values(**row))
    assert snapshot(engine) == before
    # the one insert the guard lets through is the next link (verify still checks its hash)
    with engine.begin() as conn:
        conn.execute(sa.insert(audit_log).values(**forged(head.head_id + 1, head.head_hash)))
    assert log.verify().ok and log.verify().entries == 5


def test_the_first_entry_must_carry_the_genesis_hash(engine: Engine) -> None:
    for row in (forged(1, "ab" * 32), forged(2, GENESIS)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.insert(audit_log).values(**row))
    assert AuditLog(engine).record(actor="a", source="s", category="c", action="x").id == 1


def test_an_upsert_is_refused_on_both_engines(engine: Engine) -> None:
    """``ON CONFLICT DO UPDATE`` (both engines speak it): the insert guard refuses it first.

    On PostgreSQL the UPDATE trigger of migration 0002 refuses it as well; checked below
    with the insert guard dropped, so each layer is shown to hold on its own.
    """
    log = filled(engine)
    before = snapshot(engine)
    upsert = (
        sa.text(
            "INSERT INTO audit_log (id, ts_ns, actor, source, category, action, target, result,"
            " details, prev_hash, hash) VALUES (2, 1, 'x', 'x', 'x', 'x', 'x', 'ok', '{}',"
            " :p, :h) ON CONFLICT (id) DO UPDATE SET actor = 'cli:mallory'"
        ),
        {"p": "cd" * 32, "h": "ef" * 32},
    )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(*upsert)
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER audit_log_extend_only ON audit_log"))
            conn.execute(*upsert)
    assert snapshot(engine) == before
    assert log.verify().ok


def test_concurrent_appends_pass_the_guard(db_url: str) -> None:
    """Four connection pools (as four processes would have) append at once: no refusals."""
    engines = [open_engine(db_url)[0] for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def work(engine: Engine, who: str) -> None:
        log = AuditLog(engine)
        try:
            barrier.wait()
            for i in range(15):
                log.record(actor=who, source="api", category="command", action=f"c{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, f"w{n}")) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        verdict = AuditLog(engines[0]).verify()
        assert verdict.ok and verdict.entries == 60 and verdict.head_id == 60
    finally:
        for e in engines:
            e.dispose()


def test_downgrade_to_0002_removes_only_the_guard(db_url: str) -> None:
    """0003 is reversible: the guard goes, the append-only triggers of 0002 stay."""
    from alembic import command
    from alembic.config import Config

    import andon.historian.engine as historian_engine

    engine, _ = open_engine(db_url)
    try:
        filled(engine, 2)
        cfg = Config()
        cfg.set_main_option("script_location", str(historian_engine._MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        with engine.begin() as conn:  # no guard: a gap id goes in
            conn.execute(sa.insert(audit_log).values(**forged(9, "ab" * 32)))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.delete(audit_log))
    finally:
        engine.dispose()
