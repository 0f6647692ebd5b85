"""The words every room speaks: tag paths, Batch, Event, quality, time and the error tree."""

from andon.core.batch import Batch
from andon.core.clock import NS_PER_S, iso, now_ns, parse_duration, parse_time
from andon.core.errors import (
    AndonError,
    ConfigError,
    DatabaseUnavailable,
    InputError,
    Problem,
    StorageError,
    UnknownTagError,
)
from andon.core.event import Event
from andon.core.machine_state import MachineState
from andon.core.quality import BAD, GOOD, UNCERTAIN, Quality
from andon.core.tagpath import TagPath, TagPathError, asset_path, matches, tag_path

__all__ = [
    "BAD",
    "GOOD",
    "NS_PER_S",
    "UNCERTAIN",
    "AndonError",
    "Batch",
    "ConfigError",
    "DatabaseUnavailable",
    "Event",
    "InputError",
    "MachineState",
    "Problem",
    "Quality",
    "StorageError",
    "TagPath",
    "TagPathError",
    "UnknownTagError",
    "asset_path",
    "iso",
    "matches",
    "now_ns",
    "parse_duration",
    "parse_time",
    "tag_path",
]
