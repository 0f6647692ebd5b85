"""The plant as the API shows it: the asset tree and the andon board of machines.

The board reads only the historian's events, so it works for the virtual plant and for any
connector that reports ``state`` events (payload ``{state, previous, reason}``) and ``part``
events (payload ``{product, result: good|scrap|rework}``). A machine's current state is its
newest state event; its parts count from local midnight in the plant's time zone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from andon.api.schemas import AssetNode, Board, MachineOut, TagRef
from andon.core.clock import NS_PER_S, from_ns, iso, to_ns
from andon.core.machine_state import MachineState
from andon.historian import Historian, TagInfo
from andon.plant import Plant

LEVELS = ("enterprise", "site", "area", "line", "machine", "unit")


@dataclass(frozen=True, slots=True)
class MachineSlot:
    """Where a machine sits: its asset path, id, name, area and line."""

    path: str
    id: str
    name: str
    area: str
    line: str


def machine_slots(plant: Plant | None, tags: Sequence[TagInfo]) -> list[MachineSlot]:
    """The plant's machines; without a plant model, the assets that own stored tags."""
    if plant is not None:
        return [
            MachineSlot(r.path, r.machine.id, r.machine.name or r.machine.id, r.area.id, r.line.id)
            for r in plant.machines()
        ]
    assets = sorted({t.path.rsplit("/", 1)[0] for t in tags})
    out = []
    for path in assets:
        seg = path.split("/")
        out.append(MachineSlot(path, seg[-1], seg[-1], seg[-3], seg[-2]))
    return out


def day_start_ns(now: int, timezone: str) -> int:
    """Local midnight of ``now``'s day in ``timezone``, as UTC ns."""
    tz = ZoneInfo(timezone)
    local = from_ns(now).astimezone(tz)
    return to_ns(datetime.combine(local.date(), time(0), tzinfo=tz))


def board(historian: Historian, plant: Plant | None, now: int) -> Board:
    """Every machine's current state, time in state and parts since local midnight."""
    timezone = plant.calendar.timezone if plant is not None else "UTC"
    slots = machine_slots(plant, historian.tags() if plant is None else [])
    root = plant.root if plant is not None else None
    midnight = day_start_ns(now, timezone)
    states = historian.newest_events([s.path for s in slots], "state")
    parts = _parts(historian.count_events(root, "part", "result", midnight, None))
    machines = []
    for slot in slots:
        last = states.get(slot.path)
        state = str(last.payload.get("state")) if last is not None else None
        reason = last.payload.get("reason") if last is not None else None
        counts = parts.get(slot.path, Counter())
        machines.append(
            MachineOut(
                path=slot.path,
                id=slot.id,
                name=slot.name,
                area=slot.area,
                line=slot.line,
                state=state,
                category=_category(state),
                since=iso(last.ts) if last is not None else None,
                seconds_in_state=max(0, now - last.ts) / NS_PER_S if last is not None else None,
                reason=str(reason) if reason is not None else None,
                good=counts["good"],
                scrap=counts["scrap"],
                rework=counts["rework"],
            )
        )
    return Board(as_of=iso(now), day_start=iso(midnight), machines=machines)


def _category(state: str | None) -> str | None:
    if state is None:
        return None
    try:
        return MachineState.from_label(state).category
    except ValueError:
        return None


def _parts(counts: dict[tuple[str, object], int]) -> dict[str, Counter[str]]:
    """Parts per machine and result (a part event without a result is a good part)."""
    out: dict[str, Counter[str]] = {}
    for (asset, result), n in counts.items():
        out.setdefault(asset, Counter())["good" if result is None else str(result)] += n
    return out


# ---------------------------------------------------------------- the asset tree


def asset_tree(plant: Plant | None, tags: Sequence[TagInfo]) -> list[AssetNode]:
    """Sites, areas, lines and machines with their tags: from the plant model when there is
    one (names and all), else from the stored tag paths."""
    if plant is not None:
        return [_plant_tree(plant, {t.path: t for t in tags})]
    return _path_tree(tags)


def _plant_tree(plant: Plant, stored: dict[str, TagInfo]) -> AssetNode:
    site = AssetNode(id=plant.site, path=plant.root, level="site", name=plant.name or plant.site)
    for area in plant.areas:
        a = AssetNode(
            id=area.id, path=f"{plant.root}/{area.id}", level="area", name=area.name or area.id
        )
        site.children.append(a)
        for line in area.lines:
            ln = AssetNode(id=line.id, path=f"{a.path}/{line.id}", level="line", name=line.name)
            ln.name = ln.name or line.id
            a.children.append(ln)
            for m in line.machines:
                path = f"{ln.path}/{m.id}"
                node = AssetNode(id=m.id, path=path, level="machine", name=m.name or m.id)
                node.tags = [
                    TagRef(
                        path=f"{path}/{t.name}",
                        name=t.name,
                        unit=t.unit,
                        description=t.description,
                    )
                    for t in m.tags
                ]
                ln.children.append(node)
    known = {t.path for n in _walk(site) for t in n.tags}
    extra = [t for p, t in stored.items() if p not in known and p.startswith(plant.root + "/")]
    if extra:  # tags ingested without being configured still show up
        site.children.extend(_path_tree(extra, strip=plant.root))
    return site


def _walk(node: AssetNode) -> Iterable[AssetNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _path_tree(tags: Sequence[TagInfo], strip: str = "") -> list[AssetNode]:
    roots: dict[str, AssetNode] = {}
    index: dict[str, AssetNode] = {}
    for t in sorted(tags, key=lambda t: t.path):
        asset, name = t.path.rsplit("/", 1)
        seg = asset.split("/")
        levels = LEVELS[1:] if len(seg) <= 5 else LEVELS
        path = ""
        parent: AssetNode | None = None
        for depth, s in enumerate(seg):
            path = f"{path}/{s}" if path else s
            node = index.get(path)
            if node is None:
                level = levels[depth] if depth < len(levels) else "unit"
                node = AssetNode(id=s, path=path, level=level, name=s)
                index[path] = node
                if parent is None:
                    roots[path] = node
                else:
                    parent.children.append(node)
            parent = node
        assert parent is not None
        parent.tags.append(TagRef(path=t.path, name=name, unit=t.unit, description=t.description))
    if strip and strip in index:
        return index[strip].children
    return list(roots.values())
