"""Plant-model readiness: which ISO 22400 KPIs and analyses each machine's data supports today,
and what every other one is missing — the phased roll-out list ("start where the data is good
and the payoff high").

An input is there when plant.yaml declares it **and** its data arrives: a declared tag that
never received a sample, or none within ``RECENT_S`` (a day) of now, is named as missing, like
a tag that is not declared at all. The inputs are those the KPI room reads (re-derived here
from the plant model, since ``datahealth`` sits on the KPIs' floor and may not import them):

- **state signal** (PBT split into APT, AUST, ADET, ADOT): the ``state:`` tag, else the tag
  with ``signal: state_code``, else every tag the ``state:`` rules read;
- **ideal cycle time** (PRI): ``ideal_cycle_time``;
- **part counts** (PQ): recent ``part`` events, else the ``counter:`` tag or the tag with
  ``signal: part_counter``;
- **quality data** (GQ, SQ, RQ): recent part events with a ``result``, or operators' scrap or
  rework entries;
- **order numbers** (AOET): recent part events with an ``order``;
- **energy meter**: a tag with ``signal: power`` or named ``power``;
- **bearing analysis**: the machine's ``bearing:`` geometry, its shaft speed
  (``simulation.nominal_rpm``, else the ``high:`` of its rpm tag: the fastest it turns) and a
  vibration tag sampled at least twice as fast as the bearing's highest defect frequency at
  that speed (Nyquist; frequencies as REFERENCE.md gives them).

**Ranking** (``readiness``): machines that can have OEE today first, then by data-quality
score (the mean of the machine's daily scores from ``check_range`` over the last day, highest
first; a machine without one last), then by how many KPIs and analyses are ready, then in
plant.yaml order. OEE is the payoff a plant starts with; among machines that can have it, the
cleanest data goes first, since a KPI is only as good as its data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from andon.core.clock import NS_PER_S, iso
from andon.core.event import Event
from andon.datahealth.scan import Report, check_range
from andon.historian import Historian
from andon.historian.results import TagInfo
from andon.plant import MachineRef, Plant, Tag

RECENT_S = 86400
"""An input counts as there today when its newest sample or event is at most a day old."""
PART = "part"
ENTRY = "production.entry"
"""Operators' production entries (good, scrap or rework parts), as ``state.reasons`` writes."""

STATE = "state"
IDEAL = "ideal"
PARTS = "parts"
QUALITY = "quality"
ORDERS = "orders"
ENERGY = "energy"
PERSONNEL = "personnel"
MAINTENANCE = "maintenance"
VIBRATION = "vibration"
BEARING = "bearing"
MEASUREMENT = "measurement"

KPI_NEEDS: dict[str, tuple[str, ...]] = {
    "Worker efficiency": (PERSONNEL,),
    "Allocation ratio": (STATE, ORDERS),
    "Throughput rate": (PARTS, ORDERS),
    "Allocation efficiency": (STATE,),
    "Utilization efficiency": (STATE,),
    "Overall equipment effectiveness index (OEE)": (STATE, IDEAL, PARTS, QUALITY),
    "Net equipment effectiveness index (NEE)": (STATE, IDEAL, PARTS, QUALITY),
    "Availability": (STATE,),
    "Effectiveness": (STATE, IDEAL, PARTS),
    "Quality ratio": (PARTS, QUALITY),
    "Setup rate": (STATE,),
    "Technical efficiency": (STATE,),
    "Production process ratio": (STATE, ORDERS),
    "Scrap ratio": (PARTS, QUALITY),
    "Rework ratio": (PARTS, QUALITY),
    "First pass yield": (PARTS, QUALITY),
    "Mean operating time between failures (MTBF)": (STATE,),
    "Mean time to failure (MTTF)": (STATE,),
    "Mean time to repair (MTTR)": (STATE,),
    "Corrective maintenance ratio": (MAINTENANCE,),
    "Comprehensive energy consumption": (ENERGY, PARTS),
}
"""Every ISO 22400-2 KPI andon computes, in its order, with the inputs it needs. This mirrors
``kpi/iso22400.py`` (``iso22400``'s names and formulas); a test holds the names equal."""
OEE = "Overall equipment effectiveness index (OEE)"

