"""The demo's OEE table: per machine and shift, as andon derives it from the signals it read,
beside the OEE the virtual plant really had (from its own exact state changes)."""

from __future__ import annotations

from rich.table import Table

from andon.historian import Historian
from andon.kpi.assets import asset_oee, micro_stop_s
from andon.kpi.oee import ideal_for, oee
from andon.kpi.periods import planned_stops_for
from andon.plant import Plant, PlantCalendar
from andon.sim.truth import true_history
from andon.state.counts import read_parts

LOSS_COLUMNS = (
    ("breakdowns", "brkdn"),
    ("setup", "setup"),
    ("small_stops", "small"),
    ("reduced_speed", "speed"),
    ("startup_rejects", "st-up rej"),
    ("production_rejects", "rej"),
)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def oee_table(
    plant: Plant, historian: Historian, start_ns: int, end_ns: int
) -> tuple[Table, float]:
    """The table, and the largest gap (percentage points) between derived and true OEE."""
    table = Table(
        title="OEE per machine and shift (%), losses in minutes — derived from the signals, "
        "beside the plant's ground truth",
        title_justify="left",
    )
    for col in ("shift", "machine", "A", "P", "Q", "OEE", "truth", *(c for _, c in LOSS_COLUMNS)):
        table.add_column(col, justify="left" if col in ("shift", "machine") else "right")
    calendar = PlantCalendar(plant.calendar)
    worst = 0.0
    rows = asset_oee(plant, historian, plant.root, start_ns, end_ns, "shift")
    refs = {ref.path: ref for ref in plant.machines()}
    for row in rows:
        p = row.period
        for derived in row.machines:
            ref = refs[derived.asset]
            events = historian.events(ref.path, "state", None, p.end_ns, None)
            history = true_history(events, ref.path, p.start_ns, p.end_ns)
            truth = oee(
                history,
                read_parts(plant, ref, historian, p.start_ns, p.end_ns, history=history),
                planned_stops=planned_stops_for(calendar, p.start_ns, p.end_ns),
                ideal_s=ideal_for(ref.machine),
                micro_stop_s=micro_stop_s(ref),
            )
            if derived.oee is not None and truth.oee is not None:
                worst = max(worst, 100 * abs(derived.oee - truth.oee))
            table.add_row(
                p.name,
                ref.machine.id,
                _pct(derived.availability),
                _pct(derived.performance),
                _pct(derived.quality),
                _pct(derived.oee),
                _pct(truth.oee),
                *(f"{derived.losses[k] / 60:.0f}" for k, _ in LOSS_COLUMNS),
            )
    return table, worst
