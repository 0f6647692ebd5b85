"""Who is asking, and may they: users, roles, logins, web sessions and API tokens.

``Identity(engine)`` is the one entry point; ``PERMISSIONS`` is the written role table that
docs/SECURITY.md prints. Floor 3: no HTTP here; the API turns these answers into 401/403.
"""

from andon.identity.accounts import Identity, UserInfo
from andon.identity.errors import (
    HashingBusy,
    IdentityError,
    InvalidCredentials,
    LoginFailed,
    LoginThrottled,
)
from andon.identity.passwords import production_hasher
from andon.identity.roles import PERMISSIONS, Permission, Principal, Role, parse_role
from andon.identity.schema import metadata
from andon.identity.sessions import WebSession
from andon.identity.tokens import TokenInfo

__all__ = [
    "PERMISSIONS",
    "HashingBusy",
    "Identity",
    "IdentityError",
    "InvalidCredentials",
    "LoginFailed",
    "LoginThrottled",
    "Permission",
    "Principal",
    "Role",
    "TokenInfo",
    "UserInfo",
    "WebSession",
    "metadata",
    "parse_role",
    "production_hasher",
]
