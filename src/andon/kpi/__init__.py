"""KPIs: OEE and its six losses, ISO 22400-2, MTBF/MTTR, energy and carbon per unit, periods
compared — computed from state histories and parts (``andon.state``) and the calendar."""

from andon.kpi.oee import LOSSES, STOP_LABELS, Oee, combine, ideal_for, line_oee, oee, oee_periods
from andon.kpi.periods import BY, Period, periods, planned_stops_for

__all__ = [
    "BY",
    "LOSSES",
    "STOP_LABELS",
    "Oee",
    "Period",
    "combine",
    "ideal_for",
    "line_oee",
    "oee",
    "oee_periods",
    "periods",
    "planned_stops_for",
]
