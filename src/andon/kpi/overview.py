"""An asset's OEE over a range at a glance: per period, the whole range, its stops by reason
and each machine's energy — what the dashboard's OEE page shows.

The whole range is its periods added up (times, counts, kWh, stops), never a second reading
of the samples: so the total agrees with the rows above it, and a range of closed shifts is
answered from the results kept for them (``kpi.kept``) for the OEE, the Pareto and the energy
alike. Periods are measured whole across their edges, so the sum is what one computation over
the range gives (tested against ``asset_oee(..., by=None)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from andon.historian import Historian
from andon.kpi.assets import (
    AssetOee,
    Readings,
    aggregate,
    asset_oee,
    machines_under,
    merge_stops,
    stops_by_machine,
)
from andon.kpi.energy import EnergyReport
from andon.kpi.oee import Oee, combine
from andon.kpi.pareto import StopReason, add_stops
from andon.kpi.periods import BY
from andon.kpi.report import energy_by_machine
from andon.plant import Plant


@dataclass(frozen=True)
class Overview:
    asset: str
    rows: list[AssetOee]
    whole: Oee
    machines: tuple[Oee, ...]
    """Each machine's whole range, in the plant's order."""
    stops: list[StopReason]
    energy: list[EnergyReport]


def overview(
    plant: Plant,
    historian: Historian,
    asset: str,
    start_ns: int,
    end_ns: int,
    by: str | None = "shift",
) -> Overview:
    """``asset``'s OEE per period ``by`` and over ``[start_ns, end_ns)``, its Pareto of stops
    and its machines' energy."""
    readings = Readings(plant, historian)  # one reading per machine serves all three
    rows = asset_oee(plant, historian, asset, start_ns, end_ns, by, readings)
    refs = machines_under(plant, asset)
    wholes = tuple(combine([row.machines[k] for row in rows]) for k in range(len(refs)))
    whole = wholes[0] if len(refs) == 1 else aggregate(plant, refs, list(wholes), asset)
    period_by = next((b for b in BY if b == by), None)
    spans = [row.period for row in rows]
    per_machine = stops_by_machine(plant, historian, refs, spans, period_by, readings)
    stops = add_stops(merge_stops(per_machine.values()))
    energy = energy_by_machine(plant, historian, rows, period_by, readings)
    return Overview(rows[0].asset, rows, whole, wholes, stops, energy)


__all__ = ["Overview", "overview"]
