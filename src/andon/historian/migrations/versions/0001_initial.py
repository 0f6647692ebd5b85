"""The initial historian schema: tags, samples, sample_text, rollup_1m, events.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _bytewise(length: int) -> sa.types.TypeEngine[str]:
    # COLLATE "C" on PostgreSQL: prefix ranges on these columns assume bytewise order
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", _bytewise(255), nullable=False, unique=True),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("auto_created", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "samples",
        sa.Column("tag_id", sa.Integer, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("quality", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("tag_id", "ts", name="pk_samples"),
        sqlite_with_rowid=False,
        postgresql_partition_by="RANGE (ts)",  # weekly partitions, made by the writer
    )
    op.create_table(
        "sample_text",
        sa.Column("tag_id", sa.Integer, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tag_id", "ts", name="pk_sample_text"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_1m",
        sa.Column("tag_id", sa.Integer, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("min", sa.Double, nullable=False),
        sa.Column("max", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("tag_id", "bucket", name="pk_rollup_1m"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("asset", _bytewise(255), nullable=False),
        sa.Column("kind", _bytewise(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.UniqueConstraint("asset", "ts", "kind", "digest", name="uq_events_identity"),
    )
    op.create_index("ix_events_kind_ts", "events", ["kind", "ts"])


def downgrade() -> None:
    op.drop_index("ix_events_kind_ts", table_name="events")
    op.drop_table("events")
    op.drop_table("rollup_1m")
    op.drop_table("sample_text")
    op.drop_table("samples")
    op.drop_table("tags")
