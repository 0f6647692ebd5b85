"""The historian's tables, as SQLAlchemy Core objects for the query code.

Time series live in one narrow table keyed by ``(tag_id, ts)``: the key is what makes a repeated
write change nothing. ``rollup_1m`` is kept at write time, from the rows a write really
inserted, so trends over months never touch raw samples. Rollups aggregate only samples of GOOD
quality (``quality >= 192``) whose value is a finite number (not NaN, not +-inf): a bad reading
must not move an average, and a trend read from rollups must equal one computed from the raw
samples. String values live beside their sample (whose value is NaN) in ``sample_text``.

Paths, assets and kinds are compared as index ranges (a subtree is ``>= "a/b/"`` and
``< "a/b0"``), which needs bytewise order: on PostgreSQL those columns are ``COLLATE "C"``
whatever the database's locale (SQLite always compares bytes).

The migrations under ``migrations/versions`` create the same tables; a test checks they agree.
"""

from __future__ import annotations

import sqlalchemy as sa

from andon.core.clock import NS_PER_MIN
from andon.core.quality import GOOD

ROLLUP_NS = NS_PER_MIN
"""Width of a ``rollup_1m`` bucket; buckets are aligned on the epoch (UTC)."""

ROLLUP_MIN_QUALITY = GOOD
"""Only samples with at least this quality enter the rollups (and the raw downsample path)."""

metadata = sa.MetaData()


def bytewise(length: int) -> sa.types.TypeEngine[str]:
    """A VARCHAR ordered byte by byte on every engine (``COLLATE "C"`` on PostgreSQL)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


tags = sa.Table(
    "tags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("path", bytewise(255), nullable=False, unique=True),
    sa.Column("unit", sa.String(32), nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("auto_created", sa.Boolean, nullable=False, server_default=sa.false()),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("tag_id", sa.Integer, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double, nullable=True),  # SQLite stores NaN as NULL
    sa.Column("quality", sa.SmallInteger, nullable=False),
    sa.PrimaryKeyConstraint("tag_id", "ts", name="pk_samples"),
    sqlite_with_rowid=False,
    postgresql_partition_by="RANGE (ts)",  # weekly partitions, made by the writer (partitions.py)
)

sample_text = sa.Table(
    "sample_text",
    metadata,
    sa.Column("tag_id", sa.Integer, nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("tag_id", "ts", name="pk_sample_text"),
    sqlite_with_rowid=False,
)

rollup_1m = sa.Table(
    "rollup_1m",
    metadata,
    sa.Column("tag_id", sa.Integer, nullable=False),
    sa.Column("bucket", sa.BigInteger, nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("sum", sa.Double, nullable=False),
    sa.Column("min", sa.Double, nullable=False),
    sa.Column("max", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("tag_id", "bucket", name="pk_rollup_1m"),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("asset", bytewise(255), nullable=False),
    sa.Column("kind", bytewise(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("digest", sa.String(32), nullable=False),
    # The identity of an event (a repeated write stores nothing); it also serves (asset, ts).
    sa.UniqueConstraint("asset", "ts", "kind", "digest", name="uq_events_identity"),
    sa.Index("ix_events_kind_ts", "kind", "ts"),
)

late_writes = sa.Table(
    "late_writes",
    metadata,
    # "sample <tag path>" or "event <asset path>": what was written late, and into which hour
    sa.Column("key", bytewise(300), nullable=False),
    sa.Column("bucket", sa.BigInteger, nullable=False),
    sa.Column("written_ns", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("key", "bucket", name="pk_late_writes"),
)

kept_results = sa.Table(
    "kept_results",
    metadata,
    sa.Column("asset", bytewise(255), nullable=False),
    sa.Column("kind", bytewise(64), nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("computed_ns", sa.BigInteger, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("asset", "kind", "start_ns", "end_ns", name="pk_kept_results"),
)
