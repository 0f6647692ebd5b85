"""Who may do what: the five roles, the permissions, and the written table between them.

Roles are cumulative, each adding to the one below it, because that is how a plant staffs a
line: whoever may stop a machine may also look at it. The table here is the single source of
truth; docs/SECURITY.md prints it and a test checks the two agree.

A :class:`Principal` is whoever is acting (a person logged in, an integration's API token, or
someone at the server's own command line) with the roles they act under. ``can`` is the one
question the API asks before every route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from andon.core.errors import InputError


class Role(StrEnum):
    """A user's (or a token's) role, from least to most trusted."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    MAINTENANCE = "maintenance"
    ENGINEER = "engineer"
    ADMIN = "admin"


class Permission(StrEnum):
    """One kind of action the API guards."""

    READ = "read"
    """See the plant, tags, history, events, the board and one's own account."""
    ACK_ALARM = "ack_alarm"
    ENTER_DOWNTIME_REASON = "enter_downtime_reason"
    MANAGE_WORK_ORDERS = "manage_work_orders"
    EDIT_RULES = "edit_rules"
    WRITE_DATA = "write_data"
    """Ingest or import samples and events through the API."""
    SEND_COMMAND = "send_command"
    """Write a value to a machine: the one action that can move steel."""
    MANAGE_USERS = "manage_users"
    """Users and API tokens."""
    READ_AUDIT = "read_audit"


_VIEWER = frozenset({Permission.READ})
_OPERATOR = _VIEWER | {Permission.ACK_ALARM, Permission.ENTER_DOWNTIME_REASON}
_MAINTENANCE = _OPERATOR | {Permission.MANAGE_WORK_ORDERS}
_ENGINEER = _MAINTENANCE | {Permission.EDIT_RULES, Permission.WRITE_DATA, Permission.SEND_COMMAND}
_ADMIN = frozenset(Permission)

PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.VIEWER: _VIEWER,
        Role.OPERATOR: _OPERATOR,
        Role.MAINTENANCE: _MAINTENANCE,
        Role.ENGINEER: _ENGINEER,
        Role.ADMIN: _ADMIN,
    }
)
"""The permission table: what each role may do (read-only)."""

PrincipalKind = Literal["user", "token", "cli"]


@dataclass(frozen=True)
class Principal:
    """Whoever is acting, with the roles they act under.

    ``name`` is a user name, a token's integration name, or ``cli:<os user>``; ``token_id``
    is set for tokens only, so two tokens of one integration stay apart in the audit log.
    """

    name: str
    roles: frozenset[Role]
    kind: PrincipalKind
    token_id: int | None = None

    def can(self, permission: Permission) -> bool:
        """True if any of the principal's roles grants ``permission``."""
        return any(permission in PERMISSIONS[role] for role in self.roles)

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``user:ann``, ``token:scada#3``, ``cli:ann``."""
        if self.kind == "token":
            return f"token:{self.name}#{self.token_id}"
        if self.kind == "cli":
            return self.name if self.name.startswith("cli:") else f"cli:{self.name}"
        return f"user:{self.name}"


def parse_role(text: str) -> Role:
    """A role from its name, or an error that lists the roles there are."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InputError(f"unknown role {text!r}; expected one of {known}") from None
