"""Sample quality codes, one byte per sample (the OPC DA quality byte's main classes).

OPC UA status codes and Sparkplug's stale flag map onto these three classes at the connector,
so every room downstream reasons about one small vocabulary.
"""

from __future__ import annotations

from enum import IntEnum


class Quality(IntEnum):
    BAD = 0
    UNCERTAIN = 64
    GOOD = 192


GOOD = int(Quality.GOOD)
UNCERTAIN = int(Quality.UNCERTAIN)
BAD = int(Quality.BAD)


def is_good(code: int) -> bool:
    """Good quality: the sample may be used in aggregates and KPIs."""
    return code >= GOOD
