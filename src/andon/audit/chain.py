"""The hash chain itself: what one audit entry is, and how its hash is computed.

Each entry's hash is SHA-256 over a canonical JSON of every field that matters (id, time,
actor, source, category, action, target, result, details) and the previous entry's hash, so
changing, removing or reordering any stored entry changes a hash the next entry depends on.
The first entry's ``prev_hash`` is :data:`GENESIS` (64 zeros).

Canonical JSON means: keys sorted, no spaces, ASCII only (every other character as a
``\\uXXXX`` escape, so no encoding or normalisation can change the bytes), no NaN or
infinity. ``details`` are canonicalised once, when recorded (JSON turns tuples into lists and
int keys into strings), and the hash is computed over that canonical form, so the stored text
hashes to the same value on every machine and in every later release: the format here is a
contract, never change it.

The fields are those IEC 62443-4-2 CR 2.8 asks of an audit record: time (UTC ns), source,
category, type (``action``), event id (``id``) and result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from andon.core.errors import InputError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""

Result = Literal["ok", "denied", "failed"]
RESULTS: frozenset[str] = frozenset({"ok", "denied", "failed"})

MAX_DETAILS_CHARS = 16_384
"""Details longer than this (as canonical JSON) are cut: an audit write must never fail for size."""

LIMITS = {"actor": 200, "source": 200, "category": 64, "action": 64, "target": 255}
"""Column widths; longer values are shortened (with a trailing ``…``) before hashing."""


@dataclass(frozen=True)
class AuditEntry:
    """One record of the audit log, as stored; ``hash`` seals every other field."""

    id: int
    ts_ns: int
    actor: str
    source: str
    category: str
    action: str
    target: str
    result: Result
    details: Mapping[str, Any] = field(hash=False)
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerdict:
    """What :meth:`AuditLog.verify` found: ``ok``, or the first bad entry and why."""

    ok: bool
    entries: int
    head_hash: str
    first_bad_id: int | None = None
    reason: str = ""
    head_id: int = 0


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, ASCII (``\\u`` escapes), no NaN/inf."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(f"audit details must be plain JSON (no NaN, no objects): {err}") from None


def storable(value: str) -> str:
    """``value`` with what no database column can hold replaced by U+FFFD.

    NUL characters (PostgreSQL text refuses them) and lone surrogates (not encodable as UTF-8)
    arrive easily in a hostile login name; they must not turn an audit write into a crash.
    """
    return _UNSTORABLE.sub("\ufffd", value)


def shorten(value: str, limit: int) -> str:
    """``value`` made storable and cut to ``limit`` characters, marked with ``…`` when cut."""
    value = storable(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def canonical_details(details: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The stored text of ``details`` and the dict it parses back to (what is hashed)."""
    text = canonical(dict(details or {}))
    if len(text) > MAX_DETAILS_CHARS:
        text = canonical({"truncated": text[:1000], "chars": len(text)})
    return text, cast(dict[str, Any], json.loads(text))


def entry_hash(
    *,
    id: int,
    ts_ns: int,
    actor: str,
    source: str,
    category: str,
    action: str,
    target: str,
    result: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of one entry's fields and its predecessor's hash."""
    body = {
        "id": id,
        "ts_ns": ts_ns,
        "actor": actor,
        "source": source,
        "category": category,
        "action": action,
        "target": target,
        "result": result,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body).encode("ascii")).hexdigest()


def seal(entry: AuditEntry) -> str:
    """The hash ``entry`` should carry, recomputed from its other fields."""
    return entry_hash(
        id=entry.id,
        ts_ns=entry.ts_ns,
        actor=entry.actor,
        source=entry.source,
        category=entry.category,
        action=entry.action,
        target=entry.target,
        result=entry.result,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )
