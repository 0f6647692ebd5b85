"""What historian queries return: numpy columns in small frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from andon.core.batch import F64, I64, U8

Agg = Literal["avg", "min", "max", "count", "sum"]


@dataclass(frozen=True, eq=False)
class Series:
    """Raw samples of one tag, ordered by time.

    ``text`` holds the string-valued samples as ``(row, text)`` pairs, rows ascending; the
    ``value`` of such a row is NaN.
    """

    tag: str
    ts: I64
    value: F64
    quality: U8
    text: tuple[tuple[int, str], ...] = ()

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, eq=False)
class Buckets:
    """A downsampled tag: one entry per epoch-aligned bucket holding at least one good sample.

    ``bucket`` is each bucket's start (UTC ns); buckets without a good sample are left out.
    """

    tag: str
    every_ns: int
    bucket: I64
    count: I64
    sum: F64
    min: F64
    max: F64

    def __len__(self) -> int:
        return len(self.bucket)

    @property
    def avg(self) -> F64:
        return self.sum / self.count

    def series(self, agg: Agg) -> F64 | I64:
        """One aggregate by name: ``avg``, ``min``, ``max``, ``count`` or ``sum``."""
        if agg == "avg":
            return self.avg
        out: F64 | I64 = getattr(self, agg)
        return out


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored sample (the answer to ``latest``)."""

    tag: str
    ts: int
    value: float
    quality: int


@dataclass(frozen=True, slots=True)
class TagInfo:
    """A tag with its configuration and, when it has samples, its first and last time.

    ``count`` is the number of stored samples, filled only when asked for (it reads the tag's
    whole index range).
    """

    path: str
    unit: str | None
    description: str
    source: str
    auto_created: bool
    created_ns: int
    first_ns: int | None
    last_ns: int | None
    count: int | None = None
