"""Read ``plant.yaml`` and report every problem with its file, line and field.

PyYAML's composed node tree keeps the line of every key and value; pydantic's error locations
are looked up in it, so a person sees ``plant.yaml:42: areas[0].lines[1].machines[2].
ideal_cycle_time: must be greater than zero`` rather than a stack trace. Cross-references
pydantic cannot see (duplicate ids, routings naming unknown machines, state and counter tags
a machine does not declare, a bottleneck outside its line) are checked afterwards with the same
locator.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from datetime import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from andon.core.errors import ConfigError, Problem
from andon.plant.model import Machine, Plant

Loc = tuple[str | int, ...]


class _Locator:
    """Maps a location inside the document (keys and indexes) to a 1-based line number."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, loc: Loc) -> int | None:
        node = self.root
        if node is None:
            return None
        best = node.start_mark.line + 1
        for part in loc:
            child = self._child(node, part)
            if child is None:
                break
            key_node, node = child
            best = (key_node or node).start_mark.line + 1
        return best

    @staticmethod
    def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    return k, v
        if (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            return None, node.value[part]
        return None


def _field_name(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _duplicate_keys(
    node: yaml.Node | None, loc: Loc = (), seen_nodes: set[int] | None = None
) -> Iterator[tuple[Loc, int]]:
    # Aliases make the node tree a graph (possibly a cycle, possibly a "billion laughs"):
    # visit every node once.
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if node is None or id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = str(k.value)
            if key in seen:
                yield (*loc, key), k.start_mark.line + 1
            seen.add(key)
            yield from _duplicate_keys(v, (*loc, key), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _duplicate_keys(v, (*loc, i), seen_nodes)


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``loc`` (to suggest a field for a typo)."""
    model: Any = Plant
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return None
        ann = field.annotation
        model = None
        for candidate in (ann, *getattr(ann, "__args__", ())):
            for inner in (candidate, *getattr(candidate, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    model = inner
    return model if isinstance(model, type) else None


def _message(err: Any) -> str:
    kind = err["type"]
    loc: Loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        hint = ""
        if owner is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(owner.model_fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            hint += f" (allowed: {', '.join(owner.model_fields)})"
        return f"unknown field{hint}"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _pydantic_problems(exc: ValidationError, file: str, where: _Locator) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        problems.append(Problem(file, where.line(loc), _field_name(loc), _message(err)))
    return problems


def _reference_problems(plant: Plant, file: str, where: _Locator) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: Loc, message: str) -> None:
        problems.append(Problem(file, where.line(loc), _field_name(loc), message))

    def unique(items: Sequence[Any], loc: Loc, attr: str, what: str) -> None:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            key = getattr(item, attr)
            if key in seen:
                add((*loc, i, attr), f"duplicate {what} {key!r} (first at index {seen[key]})")
            seen.setdefault(key, i)

    unique(plant.products, ("products",), "id", "product id")
    unique(plant.areas, ("areas",), "id", "area id")
    unique(plant.calendar.shifts, ("calendar", "shifts"), "name", "shift name")
    for si, shift in enumerate(plant.calendar.shifts):
        for bi, br in enumerate(shift.breaks):
            if not _within(br.start, shift.start, shift.end):
                add(
                    ("calendar", "shifts", si, "breaks", bi, "start"),
                    f"break at {br.start:%H:%M} starts outside shift {shift.name!r} "
                    f"({shift.start:%H:%M}-{shift.end:%H:%M})",
                )
    products = {p.id for p in plant.products}
    all_machines: dict[str, Loc] = {}
    for ai, area in enumerate(plant.areas):
        unique(area.lines, ("areas", ai, "lines"), "id", "line id")
        for li, line in enumerate(area.lines):
            lloc: Loc = ("areas", ai, "lines", li)
            unique(line.machines, (*lloc, "machines"), "id", "machine id (duplicate tag paths)")
            ids = {m.id for m in line.machines}
            for mi, m in enumerate(line.machines):
                mloc: Loc = (*lloc, "machines", mi)
                all_machines.setdefault(m.id, mloc)
                unique(m.tags, (*mloc, "tags"), "name", "tag name (duplicate tag path)")
                for prod in m.cycle_times:
                    if prod not in products:
                        add((*mloc, "cycle_times", prod), f"unknown product {prod!r}")
                declared = {t.name for t in m.tags}
                meas = m.simulation.measurement
                if meas is not None and meas.tag not in declared:
                    add((*mloc, "simulation", "measurement", "tag"), f"no tag named {meas.tag!r}")
                for where_named, tag in m.tag_references():
                    if tag not in declared:
                        add((*mloc, *where_named), _undeclared(m, tag))
                for ti, t in enumerate(m.tags):
                    if t.low is not None and t.high is not None and t.low >= t.high:
                        add((*mloc, "tags", ti, "low"), "low limit must be below high limit")
            for bi, buf in enumerate(line.buffers):
                for end in ("upstream", "downstream"):
                    if getattr(buf, end) not in ids:
                        add(
                            (*lloc, "buffers", bi, end),
                            f"no machine {getattr(buf, end)!r} in line {line.id!r}",
                        )
            if line.bottleneck is not None and line.bottleneck not in ids:
                add(
                    (*lloc, "bottleneck"),
                    f"no machine {line.bottleneck!r} in line {line.id!r} "
                    f"(its machines: {', '.join(m.id for m in line.machines)})",
                )
            if line.type == "job_shop" and line.buffers:
                add((*lloc, "buffers"), "buffers belong to flow lines; a job shop has queues")
    for pi, product in enumerate(plant.products):
        for ri, mid in enumerate(product.routing):
            if mid not in all_machines:
                add(("products", pi, "routing", ri), f"no machine with id {mid!r}")
    problems.extend(_fault_problems(plant, file, where))
    return problems


def _fault_problems(plant: Plant, file: str, where: _Locator) -> list[Problem]:
    """Each injected data fault names a machine of the plant (by id, or by path when the id
    is not unique), one of its simulated tags, and a counter for a counter glitch."""
    problems: list[Problem] = []
    refs = plant.machines()
    for fi, fault in enumerate(plant.simulation.faults):
        floc: Loc = ("simulation", "faults", fi)

        def add(key: str, message: str, floc: Loc = floc) -> None:
            problems.append(
                Problem(file, where.line((*floc, key)), _field_name((*floc, key)), message)
            )

        found = [r for r in refs if fault.machine in (r.machine.id, r.path)]
        if not found:
            close = difflib.get_close_matches(fault.machine, [r.machine.id for r in refs], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            add("machine", f"no machine {fault.machine!r} in the plant{hint}")
            continue
        if len(found) > 1:
            add(
                "machine",
                f"{len(found)} machines have the id {fault.machine!r}; name one by its path "
                f"({', '.join(r.path for r in found)})",
            )
            continue
        machine = found[0].machine
        tag = next((t for t in machine.tags if t.name == fault.tag), None)
        if tag is None:
            add("tag", _undeclared(machine, fault.tag))
            continue
        if tag.source != "sim":
            add(
                "tag",
                f"tag {fault.tag!r} of {machine.id!r} comes from source {tag.source!r}, not the "
                "virtual plant: a fault cannot be injected into it",
            )
        counter = machine.counter.tag if machine.counter is not None else None
        if fault.kind == "counter_glitch" and tag.signal != "part_counter" and tag.name != counter:
            add("tag", f"a counter glitch needs a part counter; {fault.tag!r} is not one")
        if fault.span_fraction() is not None and (tag.low is None or tag.high is None):
            add(
                "size",
                f"a size as a share of the span needs the tag's low and high limits; "
                f"{fault.tag!r} lacks {'low' if tag.low is None else 'high'} "
                "(give the size in its unit instead)",
            )
    return problems


def _undeclared(machine: Machine, tag: str) -> str:
    """A tag that ``state:`` or ``counter:`` names but the machine does not declare: without
    it in ``tags:`` its path is unknown, and the state or count would silently be no data."""
    names = [t.name for t in machine.tags]
    close = difflib.get_close_matches(tag, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    declared = f"declared: {', '.join(names)}" if names else "it declares none"
    return f"machine {machine.id!r} does not declare tag {tag!r} in its tags: ({declared}){hint}"


def _within(t: time, start: time, end: time) -> bool:
    """Whether local time ``t`` falls in [start, end); an end at or before start wraps midnight."""
    return start <= t < end if start < end else (t >= start or t < end)


MAX_BYTES = 5_000_000


def parse_plant(text: str, file: str = "plant.yaml") -> Plant:
    """Validate a plant.yaml document; raise ConfigError listing every problem found."""
    if len(text) > MAX_BYTES:
        raise ConfigError([Problem(file, None, "", f"larger than {MAX_BYTES:,} bytes")])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(file, line, "", f"not valid YAML: {reason}")]) from None
    where = _Locator(root)
    problems = [
        Problem(file, line, _field_name(loc), "key appears twice; the first would be lost")
        for loc, line in _duplicate_keys(root)
    ]
    if not isinstance(data, dict):
        problems.append(Problem(file, 1, "", "expected a mapping with site, calendar and areas"))
        raise ConfigError(problems)
    try:
        plant = Plant.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, file, where))
        raise ConfigError(problems) from None
    problems.extend(_reference_problems(plant, file, where))
    if problems:
        raise ConfigError(problems)
    return plant


def load_plant(path: str | Path) -> Plant:
    """Read and validate a plant.yaml file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([Problem(str(p), None, "", f"cannot read: {reason}")]) from None
    return parse_plant(text, str(p))
