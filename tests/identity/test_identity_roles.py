"""The permission table, principals, and docs/SECURITY.md agreeing with both."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import andon.audit
import andon.identity
from andon.core.errors import InputError
from andon.identity import PERMISSIONS, Permission, Principal, Role, parse_role

DOCS = Path(__file__).resolve().parents[2] / "docs" / "SECURITY.md"


def test_roles_are_cumulative_and_admin_may_do_everything() -> None:
    order = list(Role)
    for lower, higher in itertools.pairwise(order):
        assert PERMISSIONS[lower] < PERMISSIONS[higher]
    assert PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    assert PERMISSIONS[Role.VIEWER] == {Permission.READ}
    assert Permission.SEND_COMMAND not in PERMISSIONS[Role.MAINTENANCE]
    assert Permission.MANAGE_USERS not in PERMISSIONS[Role.ENGINEER]
    with pytest.raises(TypeError):
        PERMISSIONS[Role.VIEWER] = frozenset(Permission)  # type: ignore[index]


def test_a_principal_can_what_any_of_its_roles_can() -> None:
    token = Principal("scada", frozenset({Role.VIEWER, Role.OPERATOR}), "token", token_id=3)
    assert token.can(Permission.ACK_ALARM) and not token.can(Permission.SEND_COMMAND)
    assert not Principal("nobody", frozenset(), "user").can(Permission.READ)
    assert token.actor == "token:scada#3"
    assert Principal("ann", frozenset(), "user").actor == "user:ann"
    assert Principal("cli:ann", frozenset({Role.ADMIN}), "cli").actor == "cli:ann"


def test_parse_role_names_the_choices() -> None:
    assert parse_role(" Admin ") is Role.ADMIN
    with pytest.raises(InputError, match="viewer, operator, maintenance, engineer, admin"):
        parse_role("boss")


def _docs_table() -> dict[str, dict[str, bool]]:
    """The roles x permissions table in docs/SECURITY.md, as {permission: {role: allowed}}."""
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| permission |"))
    header = [c.strip().strip("`") for c in lines[start].strip("|").split("|")]
    table: dict[str, dict[str, bool]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        allowed = {role: cell == "✓" for role, cell in zip(header[1:], cells[1:], strict=True)}
        table[cells[0].strip("`")] = allowed
    return table


def test_the_table_in_docs_security_matches_permissions() -> None:
    expected = {p.value: {r.value: p in PERMISSIONS[r] for r in Role} for p in Permission}
    assert _docs_table() == expected


@pytest.mark.parametrize("module", [andon.identity, andon.audit])
def test_the_public_surface_is_deliberate(module: object) -> None:
    public = {n for n in vars(module) if not n.startswith("_") and n != "annotations"}
    exported = set(module.__all__)  # type: ignore[attr-defined]
    assert exported <= public
    submodules = {n for n in public if type(vars(module)[n]).__name__ == "module"}
    assert public - submodules == exported