ANALYSES: dict[str, tuple[str, ...]] = {
    "Stop reasons (Pareto)": (STATE,),
    "Energy per machine state": (ENERGY, STATE),
    "Vibration trend (ISO 10816-3 zones)": (VIBRATION,),
    "Bearing defect frequencies (envelope analysis)": (BEARING,),
    "SPC of part measurements": (MEASUREMENT,),
}
"""The analyses beyond the KPIs, with the inputs they need."""

NO_STATE = "a state signal (no state-code tag and no state rules)"
NO_IDEAL = "an ideal cycle time (no ideal_cycle_time)"
NO_PARTS = "part counts (no part counter and no part events)"
NO_QUALITY = "quality data (no part results and no scrap or rework entries)"
NO_ORDERS = "order numbers (no part events with an order)"
NO_ENERGY = "an energy meter (no power tag)"
NO_PERSONNEL = "APWT and APAT (personnel work and attendance time), which andon does not record"
NO_MAINTENANCE = (
    "CMT and PMT (corrective and preventive maintenance time), which andon does not record"
)
NO_VIBRATION = "a vibration sensor (no vibration tag)"
NO_BEARING = "no bearing geometry (no bearing: in plant.yaml)"
NO_SPEED = "the shaft speed (no simulation nominal_rpm and no rpm tag with high:)"
NO_VIBRATION_RATE = "the vibration sampling rate (no vibration tag with an interval)"
NO_MEASUREMENT = "per-part measurements (no tag with signal: measurement)"
VIBRATION_UNITS = frozenset({"mm/s", "in/s", "m/s2", "m/s^2", "m/s²"})


@dataclass(frozen=True)
class Missing:
    """A KPI or analysis the machine cannot have today, and each input it lacks."""

    kpi: str
    needs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kpi": self.kpi, "needs": list(self.needs)}


@dataclass(frozen=True)
class MachineReadiness:
    """One machine: what its data supports today, what the rest lack, its data score."""

    machine: str
    name: str
    ready: list[str]
    missing: list[Missing]
    score: float | None = None
    """Mean daily data-quality score over the last day (None: not scored, or no tags)."""

    @property
    def oee_today(self) -> bool:
        return OEE in self.ready

    @property
    def verdict(self) -> str:
        if self.oee_today:
            return "OEE today: yes"
        needs = next(m.needs for m in self.missing if m.kpi == OEE)
        return f"OEE today: no ({'; '.join(needs)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "name": self.name,
            "oee_today": self.oee_today,
            "verdict": self.verdict,
            "score": self.score,
            "ready": list(self.ready),
            "missing": [m.to_dict() for m in self.missing],
        }


