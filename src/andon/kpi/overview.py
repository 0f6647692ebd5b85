"""An asset's OEE over a range at a glance: per period, the whole range, its stops by reason
and each machine's energy — what the dashboard's OEE page shows.

The whole range is its periods added up (times, counts, kWh, stops), never a second reading
of the samples; by shift, when the shifts leave time between them, its days are (nights and
weekends have all time, idle energy and stops of their own). So the total agrees with the
rows, and a range of closed periods is answered from the results kept for them
(``kpi.kept``) for the OEE, the Pareto and the energy alike. Periods are measured whole
across their edges, so the sum is what one computation over the range gives (tested against
``asset_oee(..., by=None)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from andon.historian import Historian
from andon.kpi.assets import (
    AssetOee,
    Readings,
    aggregate,
    asset_oee,
    covers,
    machines_under,
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
    # the whole range is added up from pieces that cover it: the periods asked for, unless
    # shifts leave time between them (nights, weekends: their all time, idle energy and
    # stops count too), then the range's days
    pieces, pieces_by = rows, next((b for b in BY if b == by), None)
    if not covers([row.period for row in rows], start_ns, end_ns):
        pieces, pieces_by = (
            asset_oee(plant, historian, asset, start_ns, end_ns, "day", readings),
            "day",
        )
    wholes = tuple(combine([row.machines[k] for row in pieces]) for k in range(len(refs)))
    whole = wholes[0] if len(refs) == 1 else aggregate(plant, refs, list(wholes), asset)
    spans = [row.period for row in pieces]
    per_machine = stops_by_machine(plant, historian, refs, spans, pieces_by, readings)
    stops = add_stops(per_machine.values())
    energy = energy_by_machine(plant, historian, pieces, pieces_by, readings)
    return Overview(pieces[0].asset, rows, whole, wholes, stops, energy)


__all__ = ["Overview", "overview"]
