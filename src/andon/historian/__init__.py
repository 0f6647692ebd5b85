"""The historian: stores Batches and Events, answers range, latest, downsample and export.

SQLite (one file, WAL) by default, PostgreSQL for a plant; the same code and schema on both,
each written to on its fastest path. Open one with ``open_historian``.
"""

from andon.historian.catalog import TagSpec
from andon.historian.engine import ENV_VAR, resolve_url
from andon.historian.historian import Historian, open_historian
from andon.historian.query import MAX_RAW_POINTS
from andon.historian.results import Agg, Buckets, Sample, Series, TagInfo
from andon.historian.schema import ROLLUP_MIN_QUALITY, ROLLUP_NS

__all__ = [
    "ENV_VAR",
    "MAX_RAW_POINTS",
    "ROLLUP_MIN_QUALITY",
    "ROLLUP_NS",
    "Agg",
    "Buckets",
    "Historian",
    "Sample",
    "Series",
    "TagInfo",
    "TagSpec",
    "open_historian",
    "resolve_url",
]
