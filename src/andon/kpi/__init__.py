"""KPIs: OEE and its six losses, ISO 22400-2, MTBF/MTTR, energy and carbon per unit, periods
compared — computed from state histories and parts (``andon.state``) and the calendar."""
