"""Results kept for closed periods, and the journal of late writes that invalidates them.

``kept_results`` holds what rooms above compute from closed periods (a machine's OEE of a
shift) so that a month is not recomputed from raw samples on every question;
``late_writes`` notes, per tag or asset and hour, when data older than
``historian.kept.LATE_AFTER_NS`` was written, so a kept result computed before it is known to
be stale.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _bytewise(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "late_writes",
        sa.Column("key", _bytewise(300), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("written_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("key", "bucket", name="pk_late_writes"),
    )
    op.create_table(
        "kept_results",
        sa.Column("asset", _bytewise(255), nullable=False),
        sa.Column("kind", _bytewise(64), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("end_ns", sa.BigInteger, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("computed_ns", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("asset", "kind", "start_ns", "end_ns", name="pk_kept_results"),
    )


def downgrade() -> None:
    op.drop_table("kept_results")
    op.drop_table("late_writes")
