"""The error tree every room raises into, so the boundary (CLI, API) can translate it.

    AndonError                 anything andon reports to a person
    ├── ConfigError            a plant.yaml (or other configuration) is wrong; carries every problem
    ├── InputError             a value a person typed or sent is wrong (time, tag, range, format)
    │   └── UnknownTagError    a tag path that the historian has never seen
    └── StorageError           the historian cannot do its job
        └── DatabaseUnavailable  the database cannot be reached or opened

Lower-level exceptions (SQLAlchemy, YAML, pydantic) are caught where they happen and re-raised
as one of these with ``raise ... from exc``, so no traceback reaches a user for a user mistake.
"""

from __future__ import annotations

from dataclasses import dataclass


class AndonError(Exception):
    """Base of every error andon reports to a person."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file: where it is and what was expected."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(AndonError):
    """A configuration file is wrong; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InputError(AndonError):
    """A value given by a person or a client is wrong; the message says what was expected."""


class UnknownTagError(InputError):
    """A tag path the historian has never stored."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"unknown tag {path!r}: it has never been stored (see `andon history tags`)"
        )


class StorageError(AndonError):
    """The historian could not read or write."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or opened."""