def readiness(
    plant: Plant,
    historian: Historian,
    now_ns: int,
    *,
    scored: bool = True,
    report: Report | None = None,
) -> list[MachineReadiness]:
    """Every machine's readiness, ranked as the module docstring says. ``scored``: with the
    data-quality score of the last day (which reads a day of every tag), or of ``report`` when
    one is given (a page that has checked a range already)."""
    seen = {t.path: t for t in historian.tags(plant.root + "/#")}
    refs = plant.machines()
    paths = [r.path for r in refs]
    parts = historian.newest_events(paths, PART)
    judged = {
        asset
        for (asset, result), n in historian.count_events(plant.root, ENTRY, "result").items()
        if result in ("scrap", "rework") and n > 0
    }
    scores: dict[str, float] = {}
    if scored and report is None:
        report = check_range(plant, historian, None, now_ns - RECENT_S * NS_PER_S, now_ns, now_ns)
    if scored and report is not None:
        scores = {m: round(sum(d.values()) / len(d), 1) for m, d in report.machines.items() if d}
    found: list[MachineReadiness] = []
    for ref in refs:
        newest = parts.get(ref.path)
        inputs = _inputs(ref, seen, newest, ref.path in judged, now_ns)
        ready: list[str] = []
        missing: list[Missing] = []
        for name, needs in (*KPI_NEEDS.items(), *ANALYSES.items()):
            lacking = [p for key in needs for p in inputs[key]]
            if lacking:
                missing.append(Missing(name, list(dict.fromkeys(lacking))))
            else:
                ready.append(name)
        found.append(
            MachineReadiness(ref.path, ref.machine.id, ready, missing, scores.get(ref.path))
        )
    order = {p: i for i, p in enumerate(paths)}
    found.sort(
        key=lambda r: (
            not r.oee_today,
            r.score is None,
            -(r.score or 0.0),
            -len(r.ready),
            order[r.machine],
        )
    )
    return found


def _inputs(
    ref: MachineRef,
    seen: dict[str, TagInfo],
    newest_part: Event | None,
    scrap_entered: bool,
    now_ns: int,
) -> dict[str, list[str]]:
    """Each input's problems on this machine (an empty list: the input is there)."""
    m = ref.machine
    recent = now_ns - RECENT_S * NS_PER_S

    def data(tag: Tag) -> list[str]:
        return _tag_problem(ref, tag, seen, recent)

    by_name = {t.name: t for t in m.tags}
    part_ts = None if newest_part is None else int(newest_part.ts)
    payload: dict[str, Any] = {} if newest_part is None else dict(newest_part.payload)
    parts_fresh = part_ts is not None and part_ts >= recent
    stale_parts = (
        [f"recent part events (the newest is from {iso(part_ts)}, none in the last day)"]
        if part_ts is not None and not parts_fresh
        else []
    )

    state = _state_tags(ref)
    state_problems = [NO_STATE] if state is None else [p for n in state for p in data(by_name[n])]

    counter = _counter_tag(ref)
    if parts_fresh:
        part_problems: list[str] = []
    elif counter is not None:
        part_problems = data(by_name[counter])
    else:
        part_problems = stale_parts or [NO_PARTS]

    if scrap_entered or (parts_fresh and "result" in payload):
        quality: list[str] = []
    else:
        quality = stale_parts if "result" in payload else [NO_QUALITY]

    orders = [] if parts_fresh and payload.get("order") else [NO_ORDERS]

    power = next((t for t in m.tags if t.signal == "power" or t.name == "power"), None)
    energy = [NO_ENERGY] if power is None else data(power)

    vib = [t for t in m.tags if _is_vibration(t)]
    vibration = [NO_VIBRATION] if not vib else _first_ok([data(t) for t in vib])

    measured = [t for t in m.tags if t.signal == "measurement"]
    if m.simulation.measurement is not None and m.simulation.measurement.tag in by_name:
        measured.append(by_name[m.simulation.measurement.tag])
    measurement = [NO_MEASUREMENT] if not measured else _first_ok([data(t) for t in measured])

    ideal = m.ideal_cycle_time
    return {
        STATE: state_problems,
        IDEAL: [] if ideal and ideal > 0 else [NO_IDEAL],
        PARTS: part_problems,
        QUALITY: quality,
        ORDERS: orders,
        ENERGY: energy,
        PERSONNEL: [NO_PERSONNEL],
        MAINTENANCE: [NO_MAINTENANCE],
        VIBRATION: vibration,
        BEARING: _bearing_problems(ref, vib, data),
        MEASUREMENT: measurement,
    }


def _first_ok(problems: list[list[str]]) -> list[str]:
    """No problem when any candidate tag is fine, else the first candidate's problems."""
    return [] if any(not p for p in problems) else problems[0]


