"""The audit log: append an entry to the hash chain, read entries back, verify the chain.

Appends are serialised so that the chain never forks: on SQLite the append runs in a
``BEGIN IMMEDIATE`` transaction (the database's single write lock), on PostgreSQL it first
takes a transaction-level advisory lock. Inside the lock the newest entry is read, the new one
gets the next id (ids are assigned here, not by a sequence, so they stay contiguous: a gap is
then evidence of deletion) and the hash of its predecessor. A unique ``prev_hash`` makes a fork
impossible even if a writer ignored the lock.

Other rooms that must write *and* audit atomically (a new user and its "user created" entry)
open :meth:`AuditLog.transaction`, make their change on the connection it yields and call
:meth:`AuditLog.append` on that same connection: both commit together or neither does.

The table refuses UPDATE and DELETE by trigger (migration 0002), and any INSERT that is not
the next link of the chain (migration 0003: right id, right ``prev_hash``; this also stops
SQLite's ``INSERT OR REPLACE`` from rewriting an entry), so the application cannot change
history by mistake; someone with the database owner's rights can, and that is
what :meth:`AuditLog.verify` detects (docs/SECURITY.md says exactly what it can and cannot).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from andon.audit.chain import (
    GENESIS,
    LIMITS,
    RESULTS,
    AuditEntry,
    AuditVerdict,
    Result,
    canonical_details,
    entry_hash,
    seal,
    shorten,
)
from andon.core.clock import now_ns
from andon.core.errors import InputError
from andon.historian.engine import IMMEDIATE, storage_errors

AUDIT_LOCK = 0x616E646F6E_01
"""PostgreSQL advisory lock key that serialises appends (distinct from the migration lock)."""

MAX_LIMIT = 10_000
VERIFY_PAGE = 1000
"""Entries read per query while verifying: the chain is streamed, never held in memory."""

metadata = sa.MetaData()

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts_ns", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(LIMITS["actor"]), nullable=False),
    sa.Column("source", sa.String(LIMITS["source"]), nullable=False),
    sa.Column("category", sa.String(LIMITS["category"]), nullable=False),
    sa.Column("action", sa.String(LIMITS["action"]), nullable=False),
    sa.Column("target", sa.String(LIMITS["target"]), nullable=False),
    sa.Column("result", sa.String(8), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
    sa.Index("ix_audit_log_actor_id", "actor", "id"),
    sa.Index("ix_audit_log_category_id", "category", "id"),
)


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        ts_ns=row.ts_ns,
        actor=row.actor,
        source=row.source,
        category=row.category,
        action=row.action,
        target=row.target,
        result=cast(Result, row.result),
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditLog:
    """Append-only, hash-chained record of who did what, from where, with what result."""

    def __init__(self, engine: Engine, *, clock: Callable[[], int] = now_ns) -> None:
        self._engine = engine
        self._clock = clock

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction that holds the append lock; commits when the block ends."""
        with (
            storage_errors(self._engine),
            self._engine.connect().execution_options(**{IMMEDIATE: True}) as conn,
            conn.begin(),
        ):
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
            yield conn

    def append(
        self,
        conn: Connection,
        *,
        actor: str,
        source: str,
        category: str,
        action: str,
        target: str = "",
        result: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Add one entry on ``conn``, which must come from :meth:`transaction`."""
        if result not in RESULTS:
            raise InputError(f"audit result must be one of ok, denied, failed; got {result!r}")
        text, parsed = canonical_details(details)
        last = conn.execute(
            sa.select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
        ).first()
        fields: dict[str, Any] = {
            "id": 1 if last is None else last.id + 1,
            "ts_ns": self._clock(),  # taken inside the lock: time order follows id order
            "actor": shorten(actor, LIMITS["actor"]),
            "source": shorten(source, LIMITS["source"]),
            "category": shorten(category, LIMITS["category"]),
            "action": shorten(action, LIMITS["action"]),
            "target": shorten(target, LIMITS["target"]),
            "result": result,
            "prev_hash": GENESIS if last is None else last.hash,
        }
        digest = entry_hash(**fields, details=parsed)
        conn.execute(sa.insert(audit_log).values(**fields, details=text, hash=digest))
        return AuditEntry(**fields, details=parsed, hash=digest)

    def record(
        self,
        *,
        actor: str,
        source: str,
        category: str,
        action: str,
        target: str = "",
        result: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry in its own transaction and return it (with its id and hash)."""
        with self.transaction() as conn:
            return self.append(
                conn,
                actor=actor,
                source=source,
                category=category,
                action=action,
                target=target,
                result=result,
                details=details,
            )

    def entries(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        actor: str | None = None,
        category: str | None = None,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        """Entries with id > ``after_id``, oldest first (or newest first), filtered."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
        query = sa.select(audit_log).where(audit_log.c.id > after_id)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if category is not None:
            query = query.where(audit_log.c.category == category)
        order = audit_log.c.id.desc() if newest_first else audit_log.c.id
        with storage_errors(self._engine), self._engine.connect() as conn:
            rows = conn.execute(query.order_by(order).limit(limit)).all()
        return [_entry(row) for row in rows]

    def verify(self) -> AuditVerdict:
        """Walk the chain in id order, recompute every hash, and name the first bad entry."""
        expected_id, prev_hash, count = 1, GENESIS, 0

        def bad(entry_id: int, reason: str) -> AuditVerdict:
            return AuditVerdict(False, count, prev_hash, entry_id, reason, expected_id - 1)

        for row in self._stream():
            if row.id != expected_id:
                gap = f"entries {expected_id}..{row.id - 1} are missing"
                return bad(row.id, gap if row.id > expected_id else f"expected id {expected_id}")
            if row.prev_hash != prev_hash:
                before = "the genesis hash" if row.id == 1 else f"the hash of entry {row.id - 1}"
                return bad(row.id, f"prev_hash is not {before} (an entry was changed or replaced)")
            try:
                entry = _entry(row)
            except (ValueError, TypeError):
                return bad(row.id, "details are not valid JSON (edited)")
            if seal(entry) != row.hash:
                return bad(row.id, "content does not match its hash (edited)")
            prev_hash, expected_id, count = row.hash, expected_id + 1, count + 1
        return AuditVerdict(True, count, prev_hash, None, "", expected_id - 1)

    def _stream(self) -> Iterator[Row[Any]]:
        """Every row in id order, one page at a time (keyset pagination on the primary key)."""
        after = 0
        with storage_errors(self._engine), self._engine.connect() as conn:
            while True:
                page = conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.id > after)
                    .order_by(audit_log.c.id)
                    .limit(VERIFY_PAGE)
                ).all()
                yield from page
                if len(page) < VERIFY_PAGE:
                    return
                after = page[-1].id
