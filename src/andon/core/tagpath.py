"""Tag paths: the unified namespace that names one signal everywhere.

A tag path is ``[enterprise/]site/area/line/machine[/unit]/tag`` (ISA-95 levels): the last
segment is the tag, the rest its asset. Segments are lowercase ``[a-z0-9_-]``, never empty,
``.``, ``..`` or a wildcard, so the same string is a safe MQTT topic, URL part and file name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from andon.core.errors import InputError

SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
"""A path segment: starts with a letter or digit, so ``.``/``..``/``-x`` can never be one."""

MIN_SEGMENTS = 5  # site/area/line/machine/tag
MAX_SEGMENTS = 7  # enterprise/site/area/line/machine/unit/tag
MAX_LENGTH = 255


class TagPathError(InputError):
    """A string that is not a valid tag path or asset path."""


def check_segment(segment: str, *, what: str = "segment") -> str:
    """Return ``segment`` if it is a valid path segment, else raise with the reason."""
    if not segment:
        raise TagPathError(f"{what} is empty")
    if not SEGMENT.match(segment):
        raise TagPathError(
            f"{what} {segment!r} must be lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return segment


def _split(path: str, *, lo: int, hi: int, what: str) -> tuple[str, ...]:
    if not isinstance(path, str):
        raise TagPathError(f"{what} must be a string, got {type(path).__name__}")
    if len(path) > MAX_LENGTH:
        raise TagPathError(f"{what} {path[:40]!r}... is longer than {MAX_LENGTH} characters")
    parts = tuple(path.split("/"))
    if not lo <= len(parts) <= hi:
        raise TagPathError(
            f"{what} {path!r} has {len(parts)} segments; expected {lo} to {hi} "
            "(site/area/line/machine/tag; enterprise first and a unit before the tag are optional)"
        )
    for i, seg in enumerate(parts):
        try:
            check_segment(seg)
        except TagPathError as exc:
            raise TagPathError(f"{what} {path!r}, segment {i + 1}: {exc}") from None
    return parts


@dataclass(frozen=True, slots=True)
class TagPath:
    """A validated tag path; ``str(tag)`` gives it back as one string."""

    segments: tuple[str, ...]

    @classmethod
    def parse(cls, path: str) -> TagPath:
        return cls(_split(path, lo=MIN_SEGMENTS, hi=MAX_SEGMENTS, what="tag path"))

    @property
    def tag(self) -> str:
        """The signal's own name, e.g. ``spindle_speed``."""
        return self.segments[-1]

    @property
    def asset(self) -> str:
        """The path of the asset the signal belongs to, e.g. ``acme/machining/cell-1/mill-1``."""
        return "/".join(self.segments[:-1])

    def __str__(self) -> str:
        return "/".join(self.segments)


def tag_path(path: str) -> str:
    """Validate ``path`` as a tag path and return it unchanged (a cheap check for hot-ish paths)."""
    return str(TagPath.parse(path))


def asset_path(path: str) -> str:
    """Validate an asset path (site down to machine or unit: 1 to 6 segments)."""
    return "/".join(_split(path, lo=1, hi=MAX_SEGMENTS - 1, what="asset path"))


def join(*segments: str) -> str:
    """Join already-validated segments into a path."""
    return "/".join(segments)


def matches(pattern: str, path: str) -> bool:
    """MQTT-style match: ``+`` is one segment, a final ``#`` any number (including none)."""
    pat = pattern.split("/")
    parts = path.split("/")
    for i, p in enumerate(pat):
        if p == "#":
            return i == len(pat) - 1
        if i >= len(parts) or (p != "+" and p != parts[i]):
            return False
    return len(pat) == len(parts)
