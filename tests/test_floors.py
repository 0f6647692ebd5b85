"""The house rule of DESIGN.md: a room imports only from the floors below it (or itself)."""

import ast
from pathlib import Path

import pytest

import andon

SRC = Path(andon.__file__).parent

FLOORS = {
    "core": 1,
    "plant": 2,
    "historian": 2,
    "connect": 2,
    "state": 3,
    "kpi": 3,
    "condition": 3,
    "rules": 3,
    "twin": 3,
    "schedule": 3,
    "quality": 3,
    "datahealth": 3,
    "identity": 3,
    "audit": 3,
    "maintenance": 4,
    "sim": 4,
    "pipeline": 4,
    "api": 5,
    "web": 6,
    "cli": 6,
}
# (importer, imported) on one floor: identity records its own changes in the audit log; the
# command line installs the dashboard's pages into the app it serves; connectors read their
# configuration (plant.yaml `sources:`) from the plant model; the KPIs compute on the state
# histories and parts that state derivation produces.
SAME_FLOOR_ALLOWED = {("identity", "audit"), ("cli", "web"), ("connect", "plant"), ("kpi", "state")}


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "andon" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_every_room_has_a_floor():
    rooms = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in MODULES}
    rooms -= {"__init__", "__main__"}
    assert rooms <= set(FLOORS), rooms - set(FLOORS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_import_runs_up_a_floor_or_sideways(path):
    rel = path.relative_to(SRC).parts
    mine = rel[0].removesuffix(".py")
    if mine not in FLOORS:
        return
    for module in imports_of(path):
        other = room_of(module)
        if other is None or other == mine or other not in FLOORS:
            continue
        assert FLOORS[other] < FLOORS[mine] or (mine, other) in SAME_FLOOR_ALLOWED, (
            f"{'/'.join(rel)} (floor {FLOORS[mine]}) imports {module} (floor {FLOORS[other]})"
        )
