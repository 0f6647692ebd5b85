"""The audit log: an append-only, hash-chained record of every write and every command.

``AuditLog(engine).record(...)`` appends; ``entries(...)`` reads; ``verify()`` proves the chain
untouched up to its head (see docs/SECURITY.md for what that does and does not prove).
"""

from andon.audit.chain import GENESIS, AuditEntry, AuditVerdict, canonical, entry_hash
from andon.audit.log import AuditLog, audit_log, metadata

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditVerdict",
    "audit_log",
    "canonical",
    "entry_hash",
    "metadata",
]