def _tag_problem(ref: MachineRef, tag: Tag, seen: dict[str, TagInfo], recent_ns: int) -> list[str]:
    """Whether a declared tag's data arrives: never, not within the last day, or fine."""
    info = seen.get(ref.tag_path(tag.name))
    if info is None or info.last_ns is None:
        return [f"data from {tag.name} (declared, never received)"]
    if info.last_ns < recent_ns:
        return [
            f"recent data from {tag.name} (last sample {iso(info.last_ns)}, none in the last day)"
        ]
    return []


def _state_tags(ref: MachineRef) -> list[str] | None:
    """The tags the machine's state is derived from (None: it has no state signal)."""
    cfg = ref.machine.state
    if cfg is not None and cfg.tag is not None:
        return [cfg.tag]
    if cfg is None:
        for t in ref.machine.tags:
            if t.signal == "state_code":
                return [t.name]
        return None
    return list(dict.fromkeys(c.tag for r in cfg.rules for c in (*r.all, *r.any))) or None


def _counter_tag(ref: MachineRef) -> str | None:
    if ref.machine.counter is not None:
        return ref.machine.counter.tag
    return next((t.name for t in ref.machine.tags if t.signal == "part_counter"), None)


def _is_vibration(tag: Tag) -> bool:
    signal = tag.signal or ""
    return (
        signal.startswith("vibration")
        or "vibration" in tag.name
        or tag.unit.strip().lower() in VIBRATION_UNITS
    )


def shaft_hz(ref: MachineRef) -> tuple[float, str] | None:
    """The shaft speed in Hz and where it comes from: the machine's nominal rpm, else the
    ``high:`` of its rpm tag (the fastest it turns); None when neither is declared."""
    rpm = ref.machine.simulation.nominal_rpm
    if rpm:
        return rpm / 60.0, f"{rpm:g} rpm (nominal)"
    for t in ref.machine.tags:
        if (t.signal == "spindle_speed" or t.unit.strip().lower() == "rpm") and t.high:
            return t.high / 60.0, f"{t.high:g} rpm ({t.name} high:)"
    return None


def highest_defect(ref: MachineRef, hz: float) -> tuple[str, float]:
    """The bearing's highest defect frequency at shaft speed ``hz``: (name, Hz)."""
    b = ref.machine.bearing
    assert b is not None
    freqs = {"BPFO": b.bpfo(hz), "BPFI": b.bpfi(hz), "BSF": b.bsf(hz), "FTF": b.ftf(hz)}
    name = max(freqs, key=lambda k: freqs[k])
    return name, freqs[name]


def _bearing_problems(
    ref: MachineRef, vib: list[Tag], data: Callable[[Tag], list[str]]
) -> list[str]:
    """Bearing defect analysis needs geometry, speed and a vibration tag sampled at least at
    twice the highest defect frequency (and receiving data)."""
    problems: list[str] = []
    if ref.machine.bearing is None:
        problems.append(NO_BEARING)
    speed = shaft_hz(ref)
    if speed is None:
        problems.append(NO_SPEED)
    if not vib:
        return [*problems, NO_VIBRATION]
    timed = [t for t in vib if t.interval is not None]
    if not timed:
        return [*problems, NO_VIBRATION_RATE]
    fastest = min(timed, key=lambda t: t.interval or 0.0)
    interval = fastest.interval or 0.0
    if ref.machine.bearing is not None and speed is not None:
        name, f = highest_defect(ref, speed[0])
        if 1.0 / interval < 2.0 * f:
            problems.append(
                f"vibration sampled fast enough: {fastest.name} is sampled at "
                f"{1.0 / interval:g} Hz (every {interval:g} s), but {name} is {f:.1f} Hz at "
                f"{speed[1]}, so at least {2.0 * f:.0f} Hz is needed"
            )
            return problems
    return [*problems, *data(fastest)]
