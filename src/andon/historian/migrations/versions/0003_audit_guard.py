"""Audit log: an insert may only extend the chain.

Migration 0002 refuses UPDATE and DELETE, but on SQLite ``INSERT OR REPLACE`` removes the row
it conflicts with *without* firing DELETE triggers (unless ``recursive_triggers`` is on), so an
entry could be replaced by new content and the chain after it recomputed. A ``BEFORE INSERT``
trigger now refuses every insert whose ``id`` is not the head's id + 1 (1 for the first) or
whose ``prev_hash`` is not the head's hash (64 zeros for the first): an insert can only add
the next link. Such a row conflicts with no stored row, so REPLACE has nothing to delete.

On PostgreSQL ``INSERT ... ON CONFLICT DO UPDATE`` already fires the UPDATE trigger and is
refused; the same guard is added there too (it is cheap: one index lookup per append), so a
gap, a second genesis or a fork is refused by the database on both engines, not only noticed
later by ``andon audit verify``.

The appending code (``AuditLog.append``) already writes exactly such rows, under its lock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-05-17
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Spelled out, not formatted in: the genesis hash (64 zeros) and the refusal message.
_SQLITE = [
    """CREATE TRIGGER audit_log_extend_only BEFORE INSERT ON audit_log
    WHEN NEW.id IS NOT COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1
      OR NEW.prev_hash IS NOT COALESCE(
           (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1),
           '0000000000000000000000000000000000000000000000000000000000000000')
    BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only: an insert must extend the chain');
    END""",
]

_POSTGRES = [
    """CREATE FUNCTION audit_log_extend_only() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        head_id bigint;
        head_hash text;
    BEGIN
        SELECT id, hash INTO head_id, head_hash FROM audit_log ORDER BY id DESC LIMIT 1;
        IF NEW.id IS DISTINCT FROM COALESCE(head_id, 0) + 1
           OR NEW.prev_hash IS DISTINCT FROM COALESCE(head_hash,
              '0000000000000000000000000000000000000000000000000000000000000000') THEN
            RAISE EXCEPTION 'audit_log is append-only: an insert must extend the chain'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER audit_log_extend_only BEFORE INSERT ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_extend_only()",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_extend_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_extend_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_extend_only")
